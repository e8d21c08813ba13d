"""The API models: every validation rule, and that no response model can carry a credential.

openmultistack is imported inside the tests, not at collection: its settings and table names
are fixed at first import, and an integration stack in the same run must set them first."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

MAX_USER_DATA = 64 * 1024


def api() -> ModuleType:
    from openmultistack.api import schemas

    return schemas


KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGc3m0Zk0b7yQ6b8uJ9xYl5r6m0n5w9m2Tq0wV1c2d3e me@laptop"
VALID = {"count": 1, "image": "ubuntu"}


def fields_at_fault(model: str, data: dict[str, Any]) -> set[str]:
    with pytest.raises(ValidationError) as error:
        getattr(api(), model).model_validate(data)
    return {".".join(str(p) for p in e["loc"]) for e in error.value.errors()}


@pytest.mark.parametrize("count", [1, 1000])
@pytest.mark.parametrize("lifetime", [1, 60])
def test_the_edges_of_count_and_lifetime_are_accepted(count: int, lifetime: int) -> None:
    body = api().RequestIn.model_validate({**VALID, "count": count, "lifetime_minutes": lifetime})
    assert (body.count, body.lifetime_minutes) == (count, lifetime)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"count": 0}, "count"),
        ({"count": 1001}, "count"),
        ({"count": True}, "count"),
        ({"lifetime_minutes": 0}, "lifetime_minutes"),
        ({"lifetime_minutes": 61}, "lifetime_minutes"),
        ({"placement": "scatter"}, "placement"),
        ({"public_key": "ssh-ed25519"}, "public_key"),
        ({"public_key": "ssh-ed25519 AAAA=== x\nssh-rsa BBBB"}, "public_key"),
        ({"public_key": "-----BEGIN OPENSSH PRIVATE KEY-----"}, "public_key"),
        ({"user_data": "a" * (MAX_USER_DATA + 1)}, "user_data"),
        ({"user_data": "é" * (MAX_USER_DATA // 2 + 1)}, "user_data"),  # bytes, not characters
        ({"providers": ["ok", "not/ok"]}, "providers.1"),
        ({"providers": ["p"] * 101}, "providers"),
        ({"extra": 1}, "extra"),
    ],
)
def test_each_request_rule_names_its_field(change: dict[str, Any], field: str) -> None:
    assert field in fields_at_fault("RequestIn", {**VALID, **change})


@pytest.mark.parametrize(
    "key",
    [
        KEY,
        KEY + "\n",
        "ssh-rsa AAAAB3NzaC1yc2E=",
        "ecdsa-sha2-nistp256 AAAAE2VjZHNh comment with spaces",
        "sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29t",
    ],
)
def test_openssh_public_keys_are_accepted(key: str) -> None:
    assert api().RequestIn.model_validate({**VALID, "public_key": key}).public_key == key.strip()


def test_user_data_may_be_exactly_64_kib() -> None:
    assert api().RequestIn.model_validate({**VALID, "user_data": "a" * MAX_USER_DATA}).user_data


def test_flavor_and_minimums_exclude_each_other() -> None:
    with pytest.raises(ValidationError, match="give either flavor or min_vcpus/min_ram_mb, not both"):
        api().RequestIn.model_validate({**VALID, "flavor": "m1.small", "min_ram_mb": 1024})


def test_the_size_limit_is_64_kib() -> None:
    assert api().MAX_USER_DATA == MAX_USER_DATA


def test_extend_takes_1_to_60_minutes() -> None:
    assert api().ExtendIn.model_validate({"minutes": 60}).minutes == 60
    assert fields_at_fault("ExtendIn", {"minutes": 0}) == {"minutes"}
    assert fields_at_fault("ExtendIn", {"minutes": 61}) == {"minutes"}


def test_provider_credentials_are_split_from_the_configuration() -> None:
    # GIVEN a registration with a password
    body = api().ProviderIn.model_validate(
        {
            "name": "ovh-gra11",
            "auth_url": "https://auth.example/v3",
            "username": "me",
            "password": "s3cret",
            "max_instances": 5,
        }
    )
    # THEN the credentials are separate, and the configuration holds none of them
    assert body.credentials() == {"username": "me", "password": "s3cret"}
    assert body.config_changes() == {
        "name": "ovh-gra11",
        "auth_url": "https://auth.example/v3",
        "max_instances": 5,
    }


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"name": "ovh gra", "auth_url": "https://a/v3"}, "name"),
        ({"name": "-lead", "auth_url": "https://a/v3"}, "name"),
        ({"name": "a" * 64, "auth_url": "https://a/v3"}, "name"),
        ({"name": "ok", "auth_url": "https:///v3"}, "auth_url"),
        ({"name": "ok", "auth_url": "https://a/v3", "enabled": None}, "enabled"),
        ({"name": "ok", "auth_url": "https://a/v3", "image_aliases": None}, "image_aliases"),
        ({"name": "ok", "auth_url": "https://a/v3", "max_instances": 10_001}, "max_instances"),
    ],
)
def test_provider_rules_name_their_field(data: dict[str, Any], field: str) -> None:
    assert field in fields_at_fault("ProviderIn", data)


def test_null_clears_only_what_can_be_cleared() -> None:
    # max_instances: null means "no cap of ours" (Nova's limit rules); enabled: null means nothing
    assert api().ProviderSettings.model_validate({"max_instances": None}).config_changes() == {"max_instances": None}
    assert fields_at_fault("ProviderSettings", {"interface": None}) == {"interface"}


@pytest.mark.parametrize(
    ("data", "says"),
    [
        ({"username": "u"}, "username and password go together"),
        (
            {"application_credential_secret": "s"},
            "application_credential_id and application_credential_secret",
        ),
        (
            {
                "username": "u",
                "password": "p",
                "application_credential_id": "i",
                "application_credential_secret": "s",
            },
            "not both",
        ),
    ],
)
def test_credentials_come_whole(data: dict[str, Any], says: str) -> None:
    with pytest.raises(ValidationError, match=says):
        api().ProviderSettings.model_validate(data)


@pytest.mark.parametrize("model", ["ProviderOut", "ProviderList", "CheckOut", "CapacityOut"])
def test_no_response_model_has_a_credential_field(model: str) -> None:
    out: type[BaseModel] = getattr(api(), model)
    schema = str(out.model_json_schema())
    assert not [f for f in api().SECRET_FIELDS if f"'{f}'" in schema]


def test_answers_document_401_400_422_and_the_given_errors_with_the_error_model() -> None:
    responses = api().answers(202, "Accepted", 404, 409)
    assert sorted(responses) == [202, 400, 401, 404, 409, 422]
    assert responses[202] == {"description": "Accepted"}
    assert responses[409]["content"]["application/json"]["model"].__name__ == "Error"
