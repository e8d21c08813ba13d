"""The orphan sweep's decisions, as pure functions of server metadata, instance record and time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from openmultistack.clouds import OMS_EXPIRES, OMS_INSTANCE, OMS_REQUEST, Server
from openmultistack.domain import Instance, InstanceStatus

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
GRACE = timedelta(minutes=5)


def orphan_reason(*args: Any) -> str | None:
    # Imported late: openmultistack.models reads its table names from the environment at import,
    # and the integration tests' stack sets that environment when it starts (later in a session).
    from openmultistack.reaper import orphan_reason as decide

    return decide(*args)


def sweep_plan(*args: Any) -> tuple[list[str], dict[str, str]]:
    from openmultistack.reaper import sweep_plan as plan

    return plan(*args)


def server(sid: str = "s-1", instance: str | None = "r-1-0000", **extra: str) -> Server:
    metadata = {OMS_REQUEST: "r-1", OMS_INSTANCE: instance, **extra} if instance else dict(extra)
    return Server(id=sid, name=f"oms-{instance}", status="ACTIVE", metadata=metadata)


def record(status: InstanceStatus = InstanceStatus.ACTIVE, **changes: object) -> Instance:
    fields: dict[str, object] = {
        "provider": "sim-1",
        "server_id": "s-1",
        "expires_at": NOW + timedelta(minutes=30),
        **changes,
    }
    return Instance(id="r-1-0000", request_id="r-1", index=0, status=status, **fields)  # type: ignore[arg-type]


def test_a_server_without_oms_metadata_is_never_an_orphan():
    # GIVEN a stranger's server in a shared account (no oms: metadata), even with no record at all
    stranger = Server(id="s-9", name="their-db", status="ACTIVE", metadata={"owner": "someone"})
    # WHEN / THEN it is left alone
    assert orphan_reason(stranger, "sim-1", None, NOW, GRACE) is None


def test_a_server_of_a_live_instance_on_this_provider_is_not_an_orphan():
    # GIVEN the ACTIVE instance that owns the server, before its expiry
    # WHEN / THEN it is left alone
    assert orphan_reason(server(), "sim-1", record(), NOW, GRACE) is None


def test_a_server_being_launched_is_not_an_orphan():
    # GIVEN an instance in LAUNCHING on this provider whose server id is not recorded yet
    launching = record(InstanceStatus.LAUNCHING, server_id=None, expires_at=None)
    # WHEN / THEN its freshly created server is left alone (Launch records it in a moment)
    assert orphan_reason(server(), "sim-1", launching, NOW, GRACE) is None


@pytest.mark.parametrize(
    ("instance", "provider", "expected"),
    [
        (None, "sim-1", "no instance record"),
        (record(InstanceStatus.DELETED), "sim-1", "instance is DELETED"),
        (record(InstanceStatus.FAILED), "sim-1", "instance is FAILED"),
        (record(provider="sim-2"), "sim-1", "instance lives on sim-2"),
        (record(server_id="s-2"), "sim-1", "a second server of its instance"),
    ],
)
def test_servers_nobody_owns_are_orphans(instance, provider, expected):
    # GIVEN a server with oms: metadata and a record that does not own it
    # WHEN / THEN the reason names why
    assert orphan_reason(server(), provider, instance, NOW, GRACE) == expected


def test_past_expiry_counts_only_after_the_grace_period():
    # GIVEN an instance whose expiry passed 4 minutes ago (the reaper is about to delete it)
    late = record(expires_at=NOW - timedelta(minutes=4))
    # WHEN / THEN the sweep leaves it to the reaper within the grace period, and takes it after
    assert orphan_reason(server(), "sim-1", late, NOW, GRACE) is None
    assert orphan_reason(server(), "sim-1", late, NOW + timedelta(minutes=2), GRACE) == "instance past its expiry"


def test_the_records_expiry_wins_over_the_servers_metadata():
    # GIVEN a server whose metadata expiry has passed but whose instance was extended
    stale = server(**{OMS_EXPIRES: (NOW - timedelta(hours=1)).isoformat()})
    # WHEN / THEN the live record decides: not an orphan
    assert orphan_reason(stale, "sim-1", record(), NOW, GRACE) is None


def test_first_sighting_only_marks_and_the_second_deletes():
    # GIVEN two orphans, one already marked by the previous run, and a stale mark for a server gone since
    orphans = {"s-new": "no instance record", "s-old": "no instance record"}
    marks = {"s-old": "2025-06-01T11:59:00+00:00", "s-gone": "2025-06-01T11:59:00+00:00"}
    # WHEN the plan is made
    delete, keep = sweep_plan(orphans, marks, NOW)
    # THEN only the marked one is deleted, the new one is marked, the stale mark is dropped
    assert delete == ["s-old"]
    assert keep == {"s-new": NOW.isoformat()}


def test_a_marked_server_that_is_no_longer_orphaned_is_unmarked():
    # GIVEN a mark for a server whose instance turned out to be live (not in orphans any more)
    # WHEN / THEN nothing is deleted and the mark goes
    assert sweep_plan({}, {"s-1": NOW.isoformat()}, NOW) == ([], {})
