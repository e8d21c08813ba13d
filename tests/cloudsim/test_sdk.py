"""Unmodified openstacksdk against the simulator: servers, keypairs, inventory, limits, auth, errors."""

from __future__ import annotations

import base64
import time

import httpx
import openstack
import pytest
from openstack import exceptions as sdk_exc

from local.cloudsim.runner import CloudSim
from tests.cloudsim.conftest import resolve_server_attrs

PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl test@cloudsim"


def boot(conn, name: str = "vm", **extra):
    """Create a server on the first image, >=1 GB flavor and network of the provider (no wait)."""
    return conn.compute.create_server(name=name, **{**resolve_server_attrs(conn), **extra})


def test_server_lifecycle(cloudsim: CloudSim, connect) -> None:
    """GIVEN sim-1 and an imported keypair
    WHEN a server is created with image, flavor, network, metadata, key_name and user_data, waited for,
    listed, fetched and deleted with the SDK
    THEN it goes BUILD -> ACTIVE with an IPv4 on the named network, and ground truth follows every step."""
    conn = connect("sim-1")
    keypair = conn.compute.create_keypair(name="deployer", public_key=PUBLIC_KEY)
    assert keypair.fingerprint.count(":") == 15
    assert [k.name for k in conn.compute.keypairs()] == ["deployer"]

    server = boot(
        conn,
        "web-1",
        metadata={"oms:lease": "l-1"},
        key_name="deployer",
        user_data=base64.b64encode(b"#cloud-config\n").decode(),
    )
    assert conn.compute.get_server(server.id).status == "BUILD"
    server = conn.compute.wait_for_server(server, interval=0.1, wait=10)

    assert server.status == "ACTIVE"
    assert server.metadata == {"oms:lease": "l-1"}
    assert server.key_name == "deployer"
    assert server.flavor.original_name == "m1.small" and server.flavor.vcpus == 1  # 2.47+ embedded flavor
    [address] = server.addresses["private"]
    assert address["version"] == 4 and address["addr"].startswith("10.1.")
    assert [s.name for s in conn.compute.servers()] == ["web-1"]
    assert conn.compute.find_server("web-1").id == server.id

    truth = cloudsim.provider_state("sim-1")
    assert [(s["name"], s["status"], s["metadata"]) for s in truth["servers"]] == [
        ("web-1", "ACTIVE", {"oms:lease": "l-1"})
    ]
    assert truth["servers"][0]["flavor"] == "m1.small" and truth["servers"][0]["image"] == "Ubuntu 22.04"

    conn.compute.delete_server(server)
    # The SDK's wait_for_delete already returns on status DELETED; nova 404s a moment later.
    conn.compute.wait_for_delete(server, interval=0.05, wait=5)
    time.sleep(0.1)
    with pytest.raises(sdk_exc.NotFoundException):
        conn.compute.get_server(server.id)
    truth = cloudsim.provider_state("sim-1")
    assert truth["servers"] == [] and truth["peak_servers"] == 1
    calls = truth["api_calls"]
    assert calls["POST /servers"] == 1 and calls["DELETE /servers/{id}"] == 1 and calls["GET /servers/{id}"] >= 3
    assert calls["POST /os-keypairs"] == 1 and truth["auth_calls"] >= 1


