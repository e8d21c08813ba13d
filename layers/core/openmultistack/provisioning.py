"""The provisioning workflow's steps (one per Lambda): plan a request, launch an instance with
provider failover, poll it until ACTIVE, settle a failure, finalize the request.

Each step reads the records it needs, so the Step Functions payload carries ids only (never a
secret, never user data), and each step is safe to retry: records move by conditional writes
and a Launch first adopts a server it may already have created."""

from __future__ import annotations

import time
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from openmultistack import capacity, health, placement
from openmultistack import repository as repo
from openmultistack.clouds import OMS_EXPIRES, OMS_INSTANCE, OMS_REQUEST, cloud_for, hard_expiry
from openmultistack.domain import (
    STANDING_DOWN,
    Attempt,
    Instance,
    InstanceStatus,
    Provider,
    Request,
    RequestStatus,
    boot_estimate,
    request_outcome,
    status_counts,
    utcnow,
)
from openmultistack.errors import (
    BootFailedError,
    CloudError,
    ProviderUnavailableError,
    QuotaExceededError,
    UnfitShapeError,
)
from openmultistack.observability import count, logger
from openmultistack.settings import get_settings
from openmultistack.teardown import delete_servers, destroy

# What the state machine does next with an instance (its Choice states match these).
POLL, WAIT, RELAUNCH, DONE = "POLL", "WAIT", "RELAUNCH", "DONE"
# A provider gets at most this many tries per instance before the instance looks elsewhere only.
TRIES_PER_PROVIDER = 2
LAUNCH_BUDGET_SECONDS = 60.0


def step(instance_id: str, next_: str, wait_seconds: int = 0) -> dict[str, Any]:
    # `prefer` is only the Plan's hint for the first Launch; a Launch reached again (WAIT,
    # RELAUNCH) gets None, as the ASL passes `$.prefer` on and the key must exist.
    return {"instance_id": instance_id, "next": next_, "wait_seconds": max(int(wait_seconds), 1), "prefer": None}


def key_name(request_id: str) -> str:
    return f"oms-{request_id}"


# --- Plan -----------------------------------------------------------------------------------


def plan_request(request_id: str, now: datetime | None = None) -> dict[str, Any]:
    """Mark the request PROVISIONING and give each open instance a preferred provider."""
    now = now or utcnow()
    request = repo.get_request(request_id)
    if request.status in STANDING_DOWN or not repo.update_request(
        request_id, allowed_from=[RequestStatus.QUEUED, RequestStatus.PROVISIONING], status=RequestStatus.PROVISIONING
    ):
        return {"request_id": request_id, "items": [], "unplaced": 0}
    open_instances = [i for i in repo.instances_of(request_id) if not i.is_final]
    the_plan = placement.plan(
        repo.list_providers(), len(open_instances), request.shape, request.placement, request.providers, now
    )
    prefers = the_plan.assignments + [None] * the_plan.unplaced
    logger.info(
        "planned",
        extra={
            "request": request_id,
            "plan": the_plan.per_provider(),
            "unplaced": the_plan.unplaced,
            "skipped": the_plan.skipped,
        },
    )
    return {
        "request_id": request_id,
        "items": [{"instance_id": i.id, "prefer": p} for i, p in zip(open_instances, prefers, strict=True)],
        "unplaced": the_plan.unplaced,
    }


# --- Launch ---------------------------------------------------------------------------------


@dataclass
class _Context:
    instance: Instance
    request: Request
    now: datetime


def _excluded(instance: Instance) -> set[str]:
    tries: dict[str, int] = {}
    for a in instance.attempts:
        tries[a.provider] = tries.get(a.provider, 0) + 1
    unfit = {a.provider for a in instance.attempts if a.error_class == UnfitShapeError.kind}
    return unfit | {p for p, n in tries.items() if n >= TRIES_PER_PROVIDER}


