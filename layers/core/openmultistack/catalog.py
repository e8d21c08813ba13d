"""Provider accounts: registration (from the API or a clouds.yaml) and checks against the cloud.
Credentials go to Secrets Manager only; records say `has_credentials` and nothing more."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from openmultistack import health
from openmultistack import repository as repo
from openmultistack.clouds import cloud_for, forget
from openmultistack.domain import Provider, utcnow
from openmultistack.errors import CloudError, InvalidInputError
from openmultistack.secrets import delete_provider_credentials, store_provider_credentials

# clouds.yaml `auth` keys that are secrets (kept out of DynamoDB) vs. account coordinates.
SECRET_AUTH_KEYS = ("username", "password", "application_credential_id", "application_credential_secret", "user_id")
COORDINATE_AUTH_KEYS = ("auth_url", "project_name", "project_id", "user_domain_name", "project_domain_name")


@dataclass
class CheckReport:
    provider: str
    ok: bool
    max_instances: int | None = None
    instances_used: int | None = None
    flavors: list[dict[str, Any]] = field(default_factory=list)
    images: list[str] = field(default_factory=list)
    networks: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def register(provider: Provider, credentials: dict[str, str] | None) -> Provider:
    provider.has_credentials = bool(credentials)
    created = repo.create_provider(provider)
    if credentials:
        store_provider_credentials(provider.name, credentials)
    return created


def set_credentials(name: str, credentials: dict[str, str]) -> None:
    store_provider_credentials(name, credentials)
    repo.update_provider(name, {"has_credentials": True})
    forget(name)


def unregister(name: str) -> None:
    repo.delete_provider(name)
    delete_provider_credentials(name)
    forget(name)


def check(name: str) -> CheckReport:
    """Authenticate and read limits, flavors, images and networks; say plainly what is wrong."""
    provider = repo.get_provider(name)
    report = CheckReport(provider=name, ok=False)
    if not provider.has_credentials:
        report.problems.append("no credentials stored: PATCH the provider with username/password or an application credential")
        return report
    now = utcnow()
    try:
        found = cloud_for(provider).inspect()
    except CloudError as error:
        repo.set_breaker(name, health.after_failure(provider.breaker, error.kind, now))
        report.problems.append(f"cannot use the provider: {error}")
        return report
    repo.record_check(name, found.max_instances, found.flavors, found.images, now)
    repo.set_breaker(name, health.after_success(provider.breaker))
    report.max_instances, report.instances_used = found.max_instances, found.instances_used
    report.flavors = [{"name": f.name, "vcpus": f.vcpus, "ram_mb": f.ram_mb} for f in found.flavors]
    report.images, report.networks = found.images, found.networks
    for alias, image in provider.image_aliases.items():
        if image not in found.images:
            report.problems.append(f"image alias '{alias}' points to '{image}', which the provider does not have")
    if not found.flavors:
        report.problems.append("the provider lists no flavors")
    if found.max_instances is not None and found.instances_used is not None and found.instances_used >= found.max_instances:
        report.problems.append(f"the account is full: {found.instances_used} of {found.max_instances} instances in use")
    report.ok = not report.problems
    return report


def providers_from_clouds_yaml(document: dict[str, Any]) -> list[tuple[Provider, dict[str, str]]]:
    """Providers and their credentials from a parsed clouds.yaml (pure)."""
    clouds = document.get("clouds") if isinstance(document, dict) else None
    if not isinstance(clouds, dict) or not clouds:
        raise InvalidInputError("clouds_yaml: expected a 'clouds:' mapping with at least one cloud")
    out = []
    for name, cloud in clouds.items():
        auth = (cloud or {}).get("auth") or {}
        if not auth.get("auth_url"):
            raise InvalidInputError(f"clouds_yaml: cloud '{name}' has no auth.auth_url")
        provider = Provider(
            name=str(name),
            region_name=cloud.get("region_name"),
            interface=cloud.get("interface", "public"),
            auth_type=cloud.get("auth_type", "password"),
            **{k: auth.get(k) for k in COORDINATE_AUTH_KEYS},
        )
        credentials = {k: str(auth[k]) for k in SECRET_AUTH_KEYS if auth.get(k)}
        out.append((provider, credentials))
    return out
