"""Benchmark of the reaper on the local stack (moto DynamoDB + the OpenStack simulator).

Seeds N ACTIVE instances (default 1,000, spread over 5 providers) whose expiry has passed, each
with a real server on the simulator and a slot in the ledger, then fires the scheduled reaper
until nothing is due and reports:
- wall time of the reaper (runs until done), deletions per second;
- DynamoDB operations by type and table, counted at pynamodb's dispatch (every call the reaper
  makes to DynamoDB goes through it) — and asserts there is no Scan of the instances or requests
  table (the providers table, a handful of items, is read whole once per run);
- baselines measured in the same run: one reaper run with nothing due, and the same N deletions
  done with concurrency 1 (ratio = sequential / parallel);
- the simulator's ground truth afterwards (zero servers left).

Read the wall time with the latency column: moto's TransactWriteItems deep-copies its tables
(cost grows with table size) and moto, the handlers and the SDK share one process, so here the
wall time is mostly moto's; the operation counts per instance are the figure that carries over.

Run: `.venv/bin/python bench/bench_reaper.py [--count 1000] [--baseline-count 1000] [--providers 5]`
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import threading
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runnable as a plain script from anywhere

from local.stack import LocalStack, StackConfig

SETTINGS = {
    "OMS_POLL_INTERVAL_SECONDS": "1",
    "OMS_BOOT_TIMEOUT_SECONDS": "30",
    "OMS_OPENSTACK_TIMEOUT_SECONDS": "5",
    "OMS_DELETE_RETRY_SECONDS": "2",
    "OMS_SECRET_CACHE_SECONDS": "300",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def table_label(name: str) -> str:
    """'oms-local-InstancesTable' -> 'instances' (transactions name no single table: '-')."""
    for label in ("instances", "requests", "providers", "idempotency"):
        if label.rstrip("s") in name.lower():
            return label
    return name


class DynamoCounter:
    """Counts DynamoDB calls by (operation, table) while active, at pynamodb's single dispatch point."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str]] = Counter()
        self.seconds: dict[str, float] = defaultdict(float)  # latency by operation, client side
        self.active = False
        self._lock = threading.Lock()

    def install(self) -> None:
        from pynamodb.connection.base import Connection

        original = Connection.dispatch
        counter = self

        def dispatch(conn: Any, operation: str, kwargs: dict[str, Any]) -> Any:
            if not counter.active:
                return original(conn, operation, kwargs)
            started = time.perf_counter()
            try:
                return original(conn, operation, kwargs)
            finally:
                table = table_label(str(kwargs.get("TableName", "-")))
                with counter._lock:
                    counter.counts[(operation, table)] += 1
                    counter.seconds[operation] += time.perf_counter() - started

        Connection.dispatch = dispatch  # type: ignore[method-assign,assignment]

    def measure(self) -> Counter[tuple[str, str]]:
        self.counts = Counter()
        self.seconds = defaultdict(float)
        self.active = True
        return self.counts

    def stop(self) -> Counter[tuple[str, str]]:
        self.active = False
        return self.counts


def seed(stack: LocalStack, count: int, providers: list[str], expired_at: datetime) -> str:
    """A READY request of `count` ACTIVE instances past their expiry, each with a server and a slot."""
    from openmultistack import repository as repo
    from openmultistack.clouds import OMS_EXPIRES, OMS_INSTANCE, OMS_REQUEST, server_name
    from openmultistack.domain import (
        InstanceStatus,
        Request,
        RequestStatus,
        Shape,
        new_instances,
        new_request_id,
    )

    created = expired_at - timedelta(minutes=61)
    request = Request(
        id=new_request_id(),
        count=count,
        shape=Shape("ubuntu", "m1.small"),
        lifetime_minutes=60,
        status=RequestStatus.READY,
        created_at=created,
    )
    instances = new_instances(request, due_at=expired_at)
    repo.create_request(request, None, instances)

    def activate(n: int) -> None:
        provider, iid = providers[n % len(providers)], instances[n].id
        metadata = {OMS_REQUEST: request.id, OMS_INSTANCE: iid, OMS_EXPIRES: expired_at.isoformat()}
        server = stack.sim.plant_server(provider, server_name(iid), metadata)
        repo.update_instance(
            iid,
            status=InstanceStatus.ACTIVE,
            provider=provider,
            slot=provider,
            server_id=server["id"],
            flavor="m1.small",
            active_at=expired_at - timedelta(minutes=60),
            expires_at=expired_at,
            due_at=expired_at,
        )

    with ThreadPoolExecutor(32) as pool:
        list(pool.map(activate, range(count)))
    for n, provider in enumerate(providers):
        held = len(range(n, count, len(providers)))
        repo.set_slots(provider, repo.get_provider(provider).slots + held)
    return request.id


def servers_left(stack: LocalStack, request_id: str) -> int:
    return sum(
        1
        for p in stack.sim.state()["providers"].values()
        for s in p["servers"]
        if s["metadata"].get("oms:request") == request_id and s["status"] != "DELETED"
    )


