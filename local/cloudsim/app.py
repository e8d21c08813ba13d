"""ASGI app of the simulator: OpenStack routes of every provider plus the `/_sim` control plane.

`/<provider>/<service>/…` is dispatched by a small table of (method, template) routes so that the
template doubles as the `api_calls` key (`GET /servers/{id}`). Each call passes the provider's
fault gate (hang, latency, maintenance), token check and random API errors before its handler,
and errors come back in the body shape of the service that raised them, so openstacksdk and
keystoneauth raise the same exceptions they raise against real clouds.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from local.cloudsim.catalog import Flavor, Image, Network, stable_id
from local.cloudsim.model import (
    MAX_MICROVERSION,
    NO_VALID_HOST,
    ApiError,
    Keypair,
    Provider,
    Server,
    Token,
    iso,
)

# Fixed timestamp for static inventory (images, networks…) so repeated reads are byte-identical.
EPOCH = 1_700_000_000.0
NOVA_ERROR_KEYS = {
    400: "badRequest",
    403: "forbidden",
    404: "itemNotFound",
    405: "badMethod",
    406: "notAcceptable",
    409: "conflictingRequest",
    503: "serviceUnavailable",
}
SERVICES = (
    ("identity", "keystone", "/identity"),
    ("compute", "nova", "/compute/v2.1"),
    ("image", "glance", "/image"),
    ("network", "neutron", "/network"),
)
UNAUTHORIZED = "The request you have made requires authentication."
API_ERROR = (
    "Unexpected API Error. Please report this at http://bugs.launchpad.net/nova/ and attach the Nova API log "
    "if possible.\n<class 'oslo_db.exception.DBConnectionError'>"
)


def js(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status, headers, media_type="application/json")


def error_body(service: str, code: int, message: str) -> dict[str, Any]:
    """The error JSON each real service (or keystonemiddleware in front of it) answers."""
    title = HTTPStatus(code).phrase
    if code == 500:  # what the brief (and nova) call an unexpected API error
        return {"computeFault": {"code": 500, "message": message}}
    if service == "identity" or code == 401:  # keystonemiddleware rejects tokens for every service
        return {"error": {"code": code, "title": title, "message": message}}
    if service == "network":
        return {"NeutronError": {"type": "HTTP" + title.replace(" ", ""), "message": message, "detail": ""}}
    if service == "image":
        return {"code": code, "title": title, "message": message}
    return {NOVA_ERROR_KEYS.get(code, "computeFault"): {"code": code, "message": message}}


@dataclass
class Ctx:
    """Everything a handler needs about one call."""

    request: Request
    p: Provider
    args: dict[str, str]
    query: dict[str, str]
    body: Any
    base: str  # http://127.0.0.1:P/sim-1
    mv: tuple[int, int]  # compute microversion ((0, 0) outside nova)
    token: Token | None

    def part(self, key: str) -> dict[str, Any]:
        """The wrapped request object (`{"server": {...}}` -> {...}); 400 like nova when missing."""
        value = self.body.get(key) if isinstance(self.body, dict) else None
        if not isinstance(value, dict):
            raise ApiError(400, f"Invalid input for field/attribute {key}. Value: {self.body}.")
        return value


Handler = Callable[[Ctx], Response]


@dataclass(frozen=True)
class ApiRoute:
    method: str
    pattern: re.Pattern[str]
    key: str  # the api_calls key: nova relative to /compute/v2.1, everything else relative to /<p>
    handler: Handler
    auth: bool


ROUTES: list[ApiRoute] = []


def route(method: str, template: str, auth: bool = True) -> Callable[[Handler], Handler]:
    """Register a handler; earlier registrations win (so `/servers/detail` precedes `/servers/{id}`)."""
    pattern = re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template.replace(".", r"\.")) + "$")
    key = template
    if template.startswith("/compute/v2.1"):  # nova keys read like its API reference: `GET /servers/{id}`
        key = template.removeprefix("/compute/v2.1") or "/"

    def register(fn: Handler) -> Handler:
        ROUTES.append(ApiRoute(method, pattern, key, fn, auth))
        return fn

    return register


def find_route(method: str, path: str) -> tuple[ApiRoute | None, dict[str, str], bool]:
    """(route, path args, whether the path exists for another method)."""
    other = False
    for r in ROUTES:
        m = r.pattern.match(path)
        if m:
            if r.method == method or (method == "HEAD" and r.method == "GET"):
                return r, m.groupdict(), False
            other = True
    return None, {}, other


def microversion(request: Request) -> tuple[int, int]:
    """Nova microversion from `OpenStack-API-Version: compute X.Y` or the legacy header."""
    raw = None
    for part in request.headers.get("openstack-api-version", "").split(","):
        service, _, version = part.strip().partition(" ")
        if service.lower() == "compute":
            raw = version.strip()
    raw = raw or request.headers.get("x-openstack-nova-api-version")
    if not raw:
        return (2, 1)
    if raw.lower() == "latest":
        return MAX_MICROVERSION
    m = re.fullmatch(r"(\d+)\.(\d+)", raw)
    if not m:
        raise ApiError(400, f"API Version String {raw} is of invalid format. Must be of format MajorNum.MinorNum.")
    mv = (int(m[1]), int(m[2]))
    if not (2, 1) <= mv <= MAX_MICROVERSION:
        raise ApiError(406, f"Version {raw} is not supported by the API. Minimum is 2.1 and maximum is 2.96.")
    return mv


def filtered(items: list[dict[str, Any]], query: dict[str, str]) -> list[dict[str, Any]]:
    """Equality filters as glance/neutron apply them (`in:a,b` lists too); unknown keys are ignored."""
    for key, want in query.items():
        if key in ("limit", "marker", "sort_key", "sort_dir", "sort", "fields"):
            continue
        wanted = want[3:].split(",") if want.startswith("in:") else [want]
        items = [i for i in items if key not in i or str(i[key]).lower() in (w.lower() for w in wanted)]
    return items


# ---- keystone ----------------------------------------------------------------------------------


def identity_version(c: Ctx) -> dict[str, Any]:
    return {
        "id": "v3.14",
        "status": "stable",
        "updated": "2020-04-07T00:00:00Z",
        "links": [{"rel": "self", "href": f"{c.base}/identity/v3/"}],
        "media-types": [{"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}],
    }


@route("GET", "/identity", auth=False)
def identity_versions(c: Ctx) -> Response:
    return js({"versions": {"values": [identity_version(c)]}})


@route("GET", "/identity/v3", auth=False)
def identity_v3(c: Ctx) -> Response:
    return js({"version": identity_version(c)})


def service_catalog(c: Ctx) -> list[dict[str, Any]]:
    return [
        {
            "type": stype,
            "name": name,
            "id": stable_id(c.p.name, "service", stype),
            "endpoints": [
                {
                    "id": stable_id(c.p.name, stype, iface),
                    "interface": iface,
                    "region": c.p.region,
                    "region_id": c.p.region,
                    "url": c.base + path,
                }
                for iface in ("public", "internal", "admin")
            ],
        }
        for stype, name, path in SERVICES
    ]


def token_body(c: Ctx, t: Token) -> dict[str, Any]:
    cr = c.p.creds
    domain = {"id": cr.domain_id, "name": cr.domain_name}
    token: dict[str, Any] = {
        "methods": t.methods,
        "audit_ids": [t.id[:22]],
        "user": {"domain": domain, "id": cr.user_id, "name": cr.username, "password_expires_at": None},
        "expires_at": iso(t.expires_at, micro=True),
        "issued_at": iso(t.issued_at, micro=True),
    }
    if t.scoped:
        token.update(
            project={"domain": domain, "id": cr.project_id, "name": cr.project_name},
            is_domain=False,
            roles=[{"id": stable_id(c.p.name, "role", r), "name": r} for r in ("member", "reader")],
            catalog=service_catalog(c),
        )
    if "application_credential" in t.methods:
        token["application_credential"] = {"id": cr.app_cred_id, "name": "cloudsim", "restricted": True}
    return {"token": token}


@route("POST", "/identity/v3/auth/tokens", auth=False)
def issue_token(c: Ctx) -> Response:
    token = c.p.authenticate(c.part("auth"))
    return js(token_body(c, token), 201, {"X-Subject-Token": token.id})


def subject_token(c: Ctx) -> Token:
    token = c.p.validate(c.request.headers.get("x-subject-token"))
    if token is None:
        raise ApiError(404, "Could not find token.")
    return token


@route("GET", "/identity/v3/auth/tokens")
def check_token(c: Ctx) -> Response:
    token = subject_token(c)
    return js(token_body(c, token), headers={"X-Subject-Token": token.id})


@route("DELETE", "/identity/v3/auth/tokens")
def revoke_token(c: Ctx) -> Response:
    c.p.revoke(subject_token(c).id)
    return Response(status_code=204)


@route("GET", "/identity/v3/auth/catalog")
def get_catalog(c: Ctx) -> Response:
    return js({"catalog": service_catalog(c)})


@route("GET", "/identity/v3/auth/projects")
def auth_projects(c: Ctx) -> Response:
    cr = c.p.creds
    return js(
        {
            "projects": [
                {
                    "id": cr.project_id,
                    "name": cr.project_name,
                    "domain_id": cr.domain_id,
                    "enabled": True,
                    "is_domain": False,
                    "description": "",
                    "parent_id": cr.domain_id,
                }
            ]
        }
    )


# ---- nova --------------------------------------------------------------------------------------


def compute_version(c: Ctx) -> dict[str, Any]:
    return {
        "id": "v2.1",
        "status": "CURRENT",
        "version": "2.96",
        "min_version": "2.1",
        "updated": "2013-07-23T11:33:21Z",
        "links": [
            {"rel": "self", "href": f"{c.base}/compute/v2.1/"},
            {"rel": "describedby", "type": "text/html", "href": "http://docs.openstack.org/"},
        ],
        "media-types": [{"base": "application/json", "type": "application/vnd.openstack.compute+json;version=2.1"}],
    }


@route("GET", "/compute", auth=False)
def compute_versions(c: Ctx) -> Response:
    return js({"versions": [compute_version(c)]})


@route("GET", "/compute/v2.1", auth=False)
def compute_root(c: Ctx) -> Response:
    return js({"version": compute_version(c)})


def links(c: Ctx, kind: str, rid: str) -> list[dict[str, str]]:
    return [
        {"rel": "self", "href": f"{c.base}/compute/v2.1/{kind}/{rid}"},
        {"rel": "bookmark", "href": f"{c.base}/compute/{kind}/{rid}"},
    ]


def flavor_view(c: Ctx, f: Flavor, detail: bool = True) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": f.id,
        "name": f.name,
        "links": links(c, "flavors", f.id),
        "description": None,
    }
    if detail:
        view.update(
            {
                "vcpus": f.vcpus,
                "ram": f.ram,
                "disk": f.disk,
                "swap": 0,
                "rxtx_factor": 1.0,
                "OS-FLV-EXT-DATA:ephemeral": 0,
                "OS-FLV-DISABLED:disabled": False,
                "os-flavor-access:is_public": True,
            }
        )
        if c.mv >= (2, 61):
            view["extra_specs"] = {}
    return view


@route("GET", "/compute/v2.1/flavors")
def list_flavors(c: Ctx) -> Response:
    return js({"flavors": [flavor_view(c, f, detail=False) for f in flavors_for(c)]})


@route("GET", "/compute/v2.1/flavors/detail")
def list_flavors_detail(c: Ctx) -> Response:
    return js({"flavors": [flavor_view(c, f) for f in flavors_for(c)]})


def flavors_for(c: Ctx) -> list[Flavor]:
    min_ram, min_disk = int(c.query.get("minRam", 0)), int(c.query.get("minDisk", 0))
    return [f for f in c.p.flavors if f.ram >= min_ram and f.disk >= min_disk]


@route("GET", "/compute/v2.1/flavors/{id}")
def get_flavor(c: Ctx) -> Response:
    return js({"flavor": flavor_view(c, c.p.flavor(c.args["id"]))})


@route("GET", "/compute/v2.1/flavors/{id}/os-extra_specs")
def flavor_extra_specs(c: Ctx) -> Response:
    c.p.flavor(c.args["id"])
    return js({"extra_specs": {}})


def server_view(c: Ctx, s: Server, now: float) -> dict[str, Any]:
    """A server as nova shows it at microversion `c.mv` (flavor embedded from 2.47 on)."""
    status = s.status(now)
    vm_state, task_state, power = {
        "BUILD": ("building", "spawning", 0),
        "ACTIVE": ("active", None, 1),
        "ERROR": ("error", None, 0),
        "DELETED": ("active", "deleting", 1),
    }[status]
    f = s.flavor
    flavor = (
        {
            "vcpus": f.vcpus,
            "ram": f.ram,
            "disk": f.disk,
            "ephemeral": 0,
            "swap": 0,
            "original_name": f.name,
            "extra_specs": {},
        }
        if c.mv >= (2, 47)
        else {"id": f.id, "links": links(c, "flavors", f.id)}
    )
    addresses = (
        {}
        if status in ("BUILD", "ERROR")
        else {
            p.network.name: [{"version": 4, "addr": p.ip, "OS-EXT-IPS:type": "fixed", "OS-EXT-IPS-MAC:mac_addr": p.mac}]
            for p in s.ports
        }
    )
    booted = status in ("ACTIVE", "DELETED")
    view: dict[str, Any] = {
        "id": s.id,
        "name": s.name,
        "status": status,
        "tenant_id": c.p.creds.project_id,
        "user_id": c.p.creds.user_id,
        "metadata": dict(s.metadata),
        "hostId": "" if status == "BUILD" else stable_id(c.p.name, "host", s.id[:2]).replace("-", ""),
        "image": {"id": s.image.id, "links": links(c, "images", s.image.id)[1:]} if s.image else "",
        "flavor": flavor,
        "created": iso(s.created_at),
        "updated": iso(s.changed_at(now)),
        "addresses": addresses,
        "accessIPv4": "",
        "accessIPv6": "",
        "links": links(c, "servers", s.id),
        "OS-DCF:diskConfig": "MANUAL",
        "progress": 0,
        "OS-EXT-AZ:availability_zone": "nova",
        "config_drive": "",
        "key_name": s.key_name,
        "OS-SRV-USG:launched_at": iso(s.boot_at) if booted else None,
        "OS-SRV-USG:terminated_at": None,
        "security_groups": [{"name": "default"}] if booted else [],
        "OS-EXT-STS:task_state": task_state,
        "OS-EXT-STS:vm_state": vm_state,
        "OS-EXT-STS:power_state": power,
        "os-extended-volumes:volumes_attached": [],
        "locked": False,
        "locked_reason": None,
        "description": None,
        "tags": [],
        "trusted_image_certificates": None,
        "server_groups": [],
        "pinned_availability_zone": None,
    }
    if status == "ERROR":
        view["fault"] = {
            "code": 500,
            "created": iso(s.boot_at),
            "message": NO_VALID_HOST,
            "details": "nova.exception.NoValidHost",
        }
    return view


@route("POST", "/compute/v2.1/servers")
def create_server(c: Ctx) -> Response:
    s = c.p.create_server(c.part("server"))
    body = {
        "id": s.id,
        "links": links(c, "servers", s.id),
        "OS-DCF:diskConfig": "MANUAL",
        "security_groups": [{"name": "default"}],
        "adminPass": secrets.token_urlsafe(9),
    }
    return js({"server": body}, 202, {"Location": links(c, "servers", s.id)[0]["href"]})


def server_page(c: Ctx, servers: list[Server], detail: str) -> dict[str, Any]:
    now = c.p.clock()
    views = [
        server_view(c, s, now) if detail else {"id": s.id, "name": s.name, "links": links(c, "servers", s.id)}
        for s in servers
    ]
    page: dict[str, Any] = {"servers": views}
    if "limit" in c.query and servers and len(servers) == int(c.query["limit"]):
        page["servers_links"] = [
            {
                "rel": "next",
                "href": f"{c.base}/compute/v2.1/servers{detail}?limit={c.query['limit']}&marker={servers[-1].id}",
            }
        ]
    return page


@route("GET", "/compute/v2.1/servers")
def list_servers(c: Ctx) -> Response:
    return js(server_page(c, c.p.list_servers(c.query), ""))


@route("GET", "/compute/v2.1/servers/detail")
def list_servers_detail(c: Ctx) -> Response:
    return js(server_page(c, c.p.list_servers(c.query), "/detail"))


@route("GET", "/compute/v2.1/servers/{id}")
def get_server(c: Ctx) -> Response:
    return js({"server": server_view(c, c.p.get_server(c.args["id"]), c.p.clock())})


@route("DELETE", "/compute/v2.1/servers/{id}")
def delete_server(c: Ctx) -> Response:
    c.p.delete_server(c.args["id"])
    return Response(status_code=204)


@route("GET", "/compute/v2.1/servers/{id}/metadata")
def get_metadata(c: Ctx) -> Response:
    return js({"metadata": c.p.get_server(c.args["id"]).metadata})


def write_metadata(c: Ctx, replace: bool) -> Response:
    metadata = c.body.get("metadata") if isinstance(c.body, dict) else None
    return js({"metadata": c.p.set_metadata(c.args["id"], metadata, replace)})


route("PUT", "/compute/v2.1/servers/{id}/metadata")(lambda c: write_metadata(c, replace=True))
route("POST", "/compute/v2.1/servers/{id}/metadata")(lambda c: write_metadata(c, replace=False))


@route("GET", "/compute/v2.1/servers/{id}/metadata/{key}")
def get_metadata_item(c: Ctx) -> Response:
    metadata = c.p.get_server(c.args["id"]).metadata
    if c.args["key"] not in metadata:
        raise ApiError(404, "Metadata item was not found")
    return js({"meta": {c.args["key"]: metadata[c.args["key"]]}})


@route("PUT", "/compute/v2.1/servers/{id}/metadata/{key}")
def put_metadata_item(c: Ctx) -> Response:
    meta = c.part("meta")
    if list(meta) != [c.args["key"]]:
        raise ApiError(400, "Request body and URI mismatch")
    c.p.set_metadata(c.args["id"], meta, replace=False)
    return js({"meta": meta})


@route("DELETE", "/compute/v2.1/servers/{id}/metadata/{key}")
def delete_metadata_item(c: Ctx) -> Response:
    c.p.delete_metadata_key(c.args["id"], c.args["key"])
    return Response(status_code=204)


def keypair_view(c: Ctx, kp: Keypair, *extra: str) -> dict[str, Any]:
    """Nova's keypair fields; list shows the basics, create adds user_id, get adds the db fields."""
    view: dict[str, Any] = {
        "name": kp.name,
        "public_key": kp.public_key,
        "fingerprint": kp.fingerprint,
        "type": kp.type,
    }
    more = {
        "user_id": c.p.creds.user_id,
        "private_key": kp.private_key,
        "id": kp.id,
        "created_at": iso(kp.created_at),
        "deleted": False,
        "deleted_at": None,
        "updated_at": None,
    }
    return view | {key: more[key] for key in extra}


