"""The Block Storage API (Cinder v3 with microversions): version discovery, then the routes.

Errors are Cinder's bodies: `{"itemNotFound": {"code": 404, "message": "..."}}`.
Every /v3 request negotiates a microversion first (MicroversionLayer): 406 for one
we do not serve; the response names the version used (`OpenStack-API-Version:
volume 3.x`).  Cinder's URLs name the project (/v3/{project_id}/volumes; optional
since 3.67): the layer takes it out of the path and keeps it for links.  Each module
of this package is one family of routes, registered in ROUTERS.
"""

from __future__ import annotations

import importlib
import re
from typing import Any

from fastapi import FastAPI, Request
from starlette.types import ASGIApp, Scope

from monostack.common import versioned_api
from monostack.common.http import JSONResponse, base_url, create_app, nova_error
from monostack.volume.api.common import MICROVERSIONS

ROUTERS = ["volumes", "volume_actions", "snapshots", "backups", "types", "qos_specs", "quotas", "limits",
           "availability_zones", "os_services", "backends", "extensions", "transfers", "attachments", "messages",
           "group_types", "groups"]

_PROJECT_IN_PATH = re.compile(r"^/v3/(?P<project>[0-9a-fA-F]{32}|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                              r"[0-9a-fA-F]{4}-[0-9a-fA-F]{12})(?=/|$)")


def _version_v3(request: Request) -> dict[str, Any]:
    return {"id": "v3.0", "status": "CURRENT", "version": str(MICROVERSIONS.maximum),
            "min_version": str(MICROVERSIONS.minimum), "updated": "2022-08-31T00:00:00Z",
            "links": [{"rel": "describedby", "type": "text/html", "href": "https://docs.openstack.org/"},
                      {"rel": "self", "href": f"{base_url(request)}/v3/"}],
            "media-types": [{"base": "application/json",
                             "type": "application/vnd.openstack.volume+json;version=3"}]}


class MicroversionLayer(versioned_api.MicroversionLayer):
    """/v3 requests; the project a URL names is taken out of the path and kept for links."""

    microversions = MICROVERSIONS

    def route(self, scope: Scope, path: str) -> tuple[Scope, bool] | None:
        if not path.startswith("/v3/") or path == "/v3/":
            return None
        project = _PROJECT_IN_PATH.match(path)
        if project:
            scope.setdefault("state", {})["url_project_id"] = project.group("project")
            scope = dict(scope, path=scope.get("root_path", "") + "/v3" + (path[project.end():] or "/"))
        return scope, False


def build(svc: Any, validator: Any, *, max_body_size: int, identity_uri: str = "") -> tuple[FastAPI, ASGIApp]:
    app, asgi = create_app("volume", error_format=nova_error, title="Monostack Block Storage (Cinder v3)",
                           version=str(MICROVERSIONS.maximum), max_body_size=max_body_size)
    app.state.volume = svc
    app.state.validator = validator
    app.state.identity_uri = identity_uri
    app.router.redirect_slashes = False

    @app.get("/", include_in_schema=False)
    async def versions(request: Request) -> JSONResponse:
        # Cinder answers the root with 300 Multiple Choices, as keystoneauth's discovery expects.
        return JSONResponse({"versions": [_version_v3(request)]}, status_code=300)

    @app.get("/v3", include_in_schema=False)
    @app.get("/v3/", include_in_schema=False)
    async def version_v3(request: Request) -> JSONResponse:
        return JSONResponse({"versions": [_version_v3(request)]})

    for name in ROUTERS:
        app.include_router(importlib.import_module(f"monostack.volume.api.{name}").router)
    app.add_middleware(MicroversionLayer)
    return app, asgi
