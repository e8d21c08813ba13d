"""Provider accounts: registration (from the API or a clouds.yaml) and checks against the cloud.
Credentials go to Secrets Manager only; records say `has_credentials` and nothing more."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from openmultistack import health
from openmultistack import repository as repo
from openmultistack.clouds import cloud_for, forget
from openmultistack.domain import Provider, utcnow
from openmultistack.errors import CloudError, ConflictError, InvalidInputError
from openmultistack.observability import logger
from openmultistack.secrets import delete_provider_credentials, store_provider_credentials

# clouds.yaml `auth` keys that are secrets (kept out of DynamoDB) vs. account coordinates.
SECRET_AUTH_KEYS = (
    "username",
    "password",
    "application_credential_id",
    "application_credential_secret",
    "user_id",
)
COORDINATE_AUTH_KEYS = ("auth_url", "project_name", "project_id", "user_domain_name", "project_domain_name")
APPLICATION_CREDENTIAL = "v3applicationcredential"
AUTH_TYPES = ("password", "v3password", APPLICATION_CREDENTIAL)
INTERFACES = ("public", "internal", "admin")
# A provider's name is a URL path segment and part of its secret's name.
PROVIDER_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"
_NAME = re.compile(PROVIDER_NAME)
_AUTH_URL = re.compile(r"^https?://[^\s/?#]+[^\s]*$")


KIND_IN_WORDS = {
    "auth": "authentication failed",
    "unavailable": "it did not answer properly: maintenance, an outage or a timeout",
    "quota": "quota exceeded",
    "unfit": "request rejected",
    "gone": "not found",
}


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
        report.problems.append(
            "no credentials stored: PATCH the provider with username/password or an application credential"
        )
        return report
    now = utcnow()
    try:
        found = cloud_for(provider).inspect()
    except CloudError as error:
        repo.set_breaker(name, health.after_failure(provider.breaker, error.kind, now))
        report.problems.append(f"cannot use the provider ({KIND_IN_WORDS.get(error.kind, error.kind)}): {error}")
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
    if not found.images:
        report.problems.append("the provider lists no images")
    if not found.networks:
        report.problems.append("the project has no networks: servers would get no address")
    if found.max_instances is None and provider.max_instances is None:
        report.problems.append("Nova reports no instance limit: set max_instances to cap this provider")
    if (
        found.max_instances is not None
        and found.instances_used is not None
        and found.instances_used >= found.max_instances
    ):
        report.problems.append(f"the account is full: {found.instances_used} of {found.max_instances} instances in use")
    report.ok = not report.problems
    return report


def retire(name: str, force: bool) -> Provider:
    """Unregister a provider. Refused while it has live instances, unless forced: then it is
    disabled first (no new slots), its instances destroyed, and only when every deletion is
    confirmed is the record removed; otherwise it stays, disabled, for a retry."""
    provider = repo.get_provider(name)
    live = repo.live_instances_on(name)
    if live and not force:
        raise ConflictError(f"provider '{name}' has {len(live)} live instance(s); delete them or use ?force=true")
    if live:
        from openmultistack.teardown import destroy  # only this path talks to the cloud

        repo.update_provider(name, {"enabled": False})
        pending = [i.id for i in live if not destroy(i, reason=f"provider '{name}' removed")]
        if pending:
            raise ConflictError(
                f"provider '{name}' is disabled but {len(pending)} instance(s) are not confirmed "
                "deleted yet; retry later"
            )
    unregister(name)
    return provider


def import_clouds(clouds_yaml: str, image_aliases: dict[str, str]) -> list[str]:
    """Register every cloud of a clouds.yaml document (all or none: names are checked first) and
    check those with credentials. Returns the names, in document order."""
    import yaml  # deferred: only this route reads YAML

    try:
        document = yaml.safe_load(clouds_yaml)
    except yaml.YAMLError as error:
        raise InvalidInputError(f"clouds_yaml: not valid YAML ({str(error).splitlines()[0]})") from error
    entries = providers_from_clouds_yaml(document)
    existing = {p.name for p in repo.list_providers()}
    clashes = sorted(p.name for p, _ in entries if p.name in existing)
    if clashes:
        raise ConflictError(f"provider(s) already registered: {', '.join(clashes)}")
    for provider, credentials in entries:
        provider.image_aliases = dict(image_aliases)
        register(provider, credentials)
    for provider, credentials in entries:
        if credentials:
            check(provider.name)
    logger.info("providers imported", extra={"providers": [p.name for p, _ in entries]})
    return [p.name for p, _ in entries]


def _text(cloud: str, key: str, value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise InvalidInputError(f"clouds_yaml: cloud '{cloud}' {key} must be text")
    return str(value)


def providers_from_clouds_yaml(document: Any) -> list[tuple[Provider, dict[str, str]]]:
    """Providers and their credentials from a parsed clouds.yaml (pure). Every problem is an
    InvalidInputError naming the cloud and key."""
    clouds = document.get("clouds") if isinstance(document, dict) else None
    if not isinstance(clouds, dict) or not clouds:
        raise InvalidInputError("clouds_yaml: expected a 'clouds:' mapping with at least one cloud")
    out = []
    for key, cloud in clouds.items():
        name = str(key)
        if not _NAME.fullmatch(name):
            raise InvalidInputError(
                f"clouds_yaml: cloud name '{name[:80]}' must be 1-63 letters, digits, '.', '_' or '-'"
            )
        if not isinstance(cloud, dict):
            raise InvalidInputError(f"clouds_yaml: cloud '{name}' must be a mapping")
        auth = cloud.get("auth") or {}
        if not isinstance(auth, dict):
            raise InvalidInputError(f"clouds_yaml: cloud '{name}' auth must be a mapping")
        auth_url = _text(name, "auth.auth_url", auth.get("auth_url"))
        if not auth_url or not _AUTH_URL.fullmatch(auth_url):
            raise InvalidInputError(f"clouds_yaml: cloud '{name}' needs auth.auth_url (an http(s) URL)")
        interface = _text(name, "interface", cloud.get("interface")) or "public"
        if interface not in INTERFACES:
            raise InvalidInputError(f"clouds_yaml: cloud '{name}' interface must be one of {', '.join(INTERFACES)}")
        auth_type = _text(name, "auth_type", cloud.get("auth_type")) or "password"
        if auth_type not in AUTH_TYPES:
            raise InvalidInputError(f"clouds_yaml: cloud '{name}' auth_type must be one of {', '.join(AUTH_TYPES)}")
        provider = Provider(
            name=name,
            region_name=_text(name, "region_name", cloud.get("region_name")),
            interface=interface,
            auth_type=auth_type,
            **{k: _text(name, f"auth.{k}", auth.get(k)) for k in COORDINATE_AUTH_KEYS},  # type: ignore[arg-type]
        )
        credentials = {k: str(_text(name, f"auth.{k}", auth[k])) for k in SECRET_AUTH_KEYS if auth.get(k)}
        out.append((provider, credentials))
    return out
