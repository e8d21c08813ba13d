"""Benchmark of the OpenStack simulator (local/cloudsim).

1. p50/p95 latency of `GET /servers/detail` as openstacksdk makes it (`conn.compute.servers()`), next to
   the same request over raw HTTP (httpx, same token and microversion headers) and `GET /_sim/state`,
   all measured in the same run against the same simulator with servers present.
2. Time to boot 20 servers at once on each of 6 providers (120 total) from a thread pool of SDK
   clients: until all POSTs are accepted and until ground truth shows all 120 ACTIVE, with zero errors.

Run: `.venv/bin/python bench/bench_cloudsim.py [--samples 300] [--boot-seconds 1.0] [--workers 40]`
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runnable as a plain script from anywhere

from local.cloudsim.runner import CloudSim

PROVIDERS = [f"sim-{i}" for i in range(1, 7)]


def percentiles(samples: list[float]) -> tuple[float, float]:
    """p50 and p95 in milliseconds."""
    cuts = statistics.quantiles(samples, n=20)
    return statistics.median(samples) * 1000, cuts[18] * 1000


def measure(call: Callable[[], Any], samples: int) -> tuple[float, float]:
    for _ in range(10):  # warm up connections and discovery caches
        call()
    timings = []
    for _ in range(samples):
        start = time.perf_counter()
        call()
        timings.append(time.perf_counter() - start)
    return percentiles(timings)


def server_attrs(conn: Any) -> dict[str, Any]:
    image = next(conn.image.images())
    flavor = next(f for f in conn.compute.flavors() if f.ram >= 1024)
    return {
        "image_id": image.id,
        "flavor_id": flavor.id,
        "networks": [{"uuid": next(conn.network.networks()).id}],
    }


def bench_latency(sim: CloudSim, samples: int) -> None:
    conn = sim.connect("sim-1")
    attrs = server_attrs(conn)
    for i in range(10):  # a realistic page, not an empty list
        conn.compute.create_server(name=f"bench-{i}", **attrs)
    token = conn.session.get_token()
    url = conn.compute.get_endpoint() + "/servers/detail"
    headers = {
        "X-Auth-Token": token,
        "OpenStack-API-Version": "compute 2.96",
        "X-OpenStack-Nova-API-Version": "2.96",
    }
    with httpx.Client() as http:
        rows = [
            ("openstacksdk conn.compute.servers()", measure(lambda: list(conn.compute.servers()), samples)),
            (
                "raw HTTP GET /servers/detail",
                measure(lambda: http.get(url, headers=headers).raise_for_status(), samples),
            ),
            (
                "raw HTTP GET /_sim/state",
                measure(lambda: http.get(f"{sim.url}/_sim/state").raise_for_status(), samples),
            ),
        ]
    print(f"\nGET /servers/detail latency ({samples} samples, 10 servers listed)")
    print(f"{'client':40} {'p50 ms':>8} {'p95 ms':>8}")
    for name, (p50, p95) in rows:
        print(f"{name:40} {p50:8.2f} {p95:8.2f}")
    print("(the SDK row minus the raw row is client-side cost: openstacksdk building Resource objects)")
    conn.close()


def bench_boot(sim: CloudSim, workers: int) -> None:
    sim.reset()
    conns = {p: sim.connect(p) for p in PROVIDERS}
    attrs = {p: server_attrs(c) for p, c in conns.items()}
    jobs = [(p, i) for i in range(20) for p in PROVIDERS]
    errors: list[str] = []

    def create(job: tuple[str, int]) -> None:
        try:
            conns[job[0]].compute.create_server(name=f"{job[0]}-boot-{job[1]}", **attrs[job[0]])
        except Exception as e:  # counted, not raised: the benchmark reports the error count
            errors.append(f"{job}: {e}")

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(create, jobs))
    accepted = time.perf_counter() - start
    while time.perf_counter() - start < 60:
        providers = sim.state()["providers"]
        statuses = [s["status"] for p in PROVIDERS for s in providers[p]["servers"]]
        if statuses.count("ACTIVE") + statuses.count("ERROR") == len(jobs) - len(errors):
            break
        time.sleep(0.05)
    active = time.perf_counter() - start
    peaks = {p: providers[p]["peak_servers"] for p in PROVIDERS}
    rejections = sum(providers[p]["quota_rejections"] for p in PROVIDERS)
    print(
        f"\nBoot 20 servers at once on each of 6 providers (120 total, boot_seconds={sim.boot_seconds}, "
        f"{workers} client threads)"
    )
    print(f"  all 120 POST /servers accepted: {accepted:6.2f} s")
    print(f"  all 120 ACTIVE (ground truth):  {active:6.2f} s")
    print(
        f"  ACTIVE {statuses.count('ACTIVE')}, ERROR {statuses.count('ERROR')}, client errors {len(errors)}, "
        f"quota rejections {rejections}, peak per provider {sorted(set(peaks.values()))}"
    )
    for error in errors[:5]:
        print("  error:", error)
    for conn in conns.values():
        conn.close()
    if errors or statuses.count("ACTIVE") != len(jobs):
        raise SystemExit("boot benchmark had errors")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--samples", type=int, default=300)
    ap.add_argument("--boot-seconds", type=float, default=1.0)
    ap.add_argument("--workers", type=int, default=40)
    args = ap.parse_args()
    with CloudSim(providers=6, quota=20, boot_seconds=args.boot_seconds) as sim:
        print(f"cloudsim at {sim.url}")
        bench_latency(sim, args.samples)
        bench_boot(sim, args.workers)


if __name__ == "__main__":
    main()
