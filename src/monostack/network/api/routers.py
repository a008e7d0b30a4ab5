"""/v2.0/routers, with the interface and extra-route actions."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from monostack.common.auth import authenticated
from monostack.common.context import RequestContext
from monostack.common.http import JSONResponse, run_blocking
from monostack.network.api import attributes as a
from monostack.network.api.attributes import Attr
from monostack.network.api.common import Resource, authorize, bad_request, json_body, svc

ATTRS = {
    **a.standard(),
    "name": Attr(a.string(255)),
    "admin_state_up": Attr(a.boolean, kind="bool"),
    "status": Attr(post=False, put=False),
    "external_gateway_info": Attr(a.gateway_info, policy=True, kind="dict", sortable=False),
    "routes": Attr(a.list_of(a.route), post=False, kind="list", sortable=False),
    "distributed": Attr(a.boolean, policy=True, read_policy=True, kind="bool"),
    "ha": Attr(a.boolean, policy=True, read_policy=True, kind="bool"),
    "availability_zone_hints": Attr(a.list_of(a.string(255)), put=False, kind="list", sortable=False),
    "availability_zones": Attr(post=False, put=False, kind="list", sortable=False),
    "flavor_id": Attr(post=False, put=False),
}


def _create(s: Any, ctx: RequestContext, body: dict[str, Any]) -> dict[str, Any]:
    for flag in ("distributed", "ha"):
        if body.pop(flag, False):
            raise bad_request(f"Invalid input for {flag}. Reason: {flag} routers are not supported.")
    return s.create_router(ctx, body)


def _update(s: Any, ctx: RequestContext, router_id: str, body: dict[str, Any], rev: int | None = None) -> Any:
    for flag in ("distributed", "ha"):
        if body.pop(flag, False):
            raise bad_request(f"Invalid input for {flag}. Reason: {flag} routers are not supported.")
    return s.update_router(ctx, router_id, body, rev)


RESOURCE = Resource(
    collection="routers", member="router", attrs=ATTRS,
    list=lambda s, ctx: s.list_routers(ctx), get=lambda s, ctx, i: s.get_router(ctx, i),
    create=_create, update=_update, delete=lambda s, ctx, i: s.delete_router(ctx, i))


def _interface_body(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise bad_request("Resource body required")
    clean = {}
    for key in ("subnet_id", "port_id"):
        if key in body:
            try:
                clean[key] = a.uuid_str(body[key])
            except a.Invalid as err:
                raise bad_request(f"Invalid input for {key}. Reason: {err}.") from None
    return clean


def _routes_body(body: Any) -> list[dict[str, str]]:
    if not isinstance(body, dict) or not isinstance(body.get("router"), dict) or "routes" not in body["router"]:
        raise bad_request("Unable to find 'router' with 'routes' in request body")
    try:
        return a.list_of(a.route)(body["router"]["routes"])
    except a.Invalid as err:
        raise bad_request(f"Invalid input for routes. Reason: {err}.") from None


def register(router: APIRouter) -> None:
    RESOURCE.register(router)

    async def _router_for_action(request: Request, ctx: RequestContext, router_id: str, rule: str) -> None:
        current = await run_blocking(svc(request).get_router, ctx, router_id)
        authorize(request, ctx, rule, {"project_id": current["project_id"], "tenant_id": current["project_id"]})

    @router.put("/v2.0/routers/{router_id}/add_router_interface")
    async def add_interface(router_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> Any:
        body = _interface_body(await json_body(request))
        await _router_for_action(request, ctx, router_id, "add_router_interface")
        return JSONResponse(await run_blocking(svc(request).add_router_interface, ctx, router_id, body))

    @router.put("/v2.0/routers/{router_id}/remove_router_interface")
    async def remove_interface(router_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> Any:
        body = _interface_body(await json_body(request))
        await _router_for_action(request, ctx, router_id, "remove_router_interface")
        return JSONResponse(await run_blocking(svc(request).remove_router_interface, ctx, router_id, body))

    @router.put("/v2.0/routers/{router_id}/add_extraroutes")
    async def add_routes(router_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> Any:
        routes = _routes_body(await json_body(request))
        await _router_for_action(request, ctx, router_id, "add_extraroutes")
        result = await run_blocking(svc(request).add_extraroutes, ctx, router_id, routes)
        return JSONResponse({"router": RESOURCE.visible_fields(request, ctx, result, None)})

    @router.put("/v2.0/routers/{router_id}/remove_extraroutes")
    async def remove_routes(router_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> Any:
        routes = _routes_body(await json_body(request))
        await _router_for_action(request, ctx, router_id, "remove_extraroutes")
        result = await run_blocking(svc(request).remove_extraroutes, ctx, router_id, routes)
        return JSONResponse({"router": RESOURCE.visible_fields(request, ctx, result, None)})
