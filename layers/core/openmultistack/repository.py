"""The DynamoDB adapter: reads and writes domain objects through the pynamodb models."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from pynamodb.connection import Connection
from pynamodb.exceptions import DeleteError, DoesNotExist, PutError, TransactWriteError, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.transactions import TransactWrite

from openmultistack.domain import (
    CONNECTION_FIELDS,
    Attempt,
    Breaker,
    Flavor,
    Instance,
    InstanceStatus,
    Provider,
    Request,
    RequestStatus,
    Shape,
    utcnow,
)
from openmultistack.errors import ConflictError, InvalidInputError, NotFoundError
from openmultistack.models import (
    SWEEP,
    AttemptMap,
    BreakerMap,
    FlavorMap,
    InstanceModel,
    ProviderModel,
    RequestModel,
)
from openmultistack.settings import get_settings


@lru_cache(maxsize=1)
def shared_connection() -> Connection:
    """One connection (one botocore client) per container: building a client costs ~100 ms of
    CPU, far more than the transaction it would carry."""
    return Connection()


# DynamoDB caps a transaction at 100 items.
TRANSACTION_ITEMS = 100


def _conditional_failed(error: Exception) -> bool:
    return getattr(error, "cause_response_code", None) in {
        "ConditionalCheckFailedException",
        "TransactionCanceledException",
    }


# --- pagination -----------------------------------------------------------------------------


def encode_cursor(key: dict[str, Any] | None) -> str | None:
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode() if key else None


def decode_cursor(cursor: str | None) -> dict[str, Any] | None:
    if not cursor:
        return None
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except ValueError as error:
        raise InvalidInputError("cursor: not a cursor this API returned") from error
    if not isinstance(key, dict):
        raise InvalidInputError("cursor: not a cursor this API returned")
    return key


def _page(result: Any, convert: Any) -> tuple[list[Any], str | None]:
    items = [convert(item) for item in result]
    return items, encode_cursor(result.last_evaluated_key)


# --- providers ------------------------------------------------------------------------------

_PROVIDER_CONFIG = (*CONNECTION_FIELDS, "enabled", "max_instances", "has_credentials")


def _provider(m: ProviderModel) -> Provider:
    b = m.breaker
    return Provider(
        **{f: getattr(m, f) for f in ("name", *_PROVIDER_CONFIG)},
        image_aliases=dict(m.image_aliases.as_dict() if hasattr(m.image_aliases, "as_dict") else {}),
        flavor_aliases=dict(m.flavor_aliases.as_dict() if hasattr(m.flavor_aliases, "as_dict") else {}),
        nova_max_instances=_int(m.nova_max_instances),
        flavors=[Flavor(f.name, int(f.vcpus), int(f.ram_mb)) for f in m.flavors or []],
        images=list(m.images or []),
        cap=int(m.cap or 0),
        slots=int(m.slots or 0),
        breaker=Breaker(b.state, int(b.failures or 0), b.opened_at, b.last_error),
        created_at=m.created_at,
        checked_at=m.checked_at,
        boot_seconds=None if m.boot_seconds is None else float(m.boot_seconds),
    )


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def effective_cap(max_instances: int | None, nova_max: int | None) -> int:
    """A provider takes no more than we allow and no more than Nova says it allows."""
    limits = [v for v in (max_instances, nova_max) if v is not None]
    return min(limits) if limits else 0


def create_provider(p: Provider) -> Provider:
    model = ProviderModel(
        p.name,
        **{f: getattr(p, f) for f in _PROVIDER_CONFIG},
        image_aliases=p.image_aliases,
        flavor_aliases=p.flavor_aliases,
        cap=effective_cap(p.max_instances, p.nova_max_instances),
        slots=0,
        created_at=p.created_at,
    )
    try:
        model.save(condition=ProviderModel.name.does_not_exist())
    except PutError as error:
        if _conditional_failed(error):
            raise ConflictError(f"provider '{p.name}' already exists") from error
        raise
    return _provider(model)


def get_provider(name: str) -> Provider:
    try:
        return _provider(ProviderModel.get(name))
    except DoesNotExist as error:
        raise NotFoundError(f"provider '{name}' not found") from error


def list_providers() -> list[Provider]:
    # Providers are few (tens): one paginated read of a small table.
    return sorted((_provider(m) for m in ProviderModel.scan()), key=lambda p: p.name)


def update_provider(name: str, changes: dict[str, Any]) -> Provider:
    """Apply configuration changes; the ledger cap follows max_instances."""
    model = ProviderModel(name)
    actions = [getattr(ProviderModel, field).set(value) for field, value in changes.items()]
    if "max_instances" in changes:
        current = get_provider(name)
        actions.append(ProviderModel.cap.set(effective_cap(changes["max_instances"], current.nova_max_instances)))
    try:
        model.update(actions=actions, condition=ProviderModel.name.exists())
    except UpdateError as error:
        if _conditional_failed(error):
            raise NotFoundError(f"provider '{name}' not found") from error
        raise
    return _provider(model)


def record_check(
    name: str, nova_max: int | None, flavors: Sequence[Flavor], images: Sequence[str], now: datetime
) -> None:
    current = get_provider(name)
    ProviderModel(name).update(
        actions=[
            (
                ProviderModel.nova_max_instances.set(nova_max)
                if nova_max is not None
                else ProviderModel.nova_max_instances.remove()
            ),
            ProviderModel.flavors.set([FlavorMap(name=f.name, vcpus=f.vcpus, ram_mb=f.ram_mb) for f in flavors]),
            ProviderModel.images.set(list(images)),
            ProviderModel.cap.set(effective_cap(current.max_instances, nova_max)),
            ProviderModel.checked_at.set(now),
        ]
    )


def set_boot_seconds(name: str, seconds: float) -> None:
    ProviderModel(name).update(actions=[ProviderModel.boot_seconds.set(round(seconds, 2))])


def set_cap(name: str, cap: int) -> None:
    ProviderModel(name).update(actions=[ProviderModel.cap.set(max(cap, 0))])


def set_slots(name: str, slots: int) -> None:
    ProviderModel(name).update(actions=[ProviderModel.slots.set(max(slots, 0))])


def set_breaker(name: str, breaker: Breaker) -> None:
    ProviderModel(name).update(
        actions=[
            ProviderModel.breaker.set(
                BreakerMap(
                    state=breaker.state,
                    failures=breaker.failures,
                    opened_at=breaker.opened_at,
                    last_error=breaker.last_error,
                )
            )
        ]
    )


def orphan_marks(name: str) -> dict[str, str]:
    marks = ProviderModel.get(name).orphan_marks
    return dict(marks.as_dict()) if marks is not None else {}


def set_orphan_marks(name: str, marks: dict[str, str]) -> None:
    ProviderModel(name).update(actions=[ProviderModel.orphan_marks.set(marks)])


def sweep_state(name: str) -> tuple[dict[str, str], str | None, int]:
    """The reaper's memory for a provider (orphan marks, the ledger drift it last saw) and the
    slot counter, read consistently."""
    model = ProviderModel.get(name, consistent_read=True, attributes_to_get=["orphan_marks", "ledger_drift", "slots"])
    marks = model.orphan_marks
    return (dict(marks.as_dict()) if marks is not None else {}), model.ledger_drift, int(model.slots or 0)


def set_ledger_drift(name: str, drift: str | None) -> None:
    attr = ProviderModel.ledger_drift
    ProviderModel(name).update(actions=[attr.set(drift) if drift else attr.remove()])


def set_slots_if(name: str, expected: int, slots: int) -> bool:
    """Set the slot counter only if it still reads `expected` (no reservation moved it meanwhile)."""
    try:
        ProviderModel(name).update(
            actions=[ProviderModel.slots.set(max(slots, 0))], condition=ProviderModel.slots == expected
        )
    except UpdateError as error:
        if _conditional_failed(error):
            return False
        raise
    return True


def delete_provider(name: str) -> None:
    try:
        ProviderModel(name).delete(condition=ProviderModel.name.exists())
    except DeleteError as error:
        if _conditional_failed(error):
            raise NotFoundError(f"provider '{name}' not found") from error
        raise


# --- requests -------------------------------------------------------------------------------


def _request(m: RequestModel) -> Request:
    return Request(
        id=m.id,
        count=int(m.instance_count),
        shape=Shape(m.image, m.flavor, _int(m.min_vcpus), _int(m.min_ram_mb)),
        lifetime_minutes=int(m.lifetime_minutes),
        placement=m.placement,
        providers=list(m.providers or []),
        public_key=m.public_key,
        has_user_data=bool(m.user_data),
        status=RequestStatus(m.status),
        created_at=m.created_at,
        execution_arn=m.execution_arn,
        counts={k: int(v) for k, v in (m.counts.as_dict() if m.counts is not None else {}).items()},
        reason=m.reason,
    )


def _instance_model(i: Instance) -> InstanceModel:
    return InstanceModel(
        i.id,
        request_id=i.request_id,
        index=i.index,
        status=i.status.value,
        planned_provider=i.planned_provider,
        image=i.image,
        created_at=i.created_at,
        lifetime_minutes=i.lifetime_minutes,
        sweep=SWEEP,
        due_at=i.due_at,
    )


def create_request(request: Request, user_data: str | None, instances: Sequence[Instance]) -> None:
    """Write the request and its instances atomically when they fit one transaction; larger
    requests write instance chunks first and the request last, so a request is never visible
    without all of its instances (a crash in between leaves due PENDING records the reaper fails)."""
    s = request.shape
    request_model = RequestModel(
        request.id,
        status=request.status.value,
        instance_count=request.count,
        image=s.image,
        flavor=s.flavor,
        min_vcpus=s.min_vcpus,
        min_ram_mb=s.min_ram_mb,
        lifetime_minutes=request.lifetime_minutes,
        placement=request.placement,
        providers=list(request.providers),
        public_key=request.public_key,
        user_data=user_data,
        created_at=request.created_at,
        counts={InstanceStatus.PENDING.value: request.count},
    )
    models = [_instance_model(i) for i in instances]
    head, last = models[: -(TRANSACTION_ITEMS - 1)], models[-(TRANSACTION_ITEMS - 1) :]
    for start in range(0, len(head), TRANSACTION_ITEMS):
        with TransactWrite(connection=shared_connection()) as tx:
            for m in head[start : start + TRANSACTION_ITEMS]:
                tx.save(m, condition=InstanceModel.id.does_not_exist())
    try:
        with TransactWrite(connection=shared_connection()) as tx:
            for m in last:
                tx.save(m, condition=InstanceModel.id.does_not_exist())
            tx.save(request_model, condition=RequestModel.id.does_not_exist())
    except TransactWriteError as error:
        raise ConflictError(f"request '{request.id}' already exists") from error


def get_request(request_id: str) -> Request:
    try:
        return _request(RequestModel.get(request_id))
    except DoesNotExist as error:
        raise NotFoundError(f"request '{request_id}' not found") from error


def get_user_data(request_id: str) -> str | None:
    return RequestModel.get(request_id, attributes_to_get=["user_data"]).user_data


def list_requests(status: str | None, limit: int, cursor: str | None) -> tuple[list[Request], str | None]:
    start = decode_cursor(cursor)
    if status:
        result = RequestModel.by_status.query(status, scan_index_forward=False, limit=limit, last_evaluated_key=start)
    else:
        result = RequestModel.by_created.query(
            "request", scan_index_forward=False, limit=limit, last_evaluated_key=start
        )
    return _page(result, _request)


def requests_with_status(status: RequestStatus, before: datetime) -> Iterator[Request]:
    for m in RequestModel.by_status.query(status.value, RequestModel.created_at < before):
        yield _request(m)


def update_request(request_id: str, allowed_from: Sequence[RequestStatus] | None = None, **changes: Any) -> bool:
    """Set fields; with allowed_from, only when the current status is one of those (else False)."""
    actions = [
        getattr(RequestModel, field).set(value.value if isinstance(value, RequestStatus) else value)
        for field, value in changes.items()
    ]
    condition: Condition = RequestModel.id.exists()
    if allowed_from is not None:
        condition &= RequestModel.status.is_in(*[s.value for s in allowed_from])
    try:
        RequestModel(request_id).update(actions=actions, condition=condition)
    except UpdateError as error:
        if _conditional_failed(error):
            return False
        raise
    return True


def expire_request_record(request_id: str, days: int, now: datetime) -> None:
    RequestModel(request_id).update(actions=[RequestModel.ttl.set(now + timedelta(days=days))])


# --- instances ------------------------------------------------------------------------------


def _instance(m: InstanceModel) -> Instance:
    return Instance(
        id=m.id,
        request_id=m.request_id,
        index=int(m.index),
        status=InstanceStatus(m.status),
        provider=m.provider,
        planned_provider=m.planned_provider,
        slot=m.slot,
        server_id=m.server_id,
        ip=m.ip,
        flavor=m.flavor,
        image=m.image,
        attempts=[Attempt(a.provider, a.error_class, a.message, a.at) for a in m.attempts or []],
        created_at=m.created_at,
        launched_at=m.launched_at,
        active_at=m.active_at,
        expires_at=m.expires_at,
        due_at=m.due_at,
        reason=m.reason,
        lifetime_minutes=int(m.lifetime_minutes or 60),
    )


def get_instance(instance_id: str) -> Instance:
    try:
        return _instance(InstanceModel.get(instance_id, consistent_read=True))
    except DoesNotExist as error:
        raise NotFoundError(f"instance '{instance_id}' not found") from error


def instances_of(request_id: str) -> list[Instance]:
    return [_instance(m) for m in InstanceModel.by_request.query(request_id)]


def list_instances(
    request_id: str | None, provider: str | None, status: str | None, limit: int, cursor: str | None
) -> tuple[list[Instance], str | None]:
    start = decode_cursor(cursor)
    condition = InstanceModel.status == status if status else None
    if request_id:
        if provider:
            condition = (
                (InstanceModel.provider == provider) & condition if condition else InstanceModel.provider == provider
            )
        result = InstanceModel.by_request.query(
            request_id, filter_condition=condition, limit=limit, last_evaluated_key=start
        )
    elif provider:
        result = InstanceModel.by_provider.query(
            provider, scan_index_forward=False, filter_condition=condition, limit=limit, last_evaluated_key=start
        )
    elif status and status not in {s.value for s in (InstanceStatus.DELETED, InstanceStatus.FAILED)}:
        # Live statuses are all in the sparse due index.
        result = InstanceModel.by_due.query(SWEEP, filter_condition=condition, limit=limit, last_evaluated_key=start)
    else:
        result = InstanceModel.scan(filter_condition=condition, limit=limit, last_evaluated_key=start)
    return _page(result, _instance)


def live_instances_on(provider: str) -> list[Instance]:
    live = InstanceModel.sweep.exists()
    return [_instance(m) for m in InstanceModel.by_provider.query(provider, filter_condition=live)]


def live_instances() -> Iterator[Instance]:
    """Every instance not yet DELETED/FAILED: the whole sparse due index, bounded by what runs."""
    for m in InstanceModel.by_due.query(SWEEP):
        yield _instance(m)


def due_instances(now: datetime, limit: int | None = None) -> Iterator[Instance]:
    for m in InstanceModel.by_due.query(SWEEP, InstanceModel.due_at <= now, limit=limit):
        yield _instance(m)


def instances_due_between(start: datetime, end: datetime) -> Iterator[Instance]:
    for m in InstanceModel.by_due.query(
        SWEEP,
        InstanceModel.due_at.between(start, end),
        filter_condition=InstanceModel.warned == False,  # noqa: E712
    ):
        yield _instance(m)


def mark_warned(instance_id: str) -> None:
    InstanceModel(instance_id).update(actions=[InstanceModel.warned.set(True)])


def update_instance(
    instance_id: str,
    allowed_from: Sequence[InstanceStatus] | None = None,
    attempt: Attempt | None = None,
    **changes: Any,
) -> bool:
    """Set fields (None removes); with allowed_from, only from those statuses (else False).
    Final statuses drop the instance out of the due index and give the record a TTL."""
    actions = []
    for field, value in changes.items():
        attr = getattr(InstanceModel, field)
        if value is None:
            actions.append(attr.remove())
        else:
            actions.append(attr.set(value.value if isinstance(value, InstanceStatus) else value))
    status = changes.get("status")
    if status in (InstanceStatus.DELETED, InstanceStatus.FAILED):
        actions += [
            InstanceModel.sweep.remove(),
            InstanceModel.due_at.remove(),
            InstanceModel.ttl.set(utcnow() + timedelta(days=get_settings().record_retention_days)),
        ]
    if attempt is not None:
        actions.append(
            InstanceModel.attempts.set(
                InstanceModel.attempts.append(
                    [
                        AttemptMap(
                            provider=attempt.provider,
                            error_class=attempt.error_class,
                            message=attempt.message[:500],
                            at=attempt.at,
                        )
                    ]
                )
            )
        )
    condition: Condition = InstanceModel.id.exists()
    if allowed_from is not None:
        condition &= InstanceModel.status.is_in(*[s.value for s in allowed_from])
    try:
        InstanceModel(instance_id).update(actions=actions, condition=condition)
    except UpdateError as error:
        if _conditional_failed(error):
            return False
        raise
    return True
