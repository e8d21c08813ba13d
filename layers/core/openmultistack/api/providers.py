"""/v1/providers and /v1/capacity."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from openmultistack import catalog, health
from openmultistack import repository as repo
from openmultistack.api.schemas import (
    NAME,
    CapacityList,
    CapacityOut,
    CheckOut,
    FlavorOut,
    ProviderImport,
    ProviderIn,
    ProviderList,
    ProviderOut,
    ProviderSettings,
    answers,
    health_out,
    provider_out,
)
from openmultistack.domain import InstanceStatus, Provider, utcnow

router = APIGatewayRouter()
TAGS = ["providers"]
Name = Annotated[str, Path(pattern=NAME, description="Provider name")]


def _out(provider: Provider) -> ProviderOut:
    return provider_out(provider, health.shown_state(provider.breaker, utcnow()))


def _check_out(report: catalog.CheckReport) -> CheckOut:
    return CheckOut(**{**report.__dict__, "flavors": [FlavorOut(**f) for f in report.flavors]})


def _auth_type(settings: ProviderSettings) -> str | None:
    """The keystoneauth plugin the given credentials need (None: leave it as it is)."""
    if settings.application_credential_id:
        return catalog.APPLICATION_CREDENTIAL
    return "password" if settings.username else None


@router.get("/v1/providers", summary="List provider accounts", tags=TAGS, responses=answers(200, "Providers"))
def list_providers() -> ProviderList:
    return ProviderList(items=[_out(p) for p in repo.list_providers()])


@router.post(
    "/v1/providers",
    summary="Register a provider account (credentials are write-only)",
    description="Credentials go to Secrets Manager; responses only say `has_credentials`. With "
    "credentials the provider is checked at once (limits, flavors, images) so placement can use it.",
    tags=TAGS,
    status_code=201,
    responses=answers(201, "The registered provider", 409),
)
def create_provider(body: ProviderIn) -> ProviderOut:
    config = {k: v for k, v in body.config_changes().items() if v is not None and k not in ("name", "auth_url")}
    provider = Provider(name=body.name, auth_url=body.auth_url, **config)
    provider.auth_type = _auth_type(body) or provider.auth_type
    credentials = body.credentials()
    catalog.register(provider, credentials)
    if credentials:
        catalog.check(provider.name)  # what it finds (or why it failed) shows in health and /check
    return _out(repo.get_provider(provider.name))


@router.post(
    "/v1/providers/import",
    summary="Register every cloud of a clouds.yaml document",
    tags=TAGS,
    status_code=201,
    responses=answers(201, "The registered providers", 409),
)
def import_providers(body: ProviderImport) -> ProviderList:
    names = catalog.import_clouds(body.clouds_yaml, dict(body.image_aliases))
    return ProviderList(items=[_out(repo.get_provider(n)) for n in names])


@router.get(
    "/v1/providers/<name>",
    summary="Get a provider account",
    tags=TAGS,
    responses=answers(200, "The provider", 404),
)
def get_provider(name: Name) -> ProviderOut:
    return _out(repo.get_provider(name))


@router.patch(
    "/v1/providers/<name>",
    summary="Change a provider: enable/disable, cap, aliases, credentials",
    description="Only the fields sent change. `max_instances` moves the capacity ledger's cap at once.",
    tags=TAGS,
    responses=answers(200, "The changed provider", 404),
)
def patch_provider(name: Name, body: ProviderSettings) -> ProviderOut:
    repo.get_provider(name)
    changes = body.config_changes()
    if body.credentials():
        changes["auth_type"] = _auth_type(body)
    if changes:
        repo.update_provider(name, changes)
    if body.credentials():
        catalog.set_credentials(name, body.credentials())
    return _out(repo.get_provider(name))


@router.delete(
    "/v1/providers/<name>",
    summary="Unregister a provider (409 while it has live instances, unless force=true)",
    description="With `force=true` its live instances are destroyed first; if the provider cannot "
    "confirm every deletion yet, the answer is 409 and the provider stays (retry later).",
    tags=TAGS,
    responses=answers(200, "The provider as it was", 404, 409),
)
def delete_provider(
    name: Name, force: Annotated[bool, Query(description="Destroy its live instances first")] = False
) -> ProviderOut:
    return _out(catalog.retire(name, force))


@router.post(
    "/v1/providers/<name>/check",
    summary="Authenticate and read limits, flavors, images and networks",
    description="Reports what the provider offers and, in `problems`, what is wrong in plain words.",
    tags=TAGS,
    responses=answers(200, "What was found", 404),
)
def check_provider(name: Name) -> CheckOut:
    return _check_out(catalog.check(name))


@router.get(
    "/v1/capacity",
    summary="Per provider: max, used, reserved and health",
    description="`max` is the effective cap, `used` the ACTIVE instances holding a slot, `reserved` "
    "slots held by instances still launching, `free` what placement may still use.",
    tags=["capacity"],
    responses=answers(200, "Capacity"),
)
def capacity() -> CapacityList:
    now = utcnow()
    items = []
    for p in repo.list_providers():
        holders = [i for i in repo.live_instances_on(p.name) if i.slot == p.name]
        used = sum(1 for i in holders if i.status == InstanceStatus.ACTIVE)
        items.append(
            CapacityOut(
                provider=p.name,
                enabled=p.enabled,
                max=p.cap,
                used=used,
                reserved=max(p.slots - used, 0),
                free=p.free if p.enabled else 0,
                health=health_out(p, health.shown_state(p.breaker, now)),
            )
        )
    total = {k: sum(getattr(c, k) for c in items) for k in ("max", "used", "reserved", "free")}
    return CapacityList(items=items, total=total)
