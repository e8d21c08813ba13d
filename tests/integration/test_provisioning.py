"""Provisioning workflow against the simulator: fan-out, failover, quota safety, idempotent launch.
Every test ends with the ground truth: no provider above its quota and no server without its
instance record (nothing leaked)."""

from __future__ import annotations

import threading
from typing import Any

import httpx
import pytest

from tests.conftest import wait_for, wait_request

SMALL = {"image": "ubuntu", "min_vcpus": 1, "min_ram_mb": 1024, "lifetime_minutes": 30}


def live_requests(api: httpx.Client) -> list[str]:
    ids, cursor = [], None
    while True:
        page = api.get("/v1/requests", params={"limit": 200, **({"cursor": cursor} if cursor else {})}).json()
        ids += [r["id"] for r in page["items"] if r["status"] not in ("DELETED", "EXPIRED")]
        cursor = page["next"]
        if not cursor:
            return ids


@pytest.fixture()
def clean_slate(api: httpx.Client, stack: Any) -> Any:
    """Start from empty providers (other tests share the stack), and leave them empty."""

    def empty() -> None:
        from openmultistack import repository
        from openmultistack.domain import Breaker

        for provider in repository.list_providers():  # earlier faults (or time travel) opened them
            repository.set_breaker(provider.name, Breaker())
        for request_id in live_requests(api):
            api.delete(f"/v1/requests/{request_id}")

        def idle() -> bool:
            capacity = api.get("/v1/capacity").json()
            servers = sum(len(p["servers"]) for p in stack.sim.state()["providers"].values())
            return capacity["total"]["used"] + capacity["total"]["reserved"] == 0 and servers == 0

        wait_for(idle, timeout=90, what="providers to be empty")
        stack.run_reaper()  # its reconcile restores caps that a lying quota lowered

    empty()
    yield
    stack.sim.reset()
    empty()


def ground_truth(api: httpx.Client, sim: Any, quota: int = 20) -> dict[str, Any]:
    """Assert nothing leaked and no provider exceeded its quota; return the state."""
    state = sim.state()["providers"]
    for name, provider in state.items():
        assert provider["peak_servers"] <= quota, f"{name} peaked at {provider['peak_servers']} > {quota}"
        for server in provider["servers"]:
            instance_id = server["metadata"].get("oms:instance")
            assert instance_id, f"server {server['id']} on {name} has no oms:instance metadata"
            record = api.get(f"/v1/instances/{instance_id}")
            assert record.status_code == 200, f"server {server['id']} on {name} has no instance record"
            assert record.json()["server_id"] == server["id"], (
                f"server {server['id']} on {name} is not its instance's server"
            )
            assert record.json()["provider"] == name
    return state


def servers_of(sim: Any, request_id: str) -> list[dict[str, Any]]:
    return [
        s
        for p in sim.state()["providers"].values()
        for s in p["servers"]
        if s["metadata"].get("oms:request") == request_id
    ]


def test_100_instances_over_6_providers_with_one_in_maintenance(api, sim, clean_slate):
    # GIVEN 6 providers of quota 20, one of them in maintenance (100 healthy slots)
    sim.fault("sim-4", maintenance=True)
    rejections_before = {n: p["quota_rejections"] for n, p in sim.state()["providers"].items()}

    # WHEN a user asks for 100 instances
    created = api.post("/v1/requests", json={"count": 100, **SMALL})
    assert created.status_code == 202, created.text

    # THEN all 100 become ACTIVE, none on the provider in maintenance
    body = wait_request(api, created.json()["id"], timeout=240)
    assert body["status"] == "READY", body["counts"]
    providers = {i["provider"] for i in body["instances"]}
    assert "sim-4" not in providers and len(providers) == 5
    # AND the ledger kept every provider within its quota: Nova never had to reject a create
    state = ground_truth(api, sim)
    assert {n: p["quota_rejections"] for n, p in state.items()} == rejections_before
    assert len(servers_of(sim, body["id"])) == 100


@pytest.mark.parametrize(
    ("faults", "expect_failed_over"),
    [
        ({"maintenance": True}, True),
        ({"auth_fail": True}, True),
        ({"hang": True}, True),
        ({"latency_ms": 1500}, False),
        ({"boot_error_rate": 1.0}, True),
        ({"api_error_rate": 0.5}, False),
        ({"quota": 1}, True),
    ],
    ids=["maintenance", "auth_fail", "hang", "latency", "boot_errors", "random_500s", "lying_quota"],
)
def test_each_fault_mode_fails_over_and_leaks_nothing(api, sim, clean_slate, faults, expect_failed_over):
    # GIVEN sim-1 with a fault, the others healthy
    sim.fault("sim-1", **faults)

    # WHEN 8 instances are requested, preferring sim-1 first (pack fills the emptiest first: all tie)
    created = api.post("/v1/requests", json={"count": 8, **SMALL, "placement": "spread"})
    assert created.status_code == 202, created.text

    # THEN every instance ends ACTIVE (healthy capacity is plenty) and nothing leaks
    body = wait_request(api, created.json()["id"], timeout=180)
    assert body["status"] == "READY", [(i["status"], i["reason"], i["attempts"]) for i in body["instances"]]
    attempts = [a for i in body["instances"] for a in i["attempts"]]
    if expect_failed_over:
        assert any(a["provider"] == "sim-1" for a in attempts), "the fault never showed up in the attempts"
    assert all(a["provider"] == "sim-1" for a in attempts), attempts  # only the faulty provider failed
    sim.reset("sim-1")
    ground_truth(api, sim)


