"""The reaper's pure decisions, its budgeted runner, and its Lambda handler with the sample event."""

from __future__ import annotations

import importlib.util
import json
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from openmultistack.domain import Attempt, Instance, InstanceStatus, RequestStatus

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def reaper() -> Any:
    # Imported late: openmultistack.models reads its table names from the environment at import,
    # and the integration tests' stack sets that environment when it starts (later in a session).
    from openmultistack import reaper

    return reaper


@pytest.fixture(scope="module")
def teardown() -> Any:
    from openmultistack import teardown

    return teardown


def instance(status: InstanceStatus, **changes: Any) -> Instance:
    return Instance(id="r-1-0000", request_id="r-1", index=0, status=status, provider="sim-1", **changes)


# --- due_action -----------------------------------------------------------------------------


def test_an_active_instance_past_its_expiry_is_expired(reaper):
    # GIVEN an ACTIVE instance of a READY request whose expiry passed a second ago
    due = instance(InstanceStatus.ACTIVE, active_at=NOW - timedelta(hours=1), expires_at=NOW - timedelta(seconds=1))
    # WHEN / THEN it is deleted for the end of its lifetime
    action = reaper.due_action(due, RequestStatus.READY, NOW)
    assert (action.kind, action.final, action.reason) == ("expire", InstanceStatus.DELETED, "lifetime ended")


def test_an_active_instance_due_before_its_expiry_is_rescheduled_not_deleted(reaper):
    # GIVEN an ACTIVE instance whose expiry was extended but whose due_at was not moved
    extended = instance(InstanceStatus.ACTIVE, expires_at=NOW + timedelta(minutes=30))
    # WHEN / THEN the reaper only reschedules it
    assert reaper.due_action(extended, RequestStatus.READY, NOW).kind == "reschedule"


@pytest.mark.parametrize("status", [InstanceStatus.PENDING, InstanceStatus.LAUNCHING, InstanceStatus.BUILDING])
def test_an_instance_stuck_in_provisioning_is_failed(status, reaper):
    # GIVEN an instance still provisioning past its deadline, its request still wanting it
    # WHEN / THEN it is failed cleanly, with a reason naming the state it was stuck in
    action = reaper.due_action(instance(status), RequestStatus.PROVISIONING, NOW)
    assert (action.kind, action.final) == ("fail", InstanceStatus.FAILED)
    assert status.value in (action.reason or "")


@pytest.mark.parametrize("request_status", [RequestStatus.DELETING, RequestStatus.EXPIRED, None])
def test_instances_of_a_deleted_or_missing_request_are_deleted(request_status, reaper):
    # GIVEN a provisioning instance whose request is being deleted (or whose record is gone)
    # WHEN / THEN it is deleted, not failed
    action = reaper.due_action(instance(InstanceStatus.BUILDING), request_status, NOW)
    assert (action.kind, action.final) == ("delete", InstanceStatus.DELETED)
    assert action.reason == "request deleted while provisioning"


def test_a_deleting_instance_is_driven_to_the_end_its_deletion_started_for(reaper, teardown):
    # GIVEN one DELETING instance that had been ACTIVE, and one that never became ACTIVE (a failed launch)
    was_active = instance(InstanceStatus.DELETING, active_at=NOW - timedelta(hours=1))
    never_active = instance(InstanceStatus.DELETING)
    # WHEN the reaper retries their deletes  THEN the first ends DELETED, the second FAILED
    assert reaper.due_action(was_active, RequestStatus.READY, NOW).final == InstanceStatus.DELETED
    assert reaper.due_action(never_active, RequestStatus.PROVISIONING, NOW).final == InstanceStatus.FAILED
    # AND one whose request is being deleted ends DELETED even if it never ran
    assert teardown.final_status(never_active, RequestStatus.DELETING) == InstanceStatus.DELETED


def test_final_instances_are_skipped(reaper):
    assert reaper.due_action(instance(InstanceStatus.DELETED), RequestStatus.READY, NOW).kind == "skip"


# --- deletion pending notes, ledger ---------------------------------------------------------


