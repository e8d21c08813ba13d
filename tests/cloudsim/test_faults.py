"""Every fault mode as openstacksdk sees it: the exception class and status a real outage would produce.

Summary (asserted below):
- maintenance: established session -> openstack.exceptions.HttpException 503; a *fresh* connection fails
  already at keystone version discovery -> keystoneauth1.exceptions.discovery.DiscoveryFailure (mentions 503).
- auth_fail: keystoneauth1.exceptions.http.Unauthorized (401), also for established sessions (they re-auth).
- quota / exhausted quota: openstack.exceptions.ForbiddenException 403 "Quota exceeded for instances".
- hang: keystoneauth1.exceptions.connection.ConnectTimeout after api_timeout (DiscoveryFailure if fresh).
- boot_error_rate=1: wait_for_server -> openstack.exceptions.ResourceFailure; server ERROR with fault.
- api_error_rate=1: openstack.exceptions.HttpException 500 (no subclass exists for 500).
"""

from __future__ import annotations

import threading
import time

import pytest
from keystoneauth1 import exceptions as ksa_exc
from openstack import exceptions as sdk_exc

from local.cloudsim.runner import CloudSim


def test_maintenance_is_503_everywhere(cloudsim: CloudSim, connect) -> None:
    """GIVEN an authenticated session on sim-1 and maintenance switched on
    WHEN the session lists servers, and a fresh connection tries to authenticate
    THEN HttpException 503 for the session, DiscoveryFailure (HTTP 503) for the fresh one;
    other providers are fine."""
    conn = connect("sim-1")
    list(conn.compute.flavors())
    cloudsim.fault("sim-1", maintenance=True)
    with pytest.raises(sdk_exc.HttpException) as err:
        list(conn.compute.servers())
    assert err.value.status_code == 503
    with pytest.raises(ksa_exc.DiscoveryFailure, match="HTTP 503"):
        list(connect("sim-1").compute.servers())
    assert list(connect("sim-2").compute.servers()) == []


def test_auth_fail_rejects_logins_and_existing_tokens(cloudsim: CloudSim, connect) -> None:
    """GIVEN an authenticated session and auth_fail switched on
    WHEN the session or a fresh connection calls nova
    THEN keystoneauth Unauthorized 401 both times (the session re-auths and is refused)."""
    conn = connect("sim-1")
    list(conn.compute.flavors())
    cloudsim.fault("sim-1", auth_fail=True)
    for client in (conn, connect("sim-1")):
        with pytest.raises(ksa_exc.Unauthorized) as err:
            list(client.compute.servers())
        assert err.value.http_status == 401
    cloudsim.fault("sim-1", auth_fail=False)
    assert list(conn.compute.servers()) == []


def test_exhausted_quota_is_403(cloudsim: CloudSim, connect, server_attrs) -> None:
    """GIVEN quota 20
    WHEN 21 servers are requested
    THEN the 21st is ForbiddenException 403 with nova's message, counted in quota_rejections."""
    conn = connect("sim-3")
    attrs = server_attrs(conn)
    for i in range(20):
        conn.compute.create_server(name=f"vm-{i}", **attrs)
    with pytest.raises(sdk_exc.ForbiddenException) as err:
        conn.compute.create_server(name="one-too-many", **attrs)
    assert err.value.status_code == 403
    assert "Quota exceeded for instances: Requested 1, but already used 20 of 20 instances" in str(err.value)
    truth = cloudsim.provider_state("sim-3")
    assert (truth["quota_rejections"], truth["peak_servers"], len(truth["servers"])) == (1, 20, 20)


def test_lying_quota(cloudsim: CloudSim, connect, server_attrs) -> None:
    """GIVEN a provider whose limits say 20 instances but which enforces 2
    WHEN a third server is requested
    THEN 403 Quota exceeded while get_limits() still reports 20."""
    conn = connect("sim-1")
    attrs = server_attrs(conn)
    cloudsim.fault("sim-1", quota=2)
    for i in range(2):
        conn.compute.create_server(name=f"vm-{i}", **attrs)
    with pytest.raises(sdk_exc.ForbiddenException, match="already used 2 of 2 instances"):
        conn.compute.create_server(name="vm-2", **attrs)
    limits = conn.compute.get_limits().absolute
    assert (limits.instances, limits.instances_used) == (20, 2)


