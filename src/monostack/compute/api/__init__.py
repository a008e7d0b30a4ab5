"""The Compute API (Nova v2.1 with microversions): version discovery, then the routes.

Errors are Nova's bodies: `{"itemNotFound": {"code": 404, "message": "..."}}`.
Every /v2.1 request negotiates a microversion first (MicroversionLayer): 406
for one we do not serve; the response names the version used.  Handlers read
it with `common.version(request)`.  Each module of this package is one
family of routes (servers, actions, flavors, ...), registered in ROUTERS.
"""

from __future__ import annotations

import importlib
import re
from typing import Any

from fastapi import FastAPI, Request
from starlette.types import ASGIApp, Scope

from monostack.common import versioned_api
from monostack.common.http import JSONResponse, base_url, create_app, nova_error
from monostack.compute.api.common import MICROVERSIONS

# Route modules, in the order their paths must match (static paths before /servers/{id}).
ROUTERS = ["servers", "server_actions", "server_backups", "flavors", "keypairs", "quotas", "limits",
           "availability_zones", "aggregates", "os_services", "hypervisors", "server_groups", "usage", "migrations",
           "instance_actions", "server_metadata", "server_tags", "images", "volumes_proxy", "ips", "hosts",
           "instance_usage_audit_log", "server_external_events", "consoles", "interfaces", "volume_attachments",
           "server_password", "diagnostics", "assisted_volume_snapshots", "security_groups", "floating_ips",
           "networks", "multinic", "extensions"]


def _version_v21(request: Request) -> dict[str, Any]:
    return {"id": "v2.1", "status": "CURRENT", "version": str(MICROVERSIONS.maximum),
            "min_version": str(MICROVERSIONS.minimum), "updated": "2013-07-23T11:33:21Z",
            "links": [{"rel": "self", "href": f"{base_url(request)}/v2.1/"}],
            "media-types": [{"base": "application/json", "type": "application/vnd.openstack.compute+json;version=2.1"}]}


def _version_v20(request: Request) -> dict[str, Any]:
    """The legacy v2.0 endpoint (/v2): the v2.1 API at microversion 2.1, as Nova still lists it first."""
    return {"id": "v2.0", "status": "SUPPORTED", "version": "", "min_version": "", "updated": "2011-01-21T11:33:21Z",
            "links": [{"rel": "self", "href": f"{base_url(request)}/v2/"}],
            "media-types": [{"base": "application/json", "type": "application/vnd.openstack.compute+json;version=2"}]}


_PROJECT_IN_PATH = re.compile(r"^/v2(?:\.1)?/(?:[0-9a-fA-F]{32}|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                              r"[0-9a-fA-F]{4}-[0-9a-fA-F]{12})(?=/|$)")


class MicroversionLayer(versioned_api.MicroversionLayer):
    """/v2.1 requests (and the legacy /v2 endpoint: v2.1 without microversions); Nova's URLs may
    name the project (/v2.1/{project_id}/servers is /v2.1/servers)."""

    microversions = MICROVERSIONS

    def route(self, scope: Scope, path: str) -> tuple[Scope, bool] | None:
        if not (path.startswith("/v2.1/") or path.startswith("/v2/")) or path == "/v2/":
            return None
        legacy = path.startswith("/v2/")
        project = _PROJECT_IN_PATH.match(path)
        rest = path[project.end():] if project else path[len("/v2/" if legacy else "/v2.1/") - 1:]
        if project or legacy:
            scope = dict(scope, path=scope.get("root_path", "") + "/v2.1" + (rest or "/"))
        return scope, legacy

    def extra_headers(self, scope: Scope) -> list[tuple[bytes, bytes]]:
        # Nova names the request id twice; clients (and Tempest) read x-compute-request-id.
        ctx = scope.get("monostack.context")
        return [(b"x-compute-request-id", ctx.request_id.encode())] if ctx is not None else []


def build(svc: Any, validator: Any, *, max_body_size: int, identity_uri: str = "") -> tuple[FastAPI, ASGIApp]:
    app, asgi = create_app("compute", error_format=nova_error, title="Monostack Compute (Nova v2.1)",
                           version=str(MICROVERSIONS.maximum), max_body_size=max_body_size)
    app.state.compute = svc
    app.state.validator = validator
    app.state.identity_uri = identity_uri
    # Nova answers /servers/ (a trailing slash) with 404, not a redirect to /servers.
    app.router.redirect_slashes = False

    @app.get("/", include_in_schema=False)
    async def versions(request: Request) -> JSONResponse:
        return JSONResponse({"versions": [_version_v20(request), _version_v21(request)]})

    @app.get("/v2", include_in_schema=False)
    @app.get("/v2/", include_in_schema=False)
    async def version_v20(request: Request) -> JSONResponse:
        return JSONResponse({"version": _version_v20(request)})

    @app.get("/v2.1", include_in_schema=False)
    @app.get("/v2.1/", include_in_schema=False)
    async def version_v21(request: Request) -> JSONResponse:
        return JSONResponse({"version": _version_v21(request)})

    for name in ROUTERS:
        app.include_router(importlib.import_module(f"monostack.compute.api.{name}").router)
    # The middleware stack wraps this layer, so even a 406 carries the request id.
    app.add_middleware(MicroversionLayer)
    return app, asgi
