"""The OpenStack adapter: one openstacksdk connection per provider per warm container, and the
few calls the product needs, each raising a classified CloudError (see classify.py).

openstacksdk is imported here only, lazily, so functions that never talk to OpenStack (the API's
hot path) do not pay for its import."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from openmultistack.classify import classify
from openmultistack.domain import CONNECTION_FIELDS, Flavor, Provider
from openmultistack.errors import CloudError, ServerNotFoundError
from openmultistack.secrets import provider_credentials
from openmultistack.settings import get_settings

T = TypeVar("T")
OMS_INSTANCE = "oms:instance"
OMS_REQUEST = "oms:request"
OMS_EXPIRES = "oms:expires_at"


def server_name(instance_id: str) -> str:
    return f"oms-{instance_id}"


def hard_expiry(expires_at: datetime) -> datetime:
    """The `oms:expires_at` a server carries: past it (plus the sweep's grace) the server is
    certainly dead, whatever the database says — its expiry plus the boot allowance."""
    return expires_at + timedelta(seconds=get_settings().boot_timeout_seconds)


@dataclass(frozen=True)
class Server:
    id: str
    name: str
    status: str
    metadata: dict[str, str]
    ip: str | None = None
    fault: str | None = None

    @property
    def instance_id(self) -> str | None:
        return self.metadata.get(OMS_INSTANCE)


@dataclass
class Inspection:
    """What a provider check found."""

    max_instances: int | None = None
    instances_used: int | None = None
    flavors: list[Flavor] = field(default_factory=list)
    images: list[str] = field(default_factory=list)
    networks: list[str] = field(default_factory=list)


def _first_ipv4(addresses: dict[str, Any] | None) -> str | None:
    for entries in (addresses or {}).values():
        for entry in entries:
            if entry.get("version") == 4 and entry.get("addr"):
                return str(entry["addr"])
    return None


def _server(raw: Any) -> Server:
    fault = raw.fault or {}
    return Server(
        id=raw.id,
        name=raw.name,
        status=raw.status,
        metadata=dict(raw.metadata or {}),
        ip=_first_ipv4(raw.addresses),
        fault=fault.get("message") if isinstance(fault, dict) else None,
    )


class Cloud:
    """One provider account, spoken to through openstacksdk."""

    def __init__(self, provider: Provider, conn: Any) -> None:
        self.provider = provider
        self.conn = conn
        self._ids: dict[tuple[str, str], str] = {}  # (kind, name) -> id, warm for the container
        self._ids_lock = threading.Lock()

    @contextmanager
    def _calling(self) -> Iterator[None]:
        try:
            yield
        except CloudError:
            raise
        except Exception as error:  # every SDK/keystoneauth failure becomes a classified one
            raise classify(error, self.provider.name) from error

    def _cached_id(self, kind: str, name: str, lookup: Callable[[], str]) -> str:
        with self._ids_lock:
            if (kind, name) in self._ids:
                return self._ids[(kind, name)]
        value = lookup()
        with self._ids_lock:
            self._ids[(kind, name)] = value
        return value

    def servers_of(self, instance_id: str) -> list[Server]:
        """Servers this instance already has here (a retried Launch must not create another)."""
        with self._calling():
            found = self.conn.compute.servers(details=True, name=f"^{server_name(instance_id)}$")
            return [s for s in map(_server, found) if s.instance_id == instance_id]

    def oms_servers(self) -> list[Server]:
        """Every server carrying our metadata; servers of others sharing the account are skipped."""
        with self._calling():
            return [s for s in map(_server, self.conn.compute.servers(details=True)) if s.instance_id]

    def image_id(self, name: str) -> str:
        def lookup() -> str:
            image = self.conn.image.find_image(name, ignore_missing=True)
            if image is None:
                raise ServerNotFoundError(f"image '{name}' not found", self.provider.name)
            return str(image.id)

        with self._calling():
            return self._cached_id("image", name, lookup)

    def flavor_id(self, name: str) -> str:
        def lookup() -> str:
            flavor = self.conn.compute.find_flavor(name, ignore_missing=True)
            if flavor is None:
                raise ServerNotFoundError(f"flavor '{name}' not found", self.provider.name)
            return str(flavor.id)

        with self._calling():
            return self._cached_id("flavor", name, lookup)

    def network_id(self) -> str | None:
        """The network to boot on: the configured one, else the first when there are several
        (Nova refuses to guess between several), else let Nova pick the only one."""

        def lookup() -> str:
            if self.provider.network:
                net = self.conn.network.find_network(self.provider.network, ignore_missing=False)
                return str(net.id)
            nets = sorted(self.conn.network.networks(), key=lambda n: n.name or "")
            return str(nets[0].id) if len(nets) > 1 else ""

        with self._calling():
            return self._cached_id("network", self.provider.network or "", lookup) or None

    def ensure_keypair(self, name: str, public_key: str) -> None:
        with self._calling():
            if self.conn.compute.find_keypair(name, ignore_missing=True) is None:
                try:
                    self.conn.compute.create_keypair(name=name, public_key=public_key)
                except Exception as error:
                    if getattr(error, "status_code", None) != 409:  # a parallel Launch won the race
                        raise

    def set_hard_expiry(self, server_id: str, at: datetime) -> None:
        with self._calling():
            self.conn.compute.set_server_metadata(server_id, **{OMS_EXPIRES: at.isoformat()})

    def create_server(
        self,
        instance_id: str,
        image: str,
        flavor: str,
        metadata: dict[str, str],
        key_name: str | None,
        user_data: str | None,
    ) -> Server:
        attrs: dict[str, Any] = {
            "name": server_name(instance_id),
            "image_id": self.image_id(image),
            "flavor_id": self.flavor_id(flavor),
            "metadata": metadata,
        }
        network = self.network_id()
        attrs["networks"] = [{"uuid": network}] if network else "auto"
        if key_name:
            attrs["key_name"] = key_name
        if user_data:
            attrs["user_data"] = base64.b64encode(user_data.encode()).decode()
        with self._calling():
            return _server(self.conn.compute.create_server(**attrs))

    def get_server(self, server_id: str) -> Server | None:
        """The server, or None once it is gone (Nova's DELETED counts as gone)."""
        try:
            with self._calling():
                server = _server(self.conn.compute.get_server(server_id))
        except ServerNotFoundError:
            return None
        return None if server.status in ("DELETED", "SOFT_DELETED") else server

    def delete_server(self, server_id: str) -> None:
        with self._calling():
            self.conn.compute.delete_server(server_id, ignore_missing=True)

    def inspect(self) -> Inspection:
        with self._calling():
            absolute = self.conn.compute.get_limits().absolute
            return Inspection(
                max_instances=absolute.instances,
                instances_used=absolute.instances_used,
                flavors=sorted(
                    (Flavor(f.name, int(f.vcpus), int(f.ram)) for f in self.conn.compute.flavors(details=True)),
                    key=lambda f: (f.vcpus, f.ram_mb),
                ),
                images=sorted(i.name for i in self.conn.image.images()),
                networks=sorted(n.name for n in self.conn.network.networks()),
            )


# --- connections ----------------------------------------------------------------------------

_clouds: dict[str, tuple[str, Cloud]] = {}
_clouds_lock = threading.Lock()


def _fingerprint(provider: Provider, credentials: dict[str, str]) -> str:
    config = {k: getattr(provider, k) for k in CONNECTION_FIELDS}
    return hashlib.sha256(json.dumps([config, credentials], sort_keys=True).encode()).hexdigest()


# Per-service retry settings win over the global one (the SDK's defaults set Glance's to 5).
NO_SERVICE_RETRIES: dict[str, Any] = {
    f"{service}_status_code_retries": 0 for service in ("compute", "image", "network", "identity")
}


def connect(provider: Provider, credentials: dict[str, str]) -> Any:
    import openstack  # deferred: see module docstring
    from openstack import warnings as sdk_warnings

    # The SDK warns about its own future deprecations on every call; they are not ours to act on.
    for category in (sdk_warnings.OpenStackDeprecationWarning, sdk_warnings._RemovedInSDKWarning):
        warnings.filterwarnings("ignore", category=category)

    auth = {
        "auth_url": provider.auth_url,
        "project_name": provider.project_name,
        "project_id": provider.project_id,
        "user_domain_name": provider.user_domain_name,
        "project_domain_name": provider.project_domain_name,
        **credentials,
    }
    if provider.auth_type == "v3applicationcredential":
        for key in ("project_name", "project_id", "project_domain_name", "user_domain_name"):
            auth.pop(key, None)
    return openstack.connect(
        load_yaml_config=False,
        load_envvars=False,
        auth_type=provider.auth_type,
        auth={k: v for k, v in auth.items() if v},
        region_name=provider.region_name,
        interface=provider.interface,
        api_timeout=get_settings().openstack_timeout_seconds,
        # The SDK's own retries (Glance: 5 on a 503, with backoff ~15 s) only delay the failover
        # the workflow does better; a provider in maintenance must fail fast.
        connect_retries=0,
        status_code_retries=0,
        **NO_SERVICE_RETRIES,
        app_name="openmultistack",
    )


def cloud_for(provider: Provider, credentials: dict[str, str] | None = None) -> Cloud:
    """A cached Cloud for the provider; a changed configuration or secret gets a new connection."""
    creds = credentials if credentials is not None else provider_credentials(provider.name)
    fingerprint = _fingerprint(provider, creds)
    with _clouds_lock:
        cached = _clouds.get(provider.name)
        if cached and cached[0] == fingerprint:
            cached[1].provider = provider  # fresh ledger/breaker view, same connection
            return cached[1]
    cloud = Cloud(provider, connect(provider, creds))
    with _clouds_lock:
        _clouds[provider.name] = (fingerprint, cloud)
    return cloud


def forget(provider_name: str) -> None:
    with _clouds_lock:
        _clouds.pop(provider_name, None)
