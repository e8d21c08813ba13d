"""/v1/providers and /v1/capacity."""

from __future__ import annotations

from typing import Annotated

import yaml
from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from openmultistack import catalog, health
from openmultistack import repository as repo
from openmultistack.api.schemas import (
    CapacityList,
    CapacityOut,
    CheckOut,
    FlavorOut,
    ProviderImport,
    ProviderIn,
    ProviderList,
    ProviderOut,
    ProviderSettings,
    health_out,
    provider_out,
)
from openmultistack.domain import InstanceStatus, Provider, utcnow
from openmultistack.errors import ConflictError, InvalidInputError

router = APIGatewayRouter()


def _out(provider: Provider) -> ProviderOut:
    return provider_out(provider, health.shown_state(provider.breaker, utcnow()))


def _check_out(report: catalog.CheckReport) -> CheckOut:
    return CheckOut(**{**report.__dict__, "flavors": [FlavorOut(**f) for f in report.flavors]})


@router.get("/v1/providers", summary="List provider accounts")
def list_providers() -> ProviderList:
    return ProviderList(items=[_out(p) for p in repo.list_providers()])


@router.post("/v1/providers", summary="Register a provider account (credentials are write-only)")
def create_provider(body: ProviderIn) -> Response[ProviderOut]:
    config = body.config_changes()
    provider = Provider(name=body.name, auth_url=body.auth_url, **{k: v for k, v in config.items() if v is not None and k not in ("name", "auth_url")})
    credentials = body.credentials()
    catalog.register(provider, credentials)
    if credentials:
        catalog.check(provider.name)  # learn limits and catalogue now so placement can use it
    return Response(201, content_types.APPLICATION_JSON, _out(repo.get_provider(provider.name)))


@router.post("/v1/providers/import", summary="Register every cloud of a clouds.yaml document")
def import_providers(body: ProviderImport) -> Response[ProviderList]:
    try:
        document = yaml.safe_load(body.clouds_yaml)
    except yaml.YAMLError as error:
        raise InvalidInputError(f"clouds_yaml: not valid YAML ({str(error).splitlines()[0]})") from error
    entries = catalog.providers_from_clouds_yaml(document)
    existing = {p.name for p in repo.list_providers()}
    clashes = sorted(p.name for p, _ in entries if p.name in existing)
    if clashes:
        raise ConflictError(f"provider(s) already registered: {', '.join(clashes)}")
    for provider, credentials in entries:
        provider.image_aliases = dict(body.image_aliases)
        catalog.register(provider, credentials)
        if credentials:
            catalog.check(provider.name)
    return Response(201, content_types.APPLICATION_JSON, ProviderList(items=[_out(repo.get_provider(p.name)) for p, _ in entries]))


@router.get("/v1/providers/<name>", summary="Get a provider account")
def get_provider(name: str) -> ProviderOut:
    return _out(repo.get_provider(name))


@router.patch("/v1/providers/<name>", summary="Change a provider: enable/disable, caps, aliases, credentials")
def patch_provider(name: str, body: ProviderSettings) -> ProviderOut:
    repo.get_provider(name)
    changes = body.config_changes()
    if changes:
        repo.update_provider(name, changes)
    if body.credentials():
        catalog.set_credentials(name, body.credentials())
    return _out(repo.get_provider(name))


@router.delete("/v1/providers/<name>", summary="Unregister a provider (force=true destroys its instances first)")
def delete_provider(name: str, force: Annotated[bool, Query()] = False) -> Response[ProviderOut]:
    provider = repo.get_provider(name)
    live = repo.live_instances_on(name)
    if live and not force:
        raise ConflictError(f"provider '{name}' has {len(live)} live instance(s); delete them or use ?force=true")
    if live:
        from openmultistack.teardown import destroy  # only this path needs openstacksdk

        pending = [i.id for i in live if not destroy(i, reason=f"provider '{name}' removed")]
        if pending:
            raise ConflictError(f"could not delete {len(pending)} instance(s) on '{name}' yet; retry later")
    catalog.unregister(name)
    return Response(200, content_types.APPLICATION_JSON, _out(provider))


@router.post("/v1/providers/<name>/check", summary="Authenticate and read limits, flavors, images, networks")
def check_provider(name: str) -> CheckOut:
    return _check_out(catalog.check(name))


@router.get("/v1/capacity", summary="Per provider: max, used, reserved and health")
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
