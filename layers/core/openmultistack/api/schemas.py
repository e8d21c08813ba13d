"""API models (pydantic v2): what clients send and receive. Separate from domain objects; the
converters at the bottom are the only place that maps one to the other."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from openmultistack.catalog import PROVIDER_NAME
from openmultistack.domain import Instance, InstanceStatus, Provider, Request, RequestStatus

NAME = PROVIDER_NAME
NAME_RE = re.compile(NAME)
AUTH_URL = r"^https?://[^\s/?#]+[^\s]*$"
# An OpenSSH public key line; surrounding whitespace (a pasted trailing newline) is tolerated.
SSH_KEY = re.compile(
    r"^\s*(ssh-(ed25519|rsa|dss)|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com)"
    r" [A-Za-z0-9+/]+={0,3}( [^\r\n]*)?\s*$"
)
MAX_USER_DATA = 64 * 1024


SECRET_FIELDS = ("username", "password", "application_credential_id", "application_credential_secret")
NOT_NULL = ("interface", "enabled", "image_aliases", "flavor_aliases", *SECRET_FIELDS)
Aliases = dict[Annotated[str, Field(min_length=1, max_length=128)], Annotated[str, Field(min_length=1, max_length=255)]]


class Model(BaseModel):
    # Validators are built on first use, not at import: a cold start pays only for the models
    # its first request touches.
    model_config = ConfigDict(defer_build=True)


class Strict(Model):
    # strict: JSON types are taken as they are (no "5" for 5, no true for 1)
    model_config = ConfigDict(extra="forbid", strict=True, defer_build=True)


# --- providers --------------------------------------------------------------------------------


class ProviderSettings(Strict):
    """Fields a client may set on a provider (all optional for PATCH). Fields typed without `null`
    may be left out but not cleared; `max_instances: null` clears the cap (Nova's limit rules)."""

    region_name: str | None = Field(None, min_length=1, max_length=128)
    project_name: str | None = Field(None, min_length=1, max_length=255)
    project_id: str | None = Field(None, min_length=1, max_length=255)
    user_domain_name: str | None = Field(None, min_length=1, max_length=255)
    project_domain_name: str | None = Field(None, min_length=1, max_length=255)
    interface: Literal["public", "internal", "admin"] = Field(None)  # type: ignore[assignment,arg-type]
    enabled: bool = Field(None, description="Disabled providers get no new instances")  # type: ignore[assignment,arg-type]
    max_instances: int | None = Field(
        None, ge=0, le=10_000, description="Our cap; the effective cap is min(this, Nova's instance limit)"
    )
    image_aliases: Aliases = Field(None, description="Portable image name -> this provider's image name")  # type: ignore[assignment,arg-type]
    flavor_aliases: Aliases = Field(None, description="Portable flavor name -> this provider's flavor name")  # type: ignore[assignment,arg-type]
    network: str | None = Field(None, min_length=1, max_length=255, description="Network to boot on (name or id)")
    # Write-only credentials: stored in Secrets Manager, never returned.
    username: str = Field(None, min_length=1, max_length=255, json_schema_extra={"writeOnly": True})  # type: ignore[assignment,arg-type]
    password: str = Field(None, min_length=1, max_length=1024, json_schema_extra={"writeOnly": True})  # type: ignore[assignment,arg-type]
    application_credential_id: str = Field(None, min_length=1, max_length=255, json_schema_extra={"writeOnly": True})  # type: ignore[assignment,arg-type]
    application_credential_secret: str = Field(
        None, min_length=1, max_length=1024, json_schema_extra={"writeOnly": True}
    )  # type: ignore[assignment,arg-type]

    @field_validator(*NOT_NULL, mode="before")
    @classmethod
    def _no_null_where_null_means_nothing(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("may be left out but not set to null")
        return value

    def credentials(self) -> dict[str, str]:
        return {k: v for k in SECRET_FIELDS if (v := getattr(self, k))}

    def config_changes(self) -> dict[str, Any]:
        return {k: v for k, v in self.model_dump(exclude_unset=True).items() if k not in SECRET_FIELDS}

    @model_validator(mode="after")
    def _credentials_come_whole(self) -> ProviderSettings:
        if bool(self.username) != bool(self.password):
            raise ValueError("username and password go together")
        if bool(self.application_credential_id) != bool(self.application_credential_secret):
            raise ValueError("application_credential_id and application_credential_secret go together")
        if self.username and self.application_credential_id:
            raise ValueError("give username/password or an application credential, not both")
        return self


class ProviderIn(ProviderSettings):
    name: str = Field(pattern=NAME, description="Unique name, e.g. ovh-gra11")
    auth_url: str = Field(pattern=AUTH_URL, max_length=1024, description="Keystone URL, e.g. https://auth.example/v3")


class ProviderImport(Strict):
    clouds_yaml: str = Field(min_length=1, max_length=256 * 1024, description="A clouds.yaml document")
    image_aliases: Aliases = Field(default_factory=dict, description="Aliases applied to every imported cloud")


class Health(Model):
    state: Literal["closed", "open", "half_open"]
    failures: int
    last_error: str | None = None


class FlavorOut(Model):
    name: str
    vcpus: int
    ram_mb: int


class ProviderOut(Model):
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


class CheckOut(Model):
    provider: str
    ok: bool
    max_instances: int | None
    instances_used: int | None
    flavors: list[FlavorOut]
    images: list[str]
    networks: list[str]
    problems: list[str]


class CapacityOut(Model):
    provider: str
    enabled: bool
    max: int
    used: int
    reserved: int
    free: int
    health: Health


# --- requests & instances ---------------------------------------------------------------------


class RequestIn(Strict):
    """Ask for `count` instances of one shape: an image plus a flavor name, or minimum vCPUs/RAM
    (the smallest fitting flavor of each provider; neither means the smallest flavor)."""

    count: int = Field(ge=1, le=1000, description="How many instances (1..1000)")
    image: str = Field(
        min_length=1, max_length=255, description="Portable image name (an alias) or a provider image name"
    )
    flavor: str | None = Field(None, min_length=1, max_length=255, description="Flavor name (or flavor alias)")
    min_vcpus: int | None = Field(None, ge=1, le=512)
    min_ram_mb: int | None = Field(None, ge=128, le=4_194_304)
    lifetime_minutes: int = Field(60, ge=1, le=60, description="Minutes from ACTIVE until deletion (1..60)")
    public_key: str | None = Field(
        None,
        max_length=16_384,
        description="OpenSSH public key line",
        json_schema_extra={"pattern": SSH_KEY.pattern},
    )
    user_data: str | None = Field(None, description=f"cloud-init user data, at most {MAX_USER_DATA} bytes (UTF-8)")
    placement: Literal["spread", "pack"] = "spread"
    providers: list[Annotated[str, Field(pattern=NAME)]] = Field(
        default_factory=list, max_length=100, description="Allow-list of provider names (each must exist)"
    )
    dry_run: bool = Field(False, description="Return the placement plan only; nothing is created")

    @field_validator("public_key")
    @classmethod
    def _ssh_key(cls, value: str | None) -> str | None:
        if value is not None and not SSH_KEY.match(value):
            raise ValueError("not an OpenSSH public key (expected e.g. 'ssh-ed25519 AAAA... comment')")
        return value.strip() if value else value

    @field_validator("user_data")
    @classmethod
    def _user_data_size(cls, value: str | None) -> str | None:
        if value is not None and len(value.encode()) > MAX_USER_DATA:
            raise ValueError(f"larger than {MAX_USER_DATA} bytes (64 KiB)")
        return value

    @model_validator(mode="after")
    def _one_shape(self) -> RequestIn:
        if self.flavor and (self.min_vcpus or self.min_ram_mb):
            raise ValueError("give either flavor or min_vcpus/min_ram_mb, not both")
        return self


class AttemptOut(Model):
    provider: str
    error_class: str
    message: str
    at: datetime


class InstanceOut(Model):
    id: str
    request_id: str
    status: InstanceStatus
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


class RequestOut(Model):
    id: str
    status: RequestStatus
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


class PlanOut(Model):
    dry_run: Literal[True] = True
    count: int
    placed: int
    unplaced: int
    per_provider: dict[str, int]
    skipped: dict[str, str]


class RequestPage(Model):
    items: list[RequestOut]
    next: str | None


class InstancePage(Model):
    items: list[InstanceOut]
    next: str | None


class ProviderList(Model):
    items: list[ProviderOut]


class CapacityList(Model):
    items: list[CapacityOut]
    total: dict[str, int]


class HealthOut(Model):
    status: Literal["ok"] = "ok"


class ExtendIn(Strict):
    minutes: int = Field(ge=1, le=60, description="Minutes to add (capped at 60 minutes of life from ACTIVE)")


class Problem(Model):
    field: str
    problem: str


class Error(Model):
    """Every 4xx body. `message` names the field or thing at fault; `details` lists each field."""

    error: str
    message: str
    details: list[Problem] | None = None


ERROR_MEANINGS = {
    400: "Bad input (the message names the field)",
    401: "Missing or invalid bearer token",
    404: "No such resource",
    405: "Method not allowed on this path",
    409: "Conflict with the current state",
    422: "Validation failed (details name each field)",
}


def answers(status: int, description: str, *errors: int, model: type[BaseModel] | None = None) -> dict[int, Any]:
    """OpenAPI responses for a route: its success and the errors it can answer, all with Error.
    Every authenticated route can answer 401, and 400/422 for malformed input."""
    ok: dict[str, Any] = {"description": description}
    if model is not None:
        ok["content"] = {"application/json": {"model": model}}
    out: dict[int, Any] = {status: ok}
    for code in sorted({401, 400, 422, *errors}):
        out[code] = {"description": ERROR_MEANINGS[code], "content": {"application/json": {"model": Error}}}
    return out


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
        status=i.status,
        provider=i.provider,
        server_id=i.server_id,
        ip=i.ip,
        flavor=i.flavor,
        image=i.image,
        created_at=i.created_at,
        active_at=i.active_at,
        expires_at=i.expires_at,
        reason=i.reason,
        attempts=[
            AttemptOut(provider=a.provider, error_class=a.error_class, message=a.message, at=a.at) for a in i.attempts
        ],
    )


def request_out(r: Request, instances: list[Instance] | None = None) -> RequestOut:
    return RequestOut(
        id=r.id,
        status=r.status,
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
