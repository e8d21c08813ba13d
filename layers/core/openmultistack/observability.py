"""One Logger, Tracer and Metrics for the whole codebase (Powertools; configured by env)."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric

NAMESPACE = "OpenMultiStack"
logger = Logger(service="openmultistack")
tracer = Tracer(service="openmultistack")
metrics = Metrics(namespace=NAMESPACE, service="openmultistack")


def count(name: str, value: int = 1, **dimensions: str) -> None:
    """Emit one EMF count. Dimensioned counts (per provider, per error class) go out as single
    metrics so they do not leak their dimensions into the handler's shared metric set."""
    if not dimensions:
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
        return
    with single_metric(name=name, unit=MetricUnit.Count, value=value, namespace=NAMESPACE) as metric:
        for key, val in dimensions.items():
            metric.add_dimension(name=key, value=val)
