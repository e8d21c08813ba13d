"""Reading a clouds.yaml into providers and credentials (pure): what is kept where, and every
way a document can be wrong, named."""

from __future__ import annotations

from typing import Any

import pytest


def providers_from_clouds_yaml(document: Any) -> Any:
    # Imported late: settings and table names are fixed at first import (see test_schemas.py).
    from openmultistack.catalog import providers_from_clouds_yaml as read

    return read(document)


CLOUD = {
    "region_name": "GRA11",
    "interface": "public",
    "auth": {
        "auth_url": "https://auth.cloud.example/v3",
        "project_name": "p1",
        "user_domain_name": "Default",
        "project_domain_name": "Default",
        "username": "me",
        "password": "s3cret",
    },
}


def test_coordinates_go_to_the_provider_and_secrets_to_the_credentials() -> None:
    # GIVEN a clouds.yaml with one password cloud and one application-credential cloud
    app = {
        "auth_type": "v3applicationcredential",
        "auth": {
            "auth_url": "https://k.example/v3",
            "application_credential_id": "id",
            "application_credential_secret": "shh",
        },
    }
    # WHEN read
    (provider, credentials), (app_provider, app_credentials) = providers_from_clouds_yaml(
        {"clouds": {"ovh-gra11": CLOUD, "other": app}}
    )
    # THEN the provider holds the account coordinates only, the credentials the secrets only
    assert (provider.name, provider.auth_url, provider.region_name, provider.project_name) == (
        "ovh-gra11",
        "https://auth.cloud.example/v3",
        "GRA11",
        "p1",
    )
    assert credentials == {"username": "me", "password": "s3cret"}
    assert "s3cret" not in str(provider.__dict__)
    assert app_provider.auth_type == "v3applicationcredential"
    assert app_credentials == {"application_credential_id": "id", "application_credential_secret": "shh"}


@pytest.mark.parametrize(
    ("document", "says"),
    [
        (None, "expected a 'clouds:' mapping"),
        ({"clouds": []}, "expected a 'clouds:' mapping"),
        ({"clouds": {"a": None}}, "cloud 'a' must be a mapping"),
        ({"clouds": {"a": {"auth": "x"}}}, "cloud 'a' auth must be a mapping"),
        ({"clouds": {"a": {"auth": {"auth_url": "auth.example/v3"}}}}, "needs auth.auth_url"),
        ({"clouds": {"a": {"auth": {"auth_url": "https://a/v3\n"}}}}, "needs auth.auth_url"),
        ({"clouds": {"a b": CLOUD}}, "cloud name 'a b'"),
        ({"clouds": {"a\n": CLOUD}}, "cloud name"),
        ({"clouds": {"a": {**CLOUD, "interface": "private"}}}, "interface must be one of"),
        ({"clouds": {"a": {**CLOUD, "region_name": ["x"]}}}, "region_name must be text"),
        (
            {"clouds": {"a": {**CLOUD, "auth": {**CLOUD["auth"], "password": {"x": 1}}}}},
            "auth.password must be text",
        ),
    ],
)
def test_bad_documents_are_refused_naming_cloud_and_key(document: Any, says: str) -> None:
    from openmultistack.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match=r"^clouds_yaml: ") as error:
        providers_from_clouds_yaml(document)
    assert says in str(error.value)
    assert "s3cret" not in str(error.value)
