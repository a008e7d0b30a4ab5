"""/os-floating-ips, /os-floating-ip-pools and the addFloatingIp / removeFloatingIp actions:
Nova's proxy to the Networking service's floating IPs (deprecated from 2.36, where Nova
answers 404; the actions go at 2.44), with the caller's token, in Nova's shapes: {id, ip, pool,
fixed_ip, instance_id}, a pool being an external network (by name, or id)."""

from __future__ import annotations

import ipaddress
from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from monostack.common import errors
from monostack.common.auth import authenticated
from monostack.common.context import RequestContext
from monostack.common.http import JSONResponse
from monostack.compute.api import neutron_proxy
from monostack.compute.api.common import authorize, json_body, svc
from monostack.compute.api.server_actions import action

router = APIRouter()


async def _pools(request: Request, ctx: RequestContext) -> dict[str, dict[str, Any]]:
    """The external networks by id."""
    body = await neutron_proxy.call(request, ctx, "GET", "/networks", params={"router:external": "True"})
    return {n["id"]: n for n in body["networks"]}


async def _owners(request: Request, ctx: RequestContext, fips: list[dict[str, Any]]) -> dict[str, str]:
    """The server (device) of each port the floating IPs are associated with, in one call."""
    port_ids = sorted({f["port_id"] for f in fips if f.get("port_id")})
    if not port_ids:
        return {}
    ports = (await neutron_proxy.call(request, ctx, "GET", "/ports", params={"id": port_ids}))["ports"]
    return {p["id"]: p.get("device_id") for p in ports if p.get("device_id")}


