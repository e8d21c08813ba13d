"""Catch-all step: an instance branch failed unexpectedly; delete what it made and mark it FAILED."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from openmultistack.observability import logger, metrics, tracer
from openmultistack.provisioning import settle


@logger.inject_lambda_context(correlation_id_path="instance_id")
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return settle(event["instance_id"], event.get("error"))