def test_connect_by_cloud_name_from_clouds_yaml(cloudsim: CloudSim, monkeypatch) -> None:
    """GIVEN OS_CLIENT_CONFIG_FILE pointing at the written clouds.yaml
    WHEN openstack.connect(cloud="sim-3") is used as any tool would
    THEN it authenticates against sim-3 and sees sim-3's inventory."""
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(cloudsim.clouds_yaml))
    assert set(cloudsim.clouds) == {f"sim-{i}" for i in range(1, 7)}
    assert cloudsim.clouds["sim-3"]["auth"]["auth_url"] == f"{cloudsim.url}/sim-3/identity/v3"
    conn = openstack.connect(cloud="sim-3")
    try:
        assert "2C-4GB" in {f.name for f in conn.compute.flavors()}
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("cloud", "flavors", "images", "networks"),
    [
        (
            "sim-1",
            ["m1.tiny", "m1.small", "m1.medium", "m1.large"],
            ["Ubuntu 22.04", "Debian 12", "CirrOS 0.6.2"],
            ["private"],
        ),
        (
            "sim-2",
            ["s1-2", "s1-4", "s1-8", "b2-7", "b2-15"],
            ["ubuntu-22.04-x86_64", "debian-12-genericcloud-amd64"],
            ["Ext-Net", "private-vrack"],
        ),
        (
            "sim-3",
            ["1C-1GB", "1C-2GB", "2C-4GB", "4C-8GB"],
            ["Ubuntu-Jammy-Server", "Debian-Bookworm", "Rocky-9"],
            ["public"],
        ),
        (
            "sim-4",
            ["m1.tiny", "m1.small", "m1.medium", "m1.large"],
            ["Ubuntu 22.04", "Debian 12", "CirrOS 0.6.2"],
            ["private", "shared"],
        ),
    ],
)
def test_inventory_differs_per_provider(connect, cloud, flavors, images, networks) -> None:
    """GIVEN providers of different styles
    WHEN flavors, images and networks are listed with the SDK
    THEN names differ per provider, yet each has Ubuntu + Debian and the three size classes;
    even-indexed providers have two networks."""
    conn = connect(cloud)
    listed = list(conn.compute.flavors())
    assert [f.name for f in listed] == flavors
    for vcpus, ram in ((1, 1024), (2, 4096), (4, 8192)):
        assert any(f.vcpus >= vcpus and f.ram >= ram for f in listed)
    assert [i.name for i in conn.image.images()] == images
    assert {i.os_distro for i in conn.image.images()} >= {"ubuntu", "debian"}
    assert conn.image.find_image(images[1]).name == images[1]
    assert [n.name for n in conn.network.networks()] == networks
    assert conn.compute.find_flavor(flavors[-1]).name == flavors[-1]


def test_limits_report_quota_and_usage(connect) -> None:
    """GIVEN quota 20 and one server
    WHEN the SDK reads limits
    THEN instances/cores/RAM show quota (cores x4, RAM x8192) and current usage."""
    conn = connect("sim-1")
    boot(conn)
    absolute = conn.compute.get_limits().absolute
    assert (absolute.instances, absolute.instances_used) == (20, 1)
    assert (absolute.total_cores, absolute.total_cores_used) == (80, 1)
    assert (absolute.total_ram, absolute.total_ram_used) == (20 * 8192, 2048)


def test_cloud_layer_create_server_wait() -> None:
    """GIVEN the cloud layer of the SDK (names instead of ids) and instant boots
    WHEN conn.create_server(..., wait=True) and conn.delete_server(..., wait=True) are used
    THEN the server comes back ACTIVE with addresses and is then gone."""
    # The cloud layer polls every min(5, timeout) s, so a 0.3 s boot would cost 5 s here: boot instantly.
    with CloudSim(providers=2, boot_seconds=0) as instant:
        conn = instant.connect("sim-2")
        server = conn.create_server(
            "cloud-layer",
            image="debian-12-genericcloud-amd64",
            flavor="s1-4",
            network="Ext-Net",
            wait=True,
            timeout=20,
            auto_ip=False,
        )
        assert server.status == "ACTIVE" and "Ext-Net" in server.addresses
        assert conn.delete_server(server.id, wait=True, timeout=10)
        assert instant.provider_state("sim-2")["servers"] == []
        conn.close()


def test_multiple_networks_need_explicit_choice(connect) -> None:
    """GIVEN sim-2 with two networks
    WHEN a server is created without networks (or "auto")
    THEN nova's 409 ConflictException; with "none" or an explicit network it is accepted."""
    conn = connect("sim-2")
    for networks in ({}, {"networks": "auto"}):
        with pytest.raises(sdk_exc.ConflictException) as err:
            boot(conn, **networks) if networks else conn.compute.create_server(
                name="x", image_id=next(conn.image.images()).id, flavor_id=next(conn.compute.flavors()).id
            )
        assert err.value.status_code == 409
        assert "Multiple possible networks found" in str(err.value)
    assert boot(conn, networks="none").id
    assert boot(conn).id


def test_invalid_create_requests(connect) -> None:
    """GIVEN sim-1
    WHEN create references a missing keypair, flavor, image or network, or bad user_data
    THEN 400 BadRequestException like nova; unknown servers are 404 NotFoundException."""
    conn = connect("sim-1")
    image, flavor = next(conn.image.images()), next(conn.compute.flavors())
    good = {"name": "x", "image_id": image.id, "flavor_id": flavor.id}
    for bad in (
        {"key_name": "nope"},
        {"flavor_id": "nope"},
        {"image_id": "nope"},
        {"networks": [{"uuid": "nope"}]},
        {"user_data": "not base64!"},
    ):
        with pytest.raises(sdk_exc.BadRequestException):
            conn.compute.create_server(**{**good, **bad})
    with pytest.raises(sdk_exc.NotFoundException):
        conn.compute.get_server("00000000-0000-0000-0000-000000000000")
    assert conn.compute.find_server("missing") is None
    with pytest.raises(sdk_exc.ConflictException):
        for _ in range(2):
            conn.compute.create_keypair(name="dup", public_key=PUBLIC_KEY)


