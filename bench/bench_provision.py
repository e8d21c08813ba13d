"""Provisioning benchmark: 100 instances over 6 simulated providers (quota 20, one in
maintenance) through the whole local stack. Prints the makespan against a baseline measured in the
same run (the same 100 servers booted straight through openstacksdk in parallel — no
orchestration), Step Functions state transitions and Lambda invocations per instance, and
OpenStack API calls per instance.

    python -m bench provision [--count 100] [--boot-seconds 10]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "core")]

# States each handler result walks through in statemachine/provision.asl.json (kept next to the
# trace that uses it; a change of the ASL shows up as a change of these figures).
STATES_PER_CALL = {"launch": 2, "poll": 3, "settle": 1}  # Task + Choice; Wait + Task + Choice; Task
STATES_PER_WAIT = 1  # "Wait for capacity"
STATES_PER_CHILD_END = 1  # "Instance settled"
WORKFLOW = {"plan", "launch", "poll", "settle", "finalize"}  # the API and reaper are not provisioning


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def baseline(sim: Any, count: int, per_provider: dict[str, int]) -> float:
    """Boot the same number of servers directly with openstacksdk, all in parallel."""

    def boot(job: tuple[str, int]) -> None:
        cloud, n = job
        conn = sim.connect(cloud)
        image = next(i for i in conn.image.images() if "ubuntu" in i.name.lower())
        flavor = min(conn.compute.flavors(), key=lambda f: (f.vcpus, f.ram))
        networks = list(conn.network.networks())
        server = conn.compute.create_server(
            name=f"baseline-{n}",
            image_id=image.id,
            flavor_id=flavor.id,
            networks=[{"uuid": networks[0].id}] if len(networks) > 1 else "auto",
        )
        conn.compute.wait_for_server(server, interval=1, wait=120)

    jobs = [(cloud, n) for cloud, k in per_provider.items() for n in range(k)]
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=count) as pool:
        list(pool.map(boot, jobs))
    elapsed = time.perf_counter() - started
    sim.reset()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--boot-seconds", type=float, default=10.0)
    args = parser.parse_args()

    import httpx

    import local.stack as local_stack
    from local.stack import LocalStack, StackConfig

    calls: Counter[str] = Counter()
    waits = Counter[str]()
    original = local_stack.Functions.call

    def traced(self: Any, name: str, event: dict[str, Any]) -> Any:
        result = original(self, name, event)
        kind = name.rsplit("-", 1)[-1].removesuffix("Function").lower()
        if kind in WORKFLOW:
            calls[kind] += 1
        if isinstance(result, dict) and result.get("next") == "WAIT":
            waits["capacity"] += 1
        return result

    local_stack.Functions.call = traced  # type: ignore[method-assign]
    settings = {"OMS_POLL_INTERVAL_SECONDS": str(max(int(args.boot_seconds / 3), 1)), "OMS_BOOT_TIMEOUT_SECONDS": "120"}
    config = StackConfig(
        api_port=_free_port(),
        aws_port=_free_port(),
        token="bench",
        sim_providers=6,
        sim_quota=20,
        sim_boot_seconds=args.boot_seconds,
        sim_port=0,
        reaper_every_seconds=0,
        settings=settings,
    )
    with (
        LocalStack(config) as stack,
        httpx.Client(base_url=stack.url, headers={"Authorization": "Bearer bench"}, timeout=60) as api,
    ):
        stack.sim.fault("sim-6", maintenance=True)
        before = stack.sim.state()["providers"]
        calls.clear()
        started = time.perf_counter()
        request_id = api.post(
            "/v1/requests",
            json={"count": args.count, "image": "ubuntu", "min_vcpus": 1, "min_ram_mb": 1024, "lifetime_minutes": 60},
        ).json()["id"]
        active_at: list[float] = []
        while True:
            body = api.get(f"/v1/requests/{request_id}").json()
            if body["status"] not in ("QUEUED", "PROVISIONING"):
                break
            time.sleep(0.5)
        makespan = time.perf_counter() - started
        after = stack.sim.state()["providers"]
        per_provider = Counter(i["provider"] for i in body["instances"] if i["status"] == "ACTIVE")
        active_at = sorted(
            time.mktime(time.strptime(i["active_at"][:19], "%Y-%m-%dT%H:%M:%S"))
            for i in body["instances"]
            if i["active_at"]
        )
        api_calls = sum(sum(p["api_calls"].values()) for p in after.values()) - sum(
            sum(p["api_calls"].values()) for p in before.values()
        )
        auth_calls = sum(p["auth_calls"] for p in after.values()) - sum(p["auth_calls"] for p in before.values())
        child_states = (
            sum(STATES_PER_CALL.get(k, 0) * n for k, n in calls.items())
            + STATES_PER_WAIT * waits["capacity"]
            + STATES_PER_CHILD_END * args.count
        )
        history = (
            __import__("boto3")
            .client("stepfunctions")
            .get_execution_history(executionArn=body["execution_arn"], maxResults=1000)["events"]
        )
        parent_states = sum(1 for e in history if e["type"].endswith("StateEntered"))
        stack.sim.reset("sim-6")
        api.delete(f"/v1/requests/{request_id}")
        stack.run_reaper()
        stack.sim.reset()
        base = baseline(stack.sim, args.count, dict(per_provider))

    n = args.count
    print(f"instances: {n} requested, {body['counts']} (one of 6 providers in maintenance)")
    print(f"simulator boot time: {args.boot_seconds:.1f} s")
    print(f"makespan (POST → request final): {makespan:.1f} s = {makespan / args.boot_seconds:.2f} × boot time")
    print(f"baseline (same servers via openstacksdk, all parallel, no orchestration): {base:.1f} s")
    print(f"ratio makespan / baseline: {makespan / base:.2f}")
    if active_at:
        print(
            f"ACTIVE spread: first→last {active_at[-1] - active_at[0]:.0f} s, median offset "
            f"{statistics.median(a - active_at[0] for a in active_at):.0f} s"
        )
    print(f"Lambda invocations: {sum(calls.values())} total = {sum(calls.values()) / n:.2f} per instance {dict(calls)}")
    transitions = child_states + parent_states
    print(
        f"state transitions: {transitions} total = {transitions / n:.2f} per instance "
        f"(children {child_states}, parent {parent_states}, capacity waits {waits['capacity']})"
    )
    print(
        f"OpenStack API calls: {api_calls} = {api_calls / n:.2f} per instance (+ {auth_calls} Keystone authentications)"
    )


if __name__ == "__main__":
    main()
