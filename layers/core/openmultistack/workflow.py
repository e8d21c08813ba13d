"""Starting provisioning executions and fire-and-forget Lambda calls (boto3 adapters)."""

from __future__ import annotations

import json
from datetime import datetime
from functools import lru_cache
from typing import Any

from openmultistack.settings import get_settings


@lru_cache(maxsize=1)
def _sfn() -> Any:
    import boto3  # deferred: most API calls never start an execution

    return boto3.client("stepfunctions")


@lru_cache(maxsize=1)
def _lambda() -> Any:
    import boto3  # deferred: most API calls never start an execution

    return boto3.client("lambda")


@lru_cache(maxsize=1)
def _events() -> Any:
    import boto3  # deferred: most API calls never start an execution

    return boto3.client("events")


def start_provisioning(request_id: str, attempt_at: datetime | None = None) -> str:
    """Start the execution named after the request (easy to find in the console). A restart of a
    stuck request gets a suffixed name, as names are unique per state machine for 90 days."""
    name = request_id if attempt_at is None else f"{request_id}-restart-{int(attempt_at.timestamp())}"
    response = _sfn().start_execution(
        stateMachineArn=get_settings().state_machine_arn,
        name=name,
        input=json.dumps({"request_id": request_id}),
    )
    return str(response["executionArn"])


def execution_running(execution_arn: str | None) -> bool:
    if not execution_arn:
        return False
    try:
        return _sfn().describe_execution(executionArn=execution_arn)["status"] == "RUNNING"
    except _sfn().exceptions.ExecutionDoesNotExist:
        return False


def run_reaper_now(payload: dict[str, Any]) -> None:
    """Ask the reaper to act at once (async invoke); its schedule is the backstop."""
    _lambda().invoke(
        FunctionName=get_settings().reaper_function, InvocationType="Event", Payload=json.dumps(payload).encode()
    )


def publish(detail_type: str, detail: dict[str, Any]) -> None:
    _events().put_events(
        Entries=[
            {
                "Source": "openmultistack",
                "DetailType": detail_type,
                "Detail": json.dumps(detail, default=str),
                "EventBusName": get_settings().event_bus,
            }
        ]
    )
