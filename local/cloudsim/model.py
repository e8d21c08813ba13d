"""State of the simulated providers: credentials, tokens, servers, keypairs, quota, faults, counters.

Pure Python, no HTTP: `app.py` translates requests into calls here and `ApiError`s into each
service's error body. Everything runs on one asyncio loop, so no locking is needed. Server status
is computed lazily from timestamps (created -> boot_at -> ACTIVE/ERROR; deleted_at -> gone after a
short DELETED window) instead of per-server timers, so thousands of servers cost nothing while idle.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import ipaddress
import json
import random
import re
import secrets
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from local.cloudsim.catalog import Flavor, Image, Network, inventory, stable_id

MAX_MICROVERSION = (2, 96)
NO_VALID_HOST = "No valid host was found. There are not enough hosts available."

# Fault name -> type its value is coerced to. `reset` is a command, not a stored fault.
FAULTS: dict[str, type] = {
    "maintenance": bool,
    "auth_fail": bool,
    "hang": bool,
    "latency_ms": float,
    "boot_error_rate": float,
    "api_error_rate": float,
    "quota": int,
}


class ApiError(Exception):
    """An OpenStack API error; `app.py` renders it in the shape of the service that raised it."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def iso(ts: float, micro: bool = False) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ" if micro else "%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: str) -> float:
    try:
        return datetime.fromisoformat(value.replace(" ", "+")).timestamp()
    except ValueError:
        raise ApiError(400, f"Invalid changes-since value: {value}") from None


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str
    project_name: str
    user_id: str
    project_id: str
    app_cred_id: str
    app_cred_secret: str
    domain_id: str = "default"
    domain_name: str = "Default"


@dataclass
class Token:
    id: str
    methods: list[str]
    issued_at: float
    expires_at: float
    scoped: bool


@dataclass
class Port:
    network: Network
    ip: str
    mac: str


@dataclass
class Server:
    id: str
    name: str
    flavor: Flavor
    image: Image | None
    ports: list[Port]
    metadata: dict[str, str]
    key_name: str | None
    user_data: str | None
    created_at: float
    boot_at: float
    fails: bool
    updated_at: float
    deleted_at: float | None = None

    def status(self, now: float) -> str:
        if self.deleted_at is not None:
            return "DELETED"
        if now < self.boot_at:
            return "BUILD"
        return "ERROR" if self.fails else "ACTIVE"

    def changed_at(self, now: float) -> float:
        """Last time anything visible changed (for `changes-since` and `updated`)."""
        stamps = [self.updated_at, self.deleted_at or 0.0]
        if now >= self.boot_at:
            stamps.append(self.boot_at)
        return max(stamps)


@dataclass
class Keypair:
    id: int
    name: str
    public_key: str
    fingerprint: str
    type: str
    created_at: float
    private_key: str | None = None


def fingerprint(public_key: str) -> str:
    """MD5 fingerprint like nova computes it; rejects what nova rejects (not `<type> <base64>`)."""
    parts = public_key.strip().split()
    if len(parts) < 2 or not re.match(r"^(ssh-|ecdsa-|sk-)", parts[0]):
        raise ApiError(400, "Keypair data is invalid: failed to generate fingerprint")
    try:
        raw = base64.b64decode(parts[1], validate=True)
    except binascii.Error:
        raise ApiError(400, "Keypair data is invalid: failed to generate fingerprint") from None
    digest = hashlib.md5(raw).hexdigest()
    return ":".join(digest[i : i + 2] for i in range(0, 32, 2))


def _ref(value: Any) -> str:
    """Nova accepts imageRef/flavorRef as an id or as a URL ending in the id."""
    return str(value or "").rstrip("/").rsplit("/", 1)[-1]


def _regex_match(pattern: str, value: str) -> bool:
    try:
        return re.search(pattern, value) is not None
    except re.error:  # nova falls back to a substring match on bad regexes
        return pattern in value


