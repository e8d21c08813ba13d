"""120 servers booting at once on 6 providers, in one simulator process, without errors."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from openstack import exceptions as sdk_exc

from local.cloudsim.runner import CloudSim

PROVIDERS = [f"sim-{i}" for i in range(1, 7)]


def test_120_concurrent_boots(cloudsim: CloudSim, connect, server_attrs) -> None:
    """GIVEN 6 providers with quota 20 and one SDK connection each
    WHEN 20 servers per provider are created at once from a thread pool and waited for
    THEN all 120 become ACTIVE, ground truth shows peak_servers 20 everywhere and no rejections,
    and a 21st server on any provider is refused (quota respected)."""
    conns = {p: connect(p) for p in PROVIDERS}
    attrs = {p: server_attrs(conn) for p, conn in conns.items()}
    jobs = [(p, i) for i in range(20) for p in PROVIDERS]
    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=40) as pool:
        created = list(
            pool.map(
                lambda job: conns[job[0]].compute.create_server(
                    name=f"{job[0]}-vm-{job[1]}", metadata={"n": str(job[1])}, **attrs[job[0]]
                ),
                jobs,
            )
        )
    assert len({s.id for s in created}) == 120
    while True:  # ground truth, not 120 polling clients
        providers = cloudsim.state()["providers"]
        statuses = [s["status"] for p in PROVIDERS for s in providers[p]["servers"]]
        if statuses.count("ACTIVE") == 120 or time.monotonic() - start > 20:
            break
        time.sleep(0.1)
    assert statuses.count("ACTIVE") == 120, statuses
    for p in PROVIDERS:
        assert (providers[p]["peak_servers"], providers[p]["quota_rejections"]) == (20, 0)
        assert providers[p]["api_calls"]["POST /servers"] == 20
        with pytest.raises(sdk_exc.ForbiddenException):
            conns[p].compute.create_server(name="one-too-many", **attrs[p])
    with ThreadPoolExecutor(max_workers=40) as pool:
        list(pool.map(lambda job, server: conns[job[0]].compute.delete_server(server), jobs, created))
    assert all(cloudsim.provider_state(p)["quota_rejections"] == 1 for p in PROVIDERS)
