"""/v1/providers and /v1/capacity over HTTP on the local stack."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.conftest import wait_request
from tests.integration.conftest_api import aliases_for, clone, clouds_yaml, finished, forget_provider, unique

__all__ = ["clone"]  # the fixture, imported for pytest


def simulated_provider_body(sim: Any, name: str, source: str = "sim-1", **extra: Any) -> dict[str, Any]:
    cloud = sim.clouds[source]
    auth = cloud["auth"]
    return {
        "name": name,
        "auth_url": auth["auth_url"],
        "region_name": cloud.get("region_name"),
        "project_name": auth["project_name"],
        "user_domain_name": auth["user_domain_name"],
        "project_domain_name": auth["project_domain_name"],
        "username": auth["username"],
        "password": auth["password"],
        "image_aliases": aliases_for(sim, source),
        **extra,
    }


def test_register_get_list_and_delete_a_provider(api: httpx.Client, sim: Any) -> None:
    # GIVEN a provider body with username/password for a simulated cloud
    name = unique("reg")
    body = simulated_provider_body(sim, name, max_instances=7)
    # WHEN it is registered
    created = api.post("/v1/providers", json=body)
    try:
        # THEN 201; the check ran (flavors known, cap = min(7, nova 20)); no credential comes back
        assert created.status_code == 201, created.text
        out = created.json()
        assert out["name"] == name and out["has_credentials"] is True and out["enabled"] is True
        assert out["max_instances"] == 7 and out["nova_max_instances"] == 20
        assert out["flavors"] and out["image_aliases"] == body["image_aliases"]
        assert "password" not in out and "username" not in out and body["password"] not in created.text
        # AND it can be read and is listed
        assert api.get(f"/v1/providers/{name}").json() == out
        assert name in [p["name"] for p in api.get("/v1/providers").json()["items"]]
        assert next(c for c in api.get("/v1/capacity").json()["items"] if c["provider"] == name)["max"] == 7
        # AND registering the same name again is a conflict
        again = api.post("/v1/providers", json=body)
        assert again.status_code == 409 and name in again.json()["message"]
    finally:
        # WHEN deleted  THEN 200 with what it was, and it is gone
        deleted = api.delete(f"/v1/providers/{name}")
    assert deleted.status_code == 200 and deleted.json()["name"] == name
    assert api.get(f"/v1/providers/{name}").status_code == 404
    assert api.delete(f"/v1/providers/{name}").status_code == 404


def test_application_credentials_select_their_auth_type(api: httpx.Client) -> None:
    # GIVEN an application credential instead of a password (the cloud is unreachable: port 9)
    name = unique("appcred")
    created = api.post(
        "/v1/providers",
        json={
            "name": name,
            "auth_url": "http://127.0.0.1:9/identity/v3",
            "application_credential_id": "abc",
            "application_credential_secret": "app-secret-xyz",
        },
    )
    try:
        # THEN it is registered for the v3applicationcredential plugin; the failed check shows in health
        assert created.status_code == 201, created.text
        assert created.json()["auth_type"] == "v3applicationcredential"
        assert created.json()["has_credentials"] is True
        assert created.json()["health"]["failures"] == 1
        assert "app-secret-xyz" not in created.text
    finally:
        forget_provider(api, name)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": "has space"}, "name"),
        ({"name": ""}, "name"),
        ({"auth_url": "ftp://x/v3"}, "auth_url"),
        ({"auth_url": "not a url"}, "auth_url"),
        ({"interface": "private"}, "interface"),
        ({"max_instances": -1}, "max_instances"),
        ({"enabled": "yes please"}, "enabled"),
        ({"image_aliases": {"ubuntu": ""}}, "image_aliases.ubuntu"),
        ({"password": None}, "password"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_invalid_provider_bodies_are_422_naming_the_field(
    api: httpx.Client, change: dict[str, Any], field: str
) -> None:
    # GIVEN an otherwise valid body with one bad field  WHEN registered
    body = {"name": unique("bad"), "auth_url": "http://127.0.0.1:9/v3", **change}
    response = api.post("/v1/providers", json=body)
    # THEN 422 naming that field, and nothing was created
    assert response.status_code == 422, response.text
    assert field in [d["field"] for d in response.json()["details"]], response.json()
    assert response.json()["message"].startswith(field)
    if body["name"]:
        assert api.get(f"/v1/providers/{body['name']}").status_code in (404, 422)


def test_half_a_credential_is_refused(api: httpx.Client) -> None:
    response = api.post(
        "/v1/providers", json={"name": unique("half"), "auth_url": "http://127.0.0.1:9/v3", "username": "u"}
    )
    assert response.status_code == 422
    assert "username and password go together" in response.json()["message"]


def test_patch_enables_caps_and_aliases_and_moves_the_ledger_cap(api: httpx.Client, clone: Callable[..., str]) -> None:
    # GIVEN a clone of sim-2 (nova limit 20)
    name = clone("sim-2")

    def cap() -> int:
        return next(c for c in api.get("/v1/capacity").json()["items"] if c["provider"] == name)["max"]

    assert cap() == 20
    # WHEN max_instances is set  THEN the ledger cap follows at once
    patched = api.patch(f"/v1/providers/{name}", json={"max_instances": 5})
    assert patched.status_code == 200 and patched.json()["max_instances"] == 5
    assert cap() == 5
    # WHEN it is cleared with null  THEN Nova's limit rules again
    assert api.patch(f"/v1/providers/{name}", json={"max_instances": None}).json()["max_instances"] is None
    assert cap() == 20
    # WHEN disabled  THEN it is skipped by placement and offers no free capacity
    assert api.patch(f"/v1/providers/{name}", json={"enabled": False}).json()["enabled"] is False
    plan = api.post("/v1/requests", json={"count": 1, "image": "ubuntu", "providers": [name], "dry_run": True}).json()
    assert plan["placed"] == 0 and plan["skipped"] == {name: "disabled"}
    assert next(c for c in api.get("/v1/capacity").json()["items"] if c["provider"] == name)["free"] == 0
    # WHEN re-enabled with a new alias  THEN only the sent fields changed
    out = api.patch(f"/v1/providers/{name}", json={"enabled": True, "image_aliases": {"ubuntu": "Ubuntu 22.04"}})
    assert out.json()["enabled"] is True and out.json()["image_aliases"] == {"ubuntu": "Ubuntu 22.04"}
    assert out.json()["has_credentials"] is True and out.json()["auth_url"].endswith("/identity/v3")
    # AND null is refused where it means nothing; unknown providers are 404
    refused = api.patch(f"/v1/providers/{name}", json={"enabled": None})
    assert refused.status_code == 422 and refused.json()["details"][0]["field"] == "enabled"
    assert api.patch("/v1/providers/no-such-provider", json={"enabled": True}).status_code == 404


def test_patch_with_new_credentials_replaces_the_secret(api: httpx.Client, sim: Any, clone: Callable[..., str]) -> None:
    # GIVEN a clone whose password is then patched to a wrong one
    name = clone("sim-3")
    assert api.patch(f"/v1/providers/{name}", json={"username": "someone", "password": "wrong"}).status_code == 200
    # WHEN checked  THEN authentication fails, said plainly
    report = api.post(f"/v1/providers/{name}/check").json()
    assert report["ok"] is False and report["problems"]
    # WHEN the right password is patched back  THEN the check passes again
    auth = sim.clouds["sim-3"]["auth"]
    api.patch(f"/v1/providers/{name}", json={"username": auth["username"], "password": auth["password"]})
    assert api.post(f"/v1/providers/{name}/check").json()["ok"] is True


def test_check_reports_what_it_found_and_what_is_wrong(api: httpx.Client, sim: Any, clone: Callable[..., str]) -> None:
    # GIVEN a healthy clone of sim-4
    name = clone("sim-4")
    # WHEN checked  THEN ok with the limit, flavors, images and networks the cloud offers
    report = api.post(f"/v1/providers/{name}/check").json()
    assert report["ok"] is True, report
    assert report["provider"] == name and report["max_instances"] == 20 and report["problems"] == []
    assert {"name", "vcpus", "ram_mb"} <= set(report["flavors"][0])
    assert report["images"] and report["networks"]
    # GIVEN an image alias the cloud does not have  THEN it is named as a problem
    api.patch(f"/v1/providers/{name}", json={"image_aliases": {"centos": "CentOS 7"}})
    report = api.post(f"/v1/providers/{name}/check").json()
    assert report["ok"] is False
    assert "image alias 'centos' points to 'CentOS 7', which the provider does not have" in report["problems"]
    # GIVEN the cloud refuses authentication  THEN the check says it cannot use the provider
    sim.fault("sim-4", auth_fail=True)
    report = api.post(f"/v1/providers/{name}/check").json()
    assert report["ok"] is False and report["problems"][0].startswith("cannot use the provider")
    # AND unknown providers are 404
    assert api.post("/v1/providers/no-such-provider/check").status_code == 404


def test_check_without_credentials_says_what_to_do(api: httpx.Client) -> None:
    name = unique("nocreds")
    assert api.post("/v1/providers", json={"name": name, "auth_url": "http://127.0.0.1:9/v3"}).status_code == 201
    try:
        report = api.post(f"/v1/providers/{name}/check").json()
        assert report["ok"] is False and report["problems"][0].startswith("no credentials stored")
    finally:
        forget_provider(api, name)


def test_import_registers_each_cloud_of_a_clouds_yaml(api: httpx.Client, sim: Any) -> None:
    # GIVEN a clouds.yaml naming two simulated clouds anew
    first, second = unique("imp"), unique("imp")
    document = clouds_yaml(sim, {first: "sim-5", second: "sim-6"})
    try:
        # WHEN imported with aliases
        response = api.post(
            "/v1/providers/import", json={"clouds_yaml": document, "image_aliases": aliases_for(sim, "sim-5")}
        )
        # THEN 201 with one checked provider per cloud, credentials stored but not shown
        assert response.status_code == 201, response.text
        items = response.json()["items"]
        assert sorted(p["name"] for p in items) == sorted([first, second])
        assert all(p["has_credentials"] and p["flavors"] and p["nova_max_instances"] == 20 for p in items)
        assert sim.clouds["sim-5"]["auth"]["password"] not in response.text
        # WHEN the same document is imported again  THEN 409 naming the clashes, nothing changes
        again = api.post("/v1/providers/import", json={"clouds_yaml": document})
        assert again.status_code == 409 and first in again.json()["message"]
    finally:
        forget_provider(api, first)
        forget_provider(api, second)


@pytest.mark.parametrize(
    ("document", "says"),
    [
        ("clouds: [unclosed", "clouds_yaml: not valid YAML"),
        ("just text", "clouds_yaml: expected a 'clouds:' mapping"),
        ("clouds: {}", "clouds_yaml: expected a 'clouds:' mapping"),
        ("clouds: {a: 5}", "clouds_yaml: cloud 'a' must be a mapping"),
        ("clouds: {a: {auth: {}}}", "clouds_yaml: cloud 'a' needs auth.auth_url"),
        ("clouds: {'has space': {auth: {auth_url: 'http://x/v3'}}}", "clouds_yaml: cloud name 'has space'"),
        ("clouds: {a: {auth: {auth_url: 'http://x/v3'}, auth_type: token}}", "auth_type must be one of"),
        ("clouds: {a: {auth: {auth_url: 'http://x/v3', password: [1]}}}", "auth.password must be text"),
    ],
)
def test_import_refuses_bad_documents_naming_the_problem(api: httpx.Client, document: str, says: str) -> None:
    response = api.post("/v1/providers/import", json={"clouds_yaml": document})
    assert response.status_code == 400, response.text
    assert says in response.json()["message"]
    assert response.json()["details"][0]["field"] == "clouds_yaml"


def test_delete_is_refused_while_instances_live_unless_forced(
    api: httpx.Client, sim: Any, clone: Callable[..., str]
) -> None:
    # GIVEN a clone of sim-1 running two instances of a request pinned to it
    name = clone("sim-1", prefix="doomed")
    created = api.post("/v1/requests", json={"count": 2, "image": "ubuntu", "providers": [name]})
    request_id = created.json()["id"]
    try:
        ready = wait_request(api, request_id)
        assert ready["status"] == "READY", ready
        server_ids = {i["server_id"] for i in ready["instances"]}
        # WHEN deleted without force  THEN 409 saying why; it still exists
        refused = api.delete(f"/v1/providers/{name}")
        assert refused.status_code == 409 and "2 live instance(s)" in refused.json()["message"]
        assert api.get(f"/v1/providers/{name}").status_code == 200
        # WHEN deleted with force=true  THEN its instances are destroyed first, then it is gone
        forced = api.delete(f"/v1/providers/{name}", params={"force": "true"})
        assert forced.status_code == 200, forced.text
        assert api.get(f"/v1/providers/{name}").status_code == 404
        instances = api.get(f"/v1/requests/{request_id}").json()["instances"]
        assert {i["status"] for i in instances} == {"DELETED"}
        left = {s["id"] for s in sim.provider_state("sim-1")["servers"] if s["status"] != "DELETED"}
        assert not server_ids & left
    finally:
        finished(api, request_id)


def test_capacity_shows_max_used_reserved_and_health(api: httpx.Client, clone: Callable[..., str]) -> None:
    # GIVEN a clone capped at 3 with one READY instance
    name = clone("sim-2", prefix="cap")
    api.patch(f"/v1/providers/{name}", json={"max_instances": 3})
    request_id = api.post("/v1/requests", json={"count": 1, "image": "debian", "providers": [name]}).json()["id"]
    try:
        assert wait_request(api, request_id)["status"] == "READY"
        # WHEN capacity is read  THEN the clone shows max 3, used 1, reserved 0, free 2, healthy
        body = api.get("/v1/capacity").json()
        mine = next(c for c in body["items"] if c["provider"] == name)
        assert mine == {
            "provider": name,
            "enabled": True,
            "max": 3,
            "used": 1,
            "reserved": 0,
            "free": 2,
            "health": {"state": "closed", "failures": 0, "last_error": None},
        }
        # AND the totals add up over every provider
        assert body["total"]["max"] == sum(c["max"] for c in body["items"])
        assert body["total"]["used"] == sum(c["used"] for c in body["items"])
    finally:
        finished(api, request_id)