async def _views(request: Request, ctx: RequestContext, fips: list[dict[str, Any]],
                 pools: dict[str, dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    pools = pools if pools is not None else await _pools(request, ctx)
    owners = await _owners(request, ctx, fips)
    return [{"id": f["id"], "ip": f["floating_ip_address"], "fixed_ip": f.get("fixed_ip_address"),
             "instance_id": owners.get(f.get("port_id") or ""),
             "pool": pools[f["floating_network_id"]]["name"] if f["floating_network_id"] in pools else None}
            for f in fips]


async def _get(request: Request, ctx: RequestContext, fip_id: str) -> dict[str, Any]:
    response = await neutron_proxy.raw(request, ctx, "GET", f"/floatingips/{fip_id}")
    if response.status_code != 200:
        raise errors.NotFound(f"Floating IP not found for ID {fip_id}")
    return response.json()["floatingip"]


async def _by_address(request: Request, ctx: RequestContext, address: Any) -> dict[str, Any]:
    try:
        ipaddress.ip_address(str(address))
    except ValueError:
        raise errors.BadRequest(f"Invalid input for field/attribute address. Value: {address}. "
                                f"'{address}' is not a 'ip_address'") from None
    found = (await neutron_proxy.call(request, ctx, "GET", "/floatingips",
                                      params={"floating_ip_address": str(address)}))["floatingips"]
    if not found:
        raise errors.NotFound("floating IP not found")
    return found[0]


@router.get("/v2.1/os-floating-ips")
async def list_floating_ips(request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    authorize(request, ctx, "os_compute_api:os-floating-ips:list")
    fips = (await neutron_proxy.call(request, ctx, "GET", "/floatingips",
                                     params={"project_id": ctx.project_id}))["floatingips"]
    return JSONResponse({"floating_ips": await _views(request, ctx, fips)})


@router.get("/v2.1/os-floating-ips/{fip_id}")
async def show_floating_ip(fip_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    authorize(request, ctx, "os_compute_api:os-floating-ips:show")
    return JSONResponse({"floating_ip": (await _views(request, ctx, [await _get(request, ctx, fip_id)]))[0]})


@router.post("/v2.1/os-floating-ips")
async def allocate_floating_ip(request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    authorize(request, ctx, "os_compute_api:os-floating-ips:create")
    body = await json_body(request) if await request.body() else None
    pool = body.get("pool") if isinstance(body, dict) else None
    pool = pool or svc(request).conf.compute.default_floating_pool
    pools = await _pools(request, ctx)
    network = pools.get(pool) or next((n for n in pools.values() if n["name"] == pool), None)
    if network is None:
        raise errors.NotFound("Floating IP pool not found.")
    response = await neutron_proxy.raw(request, ctx, "POST", "/floatingips", json={"floatingip": {
        "floating_network_id": network["id"], "project_id": ctx.project_id}})
    if response.status_code == 409 and "quota" in neutron_proxy.message(response).lower():
        raise errors.Forbidden("Maximum number of floating IPs exceeded")
    if response.status_code == 409:  # no address left in the pool (Neutron's IpAddressGenerationFailure)
        raise errors.NotFound(f"No more floating IPs in pool {network['name']}.")
    if response.status_code >= 400:
        raise errors.BadRequest(neutron_proxy.message(response))
    return JSONResponse({"floating_ip": (await _views(request, ctx, [response.json()["floatingip"]], pools))[0]})


@router.delete("/v2.1/os-floating-ips/{fip_id}", status_code=202)
async def release_floating_ip(fip_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> Response:
    authorize(request, ctx, "os_compute_api:os-floating-ips:delete")
    await _get(request, ctx, fip_id)
    # Neutron lets an associated floating IP go at once; Nova's proxy did too.
    await neutron_proxy.call(request, ctx, "DELETE", f"/floatingips/{fip_id}")
    return Response(status_code=202)


@router.get("/v2.1/os-floating-ip-pools")
async def list_pools(request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    authorize(request, ctx, "os_compute_api:os-floating-ip-pools:list")
    pools = await _pools(request, ctx)
    return JSONResponse({"floating_ip_pools": [{"name": n["name"]} for n in
                                               sorted(pools.values(), key=lambda n: n["name"])]})


@action("addFloatingIp", "os-floating-ips:add")
async def add_floating_ip(request: Request, ctx: RequestContext, row: Any, args: Any) -> Response:
    fip = await _by_address(request, ctx, neutron_proxy.action_argument(request, "addFloatingIp", args, "address"))
    ports = (await neutron_proxy.call(request, ctx, "GET", "/ports", params={"device_id": row.uuid}))["ports"]
    choices = [(p, ip["ip_address"]) for p in sorted(ports, key=lambda p: p["id"]) for ip in p.get("fixed_ips") or []
               if ipaddress.ip_address(ip["ip_address"]).version == 4]
    if not choices:
        raise errors.BadRequest("No nw_info cache associated with instance")
    fixed = args.get("fixed_address")  # args is a dict: action_argument checked
    if fixed is not None:
        choices = [c for c in choices if c[1] == fixed]
        if not choices:
            raise errors.BadRequest("Specified fixed address not assigned to instance")
    port, address = choices[0]
    response = await neutron_proxy.raw(request, ctx, "PUT", f"/floatingips/{fip['id']}", json={"floatingip": {
        "port_id": port["id"], "fixed_ip_address": address}})
    if response.status_code >= 400:  # e.g. the port has a floating IP of that network already
        raise errors.BadRequest(f"Unable to associate floating IP {fip['floating_ip_address']} to fixed IP "
                                f"{address} for instance {row.uuid}. Error: {neutron_proxy.message(response)}")
    return Response(status_code=202)


@action("removeFloatingIp", "os-floating-ips:remove")
async def remove_floating_ip(request: Request, ctx: RequestContext, row: Any, args: Any) -> Response:
    fip = await _by_address(request, ctx, neutron_proxy.action_argument(request, "removeFloatingIp", args, "address"))
    if (await _owners(request, ctx, [fip])).get(fip.get("port_id") or "") != row.uuid:
        raise errors.Conflict(f"Floating IP {fip['floating_ip_address']} is not associated with instance "
                              f"{row.uuid}.")
    await neutron_proxy.call(request, ctx, "PUT", f"/floatingips/{fip['id']}", json={"floatingip": {"port_id": None}})
    return Response(status_code=202)
