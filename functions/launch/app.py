"""Launch step: reserve a slot and create the instance's server, failing over between providers."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from openmultistack.observability import logger, metrics, tracer
from openmultistack.provisioning import launch


@logger.inject_lambda_context(correlation_id_path="instance_id")
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return launch(event["instance_id"], prefer=event.get("prefer"))