def test_metadata_and_generated_keypair(connect) -> None:
    """GIVEN a server
    WHEN metadata is set, merged and deleted; and a keypair is created without public key (2.10)
    THEN the server metadata follows and nova generates a key pair with a private key."""
    conn = connect("sim-1")
    server = boot(conn, metadata={"a": "1"})
    conn.compute.set_server_metadata(server, b="2")
    assert conn.compute.fetch_server_metadata(server).metadata == {"a": "1", "b": "2"}
    conn.compute.delete_server_metadata(server, ["a"])
    assert conn.compute.get_server(server.id).metadata == {"b": "2"}
    generated = conn.compute.create_keypair(name="gen")
    assert generated.private_key and generated.public_key.startswith("ssh-rsa ")
    conn.compute.delete_keypair("gen")
    assert conn.compute.find_keypair("gen") is None


def test_list_filters_and_pagination(cloudsim: CloudSim, connect) -> None:
    """GIVEN three servers and a planted one in ERROR
    WHEN listing with name regex, status and a page size of 1
    THEN filters apply like nova and the SDK pages through all servers via markers (newest first)."""
    conn = connect("sim-1")
    cloudsim.plant_server("sim-1", "broken", status="ERROR")
    for name in ("web-1", "web-2", "db-1"):
        boot(conn, name)
    assert sorted(s.name for s in conn.compute.servers(name="^web")) == ["web-1", "web-2"]
    [broken] = conn.compute.servers(status="ERROR")
    assert broken.name == "broken" and broken.fault["message"].startswith("No valid host was found")
    assert [s.name for s in conn.compute.servers(limit=1, paginated=True)] == [
        "db-1",
        "web-2",
        "web-1",
        "broken",
    ]


def test_deleted_servers_linger_briefly_and_hold_quota(cloudsim: CloudSim, connect, server_attrs) -> None:
    """GIVEN quota lowered to 1 and one server
    WHEN it is deleted
    THEN it shows DELETED and still counts toward quota for a moment, then 404 and the quota frees up."""
    conn = connect("sim-5")
    attrs = server_attrs(conn)  # resolved up front: the delete window is only min(0.2, 0.3 / 5) = 0.06 s
    cloudsim.fault("sim-5", quota=1)
    server = conn.compute.create_server(name="a", **attrs)
    conn.compute.delete_server(server)
    assert conn.compute.get_server(server.id).status == "DELETED"
    with pytest.raises(sdk_exc.ForbiddenException):
        conn.compute.create_server(name="b", **attrs)
    time.sleep(0.1)
    with pytest.raises(sdk_exc.NotFoundException):
        conn.compute.get_server(server.id)
    assert conn.compute.create_server(name="c", **attrs).id


def test_planted_orphan_is_visible(cloudsim: CloudSim, connect) -> None:
    """GIVEN a server planted behind the API's back (an orphan)
    WHEN the provider is listed with the SDK
    THEN it is there, ACTIVE, with its metadata, and counts toward usage."""
    planted = cloudsim.plant_server("sim-1", "orphan-1", {"oms:lease": "gone"})
    conn = connect("sim-1")
    [server] = conn.compute.servers()
    assert (server.id, server.status, server.metadata) == (planted["id"], "ACTIVE", {"oms:lease": "gone"})
    assert conn.compute.get_limits().absolute.instances_used == 1


def auth_body(cloud: dict, **override) -> dict:
    auth = cloud["auth"]
    user = {"name": auth["username"], "domain": {"name": "Default"}, "password": auth["password"], **override}
    return {
        "auth": {
            "identity": {"methods": ["password"], "password": {"user": user}},
            "scope": {"project": {"name": auth["project_name"], "domain": {"name": "Default"}}},
        }
    }