def test_a_pending_deletion_is_noted_once_per_provider_outage(teardown):
    # GIVEN no attempts, then one 'deletion pending' note on sim-1
    noted = [Attempt("sim-1", teardown.DELETE_PENDING, "unavailable", NOW)]
    # WHEN / THEN the first pending delete is noted, repeats on the same provider are not
    assert teardown.needs_pending_note([], "sim-1")
    assert not teardown.needs_pending_note(noted, "sim-1")
    assert teardown.needs_pending_note([*noted, Attempt("sim-1", "boot", "x", NOW)], "sim-1")


def test_ledger_drift_is_fixed_only_when_seen_twice(reaper):
    # GIVEN a counter of 5 against 3 holders
    # WHEN first seen THEN remembered, not fixed; WHEN seen again THEN fixed
    assert reaper.ledger_verdict(5, 3, None) == (False, "5:3")
    assert reaper.ledger_verdict(5, 3, "5:3") == (True, "5:3")
    # AND a different disagreement starts over, agreement forgets
    assert reaper.ledger_verdict(6, 3, "5:3") == (False, "6:3")
    assert reaper.ledger_verdict(3, 3, "5:3") == (False, None)


# --- the budgeted runner --------------------------------------------------------------------


def test_bounded_never_runs_more_than_its_workers_at_once(reaper):
    # GIVEN 40 items of work that each take a moment
    lock, running, peak = threading.Lock(), [0], [0]

    def work(n: int) -> int:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.01)
        with lock:
            running[0] -= 1
        return n

    # WHEN run with 4 workers and time to spare
    results, more = reaper.bounded(work, range(40), 4, time.monotonic() + 60)
    # THEN all ran, never more than 4 at once, and nothing is left
    assert sorted(results) == list(range(40))
    assert peak[0] <= 4 and not more


def test_bounded_stops_starting_work_at_the_deadline_and_says_more_is_left(reaper):
    # GIVEN an endless supply of work (a paginated Query) and a short budget
    def endless() -> Any:
        n = 0
        while True:
            yield n
            n += 1

    # WHEN run
    started = time.monotonic()
    results, more = reaper.bounded(lambda n: time.sleep(0.02) or n, endless(), 2, started + 0.2)
    # THEN it stops soon after the deadline and reports that work remains
    assert more
    assert 0 < len(results) < 100
    assert time.monotonic() - started < 2


# --- the handler ----------------------------------------------------------------------------


@dataclass
class Context:
    function_name: str = "oms-reaper"
    invoked_function_arn: str = "arn:aws:lambda:eu-west-1:123456789012:function:oms-reaper"
    memory_limit_in_mb: int = 512
    function_version: str = "$LATEST"
    aws_request_id: str = "00000000-0000-0000-0000-000000000000"


def load_handler() -> Any:
    spec = importlib.util.spec_from_file_location("reaper_app_under_test", ROOT / "functions/reaper/app.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.lambda_handler


def test_the_handler_runs_the_reaper_as_of_the_scheduled_events_time(monkeypatch, reaper):
    # GIVEN the sample scheduled event, and the reaper replaced by a recorder
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    event = json.loads((ROOT / "events/reaper_scheduled.json").read_text())
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(reaper, "run", lambda **kw: calls.append(kw) or reaper.ReapReport(reaped=3, pending=["i-1"]))
    # WHEN the handler is called with it
    result = load_handler()(event, Context())
    # THEN the reaper ran as of the event's time (not the wall clock), as a scheduled run
    assert calls == [{"now": datetime(2025, 6, 1, 12, 0, tzinfo=UTC), "request_id": None, "instance_id": None}]
    # AND the report comes back as plain JSON
    assert result["reaped"] == 3 and result["pending"] == ["i-1"]
    json.dumps(result)


def test_the_handler_passes_a_teardown_request_through(monkeypatch, reaper):
    # GIVEN the sample teardown event the API sends on DELETE /v1/requests/{id}
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    event = json.loads((ROOT / "events/reaper_teardown.json").read_text())
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(reaper, "run", lambda **kw: calls.append(kw) or reaper.ReapReport())
    # WHEN the handler is called  THEN the reaper tears that request down, on the wall clock
    load_handler()(event, Context())
    assert calls == [{"now": None, "request_id": event["request_id"], "instance_id": None}]
