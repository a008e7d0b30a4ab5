"""The Identity API (Keystone v3): version discovery, then one router per area."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from starlette.types import ASGIApp

from monostack.common.http import JSONResponse, base_url, create_app, keystone_error
from monostack.identity.api import app_creds, auth, catalog, credentials, extras, resources, roles, trusts, users
from monostack.identity.service import IdentityService

API_VERSION = "v3.14"
UPDATED = "2020-04-07T00:00:00Z"
MEDIA_TYPES = [{"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}]
ROUTERS = [auth.router, resources.router, users.router, roles.router, catalog.router, app_creds.router,
           credentials.router, trusts.router, extras.router]


def _version(request: Request) -> dict[str, Any]:
    return {"id": API_VERSION, "status": "stable", "updated": UPDATED,
            "links": [{"rel": "self", "href": f"{base_url(request)}/v3/"}], "media-types": MEDIA_TYPES}


def build(identity: IdentityService, validator: Any, *, max_body_size: int) -> tuple[FastAPI, ASGIApp]:
    app, asgi = create_app("identity", error_format=keystone_error, title="Monostack Identity (Keystone v3)",
                           version=API_VERSION, max_body_size=max_body_size)
    app.state.identity = identity
    app.state.validator = validator

    @app.get("/", include_in_schema=False)
    async def versions(request: Request) -> JSONResponse:
        return JSONResponse({"versions": {"values": [_version(request)]}}, status_code=300)

    @app.get("/v3", include_in_schema=False)
    @app.get("/v3/", include_in_schema=False)
    async def version_v3(request: Request) -> dict[str, Any]:
        return {"version": _version(request)}

    for router in ROUTERS:
        app.include_router(router)
    return app, asgi
