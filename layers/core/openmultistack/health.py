"""Per-provider circuit breaker rules (pure). Persistence lives in repository.py."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from openmultistack.domain import Breaker
from openmultistack.settings import get_settings


def admits(breaker: Breaker, now: datetime) -> bool:
    """Closed admits; open admits again once the cooldown is over (half-open): the next call is
    the probe, its success closes the breaker and its failure re-opens it for another cooldown."""
    return breaker.state == "closed" or is_half_open(breaker, now)


def is_half_open(breaker: Breaker, now: datetime) -> bool:
    cooldown = timedelta(seconds=get_settings().breaker_cooldown_seconds)
    return breaker.state == "open" and (breaker.opened_at is None or now - breaker.opened_at >= cooldown)


def shown_state(breaker: Breaker, now: datetime) -> str:
    return "half_open" if is_half_open(breaker, now) else breaker.state


def after_success(breaker: Breaker) -> Breaker:
    return Breaker()


def after_failure(breaker: Breaker, error: str, now: datetime) -> Breaker:
    failures = breaker.failures + 1
    trips = breaker.state != "closed" or failures >= get_settings().breaker_threshold
    return replace(
        breaker,
        failures=failures,
        last_error=error,
        state="open" if trips else "closed",
        opened_at=now if trips else breaker.opened_at,
    )
