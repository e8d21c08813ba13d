"""Domain objects and the pure rules about their lifecycles (no AWS, no network)."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum


class RequestStatus(StrEnum):
    QUEUED = "QUEUED"
    PROVISIONING = "PROVISIONING"
    READY = "READY"
    PARTIAL = "PARTIAL"
    FAILED = "FAILED"
    DELETING = "DELETING"
    DELETED = "DELETED"
    EXPIRED = "EXPIRED"


class InstanceStatus(StrEnum):
    PENDING = "PENDING"
    LAUNCHING = "LAUNCHING"
    BUILDING = "BUILDING"
    ACTIVE = "ACTIVE"
    DELETING = "DELETING"
    DELETED = "DELETED"
    FAILED = "FAILED"


FINAL_INSTANCE = frozenset({InstanceStatus.DELETED, InstanceStatus.FAILED})
LIVE_INSTANCE = tuple(s for s in InstanceStatus if s not in FINAL_INSTANCE)
# A request in one of these states no longer wants servers; workflow steps stand down.
STANDING_DOWN = frozenset({RequestStatus.DELETING, RequestStatus.DELETED, RequestStatus.EXPIRED})


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_request_id() -> str:
    return "r-" + secrets.token_hex(6)


def instance_id_for(request_id: str, index: int) -> str:
    # Deterministic, so a retried write or Plan step can never create a second record.
    return f"{request_id}-{index:04d}"


@dataclass(frozen=True)
class Shape:
    image: str
    flavor: str | None = None
    min_vcpus: int | None = None
    min_ram_mb: int | None = None


@dataclass(frozen=True)
class Flavor:
    name: str
    vcpus: int
    ram_mb: int


@dataclass
class Attempt:
    provider: str
    error_class: str
    message: str
    at: datetime


# The fields that say how to reach a provider account (a change means a new connection).
CONNECTION_FIELDS = (
    "auth_url",
    "region_name",
    "project_name",
    "project_id",
    "user_domain_name",
    "project_domain_name",
    "interface",
    "auth_type",
    "network",
)


@dataclass
class Provider:
    name: str
    auth_url: str
    region_name: str | None = None
    project_name: str | None = None
    project_id: str | None = None
    user_domain_name: str | None = None
    project_domain_name: str | None = None
    interface: str = "public"
    auth_type: str = "password"
    enabled: bool = True
    max_instances: int | None = None
    image_aliases: dict[str, str] = field(default_factory=dict)
    flavor_aliases: dict[str, str] = field(default_factory=dict)
    network: str | None = None
    has_credentials: bool = False
    # What the last check saw: the provider's own limit and catalogue (used by placement).
    nova_max_instances: int | None = None
    flavors: list[Flavor] = field(default_factory=list)
    images: list[str] = field(default_factory=list)
    # Capacity ledger: `slots` held by live instances, bounded by `cap` (a conditional write).
    cap: int = 0
    slots: int = 0
    breaker: Breaker = field(default_factory=lambda: Breaker())
    created_at: datetime = field(default_factory=utcnow)
    checked_at: datetime | None = None
    boot_seconds: float | None = None

    @property
    def free(self) -> int:
        return max(self.cap - self.slots, 0)


@dataclass
class Breaker:
    """Per-provider circuit breaker (rules in health.py)."""

    state: str = "closed"  # closed | open (half-open is open past its cooldown)
    failures: int = 0
    opened_at: datetime | None = None
    last_error: str | None = None


@dataclass
class Request:
    id: str
    count: int
    shape: Shape
    lifetime_minutes: int
    placement: str = "spread"
    providers: list[str] = field(default_factory=list)
    public_key: str | None = None
    has_user_data: bool = False
    status: RequestStatus = RequestStatus.QUEUED
    created_at: datetime = field(default_factory=utcnow)
    execution_arn: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    reason: str | None = None


@dataclass
class Instance:
    id: str
    request_id: str
    index: int
    status: InstanceStatus = InstanceStatus.PENDING
    provider: str | None = None
    planned_provider: str | None = None
    slot: str | None = None
    server_id: str | None = None
    ip: str | None = None
    flavor: str | None = None
    image: str | None = None
    attempts: list[Attempt] = field(default_factory=list)
    created_at: datetime = field(default_factory=utcnow)
    launched_at: datetime | None = None
    active_at: datetime | None = None
    expires_at: datetime | None = None
    due_at: datetime | None = None
    reason: str | None = None
    lifetime_minutes: int = 60

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_INSTANCE

    @property
    def tried_providers(self) -> set[str]:
        return {a.provider for a in self.attempts if a.provider}


def new_instances(request: Request, due_at: datetime) -> list[Instance]:
    """The PENDING instances of a new request, due (for the reaper) at `due_at`."""
    return [
        Instance(
            id=instance_id_for(request.id, n),
            request_id=request.id,
            index=n,
            image=request.shape.image,
            created_at=request.created_at,
            due_at=due_at,
            lifetime_minutes=request.lifetime_minutes,
        )
        for n in range(request.count)
    ]


def request_outcome(statuses: Iterable[InstanceStatus]) -> RequestStatus:
    """The request status once provisioning has finished, from its instances' statuses."""
    counted = list(statuses)
    active = sum(s == InstanceStatus.ACTIVE for s in counted)
    if counted and active == len(counted):
        return RequestStatus.READY
    if active:
        return RequestStatus.PARTIAL
    return RequestStatus.FAILED


def status_counts(statuses: Iterable[InstanceStatus]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for s in statuses:
        counts[s.value] = counts.get(s.value, 0) + 1
    return counts


def retired_status(request: RequestStatus) -> RequestStatus:
    """What a request becomes when its last instance is gone."""
    return RequestStatus.DELETED if request == RequestStatus.DELETING else RequestStatus.EXPIRED


def boot_estimate(previous: float | None, observed: float) -> float:
    """Moving average of a provider's boot time; recent boots weigh a quarter."""
    return observed if previous is None else 0.75 * previous + 0.25 * observed


def expiry_after(active_at: datetime, lifetime_minutes: int) -> datetime:
    return active_at + timedelta(minutes=lifetime_minutes)
