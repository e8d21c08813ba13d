"""Swagger UI for /v1/docs. The page and its assets are public; the spec it shows is fetched from
/v1/openapi.json with the token the user gives (kept in the browser, shared with the console)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import aws_lambda_powertools.event_handler as handler_package

from openmultistack.errors import NotFoundError

SWAGGER = Path(handler_package.__file__).parent / "openapi" / "swagger_ui"
ASSETS = {
    "swagger-ui.js": ("swagger-ui-bundle.min.js", "application/javascript"),
    "swagger-ui.css": ("swagger-ui.min.css", "text/css"),
}

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>OpenMultiStack API</title>
<link rel="stylesheet" href="/v1/docs/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/v1/docs/swagger-ui.js"></script>
<script>
  let token = localStorage.getItem("oms-token");
  if (!token) { token = prompt("API token (Bearer)") || ""; localStorage.setItem("oms-token", token); }
  SwaggerUIBundle({
    url: "/v1/openapi.json", dom_id: "#swagger-ui",
    requestInterceptor: (req) => { req.headers["Authorization"] = "Bearer " + token; return req; },
  });
</script></body></html>
"""


def docs_page() -> str:
    return PAGE


@lru_cache(maxsize=2)
def swagger_asset(name: str) -> tuple[str, str]:
    if name not in ASSETS:
        raise NotFoundError(f"no docs asset '{name}'")
    filename, kind = ASSETS[name]
    return (SWAGGER / filename).read_text(encoding="utf-8"), kind
