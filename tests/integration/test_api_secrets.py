"""Provider credentials are write-only: they reach Secrets Manager and nowhere else — not in any
response, not in any log line, not in DynamoDB."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import httpx
import pytest
import yaml

from tests.conftest import wait_request
from tests.integration.conftest_api import aliases_for, finished, forget_provider, unique


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.NOTSET)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture()
def logs() -> Iterator[Collect]:
    """Every log line the process writes meanwhile, formatted as it would be shipped (Powertools
    JSON for ours, with extra keys and exceptions; the root logger for libraries)."""
    from openmultistack.observability import logger as oms_logger

    collect = Collect()
    collect.setFormatter(oms_logger.registered_formatter)
    targets = [logging.getLogger("openmultistack"), logging.getLogger()]
    for target in targets:
        target.addHandler(collect)
    yield collect
    for target in targets:
        target.removeHandler(collect)


def test_passwords_never_leave_secrets_manager(
    api: httpx.Client, sim: Any, stack: Any, logs: Collect, capfd: pytest.CaptureFixture[str]
) -> None:
    real = sim.clouds["sim-5"]["auth"]
    wrong = f"Wr0ng-S3cret-{uuid.uuid4().hex}"
    app_secret = f"App-S3cret-{uuid.uuid4().hex}"
    secrets = [real["password"], wrong, app_secret]
    good, bad, app, imported = unique("sec"), unique("sec"), unique("sec"), unique("sec")
    responses: list[httpx.Response] = []

    def call(method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = api.request(method, path, **kwargs)
        responses.append(response)
        return response

    base = {
        "auth_url": real["auth_url"],
        "project_name": real["project_name"],
        "user_domain_name": "Default",
        "project_domain_name": "Default",
        "image_aliases": aliases_for(sim, "sim-5"),
    }
    request_id = None
    try:
        # GIVEN providers registered with a working password, a wrong one and an app credential
        assert (
            call(
                "POST",
                "/v1/providers",
                json={**base, "name": good, "username": real["username"], "password": real["password"]},
            ).status_code
            == 201
        )
        assert (
            call(
                "POST",
                "/v1/providers",
                json={**base, "name": bad, "username": real["username"], "password": wrong},
            ).status_code
            == 201
        )
        assert (
            call(
                "POST",
                "/v1/providers",
                json={
                    **base,
                    "name": app,
                    "application_credential_id": "id-1",
                    "application_credential_secret": app_secret,
                },
            ).status_code
            == 201
        )
        document = yaml.safe_dump({"clouds": {imported: {"auth": {**real, "password": wrong}}}})
        assert call("POST", "/v1/providers/import", json={"clouds_yaml": document}).status_code == 201
        # WHEN every provider route is used, including failing checks and refused input
        for name in (good, bad, app, imported):
            call("GET", f"/v1/providers/{name}")
            call("POST", f"/v1/providers/{name}/check")
        call("GET", "/v1/providers")
        call("GET", "/v1/capacity")
        call("PATCH", f"/v1/providers/{bad}", json={"username": real["username"], "password": wrong})
        call("PATCH", f"/v1/providers/{bad}", json={"password": wrong})  # half a credential: 422
        call("POST", "/v1/providers", json={**base, "name": good, "username": "u", "password": wrong})  # 409
        call("POST", "/v1/providers", json={**base, "name": "x y", "password": wrong, "username": "u"})  # 422
        call(
            "POST",
            "/v1/providers/import",
            json={"clouds_yaml": f"clouds: {{a: {{auth: {{password: {wrong}}}}}}}"},
        )
        call("POST", "/v1/providers/import", json={"clouds_yaml": f"clouds: [{wrong}"})  # broken YAML: 400
        # AND instances run on the good one, and it is force-deleted under them
        request_id = call("POST", "/v1/requests", json={"count": 1, "image": "ubuntu", "providers": [good]}).json()[
            "id"
        ]
        assert wait_request(api, request_id)["status"] == "READY"
        call("GET", f"/v1/requests/{request_id}")
        call("GET", "/v1/instances", params={"provider": good})
        assert call("DELETE", f"/v1/providers/{good}", params={"force": "true"}).status_code == 200
        call("GET", "/v1/openapi.json")
    finally:
        for name in (good, bad, app, imported):
            forget_provider(api, name)
        if request_id:
            finished(api, request_id)
    out, err = capfd.readouterr()

    # THEN no response body or header, no log line and no process output holds any secret
    assert len(responses) >= 20
    for response in responses:
        shown = response.text + str(dict(response.headers))
        assert not [s for s in secrets if s in shown], (response.request.method, response.request.url, shown)
    assert logs.lines, "the log capture saw nothing: it would prove nothing"
    for line in [*logs.lines, out, err]:
        assert not [s for s in secrets if s in line], line
    # AND no DynamoDB table holds them (the records say has_credentials and nothing more)
    dynamodb = boto3.client("dynamodb")
    for table in dynamodb.list_tables()["TableNames"]:
        items = str(dynamodb.scan(TableName=table)["Items"])
        assert not [s for s in secrets if s in items], table
