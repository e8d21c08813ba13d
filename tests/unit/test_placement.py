"""Placement is a pure function of provider snapshots."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from openmultistack.domain import Breaker, Flavor, Provider, Shape
from openmultistack.placement import launch_order, pick_flavor, plan, resolve_image

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
FLAVORS = [Flavor("tiny", 1, 512), Flavor("small", 1, 2048), Flavor("medium", 2, 4096), Flavor("large", 4, 8192)]


def provider(name: str, free: int = 20, **kwargs) -> Provider:  # type: ignore[no-untyped-def]
    defaults = {
        "has_credentials": True,
        "cap": 20,
        "slots": 20 - free,
        "flavors": FLAVORS,
        "images": ["Ubuntu 22.04"],
        "image_aliases": {"ubuntu": "Ubuntu 22.04"},
    }
    return Provider(name=name, auth_url="http://x", **{**defaults, **kwargs})


SHAPE = Shape("ubuntu", min_vcpus=1, min_ram_mb=1024)


def test_spread_is_even_over_free_capacity():
    # GIVEN three providers with room  WHEN 10 instances are spread  THEN the split is 4/3/3
    result = plan([provider("a"), provider("b"), provider("c")], 10, SHAPE, "spread", [], NOW)
    assert sorted(result.per_provider().values()) == [3, 3, 4]
    assert result.unplaced == 0


def test_pack_fills_the_emptiest_provider_first():
    result = plan([provider("a", free=5), provider("b", free=20)], 22, SHAPE, "pack", [], NOW)
    assert result.per_provider() == {"b": 20, "a": 2}


def test_what_does_not_fit_is_reported_unplaced_with_reasons():
    # GIVEN one full, one disabled, one unhealthy, one without the image
    providers = [
        provider("full", free=0),
        provider("off", enabled=False),
        provider("sick", breaker=Breaker("open", 3, NOW, "unavailable")),
        provider("noimg", image_aliases={}, images=["CentOS"]),
        provider("ok", free=2),
    ]
    result = plan(providers, 5, SHAPE, "spread", [], NOW)
    assert result.per_provider() == {"ok": 2}
    assert result.unplaced == 3
    assert result.skipped["full"] == "full"
    assert result.skipped["off"] == "disabled"
    assert "unhealthy" in result.skipped["sick"]
    assert "no image" in result.skipped["noimg"]


def test_allow_list_restricts_providers():
    result = plan([provider("a"), provider("b")], 4, SHAPE, "spread", ["b"], NOW)
    assert result.per_provider() == {"b": 4}


def test_an_open_breaker_readmits_after_its_cooldown():
    sick = provider("sick", breaker=Breaker("open", 3, NOW - timedelta(hours=1), "x"))
    assert plan([sick], 1, SHAPE, "spread", [], NOW).per_provider() == {"sick": 1}


def test_smallest_fitting_flavor_is_chosen_and_names_resolve():
    p = provider("a")
    assert pick_flavor(p, Shape("ubuntu", min_vcpus=2, min_ram_mb=1024)) == Flavor("medium", 2, 4096)
    assert pick_flavor(p, Shape("ubuntu", min_vcpus=8)) is None
    assert (
        pick_flavor(provider("b", flavor_aliases={"m1.small": "small"}), Shape("ubuntu", flavor="m1.small")).name
        == "small"
    )
    assert resolve_image(p, "ubuntu") == "Ubuntu 22.04"
    assert resolve_image(p, "UBUNTU 22.04") == "Ubuntu 22.04"
    assert resolve_image(p, "debian") is None


def test_launch_order_prefers_the_planned_provider_then_the_most_free():
    providers = [provider("a", free=3), provider("b", free=10), provider("c", free=7)]
    order = launch_order(providers, SHAPE, [], exclude={"b"}, prefer="a", now=NOW)
    assert [p.name for p in order] == ["a", "c"]
