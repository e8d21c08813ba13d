"""Deleting an instance's servers — one code path for expiry, request/instance DELETE, workflow
stand-down and failure settlement. An instance is DELETED only after the provider confirms its
servers are gone (404); until then it stays DELETING and due, so the reaper retries every run (a
provider in maintenance cannot make an instance immortal, only late)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from openmultistack import capacity, health
from openmultistack import repository as repo
from openmultistack.clouds import cloud_for
from openmultistack.domain import (
    LIVE_INSTANCE,
    STANDING_DOWN,
    Attempt,
    Instance,
    InstanceStatus,
    Provider,
    RequestStatus,
    retired_status,
    status_counts,
    utcnow,
)
from openmultistack.errors import CloudError, NotFoundError
from openmultistack.observability import count, logger
from openmultistack.settings import get_settings
from openmultistack.workflow import publish

GONE_WAIT_SECONDS = 10.0
DELETE_PENDING = "delete_pending"  # the error class of the attempt that notes a pending deletion


# --- pure rules -----------------------------------------------------------------------------


def final_status(instance: Instance, request_status: RequestStatus | None) -> InstanceStatus:
    """What a DELETING instance becomes once its servers are gone, when the caller that started
    the deletion is no longer around to say (a retry by the reaper): an instance that never became
    ACTIVE, of a request nobody deleted, failed; everything else was deleted."""
    if instance.active_at is None and request_status not in STANDING_DOWN:
        return InstanceStatus.FAILED
    return InstanceStatus.DELETED


def needs_pending_note(attempts: Sequence[Attempt], provider: str) -> bool:
    """One 'deletion pending' attempt per outage is enough: noting every retry (each minute while a
    provider is in maintenance) would grow the record without telling anyone anything new."""
    last = attempts[-1] if attempts else None
    return last is None or last.error_class != DELETE_PENDING or last.provider != provider


@dataclass(frozen=True)
class Outcome:
    gone: bool
    error: str | None = None
    # The provider itself failed (maintenance, auth, timeouts): further deletes there this run
    # would fail the same way, so a caller with many of them can stop trying until next run.
    provider_down: bool = False


# --- the cloud side -------------------------------------------------------------------------


def _wait_gone(cloud: Any, server_ids: set[str], budget: float) -> set[str]:
    """Server ids still present after waiting up to `budget` seconds."""
    deadline = time.monotonic() + budget
    remaining = set(server_ids)
    while remaining:
        remaining = {sid for sid in remaining if cloud.get_server(sid) is not None}
        if not remaining or time.monotonic() >= deadline:
            break
        time.sleep(0.25)
    return remaining


def delete_servers(
    instance_id: str,
    provider_name: str | None,
    server_id: str | None,
    wait: float = GONE_WAIT_SECONDS,
    provider: Provider | None = None,
) -> bool:
    """Delete every server of the instance on the provider (the recorded one and any a crashed
    Launch made); True once the provider confirms none is left."""
    if not provider_name:
        return True
    cloud = cloud_for(provider if provider is not None else repo.get_provider(provider_name))
    ids = {s.id for s in cloud.servers_of(instance_id)}
    if server_id:
        ids.add(server_id)
    for sid in ids:
        cloud.delete_server(sid)
    return not _wait_gone(cloud, ids, wait)


# --- the records side -----------------------------------------------------------------------


def note_pending(instance: Instance, error: str, now: datetime) -> None:
    """Keep the instance DELETING and due again shortly; the reaper retries every run."""
    retry_at = now + timedelta(seconds=get_settings().delete_retry_seconds)
    provider = instance.provider or ""
    attempt = Attempt(provider, DELETE_PENDING, error, now) if needs_pending_note(instance.attempts, provider) else None
    repo.update_instance(instance.id, allowed_from=[InstanceStatus.DELETING], due_at=retry_at, attempt=attempt)
    logger.warning("deletion pending", extra={"instance": instance.id, "provider": provider, "error": error})


def start_deleting(instance: Instance, reason: str | None) -> None:
    """Mark DELETING before any server is touched, so a crash mid-way leaves a due record to retry."""
    changes: dict[str, Any] = {"status": InstanceStatus.DELETING}
    if reason:
        changes["reason"] = reason
    repo.update_instance(instance.id, allowed_from=LIVE_INSTANCE, **changes)


def destroy_outcome(
    instance: Instance,
    final: InstanceStatus = InstanceStatus.DELETED,
    reason: str | None = None,
    now: datetime | None = None,
    provider: Provider | None = None,
    retire: bool = True,
) -> Outcome:
    """Take the instance down to `final`. `provider` saves a read when the caller has it; callers
    that destroy many instances of one request pass retire=False and retire the request once."""
    now = now or utcnow()
    if instance.is_final:
        return Outcome(True)
    start_deleting(instance, reason)
    try:
        gone = delete_servers(instance.id, instance.provider, instance.server_id, provider=provider)
        outcome = Outcome(gone, None if gone else "server still present after delete")
    except CloudError as failure:
        outcome = Outcome(False, f"{failure.kind}: {failure}", provider_down=failure.counts_against_health)
        if failure.counts_against_health and instance.provider:
            fresh = repo.get_provider(instance.provider)
            repo.set_breaker(fresh.name, health.after_failure(fresh.breaker, failure.kind, now))
    except NotFoundError as missing:  # the provider was deregistered: nobody can confirm the delete
        outcome = Outcome(False, str(missing))
    if not outcome.gone:
        note_pending(instance, outcome.error or "", now)
        return outcome
    capacity.release(instance.id, instance.slot)
    changes: dict[str, Any] = {"status": final}
    if reason:
        changes["reason"] = reason
    repo.update_instance(instance.id, allowed_from=[InstanceStatus.DELETING], **changes)
    if retire:
        retire_request_if_done(instance.request_id)
    return outcome


def destroy(
    instance: Instance,
    final: InstanceStatus = InstanceStatus.DELETED,
    reason: str | None = None,
    now: datetime | None = None,
) -> bool:
    """Take the instance down to `final`. Returns False when deletion is still pending."""
    outcome = destroy_outcome(instance, final, reason, now)
    if not outcome.gone:
        count("DeletionPending")
    return outcome.gone


def retire_request_if_done(request_id: str) -> str | None:
    """A request whose instances are all gone becomes DELETED (user asked) or EXPIRED (lifetime).
    Returns the new status when this call retired it."""
    request = repo.get_request(request_id)
    if request.status not in (RequestStatus.READY, RequestStatus.PARTIAL, RequestStatus.DELETING):
        return None
    instances = repo.instances_of(request_id)
    if not all(i.is_final for i in instances):
        return None
    retired = retired_status(request.status)
    if not repo.update_request(
        request_id,
        allowed_from=[request.status],
        status=retired,
        counts=status_counts(i.status for i in instances),
    ):
        return None  # someone else retired it (or it changed): they publish
    publish(f"Request {retired.value.title()}", {"request": request_id, "status": retired.value})
    return retired.value
