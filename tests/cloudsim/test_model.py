"""The provider model without HTTP: lazy status from timestamps, quota, faults, determinism."""

from __future__ import annotations

import pytest

from local.cloudsim.model import ApiError, Provider, make_providers, parse_fault_args


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def provider(quota: int = 3, seed: int = 0, clock: Clock | None = None, index: int = 1) -> Provider:
    return Provider(f"sim-{index}", index, quota=quota, boot_seconds=10, seed=seed, clock=clock or Clock())


def spec(p: Provider, **extra) -> dict:
    return {"name": "vm", "imageRef": p.images[0].id, "flavorRef": p.flavors[1].id, **extra}


def test_status_is_computed_lazily_from_timestamps() -> None:
    """GIVEN a server created at t0 with boot 10 s +-10 %
    WHEN the clock moves past boot time, then past delete + delete window
    THEN BUILD -> ACTIVE -> DELETED -> gone, without any timer."""
    clock = Clock()
    p = provider(clock=clock)
    server = p.create_server(spec(p))
    assert 9 <= server.boot_at - clock.now <= 11 and server.status(clock.now) == "BUILD"
    clock.now += 11
    assert p.get_server(server.id).status(clock.now) == "ACTIVE"
    p.delete_server(server.id)
    assert p.get_server(server.id).status(clock.now) == "DELETED" and p.usage()[0] == 1
    clock.now += p.delete_delay
    with pytest.raises(ApiError) as err:
        p.get_server(server.id)
    assert err.value.code == 404 and p.peak_servers == 1


def test_quota_counts_instances_and_reports_nova_message() -> None:
    """GIVEN quota 3 (cores 3 x 4, RAM 3 x 8192 on sim-1)
    WHEN a 4th server is requested
    THEN 403 with nova's message; limits report usage."""
    p = provider(quota=3)
    for _ in range(3):
        p.create_server(spec(p))
    with pytest.raises(ApiError) as err:
        p.create_server(spec(p))
    assert (err.value.code, err.value.message) == (
        403,
        "Quota exceeded for instances: Requested 1, but already used 3 of 3 instances",
    )
    assert p.quota_rejections == 1
    assert p.limits()["totalInstancesUsed"] == 3 and p.limits()["maxTotalCores"] == 3 * 4


def test_instance_count_binds_before_cores_and_ram() -> None:
    """GIVEN quota 2 on every provider style
    WHEN two servers of the largest flavor are created
    THEN both fit (cores/RAM quota = quota x largest flavor) and the third is refused for instances."""
    for p in make_providers(3, quota=2, boot_seconds=1).values():
        biggest = max(p.flavors, key=lambda f: (f.vcpus, f.ram))
        networks = [{"uuid": p.networks[0].id}]
        for _ in range(2):
            p.create_server(spec(p, flavorRef=biggest.id, networks=networks))
        with pytest.raises(ApiError, match="Quota exceeded for instances"):
            p.create_server(spec(p, flavorRef=biggest.id, networks=networks))


def test_boot_errors_are_deterministic_per_seed() -> None:
    """GIVEN two providers with the same seed and boot_error_rate 0.5
    WHEN each creates 20 servers
    THEN the same servers fail; another seed gives another pattern; roughly half fail."""

    def pattern(seed: int) -> list[bool]:
        p = provider(quota=50, seed=seed)
        p.set_faults({"boot_error_rate": 0.5})
        return [p.create_server(spec(p)).fails for _ in range(20)]

    assert pattern(0) == pattern(0)
    assert pattern(0) != pattern(1)
    assert 4 <= sum(pattern(0)) <= 16


def test_fault_validation_and_parsing() -> None:
    """GIVEN fault updates and --fault strings
    WHEN they are applied/parsed
    THEN unknown keys and out-of-range rates are refused; values are coerced; 0 clears rates."""
    p = provider()
    with pytest.raises(ValueError, match="unknown faults"):
        p.set_faults({"meteor": True})
    with pytest.raises(ValueError, match=r"within 0\.\.1"):
        p.set_faults({"api_error_rate": 2})
    assert p.set_faults({"latency_ms": "20", "boot_error_rate": 0}) == {"latency_ms": 20.0}
    assert p.set_faults({"quota": 0}) == {"latency_ms": 20.0, "quota": 0} and p.enforced_quota == 0
    assert parse_fault_args(["sim-2:maintenance=true", "sim-2:latency_ms=5", "sim-1:quota=3"]) == {
        "sim-2": {"maintenance": True, "latency_ms": 5},
        "sim-1": {"quota": 3},
    }
    with pytest.raises(ValueError):
        parse_fault_args(["maintenance=true"])


def test_keystone_password_scope_and_app_credentials() -> None:
    """GIVEN a provider's credentials
    WHEN authenticating with right/wrong password, wrong project, app credential, or under auth_fail
    THEN tokens only for the right combinations, 401 otherwise."""
    p = provider()
    c = p.creds
    user = {"name": c.username, "domain": {"name": "Default"}, "password": c.password}
    scope = {"project": {"name": c.project_name, "domain": {"id": "default"}}}
    ok = p.authenticate({"identity": {"methods": ["password"], "password": {"user": user}}, "scope": scope})
    assert ok.scoped and p.validate(ok.id) is ok
    for bad in ({**user, "password": "x"}, {**user, "domain": {"name": "Other"}}):
        with pytest.raises(ApiError):
            p.authenticate({"identity": {"methods": ["password"], "password": {"user": bad}}, "scope": scope})
    with pytest.raises(ApiError):
        p.authenticate(
            {
                "identity": {"methods": ["password"], "password": {"user": user}},
                "scope": {"project": {"name": "someone-else", "domain": {"id": "default"}}},
            }
        )
    app = p.authenticate(
        {
            "identity": {
                "methods": ["application_credential"],
                "application_credential": {"id": c.app_cred_id, "secret": c.app_cred_secret},
            }
        }
    )
    assert app.scoped
    p.set_faults({"auth_fail": True})
    assert p.validate(ok.id) is None
    assert p.auth_calls == 5


def test_providers_are_independent() -> None:
    """GIVEN make_providers(4)
    THEN names sim-1..sim-4, separate credentials, and even-indexed ones have two networks."""
    providers = make_providers(4, quota=20, boot_seconds=1)
    assert list(providers) == ["sim-1", "sim-2", "sim-3", "sim-4"]
    assert len({p.creds.password for p in providers.values()}) == 4
    assert [len(p.networks) for p in providers.values()] == [1, 2, 1, 2]
    with pytest.raises(ApiError) as err:
        providers["sim-2"].create_server(spec(providers["sim-2"]))
    assert err.value.code == 409
