"""Reaper: runs every minute (EventBridge schedule) and on demand for one request's teardown.

The scheduled event's `time` is the reaper's clock, so a test (or an operator replaying an event)
can run it "as of" any moment without waiting for real time to pass."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from openmultistack import reaper
from openmultistack.observability import logger, metrics, tracer


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    now = datetime.fromisoformat(event["time"].replace("Z", "+00:00")) if event.get("time") else None
    report = reaper.run(now=now, request_id=event.get("request_id"), instance_id=event.get("instance_id"))
    return asdict(report)