@dataclass
class Provider:
    """One simulated provider account (Keystone + Nova + Glance + Neutron subset)."""

    name: str
    index: int
    quota: int
    boot_seconds: float
    token_ttl: float = 3600.0
    seed: int = 0
    clock: Callable[[], float] = time.time
    region: str = "RegionOne"
    tokens: dict[str, Token] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.flavors, self.images, self.networks = inventory(self.name, self.index)
        self.creds = Credentials(
            username=f"user-{self.name}",
            password=f"pass-{self.name}",
            project_name=f"project-{self.name}",
            user_id=stable_id(self.name, "user").replace("-", ""),
            project_id=stable_id(self.name, "project").replace("-", ""),
            app_cred_id=stable_id(self.name, "appcred").replace("-", ""),
            app_cred_secret=f"appsecret-{self.name}",
        )
        self.reset()

    def reset(self) -> None:
        """Fresh servers, keypairs, counters, faults and RNGs. Issued tokens stay valid, so clients
        that already authenticated keep working across a test-isolation reset."""
        # Separate streams so that e.g. more servers (more ids) do not shift which boot fails.
        self.rng = random.Random(f"{self.seed}:{self.name}")
        self.id_rng = random.Random(f"{self.seed}:{self.name}:ids")
        self.servers: dict[str, Server] = {}
        self.keypairs: dict[str, Keypair] = {}
        self.faults: dict[str, Any] = {}
        self.peak_servers = 0
        self.auth_calls = 0
        self.api_calls: Counter[str] = Counter()
        self.quota_rejections = 0
        self._ip_seq: Counter[str] = Counter()
        self._keypair_seq = 0

    # ---- faults -------------------------------------------------------------------------------

    def set_faults(self, update: dict[str, Any]) -> dict[str, Any]:
        """Merge `update` into the current faults; `reset: true` clears first; null/false clears one."""
        update = dict(update)
        if update.pop("reset", False):
            self.faults.clear()
        unknown = set(update) - set(FAULTS)
        if unknown:
            raise ValueError(f"unknown faults {sorted(unknown)}; known: {sorted(FAULTS)} and reset")
        for key, value in update.items():
            if value is None or value is False:
                self.faults.pop(key, None)
                continue
            value = FAULTS[key](value)
            if key.endswith("_rate") and not 0 <= value <= 1:
                raise ValueError(f"{key} must be within 0..1")
            if key != "quota" and not value:  # 0 rate / 0 latency == no fault
                self.faults.pop(key, None)
            else:
                self.faults[key] = value
        return dict(self.faults)

    # Cores/RAM quota fit `quota` servers of the largest flavor, so the instance count is what binds.
    @property
    def cores_per_instance(self) -> int:
        return max(f.vcpus for f in self.flavors)

    @property
    def ram_per_instance(self) -> int:
        return max(f.ram for f in self.flavors)

    def draw_api_error(self) -> bool:
        rate = self.faults.get("api_error_rate", 0.0)
        return bool(rate) and self.rng.random() < rate

    @property
    def enforced_quota(self) -> int:
        """What create really enforces: a `quota` fault lowers it below what /limits reports."""
        return min(self.quota, self.faults.get("quota", self.quota))

    # ---- identity -----------------------------------------------------------------------------

    def new_id(self) -> str:
        return str(uuid.UUID(int=self.id_rng.getrandbits(128), version=4))

    def authenticate(self, auth: dict[str, Any]) -> Token:
        """Keystone `POST /v3/auth/tokens`; methods password, application_credential and token."""
        self.auth_calls += 1
        if self.faults.get("auth_fail"):
            raise ApiError(401, "The request you have made requires authentication.")
        identity = auth.get("identity") or {}
        methods = identity.get("methods") or []
        if not methods:
            raise ApiError(400, "Expecting to find identity in auth.")
        scoped = True
        if not all(self._method_ok(m, identity.get(m) or {}) for m in methods):
            raise ApiError(401, "The request you have made requires authentication.")
        if "application_credential" not in methods:  # app creds carry their own project scope
            scope = auth.get("scope")
            scoped = bool(scope)
            if scope and not self._scope_ok(scope):
                raise ApiError(401, "The request you have made requires authentication.")
        now = self.clock()
        token = Token(secrets.token_hex(16), methods, now, now + self.token_ttl, scoped)
        self.tokens[token.id] = token
        return token

    def _domain_ok(self, domain: dict[str, Any] | None) -> bool:
        domain = domain or {}
        return domain.get("id") == self.creds.domain_id or domain.get("name") == self.creds.domain_name

    def _method_ok(self, method: str, data: dict[str, Any]) -> bool:
        c = self.creds
        if method == "password":
            user = data.get("user") or {}
            who = user.get("id") == c.user_id or (
                user.get("name") == c.username and self._domain_ok(user.get("domain"))
            )
            return who and user.get("password") == c.password
        if method == "application_credential":
            user = data.get("user") or {}
            by_id = data.get("id") == c.app_cred_id
            by_name = data.get("name") == "cloudsim" and (user.get("id") == c.user_id or user.get("name") == c.username)
            return (by_id or by_name) and data.get("secret") == c.app_cred_secret
        if method == "token":
            return self.validate(str(data.get("id", ""))) is not None
        return False

    def _scope_ok(self, scope: dict[str, Any]) -> bool:
        project = scope.get("project")
        if not project:
            return False  # domain/system scope: this user has no such role
        if "id" in project:
            return project["id"] == self.creds.project_id
        return project.get("name") == self.creds.project_name and self._domain_ok(project.get("domain"))

    def validate(self, token_id: str | None) -> Token | None:
        """The token if it is valid for service calls right now (auth_fail rejects every token)."""
        token = self.tokens.get(token_id or "")
        if token is None or self.faults.get("auth_fail"):
            return None
        if token.expires_at <= self.clock():
            del self.tokens[token.id]
            return None
        return token

    def revoke(self, token_id: str) -> bool:
        return self.tokens.pop(token_id, None) is not None

    # ---- compute: servers ---------------------------------------------------------------------

    @property
    def delete_delay(self) -> float:
        return min(0.2, self.boot_seconds / 5)

    def live_servers(self) -> list[Server]:
        """Servers that still answer GET (including the brief DELETED window), oldest first."""
        now = self.clock()
        gone = [
            s.id for s in self.servers.values() if s.deleted_at is not None and now >= s.deleted_at + self.delete_delay
        ]
        for sid in gone:
            del self.servers[sid]
        return list(self.servers.values())

    def usage(self) -> tuple[int, int, int]:
        servers = self.live_servers()
        return len(servers), sum(s.flavor.vcpus for s in servers), sum(s.flavor.ram for s in servers)

    def flavor(self, ref: str) -> Flavor:
        for f in self.flavors:
            if f.id == ref:
                return f
        raise ApiError(404, f"Flavor {ref} could not be found.")

    def image(self, ref: str) -> Image:
        for i in self.images:
            if i.id == ref:
                return i
        raise ApiError(404, f"Image {ref} could not be found.")

    def network(self, ref: str) -> Network:
        for n in self.networks:
            if n.id == ref:
                return n
        raise ApiError(404, f"Network {ref} could not be found.")

    def _requested_networks(self, requested: Any) -> list[Network]:
        if requested == "none":
            return []
        if requested in (None, "auto"):
            if len(self.networks) > 1:  # nova cannot choose for you
                raise ApiError(409, "Multiple possible networks found, use a Network ID to be more specific.")
            return list(self.networks)
        if not isinstance(requested, list):
            raise ApiError(400, "Invalid input for field/attribute networks.")
        nets = []
        for entry in requested:
            if not isinstance(entry, dict) or "uuid" not in entry:
                raise ApiError(400, "Bad networks format: network uuid is not in proper format")
            try:
                nets.append(self.network(str(entry["uuid"])))
            except ApiError as e:
                raise ApiError(400, e.message) from None
        return nets

    def _port(self, net: Network) -> Port:
        self._ip_seq[net.id] += 1
        ip = ipaddress.ip_network(net.cidr)[9 + self._ip_seq[net.id]]
        mac = "fa:16:3e:" + ":".join(f"{self.id_rng.randrange(256):02x}" for _ in range(3))
        return Port(net, str(ip), mac)

    def create_server(self, spec: dict[str, Any]) -> Server:
        """Nova `POST /servers`: validate like nova, enforce quota, schedule a lazy boot."""
        name = spec.get("name")
        if not isinstance(name, str) or not name.strip() or len(name) > 255:
            raise ApiError(400, "Invalid input for field/attribute name.")
        if spec.get("imageRef"):
            try:
                image: Image | None = self.image(_ref(spec["imageRef"]))
            except ApiError as e:
                raise ApiError(400, e.message) from None
        elif spec.get("block_device_mapping_v2"):
            image = None  # boot from volume
        else:
            raise ApiError(400, "Missing imageRef attribute")
        try:
            flavor = self.flavor(_ref(spec.get("flavorRef")))
        except ApiError as e:
            raise ApiError(400, e.message) from None
        key_name = spec.get("key_name")
        if key_name is not None and key_name not in self.keypairs:
            raise ApiError(400, "Invalid key_name provided.")
        metadata = self._metadata(spec.get("metadata") or {})
        user_data = spec.get("user_data")
        if user_data is not None:
            try:
                base64.b64decode(user_data, validate=True)
            except (binascii.Error, TypeError, ValueError):
                raise ApiError(400, "User data needs to be valid base 64.") from None
        networks = self._requested_networks(spec.get("networks"))
        self._check_quota(flavor)
        now = self.clock()
        jitter = self.rng.uniform(0.9, 1.1)  # always drawn, so enabling faults does not shift it
        fails = self.rng.random() < self.faults.get("boot_error_rate", 0.0)
        server = Server(
            self.new_id(),
            name,
            flavor,
            image,
            [self._port(n) for n in networks],
            metadata,
            key_name,
            user_data,
            now,
            now + self.boot_seconds * jitter,
            fails,
            now,
        )
        return self._add(server)

    def _add(self, server: Server) -> Server:
        self.servers[server.id] = server
        self.peak_servers = max(self.peak_servers, len(self.servers))
        return server

    def _check_quota(self, flavor: Flavor) -> None:
        used, cores, ram = self.usage()
        q = self.enforced_quota
        for what, requested, in_use, limit in (
            ("instances", 1, used, q),
            ("cores", flavor.vcpus, cores, q * self.cores_per_instance),
            ("ram", flavor.ram, ram, q * self.ram_per_instance),
        ):
            if in_use + requested > limit:
                self.quota_rejections += 1
                message = f"Requested {requested}, but already used {in_use} of {limit} {what}"
                raise ApiError(403, f"Quota exceeded for {what}: {message}")

    def plant_server(self, name: str, metadata: dict[str, str] | None = None, status: str = "ACTIVE") -> Server:
        """Test backdoor: a server that exists on the provider without a create call (an orphan)."""
        if status not in ("ACTIVE", "BUILD", "ERROR"):
            raise ValueError("status must be ACTIVE, BUILD or ERROR")
        now = self.clock()
        flavor = next(f for f in self.flavors if f.ram >= 1024)
        boot_at = now + self.boot_seconds if status == "BUILD" else now
        return self._add(
            Server(
                self.new_id(),
                name,
                flavor,
                self.images[0],
                [self._port(self.networks[0])],
                self._metadata(metadata or {}),
                None,
                None,
                now,
                boot_at,
                status == "ERROR",
                now,
            )
        )

    def get_server(self, server_id: str) -> Server:
        self.live_servers()
        server = self.servers.get(server_id)
        if server is None:
            raise ApiError(404, f"Instance {server_id} could not be found.")
        return server

    def delete_server(self, server_id: str) -> None:
        server = self.get_server(server_id)
        if server.deleted_at is None:
            server.deleted_at = self.clock()

    def list_servers(self, query: dict[str, str]) -> list[Server]:
        """Newest first like nova; filters name (regex), status, changes-since, image, flavor, ip."""
        now = self.clock()
        servers = sorted(self.live_servers(), key=lambda s: s.created_at, reverse=True)
        if "name" in query:
            servers = [s for s in servers if _regex_match(query["name"], s.name)]
        if "status" in query:
            servers = [s for s in servers if s.status(now) == query["status"].upper()]
        if "changes-since" in query:
            since = parse_time(query["changes-since"])
            servers = [s for s in servers if s.changed_at(now) >= since]
        if "image" in query:
            servers = [s for s in servers if s.image and s.image.id == _ref(query["image"])]
        if "flavor" in query:
            servers = [s for s in servers if s.flavor.id == _ref(query["flavor"])]
        if "ip" in query:
            servers = [s for s in servers if any(_regex_match(query["ip"], p.ip) for p in s.ports)]
        if "marker" in query:
            ids = [s.id for s in servers]
            if query["marker"] not in ids:
                raise ApiError(400, f"marker [{query['marker']}] not found")
            servers = servers[ids.index(query["marker"]) + 1 :]
        if "limit" in query:
            try:
                servers = servers[: max(0, int(query["limit"]))]
            except ValueError:
                raise ApiError(400, "limit param must be an integer") from None
        return servers

    @staticmethod
    def _metadata(metadata: Any) -> dict[str, str]:
        if not isinstance(metadata, dict) or len(metadata) > 128:
            raise ApiError(400, "Invalid input for field/attribute metadata.")
        for k, v in metadata.items():
            if not isinstance(v, str) or not k or len(k) > 255 or len(v) > 255:
                raise ApiError(400, "Invalid input for field/attribute metadata.")
        return dict(metadata)

    def set_metadata(self, server_id: str, metadata: Any, replace: bool) -> dict[str, str]:
        server = self.get_server(server_id)
        merged = self._metadata(metadata) if replace else {**server.metadata, **self._metadata(metadata)}
        if len(merged) > 128:
            raise ApiError(403, "Quota exceeded for metadata_items: Requested 1, but already used 128 of 128")
        server.metadata, server.updated_at = merged, self.clock()
        return server.metadata

    def delete_metadata_key(self, server_id: str, key: str) -> None:
        server = self.get_server(server_id)
        if key not in server.metadata:
            raise ApiError(404, f"Metadata item was not found: {key}")
        del server.metadata[key]
        server.updated_at = self.clock()

    def limits(self) -> dict[str, int]:
        """Absolute limits as /limits reports them; note they show `quota`, not `enforced_quota`."""
        used, cores, ram = self.usage()
        return {
            "maxTotalInstances": self.quota,
            "totalInstancesUsed": used,
            "maxTotalCores": self.quota * self.cores_per_instance,
            "totalCoresUsed": cores,
            "maxTotalRAMSize": self.quota * self.ram_per_instance,
            "totalRAMUsed": ram,
            "maxTotalKeypairs": 100,
            "maxServerMeta": 128,
            "maxImageMeta": 128,
            "maxServerGroups": 10,
            "maxServerGroupMembers": 10,
            "totalServerGroupsUsed": 0,
        }

    # ---- compute: keypairs (one user per provider, so per provider) ----------------------------

    def create_keypair(
        self, name: Any, public_key: str | None, key_type: str = "ssh", generate: bool = True
    ) -> Keypair:
        if not isinstance(name, str) or not re.fullmatch(r"[\w\-. @]{1,255}", name):
            raise ApiError(400, "Keypair data is invalid: Keypair name contains unsafe characters")
        if name in self.keypairs:
            raise ApiError(409, f"Key pair '{name}' already exists.")
        private_key = None
        if public_key is None:
            if not generate:  # microversion >= 2.92 removed server-side key generation
                raise ApiError(400, "Invalid input for field/attribute keypair. 'public_key' is a required property")
            material = base64.b64encode(b"\x00\x00\x00\x07ssh-rsa" + self.id_rng.randbytes(64)).decode()
            public_key = f"ssh-rsa {material} Generated-by-Nova"
            private_key = "-----BEGIN OPENSSH PRIVATE KEY-----\ncloudsim\n-----END OPENSSH PRIVATE KEY-----\n"
        self._keypair_seq += 1
        kp = Keypair(self._keypair_seq, name, public_key, fingerprint(public_key), key_type, self.clock(), private_key)
        self.keypairs[name] = kp
        return kp

    def get_keypair(self, name: str) -> Keypair:
        if name not in self.keypairs:
            raise ApiError(404, f"Keypair {name} not found for user {self.creds.user_id}")
        return self.keypairs[name]

    def delete_keypair(self, name: str) -> None:
        del self.keypairs[self.get_keypair(name).name]

    # ---- ground truth ---------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        now = self.clock()
        c = self.creds
        return {
            "servers": [
                {
                    "id": s.id,
                    "name": s.name,
                    "status": s.status(now),
                    "metadata": dict(s.metadata),
                    "flavor": s.flavor.name,
                    "image": s.image.name if s.image else None,
                    "created_at": iso(s.created_at),
                    "addresses": {p.network.name: p.ip for p in s.ports},
                    "key_name": s.key_name,
                }
                for s in self.live_servers()
            ],
            "peak_servers": self.peak_servers,
            "auth_calls": self.auth_calls,
            "api_calls": dict(self.api_calls),
            "quota_rejections": self.quota_rejections,
            "quota": self.quota,
            "enforced_quota": self.enforced_quota,
            "faults": dict(self.faults),
            "images": [
                {"id": i.id, "name": i.name, "os_distro": i.os_distro, "os_version": i.os_version} for i in self.images
            ],
            "flavors": [
                {"id": f.id, "name": f.name, "vcpus": f.vcpus, "ram": f.ram, "disk": f.disk} for f in self.flavors
            ],
            "networks": [{"id": n.id, "name": n.name} for n in self.networks],
            "keypairs": sorted(self.keypairs),
            "credentials": {
                "username": c.username,
                "password": c.password,
                "project_name": c.project_name,
                "user_id": c.user_id,
                "project_id": c.project_id,
                "user_domain_name": c.domain_name,
                "project_domain_name": c.domain_name,
                "application_credential_id": c.app_cred_id,
                "application_credential_secret": c.app_cred_secret,
            },
            "region": self.region,
        }


def make_providers(
    count: int,
    quota: int,
    boot_seconds: float,
    seed: int = 0,
    token_ttl: float = 3600.0,
    clock: Callable[[], float] = time.time,
) -> dict[str, Provider]:
    return {
        f"sim-{i}": Provider(f"sim-{i}", i, quota, boot_seconds, token_ttl, seed, clock) for i in range(1, count + 1)
    }


def parse_fault_args(items: Iterable[str]) -> dict[str, dict[str, Any]]:
    """`sim-2:maintenance=true` -> {"sim-2": {"maintenance": True}} (values parsed as JSON if possible)."""
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        provider, sep, assignment = item.partition(":")
        key, eq, raw = assignment.partition("=")
        if not sep or not eq or not key:
            raise ValueError(f"--fault expects PROVIDER:KEY=VALUE, got {item!r}")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        out.setdefault(provider, {})[key] = value
    return out
