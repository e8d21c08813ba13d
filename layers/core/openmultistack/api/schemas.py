"""API models (pydantic v2): what clients send and receive. Separate from domain objects; the
converters at the bottom are the only place that maps one to the other."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from openmultistack.domain import Instance, Provider, Request

NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"
SSH_KEY = re.compile(r"^(ssh-(ed25519|rsa|dss)|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com) [A-Za-z0-9+/]+={0,3}( [^\r\n]*)?$")
MAX_USER_DATA = 64 * 1024


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- providers --------------------------------------------------------------------------------


class ProviderSettings(Strict):
    """Fields a client may set on a provider (all optional for PATCH)."""

    region_name: str | None = Field(None, max_length=128)
    project_name: str | None = Field(None, max_length=255)
    project_id: str | None = Field(None, max_length=255)
    user_domain_name: str | None = Field(None, max_length=255)
    project_domain_name: str | None = Field(None, max_length=255)
    interface: Literal["public", "internal", "admin"] | None = None
    enabled: bool | None = None
    max_instances: int | None = Field(None, ge=0, le=10_000)
    image_aliases: dict[Annotated[str, Field(max_length=128)], Annotated[str, Field(min_length=1, max_length=255)]] | None = None
    flavor_aliases: dict[Annotated[str, Field(max_length=128)], Annotated[str, Field(min_length=1, max_length=255)]] | None = None
    network: str | None = Field(None, max_length=255)
    # Write-only credentials: stored in Secrets Manager, never returned.
    username: str | None = Field(None, max_length=255)
    password: str | None = Field(None, max_length=1024)
    application_credential_id: str | None = Field(None, max_length=255)
    application_credential_secret: str | None = Field(None, max_length=1024)

    def credentials(self) -> dict[str, str]:
        keys = ("username", "password", "application_credential_id", "application_credential_secret")
        return {k: v for k in keys if (v := getattr(self, k))}

    def config_changes(self) -> dict[str, object]:
        secret = {"username", "password", "application_credential_id", "application_credential_secret"}
        return {k: v for k, v in self.model_dump(exclude_unset=True).items() if k not in secret}

    @model_validator(mode="after")
    def _credentials_come_whole(self) -> ProviderSettings:
        if bool(self.username) != bool(self.password):
            raise ValueError("username and password go together")
        if bool(self.application_credential_id) != bool(self.application_credential_secret):
            raise ValueError("application_credential_id and application_credential_secret go together")
        return self


class ProviderIn(ProviderSettings):
    name: str = Field(pattern=NAME, description="Unique name, e.g. ovh-gra11")
    auth_url: str = Field(pattern=r"^https?://\S+$", max_length=1024)


class ProviderImport(Strict):
    clouds_yaml: str = Field(min_length=1, max_length=256 * 1024, description="A clouds.yaml document")
    image_aliases: dict[str, str] = Field(default_factory=dict, description="Aliases applied to every imported cloud")


class Health(BaseModel):
    state: Literal["closed", "open", "half_open"]
    failures: int
    last_error: str | None = None


class FlavorOut(BaseModel):
    name: str
    vcpus: int
    ram_mb: int


class ProviderOut(BaseModel):
    name: str
    auth_url: str
    region_name: str | None
    project_name: str | None
    project_id: str | None
    user_domain_name: str | None
    project_domain_name: str | None
    interface: str
    auth_type: str
    enabled: bool
    max_instances: int | None
    nova_max_instances: int | None
    image_aliases: dict[str, str]
    flavor_aliases: dict[str, str]
    network: str | None
    has_credentials: bool
    flavors: list[FlavorOut]
    images: list[str]
    health: Health
    created_at: datetime
    checked_at: datetime | None


class CheckOut(BaseModel):
    provider: str
    ok: bool
    max_instances: int | None
    instances_used: int | None
    flavors: list[FlavorOut]
    images: list[str]
    networks: list[str]
    problems: list[str]


class CapacityOut(BaseModel):
    provider: str
    enabled: bool
    max: int
    used: int
    reserved: int
    free: int
    health: Health


# --- requests & instances ---------------------------------------------------------------------


class RequestIn(Strict):
    count: int = Field(ge=1, le=1000)
    image: str = Field(min_length=1, max_length=255, description="Portable image name (an alias) or a provider image name")
    flavor: str | None = Field(None, min_length=1, max_length=255)
    min_vcpus: int | None = Field(None, ge=1, le=512)
    min_ram_mb: int | None = Field(None, ge=128, le=4_194_304)
    lifetime_minutes: int = Field(60, ge=1, le=60)
    public_key: str | None = Field(None, max_length=16_384)
    user_data: str | None = None
    placement: Literal["spread", "pack"] = "spread"
    providers: list[Annotated[str, Field(pattern=NAME)]] = Field(default_factory=list, max_length=100)
    dry_run: bool = False

    @field_validator("public_key")
    @classmethod
    def _ssh_key(cls, value: str | None) -> str | None:
        if value is not None and not SSH_KEY.match(value.strip()):
            raise ValueError("not an OpenSSH public key (e.g. 'ssh-ed25519 AAAA… comment')")
        return value.strip() if value else value

    @field_validator("user_data")
    @classmethod
    def _user_data_size(cls, value: str | None) -> str | None:
        if value is not None and len(value.encode()) > MAX_USER_DATA:
            raise ValueError(f"user_data is larger than {MAX_USER_DATA} bytes")
        return value

    @model_validator(mode="after")
    def _one_shape(self) -> RequestIn:
        if self.flavor and (self.min_vcpus or self.min_ram_mb):
            raise ValueError("give either flavor or min_vcpus/min_ram_mb, not both")
        return self


class AttemptOut(BaseModel):
    provider: str
    error_class: str
    message: str
    at: datetime


class InstanceOut(BaseModel):
    id: str
    request_id: str
    status: str
    provider: str | None
    server_id: str | None
    ip: str | None
    flavor: str | None
    image: str | None
    created_at: datetime
    active_at: datetime | None
    expires_at: datetime | None
    reason: str | None
    attempts: list[AttemptOut]


class RequestOut(BaseModel):
    id: str
    status: str
    count: int
    image: str
    flavor: str | None
    min_vcpus: int | None
    min_ram_mb: int | None
    lifetime_minutes: int
    placement: str
    providers: list[str]
    has_public_key: bool
    has_user_data: bool
    created_at: datetime
    execution_arn: str | None
    counts: dict[str, int]
    reason: str | None
    instances: list[InstanceOut] | None = None


class PlanOut(BaseModel):
    dry_run: Literal[True] = True
    count: int
    placed: int
    unplaced: int
    per_provider: dict[str, int]
    skipped: dict[str, str]


class RequestPage(BaseModel):
    items: list[RequestOut]
    next: str | None


class InstancePage(BaseModel):
    items: list[InstanceOut]
    next: str | None


class ProviderList(BaseModel):
    items: list[ProviderOut]


class CapacityList(BaseModel):
    items: list[CapacityOut]
    total: dict[str, int]


class Error(BaseModel):
    error: str
    message: str


# --- converters -------------------------------------------------------------------------------


def health_out(provider: Provider, state: str) -> Health:
    return Health(state=state, failures=provider.breaker.failures, last_error=provider.breaker.last_error)  # type: ignore[arg-type]


def provider_out(p: Provider, state: str) -> ProviderOut:
    return ProviderOut(
        **{k: getattr(p, k) for k in ProviderOut.model_fields if k not in ("flavors", "health")},
        flavors=[FlavorOut(name=f.name, vcpus=f.vcpus, ram_mb=f.ram_mb) for f in p.flavors],
        health=health_out(p, state),
    )


def instance_out(i: Instance) -> InstanceOut:
    return InstanceOut(
        id=i.id,
        request_id=i.request_id,
        status=i.status.value,
        provider=i.provider,
        server_id=i.server_id,
        ip=i.ip,
        flavor=i.flavor,
        image=i.image,
        created_at=i.created_at,
        active_at=i.active_at,
        expires_at=i.expires_at,
        reason=i.reason,
        attempts=[AttemptOut(provider=a.provider, error_class=a.error_class, message=a.message, at=a.at) for a in i.attempts],
    )


def request_out(r: Request, instances: list[Instance] | None = None) -> RequestOut:
    return RequestOut(
        id=r.id,
        status=r.status.value,
        count=r.count,
        image=r.shape.image,
        flavor=r.shape.flavor,
        min_vcpus=r.shape.min_vcpus,
        min_ram_mb=r.shape.min_ram_mb,
        lifetime_minutes=r.lifetime_minutes,
        placement=r.placement,
        providers=r.providers,
        has_public_key=bool(r.public_key),
        has_user_data=r.has_user_data,
        created_at=r.created_at,
        execution_arn=r.execution_arn,
        counts=r.counts,
        reason=r.reason,
        instances=None if instances is None else [instance_out(i) for i in instances],
    )