@route("GET", "/compute/v2.1/os-keypairs")
def list_keypairs(c: Ctx) -> Response:
    return js({"keypairs": [{"keypair": keypair_view(c, kp)} for kp in c.p.keypairs.values()]})


@route("POST", "/compute/v2.1/os-keypairs")
def create_keypair(c: Ctx) -> Response:
    spec = c.part("keypair")
    # Server-side key generation (no public_key) was removed in microversion 2.92.
    kp = c.p.create_keypair(spec.get("name"), spec.get("public_key"), spec.get("type", "ssh"), generate=c.mv < (2, 92))
    extra = ("user_id", "private_key") if kp.private_key else ("user_id",)
    return js({"keypair": keypair_view(c, kp, *extra)}, 201 if c.mv >= (2, 2) else 200)


@route("GET", "/compute/v2.1/os-keypairs/{name}")
def get_keypair(c: Ctx) -> Response:
    kp = c.p.get_keypair(c.args["name"])
    fields = ("user_id", "id", "created_at", "deleted", "deleted_at", "updated_at")
    return js({"keypair": keypair_view(c, kp, *fields)})


@route("DELETE", "/compute/v2.1/os-keypairs/{name}")
def delete_keypair(c: Ctx) -> Response:
    c.p.delete_keypair(c.args["name"])
    return Response(status_code=204 if c.mv >= (2, 2) else 202)