def test_keystone_tokens_and_application_credentials(cloudsim: CloudSim) -> None:
    """GIVEN sim-1's keystone
    WHEN authenticating with password, wrong password, application credential; validating; calling nova
    THEN 201 + X-Subject-Token + catalog; 401 keystone error shape; tokens are per provider."""
    cloud, base = cloudsim.clouds["sim-1"], f"{cloudsim.url}/sim-1"
    with httpx.Client() as http:
        ok = http.post(f"{base}/identity/v3/auth/tokens", json=auth_body(cloud))
        assert ok.status_code == 201
        token = ok.headers["X-Subject-Token"]
        body = ok.json()["token"]
        assert body["project"]["name"] == "project-sim-1" and body["expires_at"].endswith("Z")
        assert {e["type"] for e in body["catalog"]} >= {"compute", "image", "network"}
        compute = next(e for e in body["catalog"] if e["type"] == "compute")
        assert {(e["interface"], e["region_id"]) for e in compute["endpoints"]} >= {("public", "RegionOne")}

        bad = http.post(f"{base}/identity/v3/auth/tokens", json=auth_body(cloud, password="wrong"))
        assert bad.status_code == 401 and bad.json()["error"]["title"] == "Unauthorized"

        creds = cloudsim.provider_state("sim-1")["credentials"]
        app = {
            "auth": {
                "identity": {
                    "methods": ["application_credential"],
                    "application_credential": {
                        "id": creds["application_credential_id"],
                        "secret": creds["application_credential_secret"],
                    },
                }
            }
        }
        assert http.post(f"{base}/identity/v3/auth/tokens", json=app).status_code == 201

        check = http.get(f"{base}/identity/v3/auth/tokens", headers={"X-Auth-Token": token, "X-Subject-Token": token})
        assert check.status_code == 200
        assert http.get(f"{base}/compute/v2.1/servers", headers={"X-Auth-Token": token}).status_code == 200
        other = http.get(f"{cloudsim.url}/sim-2/compute/v2.1/servers", headers={"X-Auth-Token": token})
        assert other.status_code == 401 and other.json()["error"]["code"] == 401
        assert http.get(f"{base}/compute/v2.1/servers").status_code == 401


def test_tokens_expire_after_ttl() -> None:
    """GIVEN a simulator with --token-ttl 0.5
    WHEN a token is used after 0.5 s
    THEN nova answers 401 (and the SDK would re-authenticate)."""
    with CloudSim(providers=1, extra_args=["--token-ttl", "0.5"]) as short:
        base = f"{short.url}/sim-1"
        with httpx.Client() as http:
            token = http.post(f"{base}/identity/v3/auth/tokens", json=auth_body(short.clouds["sim-1"]))
            headers = {"X-Auth-Token": token.headers["X-Subject-Token"]}
            assert http.get(f"{base}/compute/v2.1/flavors", headers=headers).status_code == 200
            time.sleep(0.6)
            assert http.get(f"{base}/compute/v2.1/flavors", headers=headers).status_code == 401


def test_versions_microversions_and_error_shapes(cloudsim: CloudSim) -> None:
    """GIVEN raw HTTP
    WHEN version documents, microversioned calls and unknown routes are requested
    THEN nova 2.96 version docs, echoed microversion headers and real 404 bodies."""
    cloud, base = cloudsim.clouds["sim-1"], f"{cloudsim.url}/sim-1"
    with httpx.Client() as http:
        token = http.post(f"{base}/identity/v3/auth/tokens", json=auth_body(cloud)).headers["X-Subject-Token"]
        root = http.get(f"{base}/compute/v2.1").json()["version"]
        assert (root["version"], root["min_version"]) == ("2.96", "2.1")
        assert http.get(f"{base}/compute/").json()["versions"][0]["version"] == "2.96"
        assert http.get(f"{base}/identity/v3").json()["version"]["id"].startswith("v3")
        headers = {
            "X-Auth-Token": token,
            "OpenStack-API-Version": "compute 2.61",
            "X-OpenStack-Nova-API-Version": "2.61",
        }
        resp = http.get(f"{base}/compute/v2.1/flavors/detail", headers=headers)
        assert resp.headers["OpenStack-API-Version"] == "compute 2.61"
        assert resp.headers["X-OpenStack-Nova-API-Version"] == "2.61"
        assert "extra_specs" in resp.json()["flavors"][0]
        missing = http.get(f"{base}/compute/v2.1/no-such-thing", headers=headers)
        assert missing.status_code == 404 and missing.json()["itemNotFound"]["code"] == 404
        too_new = http.get(
            f"{base}/compute/v2.1/servers", headers={**headers, "OpenStack-API-Version": "compute 2.200"}
        )
        assert too_new.status_code == 406
