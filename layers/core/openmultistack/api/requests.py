"""/v1/requests and /v1/instances."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Header, Query
from aws_lambda_powertools.event_handler.router import APIGatewayRouter
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)

from openmultistack import ordering
from openmultistack import repository as repo
from openmultistack.api.schemas import (
    InstanceOut,
    InstancePage,
    PlanOut,
    RequestIn,
    RequestOut,
    RequestPage,
    instance_out,
    request_out,
)
from openmultistack.domain import InstanceStatus, RequestStatus, Shape
from openmultistack.settings import get_settings

router = APIGatewayRouter()
Limit = Annotated[int, Query(ge=1, le=200, description="Page size")]
Cursor = Annotated[str | None, Query(max_length=2048, description="`next` from the previous page")]

_idempotency = IdempotencyConfig(
    event_key_jmespath="key",
    payload_validation_jmespath="body",
    expires_after_seconds=24 * 3600,
)


def _order(body: RequestIn) -> ordering.Order:
    return ordering.Order(
        count=body.count,
        shape=Shape(body.image, body.flavor, body.min_vcpus, body.min_ram_mb),
        lifetime_minutes=body.lifetime_minutes,
        placement=body.placement,
        providers=tuple(body.providers),
        public_key=body.public_key,
        user_data=body.user_data,
    )


@idempotent_function(
    data_keyword_argument="call",
    persistence_store=DynamoDBPersistenceLayer(table_name=get_settings().idempotency_table),
    config=_idempotency,
)
def _submit_once(call: dict[str, Any]) -> dict[str, Any]:
    """Same Idempotency-Key and body → the same request; same key, other body → 409."""
    return request_out(ordering.submit(_order(RequestIn.model_validate(call["body"])))).model_dump(mode="json")


@router.post("/v1/requests", summary="Ask for N instances (202), or preview the placement (dry_run)")
def create_request(
    body: RequestIn,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=255)] = None,
) -> Response[RequestOut | PlanOut]:
    if body.dry_run:
        plan = ordering.preview(_order(body))
        out = PlanOut(count=body.count, placed=len(plan.assignments), unplaced=plan.unplaced,
                      per_provider=plan.per_provider(), skipped=plan.skipped)
        return Response(200, content_types.APPLICATION_JSON, out)
    if idempotency_key:
        _idempotency.register_lambda_context(router.lambda_context)
        created = _submit_once(call={"key": idempotency_key, "body": body.model_dump(mode="json")})
        return Response(202, content_types.APPLICATION_JSON, RequestOut.model_validate(created))
    return Response(202, content_types.APPLICATION_JSON, request_out(ordering.submit(_order(body))))


@router.get("/v1/requests", summary="List requests, newest first")
def list_requests(
    status: Annotated[RequestStatus | None, Query()] = None, limit: Limit = 50, cursor: Cursor = None
) -> RequestPage:
    items, next_cursor = repo.list_requests(status.value if status else None, limit, cursor)
    return RequestPage(items=[request_out(r) for r in items], next=next_cursor)


@router.get("/v1/requests/<request_id>", summary="A request with its instances and their attempts")
def get_request(request_id: str) -> RequestOut:
    return request_out(repo.get_request(request_id), repo.instances_of(request_id))


@router.delete("/v1/requests/<request_id>", summary="Destroy all instances of a request (202)")
def delete_request(request_id: str) -> Response[RequestOut]:
    return Response(202, content_types.APPLICATION_JSON, request_out(ordering.cancel(request_id)))


@router.get("/v1/instances", summary="List instances by request, provider or status")
def list_instances(
    request: Annotated[str | None, Query(max_length=64)] = None,
    provider: Annotated[str | None, Query(max_length=64)] = None,
    status: Annotated[InstanceStatus | None, Query()] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> InstancePage:
    items, next_cursor = repo.list_instances(request, provider, status.value if status else None, limit, cursor)
    return InstancePage(items=[instance_out(i) for i in items], next=next_cursor)


@router.get("/v1/instances/<instance_id>", summary="One instance")
def get_instance(instance_id: str) -> InstanceOut:
    return instance_out(repo.get_instance(instance_id))


@router.delete("/v1/instances/<instance_id>", summary="Destroy one instance (202)")
def delete_instance(instance_id: str) -> Response[InstanceOut]:
    return Response(202, content_types.APPLICATION_JSON, instance_out(ordering.delete_instance(instance_id)))
