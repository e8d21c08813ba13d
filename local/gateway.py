"""An HTTP front that builds real API Gateway (REST, proxy) events for the API function, the way
API Gateway does in AWS, and turns the function's result back into HTTP."""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

STAGE = "prod"


async def to_event(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        body: str | None = raw.decode() if raw else None
        is_b64 = False
    except UnicodeDecodeError:
        body, is_b64 = base64.b64encode(raw).decode(), True
    headers = dict(request.headers)
    multi_headers: dict[str, list[str]] = {}
    for key, value in request.headers.items():
        multi_headers.setdefault(key, []).append(value)
    multi_query: dict[str, list[str]] = {}
    for key, value in request.query_params.multi_items():
        multi_query.setdefault(key, []).append(value)
    path = request.url.path
    return {
        "resource": "/{proxy+}" if path != "/" else "/",
        "path": path,
        "httpMethod": request.method,
        "headers": headers,
        "multiValueHeaders": multi_headers,
        "queryStringParameters": {k: v[-1] for k, v in multi_query.items()} or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": {"proxy": path.lstrip("/")} if path != "/" else None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": "/{proxy+}",
            "httpMethod": request.method,
            "path": f"/{STAGE}{path}",
            "stage": STAGE,
            "requestId": str(uuid.uuid4()),
            "requestTimeEpoch": int(time.time() * 1000),
            "accountId": "123456789012",
            "apiId": "local",
            "protocol": "HTTP/1.1",
            "identity": {
                "sourceIp": request.client.host if request.client else "127.0.0.1",
                "userAgent": headers.get("user-agent"),
            },
        },
        "body": body,
        "isBase64Encoded": is_b64,
    }


def to_response(result: dict[str, Any]) -> Response:
    body = result.get("body") or ""
    content = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode()
    response = Response(content=content, status_code=int(result.get("statusCode", 200)))
    for key, value in (result.get("headers") or {}).items():
        response.headers[key] = str(value)
    for key, values in (result.get("multiValueHeaders") or {}).items():
        for value in values:
            if response.headers.get(key) != str(value):
                response.headers.append(key, str(value))
    return response


def gateway_app(handler: Callable[[dict[str, Any]], dict[str, Any]]) -> ASGIApp:
    """Every path and method goes to the function, as with API Gateway's `{proxy+}` (no router
    in between: Starlette's would refuse paths with encoded newlines before the API saw them)."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        event = await to_event(Request(scope, receive))
        response = to_response(await run_in_threadpool(handler, event))
        await response(scope, receive, send)

    return app
