"""Requests for instances: create (or dry-run the plan), read, list, extend, delete — the use
cases behind the API's /v1/requests and /v1/instances routes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from openmultistack import placement
from openmultistack import repository as repo
from openmultistack.domain import (
    FINAL_INSTANCE,
    LIVE_INSTANCE,
    STANDING_DOWN,
    Instance,
    InstanceStatus,
    Request,
    RequestStatus,
    Shape,
    new_instances,
    new_request_id,
    utcnow,
)
from openmultistack.errors import ConflictError, InvalidInputError
from openmultistack.observability import logger
from openmultistack.settings import get_settings
from openmultistack.workflow import run_reaper_now, start_provisioning

EXTENDABLE = (RequestStatus.READY, RequestStatus.PARTIAL)
T = TypeVar("T")


@dataclass
class Order:
    count: int
    shape: Shape
    lifetime_minutes: int
    placement: str = "spread"
    providers: tuple[str, ...] = ()
    public_key: str | None = None
    user_data: str | None = None


def check_allow_list(names: tuple[str, ...]) -> None:
    known = {p.name for p in repo.list_providers()}
    unknown = sorted(set(names) - known)
    if unknown:
        raise InvalidInputError(f"providers: unknown provider(s) {', '.join(unknown)}")


def preview(order: Order) -> placement.Plan:
    """The placement plan for an order, as of now; nothing is created."""
    check_allow_list(order.providers)
    return placement.plan(
        repo.list_providers(), order.count, order.shape, order.placement, list(order.providers), utcnow()
    )


def submit(order: Order) -> Request:
    """Write the request and its PENDING instances, then start its execution (named after it)."""
    check_allow_list(order.providers)
    now = utcnow()
    request = Request(
        id=new_request_id(),
        count=order.count,
        shape=order.shape,
        lifetime_minutes=order.lifetime_minutes,
        placement=order.placement,
        providers=list(order.providers),
        public_key=order.public_key,
        has_user_data=bool(order.user_data),
        created_at=now,
    )
    # Past this deadline an unfinished instance is stuck; the reaper fails it cleanly.
    deadline = now + timedelta(seconds=get_settings().provision_deadline_seconds)
    repo.create_request(request, order.user_data, new_instances(request, deadline))
    request.execution_arn = start_provisioning(request.id)
    repo.update_request(request.id, execution_arn=request.execution_arn)
    return request


def cancel(request_id: str) -> Request:
    """Mark the request DELETING and its live instances due now; the reaper, called at once, tears
    them down (and its schedule retries). Deleting twice is harmless."""
    request = repo.get_request(request_id)
    if request.status in STANDING_DOWN:
        return request
    repo.update_request(
        request_id,
        allowed_from=[s for s in RequestStatus if s not in STANDING_DOWN],
        status=RequestStatus.DELETING,
    )
    now = utcnow()
    for instance in repo.instances_of(request_id):
        if not instance.is_final:
            repo.update_instance(instance.id, allowed_from=LIVE_INSTANCE, due_at=now)
    run_reaper_now({"request_id": request_id})
    return repo.get_request(request_id)


def delete_instance(instance_id: str) -> Instance:
    instance = repo.get_instance(instance_id)
    if instance.is_final:
        return instance
    if instance.status in (InstanceStatus.PENDING, InstanceStatus.LAUNCHING, InstanceStatus.BUILDING):
        raise ConflictError(f"instance '{instance_id}' is still provisioning; delete its request instead")
    repo.update_instance(instance_id, allowed_from=LIVE_INSTANCE, status=InstanceStatus.DELETING, due_at=utcnow())
    run_reaper_now({"instance_id": instance_id})
    return repo.get_instance(instance_id)


def extend(request_id: str, minutes: int, now: datetime | None = None) -> Request:
    """Push back the end of life of the request's ACTIVE instances by `minutes`, never past the
    maximum lifetime counted from ACTIVE. `due_at` moves with `expires_at` (the reaper reads
    it) and the expiry warning is re-armed."""
    request = repo.get_request(request_id)
    if request.status not in EXTENDABLE:
        raise ConflictError(
            f"request '{request_id}' is {request.status.value}; only READY or PARTIAL requests can be extended"
        )
    longest = timedelta(minutes=get_settings().max_lifetime_minutes)
    for instance in repo.instances_of(request_id):
        if instance.status != InstanceStatus.ACTIVE or not instance.expires_at or not instance.active_at:
            continue
        until = min(instance.expires_at + timedelta(minutes=minutes), instance.active_at + longest)
        if until <= instance.expires_at:
            continue
        if repo.update_instance(
            instance.id, allowed_from=[InstanceStatus.ACTIVE], expires_at=until, due_at=until, warned=False
        ):
            _move_hard_expiry(instance, until)
    return request


def _move_hard_expiry(instance: Instance, until: datetime) -> None:
    """The server's own `oms:expires_at` tells the reaper's orphan sweep when the server is
    certainly dead; it must follow the extension. Best effort: the database stays the truth."""
    if not instance.provider or not instance.server_id:
        return
    from openmultistack.clouds import cloud_for, hard_expiry  # talks to the cloud: off the hot path

    try:
        cloud_for(repo.get_provider(instance.provider)).set_hard_expiry(instance.server_id, hard_expiry(until))
    except Exception as error:  # the provider may be down; the extension itself stands
        logger.warning(
            "could not move the server's hard expiry",
            extra={"instance": instance.id, "provider": instance.provider, "error": str(error)},
        )


def check_instance_filters(request_id: str | None, provider: str | None, status: InstanceStatus | None) -> None:
    """Listing is a Query by request, by provider, or (live statuses) the sparse due index. Only
    the unfiltered listing reads the table page by page (a Scan bounded by `limit` per call: the
    console's "everything" view). DELETED/FAILED records are history, indexed only per request and
    per provider, so filtering the whole table by them would be an unbounded Scan: refused."""
    if status in FINAL_INSTANCE and not (request_id or provider):
        raise InvalidInputError(
            f"status: {status.value if status else ''} instances can only be listed with a request or provider filter"
        )


def paged(read: Callable[[], T], cursor: str | None) -> T:
    """Run a paginated read; a cursor DynamoDB refuses (from another listing, or forged) is the
    client's mistake, not a server error."""
    try:
        return read()
    except Exception as error:
        if cursor and getattr(error, "cause_response_code", None) == "ValidationException":
            raise InvalidInputError("cursor: not a cursor this listing returned") from error
        raise
