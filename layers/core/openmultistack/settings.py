"""Runtime settings: one pydantic object parsed once from the environment the template sets."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OMS_", extra="ignore")

    providers_table: str = "oms-providers"
    requests_table: str = "oms-requests"
    instances_table: str = "oms-instances"
    idempotency_table: str = "oms-idempotency"
    state_machine_arn: str = ""
    reaper_function: str = "oms-reaper"
    event_bus: str = "default"
    api_token_secret: str = "oms/api-token"
    provider_secret_prefix: str = "oms/providers/"
    secret_cache_seconds: int = 300

    default_lifetime_minutes: int = Field(60, ge=1, le=60)
    max_lifetime_minutes: int = Field(60, ge=1)
    # How long one instance may take from QUEUED to ACTIVE before the reaper calls it stuck.
    provision_deadline_seconds: int = 1800
    boot_timeout_seconds: int = 600
    poll_interval_seconds: int = 5
    # When every provider is full an instance waits this long for a slot before it fails.
    capacity_wait_seconds: int = 300
    capacity_retry_seconds: int = 15
    max_attempts_per_instance: int = 8
    openstack_timeout_seconds: float = 20.0
    breaker_threshold: int = 3
    breaker_cooldown_seconds: int = 60
    orphan_grace_seconds: int = 300
    delete_retry_seconds: int = 30
    reaper_budget_seconds: float = 240.0
    reaper_concurrency: int = 16
    record_retention_days: int = 30


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
