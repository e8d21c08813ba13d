"""The whole path works: HTTP → API → DynamoDB → Step Functions → Lambdas → openstacksdk → simulator."""

from __future__ import annotations

from tests.conftest import wait_request


def test_health_needs_no_token(stack):
    import httpx

    # GIVEN no token  WHEN the health route is called  THEN it answers ok
    response = httpx.get(f"{stack.url}/v1/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_a_request_becomes_ready_with_servers_on_the_simulator(api, sim):
    # GIVEN the simulated providers registered by the local stack
    # WHEN a user asks for 4 small ubuntu instances
    created = api.post("/v1/requests", json={"count": 4, "image": "ubuntu", "min_vcpus": 1, "min_ram_mb": 1024})
    assert created.status_code == 202, created.text
    request_id = created.json()["id"]

    # THEN the request becomes READY with 4 ACTIVE instances that have addresses
    body = wait_request(api, request_id)
    assert body["status"] == "READY", body
    assert [i["status"] for i in body["instances"]] == ["ACTIVE"] * 4
    assert all(i["ip"] for i in body["instances"])

    # AND the simulator's ground truth holds exactly those servers, tagged with our metadata
    servers = [
        s
        for p in sim.state()["providers"].values()
        for s in p["servers"]
        if s["metadata"].get("oms:request") == request_id
    ]
    assert sorted(s["id"] for s in servers) == sorted(i["server_id"] for i in body["instances"])
    assert {s["status"] for s in servers} == {"ACTIVE"}
