"""/v1/requests and /v1/instances over HTTP on the local stack: validation, dry runs, idempotency,
pagination, extension and deletion."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.conftest import wait_for, wait_request
from tests.integration.conftest_api import finished

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGc3m0Zk0b7yQ6b8uJ9xYl5r6m0n5w9m2Tq0wV1c2d3e me@laptop"
VALID = {"count": 1, "image": "ubuntu", "min_vcpus": 1, "min_ram_mb": 512}


def servers_of(sim: Any, request_id: str) -> list[dict[str, Any]]:
    return [
        s
        for p in sim.state()["providers"].values()
        for s in p["servers"]
        if s["metadata"].get("oms:request") == request_id and s["status"] != "DELETED"
    ]


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"count": 0}, "count"),
        ({"count": 1001}, "count"),
        ({"count": "ten"}, "count"),
        ({"lifetime_minutes": 0}, "lifetime_minutes"),
        ({"lifetime_minutes": 61}, "lifetime_minutes"),
        ({"image": ""}, "image"),
        ({"min_vcpus": 0}, "min_vcpus"),
        ({"min_ram_mb": 64}, "min_ram_mb"),
        ({"public_key": "not a key"}, "public_key"),
        ({"public_key": "ssh-ed25519 AAAA\nssh-rsa BBBB"}, "public_key"),
        ({"user_data": "x" * (64 * 1024 + 1)}, "user_data"),
        ({"placement": "random"}, "placement"),
        ({"providers": ["bad name"]}, "providers.0"),
        ({"dry_run": "maybe"}, "dry_run"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_each_validation_rule_is_a_422_naming_the_field(api: httpx.Client, change: dict[str, Any], field: str) -> None:
    # GIVEN a valid request with one bad field  WHEN submitted  THEN 422 naming the field
    response = api.post("/v1/requests", json={**VALID, **change})
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "validation_error"
    assert field in [d["field"] for d in body["details"]], body
    assert body["message"].startswith(field)
    assert "Traceback" not in response.text


def test_missing_fields_and_shape_conflicts_are_named(api: httpx.Client) -> None:
    missing = api.post("/v1/requests", json={"image": "ubuntu"})
    assert missing.status_code == 422 and missing.json()["message"] == "count: required"
    both = api.post("/v1/requests", json={"count": 1, "image": "ubuntu", "flavor": "m1.small", "min_vcpus": 2})
    assert both.status_code == 422
    assert "give either flavor or min_vcpus/min_ram_mb, not both" in both.json()["message"]


def test_unknown_providers_in_the_allow_list_are_400(api: httpx.Client) -> None:
    response = api.post("/v1/requests", json={**VALID, "providers": ["sim-1", "atlantis"], "dry_run": True})
    assert response.status_code == 400
    assert response.json()["message"] == "providers: unknown provider(s) atlantis"
    assert response.json()["details"] == [{"field": "providers", "problem": "unknown provider(s) atlantis"}]


def test_bodies_are_json_whatever_the_content_type(api: httpx.Client) -> None:
    # GIVEN a JSON body sent as curl -d sends it (form content type)
    body = json.dumps({**VALID, "dry_run": True})
    for content_type in ("application/x-www-form-urlencoded", "text/plain", None):
        headers = {"Content-Type": content_type} if content_type else {}
        response = api.post("/v1/requests", content=body, headers=headers)
        # THEN it is read as JSON
        assert response.status_code == 200, (content_type, response.text)
        assert response.json()["dry_run"] is True
    # GIVEN something that is not JSON  THEN 400 saying so
    form = api.post(
        "/v1/requests",
        content="count=1&image=ubuntu",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert form.status_code == 400
    assert form.json()["message"].startswith("body: not valid JSON")
    assert (
        api.post("/v1/requests", content=b"\xff\xfe", headers={"Content-Type": "application/json"}).status_code == 400
    )
    # GIVEN JSON that is not an object, or no body  THEN 422 on body
    for content in ("[1, 2]", "null", "", "7"):
        response = api.post("/v1/requests", content=content)
        assert response.status_code == 422, (content, response.text)
        assert response.json()["details"][0]["field"] == "body"


def test_user_data_of_exactly_64_kib_and_a_key_with_a_newline_are_accepted(api: httpx.Client) -> None:
    body = {**VALID, "user_data": "é" * (32 * 1024), "public_key": KEY + "\n", "dry_run": True}
    response = api.post("/v1/requests", json=body)
    assert response.status_code == 200, response.text


def test_dry_run_returns_the_plan_and_creates_nothing(api: httpx.Client, sim: Any) -> None:
    # GIVEN the requests so far
    before = api.get("/v1/requests", params={"limit": 200}).json()["items"]
    # WHEN 30 instances are previewed, packed
    plan = api.post("/v1/requests", json={**VALID, "count": 30, "placement": "pack", "dry_run": True})
    # THEN 200 with a plan placing all 30 on the fewest providers (each takes up to 20)
    assert plan.status_code == 200, plan.text
    body = plan.json()
    assert body["dry_run"] is True and body["count"] == 30 and body["placed"] == 30 and body["unplaced"] == 0
    assert len(body["per_provider"]) == 2 and sum(body["per_provider"].values()) == 30
    # AND no request was written
    assert api.get("/v1/requests", params={"limit": 200}).json()["items"] == before


def test_a_request_is_created_provisioned_read_and_deleted(api: httpx.Client, sim: Any) -> None:
    # WHEN 2 instances are asked for with a key and user data
    created = api.post(
        "/v1/requests",
        json={**VALID, "count": 2, "lifetime_minutes": 30, "public_key": KEY, "user_data": "#cloud-config\n"},
    )
    # THEN 202 QUEUED, and the execution is named after the request id
    assert created.status_code == 202, created.text
    out = created.json()
    request_id = out["id"]
    assert out["status"] == "QUEUED" and out["count"] == 2 and out["lifetime_minutes"] == 30
    assert out["has_public_key"] is True and out["has_user_data"] is True
    assert out["execution_arn"].endswith(f":{request_id}")
    assert KEY not in created.text
    try:
        # AND it becomes READY; GET shows each instance with provider, ip, expiry and attempts
        ready = wait_request(api, request_id)
        assert ready["status"] == "READY", ready
        assert len(ready["instances"]) == 2
        for instance in ready["instances"]:
            assert instance["status"] == "ACTIVE" and instance["ip"] and instance["provider"]
            assert instance["attempts"] == [] or all(
                {"provider", "error_class", "message", "at"} <= set(a) for a in instance["attempts"]
            )
            assert at(instance["expires_at"]) - at(instance["active_at"]) == timedelta(minutes=30)
        # AND the instances can be listed by request, by provider and by status, and read one by one
        listed = api.get("/v1/instances", params={"request": request_id}).json()
        assert sorted(i["id"] for i in listed["items"]) == sorted(i["id"] for i in ready["instances"])
        first = ready["instances"][0]
        by_provider = api.get("/v1/instances", params={"provider": first["provider"], "limit": 200}).json()
        assert first["id"] in [i["id"] for i in by_provider["items"]]
        active = api.get("/v1/instances", params={"status": "ACTIVE", "limit": 200}).json()
        assert first["id"] in [i["id"] for i in active["items"]]
        assert api.get(f"/v1/instances/{first['id']}").json()["server_id"] == first["server_id"]
    finally:
        # WHEN deleted  THEN 202 DELETING; deleting again is harmless
        deleted = api.delete(f"/v1/requests/{request_id}")
        assert deleted.status_code == 202
        assert deleted.json()["status"] in ("DELETING", "DELETED")
        assert api.delete(f"/v1/requests/{request_id}").status_code == 202
    # THEN it ends DELETED with no server left on any provider
    gone = wait_request(api, request_id, statuses={"DELETED"})
    assert {i["status"] for i in gone["instances"]} == {"DELETED"}
    wait_for(lambda: not servers_of(sim, request_id), timeout=30, what="servers to go")


def test_idempotency_key_same_body_same_request_other_body_409(api: httpx.Client, sim: Any) -> None:
    key = str(uuid.uuid4())
    body = {**VALID, "count": 1, "image": "debian"}
    # WHEN the same body is posted twice with one Idempotency-Key
    first = api.post("/v1/requests", json=body, headers={"Idempotency-Key": key})
    second = api.post("/v1/requests", json=body, headers={"Idempotency-Key": key})
    request_id = first.json()["id"]
    try:
        # THEN both are 202 with the same request, and only one was made
        assert first.status_code == second.status_code == 202, (first.text, second.text)
        assert second.json()["id"] == request_id
        ready = wait_request(api, request_id)
        assert len(servers_of(sim, request_id)) == 1 == len(ready["instances"])
        # WHEN the key is reused with another body  THEN 409
        other = api.post("/v1/requests", json={**body, "count": 2}, headers={"Idempotency-Key": key})
        assert other.status_code == 409 and other.json()["error"] == "idempotency_conflict"
        # AND without a key, the same body makes a new request (checked as a dry run: nothing to clean)
        assert api.post("/v1/requests", json={**body, "dry_run": True}).status_code == 200
    finally:
        finished(api, request_id)


def test_an_empty_or_oversized_idempotency_key_is_422(api: httpx.Client) -> None:
    response = api.post("/v1/requests", json=VALID, headers={"Idempotency-Key": "k" * 256})
    assert response.status_code == 422 and response.json()["details"][0]["field"] == "idempotency-key"


def test_requests_are_paginated_newest_first_and_filtered_by_status(api: httpx.Client) -> None:
    # GIVEN two finished (deleted) requests
    ids = []
    for _ in range(2):
        request_id = api.post("/v1/requests", json=VALID).json()["id"]
        ids.append(request_id)
        wait_request(api, request_id)
        finished(api, request_id)
    # WHEN listed one per page  THEN the newest comes first and `next` leads to the other
    page = api.get("/v1/requests", params={"limit": 1}).json()
    assert [r["id"] for r in page["items"]] == [ids[1]] and page["next"]
    following = api.get("/v1/requests", params={"limit": 1, "cursor": page["next"]}).json()
    assert [r["id"] for r in following["items"]] == [ids[0]]
    # WHEN filtered by status  THEN only that status
    deleted = api.get("/v1/requests", params={"status": "DELETED", "limit": 200}).json()["items"]
    assert set(ids) <= {r["id"] for r in deleted} and {r["status"] for r in deleted} == {"DELETED"}
    assert api.get("/v1/requests", params={"status": "READY", "limit": 200}).json()["items"] is not None
    # AND bad filters, sizes and cursors are refused, naming the parameter
    assert api.get("/v1/requests", params={"status": "DONE"}).json()["details"][0]["field"] == "status"
    assert api.get("/v1/requests", params={"limit": 0}).json()["details"][0]["field"] == "limit"
    bad_cursor = api.get("/v1/requests", params={"cursor": "%%%not-a-cursor"})
    assert bad_cursor.status_code == 400 and bad_cursor.json()["message"].startswith("cursor:")


def test_instance_listing_rules(api: httpx.Client) -> None:
    # WHEN listed without filters  THEN a page (the one listing that reads the table page by page)
    page = api.get("/v1/instances", params={"limit": 5})
    assert page.status_code == 200 and len(page.json()["items"]) <= 5
    # WHEN filtered by a final status alone  THEN 400: history is listed per request or provider
    refused = api.get("/v1/instances", params={"status": "DELETED"})
    assert refused.status_code == 400 and refused.json()["details"][0]["field"] == "status"
    assert api.get("/v1/instances", params={"status": "DELETED", "provider": "sim-1"}).status_code == 200
    assert api.get("/v1/instances", params={"status": "GONE"}).status_code == 422


def test_unknown_ids_are_404(api: httpx.Client) -> None:
    for method, path in [
        ("GET", "/v1/requests/r-ffffffffffff"),
        ("DELETE", "/v1/requests/r-ffffffffffff"),
        ("GET", "/v1/instances/r-ffffffffffff-0000"),
        ("DELETE", "/v1/instances/r-ffffffffffff-0000"),
    ]:
        response = api.request(method, path)
        assert response.status_code == 404, (method, path)
        assert "not found" in response.json()["message"]
    missing = api.post("/v1/requests/r-ffffffffffff/extend", json={"minutes": 5})
    assert missing.status_code == 404


def test_delete_one_instance(api: httpx.Client, sim: Any) -> None:
    # GIVEN a READY request of 2
    request_id = api.post("/v1/requests", json={**VALID, "count": 2}).json()["id"]
    try:
        ready = wait_request(api, request_id)
        victim, survivor = ready["instances"]
        # WHEN one instance is deleted  THEN 202, it goes DELETED and its server goes; the other stays
        response = api.delete(f"/v1/instances/{victim['id']}")
        assert response.status_code == 202, response.text
        assert response.json()["status"] in ("DELETING", "DELETED")
        wait_for(
            lambda: api.get(f"/v1/instances/{victim['id']}").json()["status"] == "DELETED",
            timeout=30,
            what="the instance to be deleted",
        )
        assert [s["id"] for s in servers_of(sim, request_id)] == [survivor["server_id"]]
        # AND deleting it again is harmless
        assert api.delete(f"/v1/instances/{victim['id']}").status_code == 202
    finally:
        finished(api, request_id)


def test_extend_moves_expiry_and_due_time_up_to_60_minutes_of_life(api: httpx.Client, sim: Any) -> None:
    from openmultistack import repository  # the stack runs in this process: read what the reaper reads

    # GIVEN a READY request with a 10 minute lifetime
    request_id = api.post("/v1/requests", json={**VALID, "lifetime_minutes": 10}).json()["id"]
    try:
        ready = wait_request(api, request_id)
        instance = ready["instances"][0]
        active_at, expires_at = at(instance["active_at"]), at(instance["expires_at"])
        # WHEN extended by 15 minutes
        extended = api.post(f"/v1/requests/{request_id}/extend", json={"minutes": 15})
        # THEN expires_at moves by 15 minutes, and so does the reaper's due time
        assert extended.status_code == 200, extended.text
        moved = extended.json()["instances"][0]
        assert at(moved["expires_at"]) == expires_at + timedelta(minutes=15)
        record = repository.get_instance(instance["id"])
        assert record.due_at == record.expires_at == at(moved["expires_at"])
        # AND the server's own hard expiry follows (the orphan sweep reads it)
        server = next(s for s in servers_of(sim, request_id))
        assert at(server["metadata"]["oms:expires_at"]) > at(moved["expires_at"])
        # WHEN extended by 60 more  THEN it stops at 60 minutes of life from ACTIVE
        capped = api.post(f"/v1/requests/{request_id}/extend", json={"minutes": 60}).json()["instances"][0]
        assert at(capped["expires_at"]) == active_at + timedelta(minutes=60)
        # AND bad amounts are 422 naming `minutes`
        for minutes in (0, 61, "ten"):
            bad = api.post(f"/v1/requests/{request_id}/extend", json={"minutes": minutes})
            assert bad.status_code == 422 and bad.json()["details"][0]["field"] == "minutes"
    finally:
        finished(api, request_id)
    # WHEN a deleted request is extended  THEN 409
    refused = api.post(f"/v1/requests/{request_id}/extend", json={"minutes": 5})
    assert refused.status_code == 409 and "only READY or PARTIAL" in refused.json()["message"]
