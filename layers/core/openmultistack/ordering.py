"""Requests for instances: create (or dry-run the plan), read, delete — the use cases behind the
API's /v1/requests and /v1/instances routes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from openmultistack import placement
from openmultistack import repository as repo
from openmultistack.domain import (
    STANDING_DOWN,
    FINAL_INSTANCE,
    Instance,
    InstanceStatus,
    Request,
    RequestStatus,
    Shape,
    instance_id_for,
    new_request_id,
    utcnow,
)
from openmultistack.errors import ConflictError, InvalidInputError
from openmultistack.settings import get_settings
from openmultistack.workflow import run_reaper_now, start_provisioning

LIVE_INSTANCE = [s for s in InstanceStatus if s not in FINAL_INSTANCE]


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
    instances = [
        Instance(
            id=instance_id_for(request.id, n),
            request_id=request.id,
            index=n,
            image=order.shape.image,
            created_at=now,
            due_at=deadline,
            lifetime_minutes=order.lifetime_minutes,
        )
        for n in range(order.count)
    ]
    repo.create_request(request, order.user_data, instances)
    request.execution_arn = start_provisioning(request.id)
    repo.update_request(request.id, execution_arn=request.execution_arn)
    return request


def cancel(request_id: str) -> Request:
    """Mark the request DELETING and its live instances due now; the reaper, called at once, tears
    them down (and its schedule retries). Deleting twice is harmless."""
    request = repo.get_request(request_id)
    if request.status in (RequestStatus.DELETED, RequestStatus.EXPIRED, RequestStatus.DELETING):
        return request
    repo.update_request(request_id, allowed_from=[s for s in RequestStatus if s not in STANDING_DOWN], status=RequestStatus.DELETING)
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