def test_mixed_faults_fill_healthy_capacity_and_fail_the_rest_clearly(api, sim, clean_slate):
    # GIVEN only 2 healthy providers (40 slots); the others are broken in different ways
    sim.fault("sim-1", maintenance=True)
    sim.fault("sim-2", auth_fail=True)
    sim.fault("sim-3", boot_error_rate=1.0)
    sim.fault("sim-4", hang=True)

    # WHEN 45 instances are requested
    created = api.post("/v1/requests", json={"count": 45, **SMALL})
    body = wait_request(api, created.json()["id"], timeout=300)

    # THEN the 40 that fit are ACTIVE, the other 5 FAILED with a reason, and nothing leaks
    statuses = [i["status"] for i in body["instances"]]
    assert statuses.count("ACTIVE") == 40, body["counts"]
    assert statuses.count("FAILED") == 5
    assert body["status"] == "PARTIAL"
    assert all(i["reason"] for i in body["instances"] if i["status"] == "FAILED")
    sim.reset()
    ground_truth(api, sim)


def test_two_concurrent_requests_never_overshoot(api, sim, clean_slate):
    # GIVEN 100 slots in total (sim-6 disabled by a lying quota of 0 → only 5 providers × 20)
    sim.fault("sim-6", maintenance=True)
    # WHEN two requests of 60 run at once
    ids: list[str] = []

    def ask() -> None:
        ids.append(api.post("/v1/requests", json={"count": 60, **SMALL}).json()["id"])

    threads = [threading.Thread(target=ask) for _ in range(2)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    bodies = [wait_request(api, i, timeout=300) for i in ids]

    # THEN together they hold exactly the 100 slots, the other 20 FAILED, and no provider overshot
    active = sum(i["status"] == "ACTIVE" for b in bodies for i in b["instances"])
    failed = sum(i["status"] == "FAILED" for b in bodies for i in b["instances"])
    assert (active, failed) == (100, 20), [
        (
            b["counts"],
            [
                (i["status"], i["provider"], i["reason"], i["attempts"][-2:])
                for i in b["instances"]
                if i["status"] != "ACTIVE"
            ][:3],
        )
        for b in bodies
    ]
    state = ground_truth(api, sim)
    assert sum(len(p["servers"]) for p in state.values()) == 100


def test_a_launch_that_crashes_after_nova_accepted_the_create_leaves_one_server(api, sim, clean_slate, monkeypatch):
    from openmultistack import provisioning

    # GIVEN a Launch Lambda that dies right after Nova accepted each create, once per instance
    crashed: set[str] = set()
    record = provisioning._record_launch

    def crash_once(ctx, *args, **kwargs):  # type: ignore[no-untyped-def]
        if ctx.instance.id not in crashed:
            crashed.add(ctx.instance.id)
            raise RuntimeError("Lambda crashed after create")
        return record(ctx, *args, **kwargs)

    monkeypatch.setattr(provisioning, "_record_launch", crash_once)

    # WHEN 3 instances are requested (Step Functions retries each failed Launch)
    created = api.post("/v1/requests", json={"count": 3, **SMALL})
    body = wait_request(api, created.json()["id"], timeout=120)

    # THEN every instance crashed once, is ACTIVE, and has exactly one server: the retry adopted it
    assert len(crashed) == 3
    assert body["status"] == "READY", body["counts"]
    servers = servers_of(sim, body["id"])
    assert sorted(s["metadata"]["oms:instance"] for s in servers) == sorted(i["id"] for i in body["instances"])
    ground_truth(api, sim)


def test_deleting_a_request_while_it_provisions_cancels_cleanly(api, sim, stack, clean_slate):
    # GIVEN a request for 30 instances that is still provisioning
    created = api.post("/v1/requests", json={"count": 30, **SMALL})
    request_id = created.json()["id"]
    wait_for(lambda: servers_of(sim, request_id), timeout=60, what="the first servers to be created")

    # WHEN the user deletes it mid-flight
    deleted = api.delete(f"/v1/requests/{request_id}")
    assert deleted.status_code == 202 and deleted.json()["status"] == "DELETING"

    # THEN running children stop launching, every server is deleted and every slot released
    body = wait_request(api, request_id, timeout=120, statuses={"DELETED"})
    assert {i["status"] for i in body["instances"]} <= {"DELETED", "FAILED"}
    wait_for(lambda: not servers_of(sim, request_id), timeout=30, what="servers to be gone")
    capacity = api.get("/v1/capacity").json()["total"]
    assert capacity["used"] + capacity["reserved"] == 0
    ground_truth(api, sim)
