"""Circuit breaker rules and OpenStack error classification (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from openmultistack.classify import classify
from openmultistack.domain import Breaker, InstanceStatus, RequestStatus, request_outcome, retired_status
from openmultistack.health import admits, after_failure, after_success, shown_state

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def test_breaker_opens_after_threshold_and_half_opens_after_cooldown():
    # GIVEN a closed breaker  WHEN three failures happen  THEN it opens and refuses placements
    breaker = Breaker()
    for _ in range(3):
        breaker = after_failure(breaker, "unavailable", NOW)
    assert breaker.state == "open" and not admits(breaker, NOW + timedelta(seconds=1))
    # AND after the cooldown it admits a probe (half-open); a success closes it
    later = NOW + timedelta(minutes=5)
    assert admits(breaker, later) and shown_state(breaker, later) == "half_open"
    assert after_success(breaker) == Breaker()


def test_a_failed_probe_reopens_for_another_cooldown():
    opened = Breaker("open", 3, NOW, "x")
    probe_time = NOW + timedelta(minutes=5)
    again = after_failure(opened, "auth", probe_time)
    assert again.state == "open" and again.opened_at == probe_time
    assert not admits(again, probe_time + timedelta(seconds=1))


class Http(Exception):
    def __init__(self, status: int, message: str = "") -> None:
        super().__init__(message)
        self.status_code = status


class ConnectTimeout(Exception):
    pass


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (Http(401, "Unauthorized"), "auth"),
        (Http(403, "Quota exceeded for instances"), "quota"),
        (Http(503, "maintenance"), "unavailable"),
        (Http(500, "boom"), "unavailable"),
        (Http(409, "Multiple possible networks found"), "unfit"),
        (Http(400, "Invalid imageRef"), "unfit"),
        (Http(404, "not found"), "gone"),
        (ConnectTimeout("timed out"), "unavailable"),
    ],
)
def test_openstack_errors_are_classified(error, kind):
    assert classify(error, "p").kind == kind


def test_request_outcome_from_instance_statuses():
    A, F = InstanceStatus.ACTIVE, InstanceStatus.FAILED
    assert request_outcome([A, A]) == RequestStatus.READY
    assert request_outcome([A, F]) == RequestStatus.PARTIAL
    assert request_outcome([F, F]) == RequestStatus.FAILED
    assert retired_status(RequestStatus.DELETING) == RequestStatus.DELETED
    assert retired_status(RequestStatus.READY) == RequestStatus.EXPIRED
