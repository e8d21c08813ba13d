"""Choosing providers for instances: pure functions over provider snapshots (no I/O)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from openmultistack.domain import Flavor, Provider, Shape
from openmultistack.health import admits


@dataclass(frozen=True)
class Plan:
    assignments: list[str]  # provider name per placed instance, in instance order
    unplaced: int
    skipped: dict[str, str] = field(default_factory=dict)  # provider -> why it got nothing

    def per_provider(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for name in self.assignments:
            counts[name] = counts.get(name, 0) + 1
        return counts


def pick_flavor(provider: Provider, shape: Shape) -> Flavor | None:
    """The provider's flavor for a shape: a named (or aliased) flavor, else the smallest that fits."""
    if shape.flavor:
        wanted = provider.flavor_aliases.get(shape.flavor, shape.flavor)
        if not provider.flavors:  # catalogue unknown: trust the name, Nova will tell
            return Flavor(wanted, 0, 0)
        return next((f for f in provider.flavors if f.name == wanted), None)
    fitting = [f for f in provider.flavors if f.vcpus >= (shape.min_vcpus or 0) and f.ram_mb >= (shape.min_ram_mb or 0)]
    return min(fitting, key=lambda f: (f.vcpus, f.ram_mb, f.name), default=None)


def resolve_image(provider: Provider, image: str) -> str | None:
    """The provider's own image name for a portable name (alias, exact or case-insensitive match)."""
    if image in provider.image_aliases:
        return provider.image_aliases[image]
    if not provider.images:
        return image
    return next((name for name in provider.images if name.lower() == image.lower()), None)


def unfit_reason(provider: Provider, shape: Shape) -> str | None:
    if resolve_image(provider, shape.image) is None:
        return f"no image '{shape.image}' (add an image alias)"
    if pick_flavor(provider, shape) is None:
        wanted = shape.flavor or f"{shape.min_vcpus or 0} vCPU / {shape.min_ram_mb or 0} MB"
        return f"no flavor for {wanted}"
    return None


def eligible(
    providers: Sequence[Provider], shape: Shape, allow: Sequence[str], now: datetime
) -> tuple[list[Provider], dict[str, str]]:
    """Providers that may take this shape now, and why each of the others may not."""
    chosen: list[Provider] = []
    skipped: dict[str, str] = {}
    for p in providers:
        if allow and p.name not in allow:
            continue
        reason = (
            "disabled"
            if not p.enabled
            else "no credentials"
            if not p.has_credentials
            else f"unhealthy ({p.breaker.last_error or 'circuit open'})"
            if not admits(p.breaker, now)
            else unfit_reason(p, shape)
        )
        if reason:
            skipped[p.name] = reason
        else:
            chosen.append(p)
    return chosen, skipped


def plan(
    providers: Sequence[Provider],
    count: int,
    shape: Shape,
    policy: str,
    allow: Sequence[str],
    now: datetime,
) -> Plan:
    """Spread evenly over free capacity, or pack onto the fewest providers."""
    candidates, skipped = eligible(providers, shape, allow, now)
    free = {p.name: p.free for p in candidates}
    for name, left in free.items():
        if not left:
            skipped[name] = "full"
    assignments: list[str] = []
    if policy == "pack":
        for name in sorted(free, key=lambda n: (-free[n], n)):
            take = min(free[name], count - len(assignments))
            assignments += [name] * take
    else:
        # Round-robin, most free first, so no provider is drained while others idle.
        while len(assignments) < count and any(free.values()):
            for name in sorted(free, key=lambda n: (-free[n], n)):
                if free[name] and len(assignments) < count:
                    assignments.append(name)
                    free[name] -= 1
    return Plan(assignments, count - len(assignments), skipped)


def launch_order(
    providers: Sequence[Provider],
    shape: Shape,
    allow: Sequence[str],
    exclude: set[str],
    prefer: str | None,
    now: datetime,
) -> list[Provider]:
    """Providers to try for one instance, best first: the planned one, then the most free."""
    candidates, _ = eligible(providers, shape, allow, now)
    candidates = [p for p in candidates if p.name not in exclude]
    return sorted(candidates, key=lambda p: (p.name != prefer, -p.free, p.name))