@route("GET", "/compute/v2.1/limits")
def limits(c: Ctx) -> Response:
    return js({"limits": {"absolute": c.p.limits(), "rate": []}})


@route("GET", "/compute/v2.1/os-availability-zone")
def availability_zones(c: Ctx) -> Response:
    return js({"availabilityZoneInfo": [{"zoneName": "nova", "zoneState": {"available": True}, "hosts": None}]})


@route("GET", "/compute/v2.1/extensions")
def compute_extensions(c: Ctx) -> Response:
    return js({"extensions": []})


# ---- glance ------------------------------------------------------------------------------------


def glance_versions(c: Ctx) -> Response:
    return js(
        {
            "versions": [
                {
                    "id": "v2.16",
                    "status": "CURRENT",
                    "links": [{"rel": "self", "href": f"{c.base}/image/v2/"}],
                }
            ]
        }
    )


route("GET", "/image", auth=False)(glance_versions)
route("GET", "/image/versions", auth=False)(glance_versions)


def image_view(c: Ctx, i: Image) -> dict[str, Any]:
    return {
        "id": i.id,
        "name": i.name,
        "status": "active",
        "visibility": "public",
        "protected": False,
        "os_hidden": False,
        "disk_format": "qcow2",
        "container_format": "bare",
        "min_disk": i.min_disk,
        "min_ram": 0,
        "size": 2_361_393_152,
        "virtual_size": None,
        "checksum": stable_id(i.id, "md5").replace("-", ""),
        "owner": stable_id(c.p.name, "owner").replace("-", ""),
        "os_distro": i.os_distro,
        "os_version": i.os_version,
        "architecture": "x86_64",
        "tags": [],
        "created_at": iso(EPOCH),
        "updated_at": iso(EPOCH),
        "self": f"/v2/images/{i.id}",
        "file": f"/v2/images/{i.id}/file",
        "schema": "/v2/schemas/image",
    }