def _record_failure(ctx: _Context, provider: Provider, error: CloudError) -> None:
    ctx.instance.attempts.append(Attempt(provider.name, error.kind, str(error), ctx.now))
    repo.update_instance(ctx.instance.id, attempt=ctx.instance.attempts[-1])
    count("LaunchFailures", provider=provider.name, error_class=error.kind)
    quota = isinstance(error, QuotaExceededError)
    if not (error.counts_against_health or quota):
        return
    fresh = repo.get_provider(provider.name)
    if error.counts_against_health:
        repo.set_breaker(provider.name, health.after_failure(fresh.breaker, error.kind, ctx.now))
    if quota:
        # The provider's limits API promised more than it grants: believe the rejection.
        repo.set_cap(provider.name, min(fresh.cap, fresh.slots - 1))


def _record_launch(ctx: _Context, provider: Provider, server_id: str, flavor: str, image: str) -> bool:
    settings = get_settings()
    return repo.update_instance(
        ctx.instance.id,
        allowed_from=[InstanceStatus.LAUNCHING],
        status=InstanceStatus.BUILDING,
        provider=provider.name,
        server_id=server_id,
        flavor=flavor,
        image=image,
        launched_at=ctx.now,
        due_at=ctx.now + timedelta(seconds=settings.boot_timeout_seconds + 60),
    )


def _create(ctx: _Context, provider: Provider, may_exist: bool) -> tuple[str, str, str]:
    """Create (or adopt) the instance's server on the provider; returns (server id, flavor, image)."""
    shape = ctx.request.shape
    image = placement.resolve_image(provider, shape.image) or shape.image
    flavor = placement.pick_flavor(provider, shape)
    if flavor is None:
        raise UnfitShapeError(f"no flavor fits {shape}", provider.name)
    cloud = cloud_for(provider)
    # Only a Launch that finds its slot already held may be a retry after Nova accepted a create.
    existing = cloud.servers_of(ctx.instance.id) if may_exist else []
    if existing:
        return existing[0].id, flavor.name, image
    key = None
    if ctx.request.public_key:
        key = key_name(ctx.request.id)
        cloud.ensure_keypair(key, ctx.request.public_key)
    expires = hard_expiry(ctx.now + timedelta(minutes=ctx.request.lifetime_minutes))
    metadata = {OMS_REQUEST: ctx.request.id, OMS_INSTANCE: ctx.instance.id, OMS_EXPIRES: expires.isoformat()}
    user_data = repo.get_user_data(ctx.request.id) if ctx.request.has_user_data else None
    server = cloud.create_server(ctx.instance.id, image, flavor.name, metadata, key, user_data)
    return server.id, flavor.name, image


def _give_up(ctx: _Context, reason: str) -> dict[str, Any]:
    """Fail an instance that has no server: every failed create was cleaned up where it failed
    (or, if its provider could not even answer, is left to the orphan sweep), so there is
    nothing to delete — contacting a broken provider again would only delay the verdict."""
    capacity.release(ctx.instance.id)
    if repo.update_instance(
        ctx.instance.id,
        allowed_from=[InstanceStatus.PENDING, InstanceStatus.LAUNCHING],
        status=InstanceStatus.FAILED,
        reason=reason,
    ):
        count("InstancesFailed")
    return step(ctx.instance.id, DONE)


def _stand_down(ctx: _Context) -> dict[str, Any]:
    destroy(ctx.instance, reason="request deleted while provisioning", now=ctx.now)
    return step(ctx.instance.id, DONE)


