"""The `oms` command line drives the real API of the local stack."""

from __future__ import annotations

import pytest

from cli import oms as cli
from tests.conftest import TOKEN


@pytest.fixture()
def oms(stack, capsys, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setattr(cli.console, "width", 250)  # no truncated ids in captured tables

    def run(*argv: str) -> tuple[int, str]:
        code = cli.main(["--url", stack.url, "--token", TOKEN, *argv])
        return code, capsys.readouterr().out

    return run


def test_create_wait_list_ips_and_delete(oms, sim):
    # GIVEN the local stack  WHEN a user creates 2 instances and waits
    order = ("--count", "2", "--image", "ubuntu", "--min-vcpus", "1", "--lifetime", "5")
    code, out = oms("request", "create", *order, "--wait")
    # THEN the command succeeds and shows the request READY with its instances
    assert code == 0, out
    request_id = out.split("request ", 1)[1].split()[0]
    assert "READY" in out and out.count(f"{request_id}-000") == 2

    # AND `ips` prints one address per ACTIVE instance, usable in a shell loop
    code, out = oms("ips", request_id)
    assert code == 0 and len(out.split()) == 2 and all(ip.count(".") == 3 for ip in out.split())

    # AND capacity/providers render, and delete --wait ends DELETED with no server left
    assert oms("capacity")[0] == 0 and oms("providers")[0] == 0
    code, out = oms("request", "delete", request_id, "--wait")
    assert code == 0 and "DELETED" in out
    servers = [s for p in sim.state()["providers"].values() for s in p["servers"]]
    assert not [s for s in servers if s["metadata"].get("oms:request") == request_id]


def test_api_errors_are_shown_plainly(oms):
    # GIVEN a bad order  WHEN it is sent  THEN the API's message is printed and the exit code is 1
    code, out = oms("request", "create", "--count", "0", "--image", "ubuntu")
    assert code == 1 and "count" in out and "422" in out