@route("GET", "/image/v2/images")
def list_images(c: Ctx) -> Response:
    images = filtered([image_view(c, i) for i in c.p.images], c.query)
    return js({"images": images, "first": "/v2/images", "schema": "/v2/schemas/images"})


@route("GET", "/image/v2/images/{id}")
def get_image(c: Ctx) -> Response:
    try:
        return js(image_view(c, c.p.image(c.args["id"])))
    except ApiError:
        raise ApiError(404, f"No image found with ID {c.args['id']}") from None


# ---- neutron -----------------------------------------------------------------------------------


@route("GET", "/network", auth=False)
def neutron_versions(c: Ctx) -> Response:
    return js(
        {
            "versions": [
                {
                    "id": "v2.0",
                    "status": "CURRENT",
                    "links": [{"rel": "self", "href": f"{c.base}/network/v2.0/"}],
                }
            ]
        }
    )


@route("GET", "/network/v2.0", auth=False)
def neutron_resources(c: Ctx) -> Response:
    return js(
        {
            "resources": [
                {
                    "name": n[:-1],
                    "collection": n,
                    "links": [{"rel": "self", "href": f"{c.base}/network/v2.0/{n}"}],
                }
                for n in ("networks", "subnets", "ports")
            ]
        }
    )


def owned(c: Ctx, **fields: Any) -> dict[str, Any]:
    pid = c.p.creds.project_id
    return {
        "tenant_id": pid,
        "project_id": pid,
        "description": "",
        "tags": [],
        "revision_number": 1,
        "created_at": iso(EPOCH),
        "updated_at": iso(EPOCH),
        **fields,
    }