def launch(instance_id: str, prefer: str | None = None, now: datetime | None = None) -> dict[str, Any]:
    """Put the instance on a provider: reserve a slot, create the server, fail over on errors."""
    settings = get_settings()
    instance = repo.get_instance(instance_id)
    request = repo.get_request(instance.request_id)
    ctx = _Context(instance, request, now or utcnow())
    if instance.is_final or instance.status == InstanceStatus.DELETING:
        return step(instance_id, DONE)
    if request.status in STANDING_DOWN:
        return _stand_down(ctx)
    if instance.status == InstanceStatus.BUILDING:
        return step(instance_id, POLL, settings.poll_interval_seconds)
    started = time.monotonic()
    providers = repo.list_providers()
    order = placement.launch_order(
        providers, request.shape, request.providers, _excluded(instance), instance.slot or prefer, ctx.now
    )
    for provider in order:
        if len(instance.attempts) >= settings.max_attempts_per_instance:
            break
        if time.monotonic() - started > LAUNCH_BUDGET_SECONDS:
            return step(instance_id, WAIT, 1)
        if instance.slot not in (None, provider.name):
            capacity.release(instance.id, instance.slot)
            instance.slot = None
        held_already = instance.slot == provider.name
        if not held_already and not capacity.reserve(instance.id, provider.name):
            continue  # full: the next provider may have room
        instance.slot = instance.provider = provider.name
        try:
            server_id, flavor, image = _create(ctx, provider, may_exist=held_already)
        except CloudError as error:
            _record_failure(ctx, provider, error)
            _clean_failed_create(instance, provider)
            instance.slot = None
            continue
        if provider.breaker.failures:
            repo.set_breaker(provider.name, health.after_success(provider.breaker))
        if not _record_launch(ctx, provider, server_id, flavor, image):
            # The request was deleted while we created: our server must not outlive it.
            return _stand_down(ctx)
        count("InstancesLaunching")
        return step(instance_id, POLL, _boot_estimate(provider))
    return _wait_or_give_up(ctx, providers)


def _clean_failed_create(instance: Instance, provider: Provider) -> None:
    """A create that failed may still have made a server (a lost response): remove it, then free
    the slot. If the provider cannot even answer, the orphan sweep removes it later."""
    with suppress(CloudError):
        delete_servers(instance.id, provider.name, instance.server_id, wait=2.0)
    capacity.release(instance.id, provider.name)


def _boot_estimate(provider: Provider) -> int:
    """First look after most of the provider's usual boot time: fewer polls, fewer transitions."""
    poll = get_settings().poll_interval_seconds
    return max(poll, int(0.9 * provider.boot_seconds)) if provider.boot_seconds else poll


def _wait_or_give_up(ctx: _Context, providers: list[Provider]) -> dict[str, Any]:
    """Nothing took the instance now: wait for capacity while that can still help, else fail."""
    settings = get_settings()
    instance = repo.get_instance(ctx.instance.id)
    eligible, skipped = placement.eligible(providers, ctx.request.shape, ctx.request.providers, ctx.now)
    excluded = _excluded(instance)
    hopeful = [p for p in eligible if p.name not in excluded]
    waited = (ctx.now - instance.created_at).total_seconds()
    if (
        hopeful
        and waited < settings.capacity_wait_seconds
        and len(instance.attempts) < settings.max_attempts_per_instance
    ):
        if instance.status == InstanceStatus.PENDING:
            repo.update_instance(instance.id, allowed_from=[InstanceStatus.PENDING], status=InstanceStatus.LAUNCHING)
        return step(instance.id, WAIT, settings.capacity_retry_seconds)
    ctx.instance = instance
    return _give_up(ctx, _failure_reason(instance, skipped, hopeful))


def _failure_reason(instance: Instance, skipped: dict[str, str], hopeful: list[Provider]) -> str:
    if instance.attempts:
        last = {a.provider: f"{a.error_class}: {a.message}" for a in instance.attempts}
        tried = "; ".join(f"{p}: {m}" for p, m in last.items())
        return f"no provider could launch it after {len(instance.attempts)} attempts ({tried})"[:1000]
    if hopeful:
        return "no capacity became free in time on " + ", ".join(p.name for p in hopeful)
    why = "; ".join(f"{p}: {r}" for p, r in skipped.items()) or "no providers registered"
    return f"no provider can take it ({why})"[:1000]


# --- Poll -----------------------------------------------------------------------------------


