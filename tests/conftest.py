"""Shared fixtures. Integration tests run the real path on the embedded local stack:
HTTP → API function → DynamoDB → Step Functions → Lambda handlers → openstacksdk → simulator."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

TOKEN = "test-token-0123456789"
# Fast clocks for tests: the simulator boots in 1 s and the workflow polls every second.
TEST_SETTINGS = {
    "OMS_POLL_INTERVAL_SECONDS": "1",
    "OMS_BOOT_TIMEOUT_SECONDS": "30",
    "OMS_OPENSTACK_TIMEOUT_SECONDS": "3",
    "OMS_CAPACITY_WAIT_SECONDS": "20",
    "OMS_CAPACITY_RETRY_SECONDS": "2",
    "OMS_BREAKER_COOLDOWN_SECONDS": "5",
    "OMS_DELETE_RETRY_SECONDS": "2",
    "OMS_SECRET_CACHE_SECONDS": "5",
}


def pytest_configure(config: pytest.Config) -> None:
    """Settings (table names, secret names, timings) are read once, at the first import of
    openmultistack; give every test process the template's function environment up front so the
    import order of test modules cannot matter."""
    from local.template import Template

    os.environ.update(Template().process_environment())
    os.environ.update(TEST_SETTINGS)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def stack() -> Iterator[Any]:
    """One local stack per test process: 6 simulated providers, quota 20, 1 s boots."""
    from local.stack import LocalStack, StackConfig

    config = StackConfig(
        api_port=free_port(),
        aws_port=free_port(),
        token=TOKEN,
        sim_providers=6,
        sim_quota=20,
        sim_boot_seconds=1.0,
        sim_port=0,
        reaper_every_seconds=0,  # tests drive the reaper explicitly
        settings=TEST_SETTINGS,
    )
    with LocalStack(config) as running:
        yield running


@pytest.fixture(scope="session")
def sim(stack: Any) -> Any:
    return stack.sim


@pytest.fixture(autouse=True)
def _healthy_simulator(request: pytest.FixtureRequest) -> Iterator[None]:
    """Faults never leak from one test into the next."""
    yield
    if "sim" in request.fixturenames or "stack" in request.fixturenames:
        stack = request.getfixturevalue("stack")
        stack.sim.reset()


@pytest.fixture()
def api(stack: Any) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60) as client:
        yield client


def wait_for(predicate: Callable[[], Any], timeout: float = 60, interval: float = 0.5, what: str = "condition") -> Any:
    """Poll until predicate() is truthy; returns its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


FINISHED = {"READY", "PARTIAL", "FAILED", "DELETED", "EXPIRED"}


def wait_request(
    api: httpx.Client, request_id: str, timeout: float = 120, statuses: set[str] = FINISHED
) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        body = api.get(f"/v1/requests/{request_id}").json()
        return body if body["status"] in statuses else None

    return wait_for(done, timeout, what=f"request {request_id} to reach {sorted(statuses)}")
