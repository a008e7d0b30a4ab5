"""A server's addresses by network (/v2.1/servers/{id}/ips[/{network}]):
the plain version and address, without the OS-EXT-IPS keys of the server view."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from monostack.common import errors
from monostack.common.auth import authenticated
from monostack.common.context import RequestContext
from monostack.common.http import JSONResponse, run_blocking
from monostack.compute.api import common
from monostack.compute.network_api import addresses

router = APIRouter()


async def _networks(request: Request, ctx: RequestContext, server_id: str, rule: str) -> dict[str, list[Any]]:
    row = await run_blocking(common.svc(request).servers.get, ctx, server_id)
    common.authorize(request, ctx, f"os_compute_api:ips:{rule}", {"project_id": row.project_id})
    return {network: [{"version": a["version"], "addr": a["addr"]} for a in entries]
            for network, entries in addresses(row.network_info).items()}


@router.get("/v2.1/servers/{server_id}/ips")
async def index(server_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    return JSONResponse({"addresses": await _networks(request, ctx, server_id, "index")})


@router.get("/v2.1/servers/{server_id}/ips/{network}")
async def show(server_id: str, network: str, request: Request,
               ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    networks = await _networks(request, ctx, server_id, "show")
    if network not in networks:
        raise errors.NotFound("Instance is not a member of specified network")
    return JSONResponse({network: networks[network]})
