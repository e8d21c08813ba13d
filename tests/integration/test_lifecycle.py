"""Lifetimes end: the scheduled reaper deletes expired instances (on a real schedule and as of a
moved clock), user DELETEs tear down through the same code, and the events go out."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.conftest import wait_for, wait_request


def order(api: Any, count: int, lifetime: int) -> str:
    body = {
        "count": count,
        "image": "ubuntu",
        "min_vcpus": 1,
        "min_ram_mb": 1024,
        "lifetime_minutes": lifetime,
    }
    created = api.post("/v1/requests", json=body)
    assert created.status_code == 202, created.text
    return str(created.json()["id"])


def ready(api: Any, count: int, lifetime: int) -> dict[str, Any]:
    request_id = order(api, count, lifetime)
    body = wait_request(api, request_id)
    assert body["status"] == "READY", body
    return body


def servers_of(sim: Any, request_id: str) -> list[dict[str, Any]]:
    """Ground truth: servers (not yet gone) carrying the request's metadata, on any provider."""
    return [
        s
        for p in sim.state()["providers"].values()
        for s in p["servers"]
        if s["metadata"].get("oms:request") == request_id and s["status"] != "DELETED"
    ]


def at(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@pytest.fixture()
def events(stack: Any) -> Iterator[Any]:
    """An SQS queue receiving every OpenMultiStack event from the default bus (moto delivers them)."""
    import boto3

    sqs, bus = boto3.client("sqs"), boto3.client("events")
    name = f"oms-events-{int(time.time() * 1000)}"
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    bus.put_rule(Name=name, EventPattern=json.dumps({"source": ["openmultistack"]}))
    bus.put_targets(Rule=name, Targets=[{"Id": "q", "Arn": arn}])

    def received() -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
            out += [json.loads(m["Body"]) for m in batch]
            sqs.delete_message_batch(
                QueueUrl=url,
                Entries=[{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(batch)],
            )
        return out

    yield received
    bus.remove_targets(Rule=name, Ids=["q"])
    bus.delete_rule(Name=name)
    sqs.delete_queue(QueueUrl=url)


def test_a_one_minute_instance_is_deleted_by_the_scheduled_reaper_within_two_minutes(stack, api, sim):
    # GIVEN a READY request for 2 instances with a lifetime of 1 minute
    body = ready(api, 2, 1)
    request_id = body["id"]
    expiry = max(at(i["expires_at"]) for i in body["instances"])
    assert len(servers_of(sim, request_id)) == 2

    # WHEN the reaper runs on a real schedule (every 10 s, on the wall clock)
    stop = threading.Event()

    def schedule() -> None:
        while not stop.wait(10):
            stack.run_reaper()

    ticker = threading.Thread(target=schedule, daemon=True)
    ticker.start()
    try:
        done = wait_request(api, request_id, timeout=180, statuses={"EXPIRED"})
        gone_at = datetime.now(UTC)
    finally:
        stop.set()
        ticker.join(timeout=60)

    # THEN the request expired no later than 2 minutes after its instances' expiry
    assert gone_at <= expiry + timedelta(minutes=2), (gone_at, expiry)
    assert [i["status"] for i in done["instances"]] == ["DELETED", "DELETED"]
    # AND the simulator's ground truth has no server of it left
    assert servers_of(sim, request_id) == []


def test_expiry_as_of_a_moved_clock_deletes_servers_releases_slots_and_tells_eventbridge(stack, api, sim, events):
    from openmultistack import repository as repo

    # GIVEN a READY request for 3 instances living 5 minutes, and the ledger's view of it
    body = ready(api, 3, 5)
    request_id = body["id"]
    expiry = max(at(i["expires_at"]) for i in body["instances"])
    slots_before = {p.name: p.slots for p in repo.list_providers()}
    mine = {i["provider"] for i in body["instances"]}
    events()  # drop whatever earlier tests published

    # WHEN the reaper runs 2 minutes before the expiry
    stack.run_reaper(now=expiry - timedelta(minutes=2))
    # THEN nothing of it is deleted yet, but EventBridge hears that each instance expires soon
    assert api.get(f"/v1/requests/{request_id}").json()["status"] == "READY"
    warned = [e for e in events() if e["detail-type"] == "Instance Expiring Soon"]
    assert sorted(e["detail"]["instance"] for e in warned if e["detail"]["request"] == request_id) == sorted(
        i["id"] for i in body["instances"]
    )

    # WHEN it runs as of one minute past the expiry
    stack.run_reaper(now=expiry + timedelta(minutes=1))
    # THEN every instance is DELETED, the request EXPIRED, and no server is left
    after = api.get(f"/v1/requests/{request_id}").json()
    assert after["status"] == "EXPIRED", after
    assert {i["status"] for i in after["instances"]} == {"DELETED"}
    assert servers_of(sim, request_id) == []
    # AND their slots went back to the ledger
    slots_after = {p.name: p.slots for p in repo.list_providers()}
    released = sum(slots_before[p] - slots_after[p] for p in mine)
    assert released >= 3
    # AND EventBridge heard that the request expired
    expired = [e for e in events() if e["detail-type"] == "Request Expired"]
    assert [e["detail"]["request"] for e in expired if e["detail"]["request"] == request_id] == [request_id]


def test_delete_request_and_delete_instance_use_the_same_teardown(stack, api, sim):
    # GIVEN two READY requests of 2 instances each
    first, second = ready(api, 2, 30), ready(api, 2, 30)

    # WHEN one instance of the first is deleted
    one = first["instances"][0]
    assert api.delete(f"/v1/instances/{one['id']}").status_code in (200, 202)
    # THEN it becomes DELETED and its server goes, the other instance stays ACTIVE
    wait_for(
        lambda: api.get(f"/v1/instances/{one['id']}").json()["status"] == "DELETED",
        30,
        what="instance deleted",
    )
    left = servers_of(sim, first["id"])
    assert [s["id"] for s in left] == [first["instances"][1]["server_id"]]
    assert api.get(f"/v1/requests/{first['id']}").json()["status"] in ("READY", "PARTIAL")

    # WHEN the second request is deleted as a whole
    assert api.delete(f"/v1/requests/{second['id']}").status_code in (200, 202)
    # THEN it becomes DELETED with every server gone
    done = wait_request(api, second["id"], timeout=30, statuses={"DELETED"})
    assert {i["status"] for i in done["instances"]} == {"DELETED"}
    assert servers_of(sim, second["id"]) == []

    # WHEN the last instance of the first request is deleted too
    api.delete(f"/v1/instances/{first['instances'][1]['id']}")
    # THEN that request is retired as well, with nothing left on the providers
    wait_request(api, first["id"], timeout=30, statuses={"DELETED", "EXPIRED"})
    assert servers_of(sim, first["id"]) == []