def reap_until_done(stack: LocalStack, max_runs: int = 20) -> tuple[float, int, dict[str, int]]:
    """Wall time of scheduled reaper runs (on the wall clock) until nothing is due or pending;
    (seconds, runs, summed report). A pending delete is due again after OMS_DELETE_RETRY_SECONDS."""
    totals: Counter[str] = Counter()
    started = time.perf_counter()
    runs = 0
    while runs < max_runs:
        runs += 1
        report = stack.run_reaper()
        for key in ("reaped", "deletion_pending", "orphans_deleted", "vanished"):
            totals[key] += int(report[key])
        if report["errors"]:
            print(f"  reaper errors: {report['errors'][:5]}")
        if not report["more"] and not report["deletion_pending"]:
            break
        if report["deletion_pending"]:
            time.sleep(float(SETTINGS["OMS_DELETE_RETRY_SECONDS"]) + 1)
    return time.perf_counter() - started, runs, dict(totals)


def set_concurrency(workers: int) -> None:
    from openmultistack.settings import get_settings

    os.environ["OMS_REAPER_CONCURRENCY"] = str(workers)
    get_settings.cache_clear()


def print_ops(title: str, counts: Counter[tuple[str, str]], seconds: dict[str, float]) -> None:
    print(f"  {title}: {sum(counts.values())} DynamoDB operations (count, mean latency per operation type)")
    by_op: Counter[str] = Counter()
    for (operation, _), n in counts.items():
        by_op[operation] += n
    for (operation, table), n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        mean = seconds[operation] / by_op[operation] * 1000
        print(f"    {operation:<20} {table:<12} {n:>6}   {mean:7.1f} ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--count", type=int, default=1000, help="expired instances to reap")
    ap.add_argument("--baseline-count", type=int, default=100, help="for the concurrency-1 baseline")
    ap.add_argument("--providers", type=int, default=5)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument(
        "--what-if-shared-connection",
        action="store_true",
        help="as if capacity.py reused one pynamodb Connection (it builds a botocore client per call)",
    )
    args = ap.parse_args()
    baseline_count = args.baseline_count
    quota = (max(args.count, baseline_count) // args.providers) + 50

    config = StackConfig(
        api_port=free_port(),
        aws_port=free_port(),
        token="bench-token-0123456789",
        sim_providers=args.providers,
        sim_quota=quota,
        sim_boot_seconds=1.0,
        sim_port=0,
        reaper_every_seconds=0,
        settings=SETTINGS,
    )
    counter = DynamoCounter()
    with LocalStack(config) as stack:
        counter.install()
        if args.what_if_shared_connection:
            from pynamodb.connection import Connection

            from openmultistack import capacity

            shared = Connection()
            capacity.Connection = lambda: shared  # type: ignore[assignment,misc]
            print("  WHAT-IF: capacity.py patched to reuse one pynamodb Connection")
        from openmultistack.domain import utcnow

        providers = [f"sim-{n}" for n in range(1, args.providers + 1)]
        print(f"reaper benchmark: {args.count} expired instances on {args.providers} providers")

        # Baseline 1: one run with nothing due (warms connections and secrets first).
        set_concurrency(args.concurrency)
        stack.run_reaper()
        counter.measure()
        t0 = time.perf_counter()
        stack.run_reaper()
        idle = time.perf_counter() - t0
        idle_ops = counter.stop()
        print(f"  idle run (nothing due): {idle:.3f} s")
        print_ops("idle run", idle_ops, counter.seconds)

        # The measured run: N expired instances, the configured concurrency.
        now = utcnow()
        request_id = seed(stack, args.count, providers, now - timedelta(minutes=1))
        assert servers_left(stack, request_id) == args.count
        ops = counter.measure()
        seconds, runs, totals = reap_until_done(stack)
        counter.stop()
        left = servers_left(stack, request_id)
        print(
            f"  reaped {totals['reaped']} of {args.count} in {seconds:.2f} s over {runs} run(s) "
            f"at concurrency {args.concurrency}: {totals['reaped'] / seconds:.1f} deletions/s; "
            f"{totals['deletion_pending']} pending deletes retried; "
            f"servers left on the simulator: {left}"
        )
        print_ops(f"reaping {args.count}", ops, counter.seconds)
        scans = {table: n for (operation, table), n in ops.items() if operation == "Scan"}
        print(f"  Scan calls by table: {scans or 'none'} (instances/requests must be 0)")
        per_instance = sum(ops.values()) / max(totals["reaped"], 1)
        print(f"  DynamoDB operations per reaped instance: {per_instance:.2f}")
        assert scans.get("instances", 0) == 0 and scans.get("requests", 0) == 0, scans
        assert totals["reaped"] == args.count and left == 0, (totals, left)

        # Baseline 2: the same deletions, one at a time.
        sequential = None
        if baseline_count:
            set_concurrency(1)
            now = utcnow()
            baseline_id = seed(stack, baseline_count, providers, now - timedelta(minutes=1))
            counter.measure()
            sequential, _, base_totals = reap_until_done(stack)
            counter.stop()
            set_concurrency(args.concurrency)
            assert servers_left(stack, baseline_id) == 0
            print(
                f"  baseline, concurrency 1: {base_totals['reaped']} in {sequential:.2f} s "
                f"({base_totals['reaped'] / sequential:.1f} deletions/s)"
            )

        print("summary:")
        print(f"  reaper wall time for {args.count} expired instances: {seconds:.2f} s")
        print(f"  vs idle run: {seconds / idle:.1f}x an idle run ({idle:.3f} s)")
        if sequential:
            per_parallel = seconds / args.count
            per_sequential = sequential / baseline_count
            print(f"  speed-up over concurrency 1: {per_sequential / per_parallel:.1f}x (per-instance time)")
        print(f"  Scan on instances/requests tables: {scans.get('instances', 0) + scans.get('requests', 0)}")


if __name__ == "__main__":
    main()
