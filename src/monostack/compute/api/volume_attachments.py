"""/servers/{id}/os-volume_attachments: the server's volumes (Nova's volumeAttachments).

Listing and showing read the server's volume block device mappings.  Attaching
reserves the volume in Block Storage (compute/volume_api.py), records the
mapping and asks the server's agent to connect and hot-plug it, waiting for it
as Nova's reserve_block_device_name does; detaching is answered at once (202)
and done by the agent.  A shelved-offloaded server (2.20+) has no agent: the
volume is attached (or detached) in Block Storage and the mapping recorded, and
the host it is unshelved on connects it.  Without a Block Storage service no volume exists (404,
as Nova answers for an unknown volume).
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from monostack.common import errors
from monostack.common.auth import authenticated
from monostack.common.context import RequestContext
from monostack.common.http import JSONResponse, run_blocking
from monostack.compute import states
from monostack.compute.api.common import at_least, authorize, json_body, svc
from monostack.compute.volume_api import MULTIATTACH_MICROVERSION

router = APIRouter()
_DEVICE = re.compile(r"^/dev/x{0,1}[a-z]{0,1}d{0,1}[a-z]+$")


def _view(request: Request, row: Any, bdm: Any) -> dict[str, Any]:
    view = {"id": bdm.volume_id, "serverId": row.uuid, "volumeId": bdm.volume_id, "device": bdm.device_name}
    if at_least(request, "2.70"):
        view["tag"] = bdm.tag
    if at_least(request, "2.79"):
        view["delete_on_termination"] = bool(bdm.delete_on_termination)
    if at_least(request, "2.89"):
        view.pop("id")
        view.update(attachment_id=bdm.attachment_id, bdm_uuid=bdm.uuid)
    return view


@router.get("/v2.1/servers/{server_id}/os-volume_attachments")
async def list_attachments(server_id: str, request: Request,
                           ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    service = svc(request)
    row = await run_blocking(service.servers.get, ctx, server_id)
    authorize(request, ctx, "os_compute_api:os-volumes-attachments:index", {"project_id": row.project_id})
    bdms = await run_blocking(service.servers.volumes, server_id)
    return JSONResponse({"volumeAttachments": [_view(request, row, b) for b in bdms]})


@router.get("/v2.1/servers/{server_id}/os-volume_attachments/{volume_id}")
async def show_attachment(server_id: str, volume_id: str, request: Request,
                          ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    service = svc(request)
    row = await run_blocking(service.servers.get, ctx, server_id)
    authorize(request, ctx, "os_compute_api:os-volumes-attachments:show", {"project_id": row.project_id})
    for bdm in await run_blocking(service.servers.volumes, server_id):
        if bdm.volume_id == volume_id:
            return JSONResponse({"volumeAttachment": _view(request, row, bdm)})
    raise errors.NotFound(f"Instance {server_id} is not attached to volume {volume_id}.")


@router.post("/v2.1/servers/{server_id}/os-volume_attachments")
async def attach_volume(server_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    body = await json_body(request)
    attachment = body.get("volumeAttachment")
    if not isinstance(attachment, dict) or not isinstance(attachment.get("volumeId"), str):
        raise errors.BadRequest("Invalid input for field/attribute volumeAttachment. "
                                "'volumeId' is a required property")
    device = attachment.get("device")
    if device is not None and (not isinstance(device, str) or not _DEVICE.match(device)):
        raise errors.BadRequest(f"The supplied device path ({device}) is invalid.")
    delete_on_termination = attachment.get("delete_on_termination", False)
    if "delete_on_termination" in attachment and (not at_least(request, "2.79") or
                                                  not isinstance(delete_on_termination, bool)):
        raise errors.BadRequest("Invalid input for field/attribute volumeAttachment. Additional properties are "
                                "not allowed ('delete_on_termination' was unexpected)")
    service = svc(request)
    row = await run_blocking(service.servers.get, ctx, server_id)
    authorize(request, ctx, "os_compute_api:os-volumes-attachments:create", {"project_id": row.project_id})
    service.servers.check_lock(ctx, row)
    states.check("attach_volume", row.uuid, row.vm_state, row.task_state)
    volume_id = attachment["volumeId"]
    if service.volumes is None or not await service.volumes.available():
        raise errors.NotFound(f"Volume {volume_id} could not be found.")
    volume = await service.volumes.get(volume_id, ctx)
    service.volumes.check_attachable(volume, row.uuid, at_least(request, MULTIATTACH_MICROVERSION))
    if not row.host and volume.get("multiattach"):
        # As Nova: without a host nobody can tell whether the next one can share the volume.
        raise errors.BadRequest("Attaching multiattach volumes is not supported for shelved-offloaded instances.")
    if not row.host and not at_least(request, "2.20"):
        raise errors.Conflict(f"Cannot 'attach_volume' instance {row.uuid} while it is in vm_state "
                              f"{row.vm_state}")
    await run_blocking(service.actions.record, ctx, row.uuid, "attach_volume")
    reserved = await service.volumes.attachment_create(volume_id, row.uuid, ctx)
    try:
        bdm = await run_blocking(service.servers.add_block_device, row.uuid, source_type="volume",
                                 destination_type="volume", volume_id=volume_id, device_name=device,
                                 attachment_id=reserved["id"], tag=attachment.get("tag"),
                                 delete_on_termination=bool(delete_on_termination), device_type="disk")
        if row.host:
            await service.conductor.call_agent(row, "attach_volume", instance_uuid=row.uuid, bdm_uuid=bdm.uuid)
        else:
            # Shelved-offloaded (2.20+): no host to connect it yet; the volume is in-use at once and
            # the host the server is unshelved on connects it (Nova's _attach_volume_shelved_offloaded).
            await service.volumes.attachment_complete(reserved["id"])
    except BaseException:
        await service.volumes.attachment_delete(reserved["id"])
        if "bdm" in locals():
            await run_blocking(service.servers.remove_block_device, bdm.uuid)
        raise
    return JSONResponse({"volumeAttachment": _view(request, row, bdm)})


@router.put("/v2.1/servers/{server_id}/os-volume_attachments/{volume_id}", status_code=202)
async def update_attachment(server_id: str, volume_id: str, request: Request,
                            ctx: RequestContext = Depends(authenticated)) -> Response:
    """2.85+: the attachment's delete_on_termination.  Swapping to another volume (Nova's swap
    volume) is not offered by this driver: 409."""
    body = await json_body(request)
    attachment = body.get("volumeAttachment") if isinstance(body, dict) else None
    if not isinstance(attachment, dict) or not isinstance(attachment.get("volumeId"), str):
        raise errors.BadRequest("Invalid input for field/attribute volumeAttachment. "
                                "'volumeId' is a required property")
    service = svc(request)
    row = await run_blocking(service.servers.get, ctx, server_id)
    swap = attachment["volumeId"] != volume_id
    authorize(request, ctx, "os_compute_api:os-volumes-attachments:swap" if swap
              else "os_compute_api:os-volumes-attachments:update", {"project_id": row.project_id})
    service.servers.check_lock(ctx, row)
    bdm = next((b for b in await run_blocking(service.servers.volumes, server_id) if b.volume_id == volume_id), None)
    if bdm is None:
        raise errors.NotFound(f"volume_id not found: {volume_id}")
    if swap:
        if service.volumes is None or not await service.volumes.available():
            raise errors.NotFound(f"Volume {attachment['volumeId']} could not be found.")
        await service.volumes.get(attachment["volumeId"], ctx)  # 404 for a volume that is not there
        raise errors.Conflict("Swapping the volume of an attachment is not supported by this cloud's "
                              "compute driver.")
    if not at_least(request, "2.85"):
        raise errors.BadRequest(f"Volume {volume_id} is the volume attached: nothing to swap.")
    allowed = {"volumeId", "delete_on_termination", "device", "tag", "id", "serverId"}
    extra = set(attachment) - allowed
    if extra:
        raise errors.BadRequest("Invalid input for field/attribute volumeAttachment. Additional properties are "
                                f"not allowed ({', '.join(sorted(repr(k) for k in extra))} were unexpected)")
    for key, current in (("device", bdm.device_name), ("tag", bdm.tag), ("id", volume_id), ("serverId", row.uuid)):
        if key in attachment and attachment[key] != current:
            raise errors.BadRequest(f"The {key} of a volume attachment cannot be changed.")
    if "delete_on_termination" in attachment:
        if not isinstance(attachment["delete_on_termination"], bool):
            raise errors.BadRequest("Invalid input for field/attribute delete_on_termination.")
        await run_blocking(service.servers.update_block_device, bdm.uuid,
                           delete_on_termination=attachment["delete_on_termination"])
    return Response(status_code=202)


@router.delete("/v2.1/servers/{server_id}/os-volume_attachments/{volume_id}", status_code=202)
async def detach_volume(server_id: str, volume_id: str, request: Request,
                        ctx: RequestContext = Depends(authenticated)) -> Response:
    service = svc(request)
    row = await run_blocking(service.servers.get, ctx, server_id)
    authorize(request, ctx, "os_compute_api:os-volumes-attachments:delete", {"project_id": row.project_id})
    service.servers.check_lock(ctx, row)
    states.check("detach_volume", row.uuid, row.vm_state, row.task_state)
    bdm = next((b for b in await run_blocking(service.servers.volumes, server_id) if b.volume_id == volume_id), None)
    if bdm is None:
        raise errors.NotFound(f"Volume {volume_id} is not attached to instance {server_id}.")
    if bdm.boot_index == 0:
        raise errors.BadRequest("Can't detach root device volume")
    if not row.host and not at_least(request, "2.20"):
        raise errors.Conflict(f"Cannot 'detach_volume' instance {row.uuid} while it is in vm_state {row.vm_state}")
    await run_blocking(service.actions.record, ctx, row.uuid, "detach_volume")
    if not row.host:
        # Shelved-offloaded (2.20+): no guest holds it; the attachment and the mapping go now.
        if bdm.attachment_id:
            await service.volumes.attachment_delete(bdm.attachment_id)
        await run_blocking(service.servers.remove_block_device, bdm.uuid)
        return Response(status_code=202)
    # As Nova: answered at once; the volume is available once the guest let go of it.
    await service.conductor.bus.cast("compute", "detach_volume", ctx, server=row.host, instance_uuid=row.uuid,
                                     bdm_uuid=bdm.uuid)
    return Response(status_code=202)
