"""/servers/{id}/os-interface: the server's ports (Nova's interfaceAttachments).

Listing and showing read the server's network info.  Attaching and detaching
are the networking seam: without a networking service there is no port to
attach (400) and the user-mode interface cannot be detached (409).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from monostack.common import errors
from monostack.common.auth import authenticated
from monostack.common.context import RequestContext
from monostack.common.http import JSONResponse, run_blocking
from monostack.compute import states
from monostack.compute.api.common import at_least, authorize, svc

router = APIRouter()


def _view(request: Request, vif: dict[str, Any]) -> dict[str, Any]:
    fixed = [{"subnet_id": subnet.get("id"), "ip_address": ip["address"]}
             for subnet in vif["network"].get("subnets", []) for ip in subnet.get("ips", [])]
    view = {"port_state": "ACTIVE" if vif.get("active", True) else "DOWN", "fixed_ips": fixed,
            "port_id": vif["id"], "net_id": vif["network"]["id"], "mac_addr": vif["address"]}
    if at_least(request, "2.70"):
        view["tag"] = vif.get("tag")
    return view


@router.get("/v2.1/servers/{server_id}/os-interface")
async def list_interfaces(server_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    row = await run_blocking(svc(request).servers.get, ctx, server_id)
    authorize(request, ctx, "os_compute_api:os-attach-interfaces:list", {"project_id": row.project_id})
    return JSONResponse({"interfaceAttachments": [_view(request, v) for v in row.network_info or []]})


@router.get("/v2.1/servers/{server_id}/os-interface/{port_id}")
async def show_interface(server_id: str, port_id: str, request: Request,
                         ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    row = await run_blocking(svc(request).servers.get, ctx, server_id)
    authorize(request, ctx, "os_compute_api:os-attach-interfaces:show", {"project_id": row.project_id})
    for vif in row.network_info or []:
        if vif["id"] == port_id:
            return JSONResponse({"interfaceAttachment": _view(request, vif)})
    raise errors.NotFound(f"Instance {server_id} is not attached to port {port_id}.")


@router.post("/v2.1/servers/{server_id}/os-interface")
async def attach_interface(server_id: str, request: Request,
                           ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    row = await run_blocking(svc(request).servers.get, ctx, server_id)
    authorize(request, ctx, "os_compute_api:os-attach-interfaces:create", {"project_id": row.project_id})
    svc(request).servers.check_lock(ctx, row)
    states.check("attach_interface", row.uuid, row.vm_state, row.task_state)
    if not svc(request).network.has_networking:
        raise errors.BadRequest("This cloud has no networking service: there is no network or port to attach.")
    raise errors.BadRequest("Interface attachment is not available.")


@router.delete("/v2.1/servers/{server_id}/os-interface/{port_id}", status_code=202)
async def detach_interface(server_id: str, port_id: str, request: Request,
                           ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    row = await run_blocking(svc(request).servers.get, ctx, server_id)
    authorize(request, ctx, "os_compute_api:os-attach-interfaces:delete", {"project_id": row.project_id})
    svc(request).servers.check_lock(ctx, row)
    states.check("detach_interface", row.uuid, row.vm_state, row.task_state)
    if not any(vif["id"] == port_id for vif in row.network_info or []):
        raise errors.NotFound(f"Port {port_id} is not attached")
    raise errors.Conflict("The user-mode interface of a server without a networking service cannot be detached.")