def network_view(c: Ctx, n: Network) -> dict[str, Any]:
    return owned(
        c,
        id=n.id,
        name=n.name,
        status="ACTIVE",
        admin_state_up=True,
        shared=False,
        subnets=[n.subnet_id],
        mtu=1500,
        availability_zones=["nova"],
        port_security_enabled=True,
        is_default=False,
        ipv4_address_scope=None,
        ipv6_address_scope=None,
        **{"router:external": False},
    )


def subnet_view(c: Ctx, n: Network) -> dict[str, Any]:
    prefix = n.cidr.rsplit(".", 1)[0]
    return owned(
        c,
        id=n.subnet_id,
        name=f"{n.name}-subnet",
        network_id=n.id,
        cidr=n.cidr,
        ip_version=4,
        gateway_ip=f"{prefix}.1",
        enable_dhcp=True,
        dns_nameservers=[],
        host_routes=[],
        allocation_pools=[{"start": f"{prefix}.2", "end": f"{prefix}.254"}],
        subnetpool_id=None,
        ipv6_ra_mode=None,
        ipv6_address_mode=None,
    )


def port_views(c: Ctx) -> list[dict[str, Any]]:
    return [
        owned(
            c,
            id=stable_id(s.id, p.network.id),
            name="",
            network_id=p.network.id,
            device_id=s.id,
            device_owner="compute:nova",
            mac_address=p.mac,
            status="ACTIVE",
            admin_state_up=True,
            fixed_ips=[{"subnet_id": p.network.subnet_id, "ip_address": p.ip}],
            security_groups=[],
        )
        for s in c.p.live_servers()
        for p in s.ports
    ]


