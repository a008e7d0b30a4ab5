"""The Placement API: the version document at the root (no token needed), then the routes,
all behind microversion negotiation (`OpenStack-API-Version: placement X.Y`, 1.0 to 1.39)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from starlette.types import ASGIApp

from monostack.common.http import ApiMiddleware, JSONResponse, create_app
from monostack.placement.api import allocations, candidates, classes, inventories, providers
from monostack.placement.api.common import VERSIONS, VersionMiddleware, at_least, http_date, placement_error
from monostack.placement.service import PlacementService


def version_document() -> dict[str, Any]:
    return {"versions": [{"id": f"v{VERSIONS.minimum}", "max_version": str(VERSIONS.maximum),
                          "min_version": str(VERSIONS.minimum), "status": "CURRENT",
                          "links": [{"rel": "self", "href": ""}]}]}


def build(svc: PlacementService, validator: Any, *, max_body_size: int, identity_uri: str = ""
          ) -> tuple[FastAPI, ASGIApp]:
    app, asgi = create_app("placement", error_format=placement_error, title="Monostack Placement",
                           version=str(VERSIONS.maximum), max_body_size=max_body_size)
    app.state.placement = svc
    app.state.validator = validator
    app.state.identity_uri = identity_uri

    @app.get("/", include_in_schema=False)
    async def root(request: Request) -> JSONResponse:
        headers = {"Cache-Control": "no-cache", "Last-Modified": http_date(None)} if at_least(request, "1.15") else {}
        return JSONResponse(version_document(), headers=headers)

    for module in (providers, inventories, allocations, candidates, classes):
        app.include_router(module.router)
    # The shared middleware (request id, errors in Placement's body) outside the version negotiation,
    # so a 406 from negotiation is rendered like any other error.
    assert isinstance(asgi, ApiMiddleware)
    asgi.app = VersionMiddleware(app)
    return app, asgi
