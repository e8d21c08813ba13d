"""Plan step: mark the request PROVISIONING and pick a preferred provider per instance."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from openmultistack.observability import logger, metrics, tracer
from openmultistack.provisioning import plan_request


@logger.inject_lambda_context(correlation_id_path="request_id")
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return plan_request(event["request_id"])