def test_hang_times_out_without_blocking_other_providers(cloudsim: CloudSim, connect) -> None:
    """GIVEN sim-1 hanging and a session with api_timeout=1
    WHEN the session lists servers while sim-2 is used concurrently
    THEN the hung call raises ConnectTimeout after ~1 s, sim-2 answers meanwhile, and clearing hang heals."""
    hung = connect("sim-1", api_timeout=1)
    list(hung.compute.flavors())
    other = connect("sim-2")
    list(other.compute.flavors())
    cloudsim.fault("sim-1", hang=True)
    other_durations: list[float] = []

    def use_other() -> None:
        for _ in range(5):
            start = time.monotonic()
            list(other.compute.servers())
            other_durations.append(time.monotonic() - start)

    worker = threading.Thread(target=use_other)
    start = time.monotonic()
    worker.start()
    with pytest.raises(ksa_exc.ConnectTimeout):
        list(hung.compute.servers())
    assert 0.9 < time.monotonic() - start < 3
    worker.join()
    assert len(other_durations) == 5 and max(other_durations) < 0.5
    cloudsim.fault("sim-1", hang=False)
    assert list(hung.compute.servers()) == []


def test_latency_delays_only_that_provider(cloudsim: CloudSim, connect) -> None:
    """GIVEN latency_ms=300 on sim-1
    WHEN a call is made to sim-1 and to sim-2
    THEN the sim-1 call takes >= 0.3 s and sim-2 stays fast."""
    slow, fast = connect("sim-1"), connect("sim-2")
    list(slow.compute.flavors())
    list(fast.compute.flavors())
    cloudsim.fault("sim-1", latency_ms=300)
    for conn, low, high in ((slow, 0.3, 1.0), (fast, 0.0, 0.25)):
        start = time.monotonic()
        list(conn.compute.servers())
        assert low <= time.monotonic() - start < high


def test_boot_errors_end_in_error_with_fault(cloudsim: CloudSim, connect, server_attrs) -> None:
    """GIVEN boot_error_rate=1
    WHEN a server is created and waited for
    THEN it goes BUILD -> ERROR, wait_for_server raises ResourceFailure, and the fault says No valid host."""
    conn = connect("sim-1")
    cloudsim.fault("sim-1", boot_error_rate=1)
    server = conn.compute.create_server(name="doomed", **server_attrs(conn))
    assert conn.compute.get_server(server.id).status == "BUILD"
    with pytest.raises(sdk_exc.ResourceFailure):
        conn.compute.wait_for_server(server, interval=0.1, wait=5)
    server = conn.compute.get_server(server.id)
    assert server.status == "ERROR" and server.addresses == {}
    assert server.fault["code"] == 500 and server.fault["message"].startswith("No valid host was found.")
    assert cloudsim.provider_state("sim-1")["servers"][0]["status"] == "ERROR"


def test_api_errors_are_500(cloudsim: CloudSim, connect) -> None:
    """GIVEN api_error_rate=1 on sim-1
    WHEN nova, glance and neutron are called
    THEN HttpException with status 500 from each (keystone keeps working)."""
    conn = connect("sim-1")
    cloudsim.fault("sim-1", api_error_rate=1)
    for call in (conn.compute.servers, conn.image.images, conn.network.networks):
        with pytest.raises(sdk_exc.HttpException) as err:
            list(call())
        assert err.value.status_code == 500 and type(err.value) is sdk_exc.HttpException


def test_reset_and_merge_semantics(cloudsim: CloudSim) -> None:
    """GIVEN faults set in two calls
    WHEN they are merged, one is cleared with False, then reset
    THEN the control API reports the merged set, then the remainder, then nothing."""
    assert cloudsim.fault("sim-4", maintenance=True) == {"maintenance": True}
    assert cloudsim.fault("sim-4", latency_ms=50, quota=3) == {
        "maintenance": True,
        "latency_ms": 50.0,
        "quota": 3,
    }
    assert cloudsim.fault("sim-4", maintenance=False) == {"latency_ms": 50.0, "quota": 3}
    assert cloudsim.fault("sim-4", reset=True) == {}
    assert cloudsim.provider_state("sim-4")["faults"] == {}


def test_faults_at_start_from_the_command_line() -> None:
    """GIVEN --fault options on the command line
    WHEN the simulator starts
    THEN the faults are active from the first call."""
    with CloudSim(providers=2, extra_args=["--fault", "sim-2:maintenance=true", "--fault", "sim-1:quota=5"]) as s:
        providers = s.state()["providers"]
        assert providers["sim-2"]["faults"] == {"maintenance": True}
        assert (providers["sim-1"]["enforced_quota"], providers["sim-1"]["quota"]) == (5, 20)
        conn = s.connect("sim-2")
        with pytest.raises(ksa_exc.DiscoveryFailure):
            list(conn.compute.servers())
