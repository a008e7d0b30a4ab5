"""The Networking API (Neutron v2.0): version discovery, then the /v2.0 resources.

Errors are Neutron's bodies: `{"NeutronError": {"type": "NetworkNotFound",
"message": "...", "detail": ""}}`.  Each module of this package is one
family of resources (see `common.Resource` for the shared behaviour),
registered in ROUTERS; static paths are registered before `/{id}` ones.
"""

from __future__ import annotations

import importlib
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from starlette.types import ASGIApp

from monostack.common.http import JSONResponse, base_url, create_app, neutron_error

ROUTERS = ["extensions", "quotas", "tags", "networks", "subnets", "subnetpools", "ports", "routers", "floatingips",
           "security_groups", "rbac", "agents", "ip_availability"]

# name, collection of the resources /v2.0 lists
RESOURCES = [("network", "networks"), ("subnet", "subnets"), ("subnetpool", "subnetpools"), ("port", "ports"),
             ("router", "routers"), ("floatingip", "floatingips"), ("security_group", "security-groups"),
             ("security_group_rule", "security-group-rules"), ("rbac_policy", "rbac-policies"),
             ("quota", "quotas"), ("agent", "agents"), ("availability_zone", "availability_zones"),
             ("network_ip_availability", "network-ip-availabilities"), ("extension", "extensions")]


def versions_document(request: Request) -> dict[str, Any]:
    return {"versions": [{"id": "v2.0", "status": "CURRENT",
                          "links": [{"rel": "self", "href": f"{base_url(request)}/v2.0/"}]}]}


def build(svc: Any, validator: Any, *, max_body_size: int, identity_uri: str = "") -> tuple[FastAPI, ASGIApp]:
    app, asgi = create_app("network", error_format=neutron_error, title="Monostack Networking (Neutron v2.0)",
                           version="2.0", max_body_size=max_body_size)
    app.state.network = svc
    app.state.validator = validator
    app.state.identity_uri = identity_uri

    @app.get("/", include_in_schema=False)
    async def versions(request: Request) -> JSONResponse:
        return JSONResponse(versions_document(request))

    @app.get("/v2.0", include_in_schema=False)
    @app.get("/v2.0/", include_in_schema=False)
    async def version(request: Request) -> JSONResponse:
        root = f"{base_url(request)}/v2.0"
        return JSONResponse({"resources": [{"name": name, "collection": collection,
                                            "links": [{"rel": "self", "href": f"{root}/{collection}"}]}
                                           for name, collection in RESOURCES]})

    router = APIRouter()
    for name in ROUTERS:
        importlib.import_module(f"monostack.network.api.{name}").register(router)
    app.include_router(router)
    return app, asgi
