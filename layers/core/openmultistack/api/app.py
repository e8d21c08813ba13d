"""The resolver: routes, auth, CORS, errors, OpenAPI and docs."""

from __future__ import annotations

from pathlib import Path

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, CORSConfig, Response, content_types

from openmultistack.api import errors, providers, requests
from openmultistack.api.auth import require_token
from openmultistack.api.docs import docs_page, swagger_asset
from openmultistack.observability import tracer

TITLE, VERSION = "OpenMultiStack API", "1.0.0"
CONSOLE = Path(__file__).resolve().parent.parent / "console"

app = APIGatewayRestResolver(
    enable_validation=True,
    cors=CORSConfig(allow_origin="*", allow_headers=["Authorization", "Content-Type", "Idempotency-Key"], max_age=600),
)
app.use(middlewares=[require_token])
errors.register(app)
app.include_router(providers.router)
app.include_router(requests.router)


@app.get("/v1/health", summary="Liveness (no token needed)")
def health() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/v1/openapi.json", include_in_schema=False)
def openapi() -> Response:
    schema = app.get_openapi_json_schema(title=TITLE, version=VERSION)
    return Response(200, content_types.APPLICATION_JSON, schema)


@app.get("/v1/docs", include_in_schema=False)
def docs() -> Response:
    return Response(200, "text/html; charset=utf-8", docs_page())


@app.get("/v1/docs/<asset>", include_in_schema=False)
def docs_asset(asset: str) -> Response:
    body, kind = swagger_asset(asset)
    return Response(200, kind, body)


@app.get("/", include_in_schema=False)
@tracer.capture_method
def console() -> Response:
    return Response(200, "text/html; charset=utf-8", (CONSOLE / "index.html").read_text())