def poll(instance_id: str, now: datetime | None = None) -> dict[str, Any]:
    """Check a BUILDING server: ACTIVE → done; ERROR or too slow → delete it and launch again."""
    settings = get_settings()
    instance = repo.get_instance(instance_id)
    request = repo.get_request(instance.request_id)
    ctx = _Context(instance, request, now or utcnow())
    if instance.status != InstanceStatus.BUILDING:
        return step(instance_id, DONE if instance.status != InstanceStatus.LAUNCHING else RELAUNCH)
    if request.status in STANDING_DOWN:
        return _stand_down(ctx)
    provider = repo.get_provider(instance.provider or "")
    try:
        server = cloud_for(provider).get_server(instance.server_id or "")
    except CloudError as error:
        logger.warning("poll failed", extra={"instance": instance_id, "error": str(error)})
        if _boot_overdue(instance, ctx.now):
            return _relaunch(
                ctx, provider, ProviderUnavailableError(f"unreachable while booting: {error}", provider.name)
            )
        return step(instance_id, POLL, settings.poll_interval_seconds)
    if server is None:
        return _relaunch(ctx, provider, BootFailedError("server disappeared while booting", provider.name))
    if server.status == "ACTIVE":
        expires = ctx.now + timedelta(minutes=instance.lifetime_minutes)
        if repo.update_instance(
            instance_id,
            allowed_from=[InstanceStatus.BUILDING],
            status=InstanceStatus.ACTIVE,
            ip=server.ip,
            active_at=ctx.now,
            expires_at=expires,
            due_at=expires,
        ):
            count("InstancesLaunched", provider=provider.name)
            if instance.launched_at:
                observed = (ctx.now - instance.launched_at).total_seconds()
                repo.set_boot_seconds(provider.name, boot_estimate(provider.boot_seconds, observed))
        return step(instance_id, DONE)
    if server.status == "ERROR":
        return _relaunch(ctx, provider, BootFailedError(server.fault or "server went to ERROR", provider.name))
    if _boot_overdue(instance, ctx.now):
        return _relaunch(ctx, provider, BootFailedError("server did not become ACTIVE in time", provider.name))
    return step(instance_id, POLL, settings.poll_interval_seconds)


def _boot_overdue(instance: Instance, now: datetime) -> bool:
    started = instance.launched_at or instance.created_at
    return (now - started).total_seconds() > get_settings().boot_timeout_seconds


def _relaunch(ctx: _Context, provider: Provider, error: CloudError) -> dict[str, Any]:
    """Delete the failed server, free the slot and hand the instance back to Launch."""
    _record_failure(ctx, provider, error)
    _clean_failed_create(ctx.instance, provider)
    repo.update_instance(
        ctx.instance.id,
        allowed_from=[InstanceStatus.BUILDING],
        status=InstanceStatus.LAUNCHING,
        server_id=None,
        due_at=ctx.now + timedelta(seconds=get_settings().provision_deadline_seconds),
    )
    count("Failovers", provider=provider.name)
    return step(ctx.instance.id, RELAUNCH)


# --- Settle & Finalize ----------------------------------------------------------------------


def settle(instance_id: str, error: dict[str, Any] | None, now: datetime | None = None) -> dict[str, Any]:
    """The catch-all: an unexpected error ended this instance's branch; leave nothing behind."""
    instance = repo.get_instance(instance_id)
    cause = (error or {}).get("Cause") or (error or {}).get("Error") or "unexpected workflow error"
    destroy(instance, final=InstanceStatus.FAILED, reason=f"workflow error: {str(cause)[:500]}", now=now)
    return step(instance_id, DONE)


def finalize(request_id: str) -> dict[str, Any]:
    """Close provisioning: READY, PARTIAL or FAILED from the instances' outcomes."""
    instances = repo.instances_of(request_id)
    outcome = request_outcome(i.status for i in instances)
    counts = status_counts(i.status for i in instances)
    changed = repo.update_request(
        request_id, allowed_from=[RequestStatus.QUEUED, RequestStatus.PROVISIONING], status=outcome, counts=counts
    )
    if not changed:
        repo.update_request(request_id, counts=counts)
    count("RequestsFinished")
    logger.info("finalized", extra={"request": request_id, "status": outcome.value, "counts": counts})
    return {
        "request_id": request_id,
        "status": outcome.value if changed else repo.get_request(request_id).status.value,
        "counts": counts,
    }
