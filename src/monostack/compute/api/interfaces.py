"""/servers/{id}/os-interface: the server's ports (Nova's interfaceAttachments).

Listing and showing read the server's network info.  Attaching asks the
server's agent (and waits, as Nova does): a port made on the network (or the
user's port) is bound to the host, plugged and hot-plugged into the guest.
Detaching is answered at once (202) and done by the agent.  Without a
networking service there is no port to attach (400) and the user-mode
interface cannot be detached (409).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from monostack.common import errors
from monostack.common.auth import authenticated
from monostack.common.context import RequestContext
from monostack.common.http import JSONResponse, run_blocking
from monostack.compute import states
from monostack.compute.api.common import at_least, authorize, json_body, svc

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
    service = svc(request)
    if not service.network.has_networking:
        raise errors.BadRequest("This cloud has no networking service: there is no network or port to attach.")
    body = await json_body(request)
    attachment = body.get("interfaceAttachment") if isinstance(body, dict) else None
    if not isinstance(attachment, dict):
        raise errors.BadRequest("Invalid input for field/attribute interfaceAttachment.")
    port_id, net_id = attachment.get("port_id"), attachment.get("net_id")
    fixed = attachment.get("fixed_ips") or []
    if port_id and net_id:
        raise errors.BadRequest("Must not input both network_id and port_id")
    if fixed and not net_id:
        raise errors.BadRequest("Must input network_id when request IP address")
    if len(fixed) > 1:
        raise errors.BadRequest("Invalid input for field/attribute fixed_ips. Value: ... is too long")
    if port_id:
        requested: Any = [{"port": port_id}]
    elif net_id:
        requested = [{"uuid": net_id, **({"fixed_ip": fixed[0].get("ip_address")} if fixed else {})}]
    else:
        requested = None  # the one network the project has (Nova: or 409 when several)
    resolved = await service.network.validate(requested, ctx)
    if not resolved:
        raise errors.BadRequest("No network is available to attach an interface to.")
    await run_blocking(service.actions.record, ctx, row.uuid, "attach_interface")
    vif = await service.conductor.call_agent(row, "attach_interface", instance_uuid=row.uuid, item={
        k: v for k, v in resolved[0].items() if k in ("port", "uuid", "fixed_ip") and v})
    return JSONResponse({"interfaceAttachment": _view(request, vif)})


@router.delete("/v2.1/servers/{server_id}/os-interface/{port_id}", status_code=202)
async def detach_interface(server_id: str, port_id: str, request: Request,
                           ctx: RequestContext = Depends(authenticated)) -> Response:
    row = await run_blocking(svc(request).servers.get, ctx, server_id)
    authorize(request, ctx, "os_compute_api:os-attach-interfaces:delete", {"project_id": row.project_id})
    svc(request).servers.check_lock(ctx, row)
    states.check("detach_interface", row.uuid, row.vm_state, row.task_state)
    if not any(vif["id"] == port_id for vif in row.network_info or []):
        raise errors.NotFound(f"Port {port_id} is not attached")
    service = svc(request)
    if not service.network.has_networking:
        raise errors.Conflict("The user-mode interface of a server without a networking service cannot be "
                              "detached.")
    if not row.host:
        raise errors.Conflict(f"Cannot 'detach_interface' instance {row.uuid} while it is not on a host.")
    await run_blocking(service.actions.record, ctx, row.uuid, "detach_interface")
    await service.conductor.bus.cast("compute", "detach_interface", ctx, server=row.host, instance_uuid=row.uuid,
                                     port_id=port_id)
    return Response(status_code=202)