def security_group_views(c: Ctx) -> list[dict[str, Any]]:
    return [owned(c, id=stable_id(c.p.name, "secgroup"), name="default", security_group_rules=[], stateful=True)]


NEUTRON: dict[str, Callable[[Ctx], list[dict[str, Any]]]] = {
    "networks": lambda c: [network_view(c, n) for n in c.p.networks],
    "subnets": lambda c: [subnet_view(c, n) for n in c.p.networks],
    "ports": port_views,
    "security-groups": security_group_views,
    "floatingips": lambda c: [],
    "routers": lambda c: [],
    "extensions": lambda c: [],
}


def neutron_list(collection: str) -> Handler:
    def handler(c: Ctx) -> Response:
        items = filtered(NEUTRON[collection](c), c.query)
        if "fields" in c.query:
            keep = set(c.request.query_params.getlist("fields"))
            items = [{k: v for k, v in i.items() if k in keep} for i in items]
        return js({collection.replace("-", "_"): items})

    return handler


def neutron_get(collection: str) -> Handler:
    def handler(c: Ctx) -> Response:
        for item in NEUTRON[collection](c):
            if item["id"] == c.args["id"]:
                return js({collection.replace("-", "_")[:-1]: item})
        raise ApiError(404, f"{collection[:-1].capitalize()} {c.args['id']} could not be found.")

    return handler


