"""Secrets Manager access: the API token and provider credentials. Secrets are write-only for
the API and never copied into DynamoDB, logs, or Step Functions payloads."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from openmultistack.settings import get_settings


@lru_cache(maxsize=1)
def _client() -> Any:
    import boto3  # deferred, like parameters below: the API's cold start does without them

    return boto3.client("secretsmanager")


def _parameters() -> Any:
    from aws_lambda_powertools.utilities import parameters  # imports boto3: deferred

    return parameters


def api_token() -> str:
    s = get_settings()
    return str(_parameters().get_secret(s.api_token_secret, max_age=s.secret_cache_seconds))


def _provider_secret(name: str) -> str:
    return get_settings().provider_secret_prefix + name


def provider_credentials(name: str) -> dict[str, str]:
    s = get_settings()
    return dict(_parameters().get_secret(_provider_secret(name), transform="json", max_age=s.secret_cache_seconds))


def store_provider_credentials(name: str, credentials: dict[str, str]) -> None:
    secret_id, body = _provider_secret(name), json.dumps(credentials)
    try:
        _client().put_secret_value(SecretId=secret_id, SecretString=body)
    except _client().exceptions.ResourceNotFoundException:
        _client().create_secret(Name=secret_id, SecretString=body, Description=f"OpenMultiStack provider {name}")
    # Next read must see the new value, not the cached one.
    _parameters().get_secret(secret_id, transform="json", force_fetch=True)


def delete_provider_credentials(name: str) -> None:
    try:
        _client().delete_secret(SecretId=_provider_secret(name), ForceDeleteWithoutRecovery=True)
    except _client().exceptions.ResourceNotFoundException:
        pass
