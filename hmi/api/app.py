"""The API application: its routes, error answers and token checks for one Runtime; screens/app.py mounts it."""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from hmi import __version__
from hmi.api import errors
from hmi.api.acts import act_routes
from hmi.api.auth import RateLimit, caller
from hmi.api.health import health_routes
from hmi.api.reads import read_routes
from hmi.api.stream import HEARTBEAT_S, stream_routes
from hmi.runtime import Runtime

MOUNT = "/api"
"""Where the screens serve the API; its OpenAPI is at /api/openapi.json, its documentation at /api/docs."""

DOCS_ASSETS = "/docs-assets"
"""Where the API serves Swagger UI's scripts and styles, from the fastapi-offline package (Swagger UI 5, which reads
the OpenAPI 3.1 FastAPI writes): a plant network has no internet, so /api/docs must not load them from a CDN."""
_SWAGGER_UI = Path(fastapi_offline.__file__).parent / "static"


def build_api(rt: Runtime, *, rate_limit: str | None = None, heartbeat_s: float = HEARTBEAT_S) -> FastAPI:
    """The FastAPI application of `rt`'s REST API; requests per token limited to `rate_limit` (default: the plant's
    `access.api_limit_per_token`); event streams send a heartbeat (and check their token) every `heartbeat_s`.
    It has no lifespan of its own: it answers while `rt` runs."""
    api = FastAPI(
        title="factory-hmi REST API",
        version=__version__,
        description="Read the plant and act on it as the user of an API token, with the same permissions, limits "
        "and audit trail as the screens. Errors are JSON {error, detail}; lists are pages (limit, offset, next).",
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    errors.install(api)
    api.mount(DOCS_ASSETS, StaticFiles(directory=_SWAGGER_UI), name="docs-assets")

    @api.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        """Swagger UI for the calling systems' developers, served by this HMI with nothing fetched elsewhere."""
        return get_swagger_ui_html(
            openapi_url=MOUNT + "/openapi.json",
            title="factory-hmi REST API",
            swagger_js_url=f"{MOUNT}{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{MOUNT}{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{MOUNT}{DOCS_ASSETS}/favicon.png",
        )

    who = caller(rt, RateLimit(rate_limit or rt.plant.access.api_limit_per_token))
    api.include_router(health_routes(rt))
    api.include_router(read_routes(rt, who))
    api.include_router(act_routes(rt, who))
    api.include_router(stream_routes(rt, who, heartbeat_s=heartbeat_s))
    return api
