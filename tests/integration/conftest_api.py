"""Helpers and fixtures for the API tests (import them explicitly; pytest does not auto-load this).

Destructive tests never touch the shared sim-N providers: they register clones — the same
simulated cloud (same servers, same quota) under a new provider name — and remove them after."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import yaml

from tests.conftest import wait_for


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def aliases_for(sim: Any, cloud: str) -> dict[str, str]:
    """`ubuntu`/`debian` → this simulated cloud's own image names (as the local stack does)."""
    images = [i["name"] for i in sim.state()["providers"][cloud]["images"]]
    return {alias: next(n for n in images if alias in n.lower()) for alias in ("ubuntu", "debian")}


def clouds_yaml(sim: Any, clones: dict[str, str]) -> str:
    """A clouds.yaml naming simulated clouds anew: {new name: simulated cloud}."""
    return yaml.safe_dump({"clouds": {name: sim.clouds[source] for name, source in clones.items()}})


def forget_provider(api: httpx.Client, name: str) -> None:
    """Remove a provider a test registered, destroying what still runs on it."""
    response = api.delete(f"/v1/providers/{name}", params={"force": "true"})
    if response.status_code == 409:  # deletions not confirmed yet: give the cloud a moment
        wait_for(
            lambda: api.delete(f"/v1/providers/{name}", params={"force": "true"}).status_code in (200, 404),
            timeout=60,
            what=f"provider {name} to go",
        )


@pytest.fixture()
def clone(api: httpx.Client, sim: Any) -> Iterator[Callable[..., str]]:
    """clone("sim-1") registers sim-1's cloud under a fresh name and returns that name."""
    made: list[str] = []

    def make(source: str = "sim-1", prefix: str = "clone") -> str:
        name = unique(prefix)
        response = api.post(
            "/v1/providers/import",
            json={"clouds_yaml": clouds_yaml(sim, {name: source}), "image_aliases": aliases_for(sim, source)},
        )
        assert response.status_code == 201, response.text
        made.append(name)
        return name

    yield make
    for name in made:
        forget_provider(api, name)


def finished(api: httpx.Client, request_id: str) -> None:
    """Delete a request a test created and wait until its instances are gone."""
    api.delete(f"/v1/requests/{request_id}")
    wait_for(
        lambda: api.get(f"/v1/requests/{request_id}").json()["status"] in ("DELETED", "EXPIRED", "FAILED"),
        timeout=90,
        what=f"request {request_id} to be torn down",
    )