for _collection in NEUTRON:
    route("GET", f"/network/v2.0/{_collection}")(neutron_list(_collection))
    route("GET", f"/network/v2.0/{_collection}/{{id}}")(neutron_get(_collection))


# ---- dispatch ----------------------------------------------------------------------------------


class Sim:
    """The running simulator: providers plus the asyncio events that release hung calls."""

    def __init__(self, providers: dict[str, Provider]) -> None:
        self.providers = providers
        self.unhung = {name: asyncio.Event() for name in providers}
        for name in providers:
            self.sync_hang(name)

    def sync_hang(self, name: str) -> None:
        if self.providers[name].faults.get("hang"):
            self.unhung[name].clear()
        else:
            self.unhung[name].set()

    def set_faults(self, name: str, update: dict[str, Any]) -> dict[str, Any]:
        faults = self.providers[name].set_faults(update)
        self.sync_hang(name)
        return faults

    def reset(self, name: str) -> None:
        self.providers[name].reset()
        self.sync_hang(name)

    async def gate(self, p: Provider) -> None:
        """Hang (await, never block the loop) and added latency, before anything else happens."""
        while p.faults.get("hang"):
            await self.unhung[p.name].wait()
        if latency := p.faults.get("latency_ms"):
            await asyncio.sleep(latency / 1000)

    async def call(self, request: Request) -> Response:
        """One OpenStack API call: count it, pass the fault gate, answer in the service's shapes."""
        name = request.path_params["provider"]
        p = self.providers.get(name)
        if p is None:
            return js(error_body("", 404, f"No provider {name}; known: {sorted(self.providers)}"), 404)
        path = "/" + request.path_params.get("rest", "").strip("/")
        service = path.split("/")[1]
        r, args, other_method = find_route(request.method, path)
        p.api_calls[f"{request.method} {r.key if r else path}"] += 1
        await self.gate(p)
        mv = (0, 0)
        try:
            if p.faults.get("maintenance"):
                raise ApiError(503, f"The server is currently unavailable ({name} is down for maintenance).")
            if service == "compute":
                mv = microversion(request)
            if r is None:
                raise ApiError(405 if other_method else 404, "The resource could not be found.")
            response = await self.handle(request, p, r, args, service, mv)
        except ApiError as e:
            auth_hint = {"WWW-Authenticate": f'Keystone uri="{request.base_url}{name}/identity"'}
            response = js(error_body(service, e.code, e.message), e.code, auth_hint if e.code == 401 else None)
        if mv != (0, 0):  # nova echoes the microversion it served
            version = f"{mv[0]}.{mv[1]}"
            response.headers["OpenStack-API-Version"] = f"compute {version}"
            response.headers["X-OpenStack-Nova-API-Version"] = version
            response.headers["Vary"] = "OpenStack-API-Version, X-OpenStack-Nova-API-Version"
        return response

    async def handle(
        self,
        request: Request,
        p: Provider,
        r: ApiRoute,
        args: dict[str, str],
        service: str,
        mv: tuple[int, int],
    ) -> Response:
        token = None
        if r.auth:  # version documents and POST /auth/tokens are public
            token = p.validate(request.headers.get("x-auth-token"))
            if token is None:
                raise ApiError(401, UNAUTHORIZED)
            if service != "identity" and p.draw_api_error():
                raise ApiError(500, API_ERROR)
        body = None
        if request.method in ("POST", "PUT", "PATCH"):
            raw = await request.body()
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                raise ApiError(400, "Malformed request body") from None
        base = f"{str(request.base_url).rstrip('/')}/{p.name}"
        return r.handler(Ctx(request, p, args, dict(request.query_params), body, base, mv, token))

    # ---- control plane (/_sim) ----

    def provider(self, request: Request) -> Provider:
        name = request.path_params["name"]
        if name not in self.providers:
            raise ApiError(404, f"No provider {name}")
        return self.providers[name]

    async def index(self, request: Request) -> Response:
        return js({"providers": sorted(self.providers), "state": "/_sim/state"})

    async def control(self, request: Request) -> Response:
        try:
            return await self._control(request)
        except ApiError as e:
            return js({"error": e.message}, e.code)
        except ValueError as e:
            return js({"error": str(e)}, 400)

    async def _control(self, request: Request) -> Response:
        action = request.url.path.rstrip("/").rsplit("/", 1)[-1]
        raw = await request.body()
        body = json.loads(raw) if raw else {}
        if not isinstance(body, dict):
            raise ValueError("expected a JSON object")
        if action == "state":
            now = iso(time.time(), micro=True)
            return js({"providers": {n: p.snapshot() for n, p in self.providers.items()}, "time": now})
        if action == "reset":
            names = [self.provider(request).name] if "name" in request.path_params else list(self.providers)
            for n in names:
                self.reset(n)
            return js({"reset": names})
        p = self.provider(request)
        if action == "faults":
            faults = self.set_faults(p.name, body) if request.method == "POST" else dict(p.faults)
            return js({"provider": p.name, "faults": faults})
        if action != "servers":
            raise ApiError(404, f"No control action {action}")
        s = p.plant_server(str(body.get("name", "planted")), body.get("metadata"), body.get("status", "ACTIVE"))
        return js({"id": s.id, "name": s.name, "status": s.status(p.clock()), "metadata": s.metadata}, 201)


def create_app(sim: Sim) -> Starlette:
    methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
    return Starlette(
        routes=[
            Route("/", sim.index, methods=["GET"]),
            Route("/_sim/state", sim.control, methods=["GET"]),
            Route("/_sim/reset", sim.control, methods=["POST"]),
            Route("/_sim/providers/{name}/{action:str}", sim.control, methods=["GET", "POST"]),
            Route("/{provider}/{rest:path}", sim.call, methods=methods),
            Route("/{provider}", sim.call, methods=methods),
        ]
    )
