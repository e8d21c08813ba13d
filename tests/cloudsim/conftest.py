"""Fixtures for the simulator tests: one simulator process per session, reset before every test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from local.cloudsim.runner import CloudSim

BOOT_SECONDS = 0.3


@pytest.fixture(scope="session")
def sim() -> Iterator[CloudSim]:
    # 6 providers x quota 20 is what the scale test needs; small boot time keeps the suite fast.
    with CloudSim(providers=6, quota=20, boot_seconds=BOOT_SECONDS, seed=0) as running:
        yield running


@pytest.fixture(autouse=True)
def fresh(sim: CloudSim) -> Iterator[None]:
    """Every test starts from empty providers without faults (tokens survive, so this is cheap)."""
    sim.reset()
    yield
    sim.reset()  # also releases calls a hang test left pending


@pytest.fixture
def connect(sim: CloudSim) -> Iterator[Callable[..., Any]]:
    """`connect("sim-2", api_timeout=1)` -> a fresh openstacksdk Connection."""
    opened: list[Any] = []

    def open_connection(cloud: str = "sim-1", **kwargs: Any) -> Any:
        conn = sim.connect(cloud, **kwargs)
        opened.append(conn)
        return conn

    yield open_connection
    for conn in opened:
        conn.close()
