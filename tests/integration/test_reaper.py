"""The reaper against the local stack and the simulator's ground truth: orphan sweep, a provider in
maintenance at expiry, stuck work, and the capacity ledger."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from tests.conftest import wait_for, wait_request
from tests.integration.test_lifecycle import at, ready, servers_of


def live_server_ids(sim: Any, provider: str) -> set[str]:
    return {s["id"] for s in sim.provider_state(provider)["servers"] if s["status"] != "DELETED"}


@pytest.fixture()
def closed_breakers(stack: Any) -> Iterator[None]:
    """Runs as of a moved clock may open a breaker 'in the future'; never leave one for later tests."""
    yield
    from openmultistack import repository as repo
    from openmultistack.domain import Breaker

    for provider in repo.list_providers():
        if provider.breaker.state != "closed" or provider.breaker.failures:
            repo.set_breaker(provider.name, Breaker())


def test_orphans_are_marked_then_deleted_and_foreign_or_owned_servers_are_never_touched(stack, api, sim):
    # GIVEN a live instance, and on its provider: a server whose oms: metadata names an instance
    # that does not exist, a second server claiming the live instance, and a stranger's server
    body = ready(api, 1, 30)
    live = body["instances"][0]
    provider = live["provider"]
    ghost = sim.plant_server(provider, "oms-r-ghost-0000", {"oms:request": "r-ghost", "oms:instance": "r-ghost-0000"})[
        "id"
    ]
    duplicate = sim.plant_server(
        provider, f"oms-{live['id']}", {"oms:request": body["id"], "oms:instance": live["id"]}
    )["id"]
    stranger = sim.plant_server(provider, "someone-elses-db", {"owner": "finance"})["id"]

    # WHEN the reaper runs once
    first = stack.run_reaper()
    # THEN the orphans are only marked: every server still exists
    assert {ghost, duplicate, stranger, live["server_id"]} <= live_server_ids(sim, provider)
    assert first["orphans_marked"] >= 2

    # WHEN it runs again
    second = stack.run_reaper()
    # THEN both orphans are deleted
    remaining = live_server_ids(sim, provider)
    assert ghost not in remaining and duplicate not in remaining
    assert second["orphans_deleted"] >= 2
    # AND the stranger's server and the live instance's own server are untouched
    assert {stranger, live["server_id"]} <= remaining
    assert api.get(f"/v1/instances/{live['id']}").json()["status"] == "ACTIVE"

    # WHEN it keeps running  THEN the stranger's server is never touched
    stack.run_reaper()
    assert stranger in live_server_ids(sim, provider)


def test_a_provider_in_maintenance_at_expiry_only_delays_the_deletion(stack, api, sim, closed_breakers):
    from openmultistack import repository as repo

    # GIVEN a READY instance living 5 minutes, whose provider goes into maintenance
    body = ready(api, 1, 5)
    instance = body["instances"][0]
    provider = instance["provider"]
    expiry = at(instance["expires_at"])
    sim.fault(provider, maintenance=True)

    # WHEN the reaper runs past the expiry (twice, a minute apart)
    first = stack.run_reaper(now=expiry + timedelta(minutes=1))
    second = stack.run_reaper(now=expiry + timedelta(minutes=2))

    # THEN the instance is reported as deletion pending, not lost: DELETING, noted once in its attempts
    assert instance["id"] in first["pending"] and instance["id"] in second["pending"]
    record = api.get(f"/v1/instances/{instance['id']}").json()
    assert record["status"] == "DELETING"
    assert [a["error_class"] for a in record["attempts"]].count("delete_pending") == 1
    assert api.get(f"/v1/requests/{body['id']}").json()["status"] == "READY"
    # AND its server is still on the provider (nobody could delete it)
    assert instance["server_id"] in live_server_ids(sim, provider)

    # WHEN the provider comes back and the reaper runs again
    sim.fault(provider, maintenance=False)
    third = stack.run_reaper(now=expiry + timedelta(minutes=3))

    # THEN the instance is DELETED, the request EXPIRED and no server is left
    assert third["reaped"] >= 1 and instance["id"] not in third["pending"]
    after = api.get(f"/v1/requests/{body['id']}").json()
    assert after["status"] == "EXPIRED"
    assert after["instances"][0]["status"] == "DELETED"
    assert servers_of(sim, body["id"]) == []
    # AND the provider's breaker closed again on the reaper's probe
    assert repo.get_provider(provider).breaker.state == "closed"


def test_a_queued_request_without_an_execution_is_started_again(stack, api):
    from openmultistack import repository as repo
    from openmultistack.domain import Request, Shape, new_instances, new_request_id, utcnow

    # GIVEN a QUEUED request whose StartExecution never happened (written straight to the table)
    now = utcnow()
    request = Request(
        id=new_request_id(),
        count=2,
        shape=Shape("ubuntu", min_vcpus=1, min_ram_mb=1024),
        lifetime_minutes=30,
        created_at=now,
    )
    instances = new_instances(request, due_at=now + timedelta(minutes=30))
    repo.create_request(request, None, instances)

    # WHEN the reaper runs three minutes later
    report = stack.run_reaper(now=now + timedelta(minutes=3))

    # THEN it started an execution for it, and the request becomes READY
    assert report["restarted"] >= 1
    assert repo.get_request(request.id).execution_arn
    assert wait_request(api, request.id)["status"] == "READY"


def test_an_instance_stuck_while_building_is_failed_cleanly_and_its_request_closed(stack, sim):
    from openmultistack import capacity
    from openmultistack import repository as repo
    from openmultistack.domain import (
        Instance,
        InstanceStatus,
        Request,
        RequestStatus,
        Shape,
        instance_id_for,
        new_request_id,
        utcnow,
    )

    # GIVEN a PROVISIONING request whose execution is gone, with one instance BUILDING on sim-1:
    # a slot held, a server created, and its deadline passed
    stack.run_reaper()  # settle what earlier tests left on sim-1, so its slot counter holds still
    now = utcnow()
    request = Request(
        id=new_request_id(),
        count=1,
        shape=Shape("ubuntu", "m1.small"),
        lifetime_minutes=30,
        status=RequestStatus.PROVISIONING,
        created_at=now,
    )
    iid = instance_id_for(request.id, 0)
    repo.create_request(
        request,
        None,
        [Instance(id=iid, request_id=request.id, index=0, created_at=now, due_at=now + timedelta(minutes=30))],
    )
    slots_before = repo.get_provider("sim-1").slots
    assert capacity.reserve(iid, "sim-1")
    server = sim.plant_server("sim-1", f"oms-{iid}", {"oms:request": request.id, "oms:instance": iid}, "BUILD")
    repo.update_instance(iid, status=InstanceStatus.BUILDING, server_id=server["id"], due_at=now - timedelta(seconds=1))

    # WHEN the reaper runs
    report = stack.run_reaper(now=now)

    # THEN the instance is FAILED with a reason, its server deleted and its slot released
    stuck = repo.get_instance(iid)
    assert stuck.status == InstanceStatus.FAILED, stuck
    assert "stuck in BUILDING" in (stuck.reason or "")
    assert server["id"] not in live_server_ids(sim, "sim-1")
    assert stuck.slot is None
    assert repo.get_provider("sim-1").slots == slots_before
    # AND the request, whose execution will never finalize it, is closed as FAILED
    assert repo.get_request(request.id).status == RequestStatus.FAILED
    assert report["retired"][request.id] == "FAILED"


def test_ledger_drift_is_fixed_and_nova_room_follows_servers_of_others(stack, sim):
    from openmultistack import repository as repo

    # GIVEN sim-6's slot counter pushed 3 above the instances that hold slots there
    stack.run_reaper()  # settle whatever earlier tests left (vanished servers, drift memory)
    true_slots = repo.get_provider("sim-6").slots
    repo.set_slots("sim-6", true_slots + 3)

    # WHEN the reaper runs  THEN the first sighting is only remembered (the index may lag)
    first = stack.run_reaper()
    assert "sim-6" not in first["ledger_fixes"]
    assert repo.get_provider("sim-6").slots == true_slots + 3
    # WHEN it runs again  THEN the same drift is fixed
    second = stack.run_reaper()
    assert second["ledger_fixes"].get("sim-6") == -3
    assert repo.get_provider("sim-6").slots == true_slots

    # GIVEN someone else starts 5 servers in sim-6's account (quota 20)
    others = [sim.plant_server("sim-6", f"theirs-{n}")["id"] for n in range(5)]
    # WHEN the reaper runs  THEN our cap there shrinks to what Nova still allows
    stack.run_reaper()
    assert repo.get_provider("sim-6").cap == 15
    # WHEN their servers go  THEN the cap comes back
    conn = sim.connect("sim-6")
    for sid in others:
        conn.compute.delete_server(sid)
    wait_for(lambda: stack.run_reaper() and repo.get_provider("sim-6").cap == 20, 10, what="cap back to 20")
