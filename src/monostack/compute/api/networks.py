"""/os-networks and /os-tenant-networks: Nova's read-only views of the Networking service's
networks (deprecated from 2.36, where Nova answers 404), with the caller's token: the networks
it sees, each as Nova shows a Neutron network since nova-network went: its id and its name as
`label`, the nova-network fields empty. Creating or changing networks here went with
nova-network: Nova answers 410."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from monostack.common import errors
from monostack.common.auth import authenticated
from monostack.common.context import RequestContext
from monostack.common.http import JSONResponse
from monostack.compute.api import neutron_proxy
from monostack.compute.api.common import authorize

router = APIRouter()

_FIELDS = ("id", "cidr", "netmask", "gateway", "broadcast", "dns1", "dns2", "cidr_v6", "gateway_v6", "label",
           "netmask_v6")
_ADMIN_FIELDS = ("created_at", "updated_at", "deleted_at", "deleted", "injected", "bridge", "vlan",
                 "vpn_public_address", "vpn_public_port", "vpn_private_address", "dhcp_start", "project_id", "host",
                 "bridge_interface", "multi_host", "priority", "rxtx_base", "mtu", "dhcp_server", "enable_dhcp",
                 "share_address")


def _network_view(ctx: RequestContext, network: dict[str, Any]) -> dict[str, Any]:
    fields = _FIELDS + (_ADMIN_FIELDS if ctx.is_admin else ())
    view: dict[str, Any] = dict.fromkeys(fields)
    view.update(id=network["id"], label=network.get("name"))
    return view


def _tenant_view(network: dict[str, Any]) -> dict[str, Any]:
    return {"id": network["id"], "cidr": "None", "label": network.get("name")}  # Nova's str(None)


async def _networks(request: Request, ctx: RequestContext) -> list[dict[str, Any]]:
    return (await neutron_proxy.call(request, ctx, "GET", "/networks"))["networks"]


async def _network(request: Request, ctx: RequestContext, network_id: str) -> dict[str, Any]:
    response = await neutron_proxy.raw(request, ctx, "GET", f"/networks/{network_id}")
    if response.status_code != 200:
        raise errors.NotFound("Network not found.")
    return response.json()["network"]


@router.get("/v2.1/os-networks")
async def list_networks(request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    authorize(request, ctx, "os_compute_api:os-networks:list")
    return JSONResponse({"networks": [_network_view(ctx, n) for n in await _networks(request, ctx)]})


@router.get("/v2.1/os-networks/{network_id}")
async def show_network(network_id: str, request: Request, ctx: RequestContext = Depends(authenticated)
                       ) -> JSONResponse:
    authorize(request, ctx, "os_compute_api:os-networks:view")
    return JSONResponse({"network": _network_view(ctx, await _network(request, ctx, network_id))})


@router.get("/v2.1/os-tenant-networks")
async def list_tenant_networks(request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    authorize(request, ctx, "os_compute_api:os-tenant-networks:list")
    return JSONResponse({"networks": [_tenant_view(n) for n in await _networks(request, ctx)]})


@router.get("/v2.1/os-tenant-networks/{network_id}")
async def show_tenant_network(network_id: str, request: Request, ctx: RequestContext = Depends(authenticated)
                              ) -> JSONResponse:
    authorize(request, ctx, "os_compute_api:os-tenant-networks:show")
    return JSONResponse({"network": _tenant_view(await _network(request, ctx, network_id))})


@router.post("/v2.1/os-networks")
@router.post("/v2.1/os-networks/add")
@router.post("/v2.1/os-tenant-networks")
@router.delete("/v2.1/os-networks/{network_id}")
@router.delete("/v2.1/os-tenant-networks/{network_id}")
@router.post("/v2.1/os-networks/{network_id}/action")
async def change_networks(request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    neutron_proxy.network(request)
    raise errors.Gone("This resource is no longer available (nova-network is gone).")
