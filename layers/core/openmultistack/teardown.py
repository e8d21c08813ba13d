"""Deleting an instance's servers — one code path for expiry, request/instance DELETE, workflow
stand-down and failure settlement. An instance is DELETED only after the provider confirms its
servers are gone; until then it stays DELETING and due, so the reaper retries (a provider in
maintenance cannot make an instance immortal, only late)."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from openmultistack import capacity, health
from openmultistack import repository as repo
from openmultistack.clouds import cloud_for
from openmultistack.domain import (
    FINAL_INSTANCE,
    Attempt,
    Instance,
    InstanceStatus,
    RequestStatus,
    retired_status,
    status_counts,
    utcnow,
)
from openmultistack.errors import CloudError
from openmultistack.observability import count, logger
from openmultistack.settings import get_settings
from openmultistack.workflow import publish

LIVE = [s for s in InstanceStatus if s not in FINAL_INSTANCE]
GONE_WAIT_SECONDS = 10.0


def _wait_gone(cloud, server_ids: set[str], budget: float) -> set[str]:  # type: ignore[no-untyped-def]
    """Server ids still present after waiting up to `budget` seconds."""
    deadline = time.monotonic() + budget
    remaining = set(server_ids)
    while remaining:
        remaining = {sid for sid in remaining if cloud.get_server(sid) is not None}
        if not remaining or time.monotonic() >= deadline:
            break
        time.sleep(0.5)
    return remaining


def delete_servers(
    instance_id: str, provider_name: str | None, server_id: str | None, wait: float = GONE_WAIT_SECONDS
) -> bool:
    """Delete every server of the instance on the provider (the recorded one and any a crashed
    Launch made); True once none is left."""
    if not provider_name:
        return True
    cloud = cloud_for(repo.get_provider(provider_name))
    ids = {s.id for s in cloud.servers_of(instance_id)}
    if server_id:
        ids.add(server_id)
    for server_id in ids:
        cloud.delete_server(server_id)
    return not _wait_gone(cloud, ids, wait)


def destroy(
    instance: Instance,
    final: InstanceStatus = InstanceStatus.DELETED,
    reason: str | None = None,
    now: datetime | None = None,
) -> bool:
    """Take the instance down to `final`. Returns False when deletion is still pending."""
    now = now or utcnow()
    settings = get_settings()
    if instance.is_final:
        return True
    repo.update_instance(instance.id, allowed_from=LIVE, status=InstanceStatus.DELETING, reason=reason)
    try:
        gone = delete_servers(instance.id, instance.provider, instance.server_id)
        error = None if gone else "server still present after delete"
    except CloudError as failure:
        gone, error = False, str(failure)
        if failure.counts_against_health and instance.provider:
            provider = repo.get_provider(instance.provider)
            repo.set_breaker(provider.name, health.after_failure(provider.breaker, failure.kind, now))
    if not gone:
        retry_at = now + timedelta(seconds=settings.delete_retry_seconds)
        repo.update_instance(
            instance.id,
            allowed_from=[InstanceStatus.DELETING],
            due_at=retry_at,
            attempt=Attempt(instance.provider or "", "delete_pending", error or "", now),
        )
        count("DeletionPending", provider=instance.provider or "none")
        logger.warning("deletion pending", extra={"instance": instance.id, "provider": instance.provider, "error": error})
        return False
    capacity.release(instance.id)
    repo.update_instance(instance.id, allowed_from=[InstanceStatus.DELETING], status=final, reason=reason)
    retire_request_if_done(instance.request_id)
    return True


def retire_request_if_done(request_id: str) -> None:
    """A request whose instances are all gone becomes DELETED (user asked) or EXPIRED (lifetime)."""
    request = repo.get_request(request_id)
    if request.status not in (RequestStatus.READY, RequestStatus.PARTIAL, RequestStatus.DELETING):
        return
    instances = repo.instances_of(request_id)
    if all(i.is_final for i in instances):
        retired = retired_status(request.status)
        if repo.update_request(
            request_id, allowed_from=[request.status], status=retired, counts=status_counts(i.status for i in instances)
        ):
            publish(f"Request {retired.value.title()}", {"request": request_id, "status": retired.value})

