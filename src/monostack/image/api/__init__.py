"""The Image API (Glance v2): version discovery, then the v2 routes.

Errors are webob's JSON bodies, as Glance sends them to a client that accepts
JSON: `{"code": "404 Not Found", "title": "Not Found", "message": "..."}`.
The data routes (`PUT /v2/images/{id}/file` and `/stage`) are exempt from
the JSON body limit: an image is as large as the size cap and the quota allow.
"""

from __future__ import annotations

import http
from typing import Any

from fastapi import FastAPI, Request
from starlette.types import ASGIApp, Scope

from monostack.common import errors
from monostack.common.http import JSONResponse, base_url, create_app
from monostack.image.api import images, metadefs, tasks
from monostack.image.service import ImageService

# (version, status): Glance's list for a cloud with the interoperable import and stores info.
VERSIONS = [("2.17", "CURRENT"), ("2.16", "SUPPORTED"), ("2.15", "SUPPORTED"), ("2.13", "SUPPORTED"),
            ("2.12", "SUPPORTED"), ("2.11", "SUPPORTED"), ("2.10", "SUPPORTED"), ("2.9", "SUPPORTED"),
            ("2.8", "SUPPORTED"), ("2.7", "SUPPORTED"), ("2.6", "SUPPORTED"), ("2.5", "SUPPORTED"),
            ("2.4", "SUPPORTED"), ("2.3", "SUPPORTED"), ("2.2", "SUPPORTED"), ("2.1", "SUPPORTED"),
            ("2.0", "SUPPORTED")]


def glance_error(err: errors.APIError) -> dict[str, Any]:
    try:
        phrase = http.HTTPStatus(err.code).phrase
    except ValueError:
        phrase = err.title
    return {"code": f"{err.code} {phrase}", "title": phrase, "message": err.message}


def _data_route(scope: Scope) -> bool:
    path = scope.get("path", "")
    return scope.get("method") == "PUT" and "/v2/images/" in path and path.endswith(("/file", "/stage"))


def versions_document(request: Request) -> dict[str, Any]:
    href = f"{base_url(request)}/v2/"
    return {"versions": [{"id": f"v{version}", "status": status, "links": [{"rel": "self", "href": href}]}
                         for version, status in VERSIONS]}


def build(svc: ImageService, validator: Any, *, max_body_size: int, identity_uri: str = "") -> tuple[FastAPI, ASGIApp]:
    app, asgi = create_app("image", error_format=glance_error, title="Monostack Image (Glance v2)",
                           version=VERSIONS[0][0], max_body_size=max_body_size, unlimited_body=_data_route)
    app.state.image = svc
    app.state.validator = validator
    app.state.identity_uri = identity_uri

    @app.get("/", include_in_schema=False)
    async def versions(request: Request) -> JSONResponse:
        return JSONResponse(versions_document(request), status_code=300)

    @app.get("/versions", include_in_schema=False)
    async def versions_explicit(request: Request) -> JSONResponse:
        return JSONResponse(versions_document(request))

    @app.get("/v2", include_in_schema=False)
    @app.get("/v2/", include_in_schema=False)
    async def version_v2(request: Request) -> JSONResponse:
        return JSONResponse(versions_document(request), status_code=300)

    app.include_router(images.router)
    app.include_router(metadefs.router)
    app.include_router(tasks.router)
    return app, asgi
