"""Fixtures for the simulator tests: one simulator process per session, reset before every test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from local.cloudsim.runner import CloudSim

BOOT_SECONDS = 0.3


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # openstacksdk warns about its own internals on every call; keep our reports readable.
    for item in items:
        if "tests/cloudsim/" in str(item.path):
            item.add_marker(pytest.mark.filterwarnings("ignore::DeprecationWarning"))
            item.add_marker(pytest.mark.filterwarnings("ignore::PendingDeprecationWarning"))


@pytest.fixture(scope="session")
def cloudsim() -> Iterator[CloudSim]:
    # Not named `sim`: tests/conftest.py resets (and so starts) the whole local stack for any test
    # that requests a fixture called `sim`.
    # 6 providers x quota 20 is what the scale test needs; small boot time keeps the suite fast.
    with CloudSim(providers=6, quota=20, boot_seconds=BOOT_SECONDS, seed=0) as running:
        yield running


@pytest.fixture(autouse=True)
def fresh(cloudsim: CloudSim) -> Iterator[None]:
    """Every test starts from empty providers without faults (tokens survive, so this is cheap)."""
    cloudsim.reset()
    yield
    cloudsim.reset()  # also releases calls a hang test left pending


@pytest.fixture
def connect(cloudsim: CloudSim) -> Iterator[Callable[..., Any]]:
    """`connect("sim-2", api_timeout=1)` -> a fresh openstacksdk Connection."""
    opened: list[Any] = []

    def open_connection(cloud: str = "sim-1", **kwargs: Any) -> Any:
        conn = cloudsim.connect(cloud, **kwargs)
        opened.append(conn)
        return conn

    yield open_connection
    for conn in opened:
        conn.close()


def resolve_server_attrs(conn: Any) -> dict[str, Any]:
    """image_id/flavor_id/networks for the provider's first image, first >=1 GB flavor, first network."""
    image = next(conn.image.images())
    flavor = next(f for f in conn.compute.flavors() if f.ram >= 1024)
    network = next(conn.network.networks())
    return {"image_id": image.id, "flavor_id": flavor.id, "networks": [{"uuid": network.id}]}


@pytest.fixture
def server_attrs() -> Callable[[Any], dict[str, Any]]:
    """`server_attrs(conn)` -> kwargs for conn.compute.create_server (resolve once, create fast)."""
    return resolve_server_attrs
