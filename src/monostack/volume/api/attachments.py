"""/v3/{project_id}/attachments (3.27+): reserve a volume for a server, connect it
with the host's connector, complete, delete.  See service/attachments.py."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from monostack.common import errors
from monostack.common.auth import authenticated
from monostack.common.context import RequestContext
from monostack.common.http import JSONResponse, run_blocking
from monostack.volume.api import views
from monostack.volume.api.common import at_least, authorize, entity, json_body, svc
from monostack.volume.api.volume_actions import connection_info

LOG = logging.getLogger(__name__)
router = APIRouter()


def _check(request: Request) -> None:
    if not at_least(request, "3.27"):
        raise errors.NotFound("The resource could not be found.")


async def _connect(request: Request, attachment: Any, volume: Any, connector: dict[str, Any]) -> Any:
    service = svc(request)
    info = await connection_info(service, volume, connector, attachment.attach_mode == "ro", attachment.id)
    await run_blocking(service.attachments.connect, attachment.id, connector, info)
    return await run_blocking(service.attachments.get, request.scope["monostack.context"], attachment.id)


@router.post("/v3/attachments")
async def create_attachment(request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    _check(request)
    authorize(request, ctx, "volume:attachment_create")
    body = await json_body(request)
    spec = entity(body, "attachment")
    volume_id = spec.get("volume_uuid")
    if not volume_id:
        raise errors.BadRequest("Invalid input for field/attribute attachment. 'volume_uuid' is a required property")
    connector = spec.get("connector")
    if connector is not None and not isinstance(connector, dict):
        raise errors.BadRequest("Invalid input for field/attribute connector. Value must be an object.")
    mode = spec.get("mode", "rw") if at_least(request, "3.54") else "rw"
    service = svc(request)
    attachment, volume = await run_blocking(service.attachments.create, ctx, volume_id, spec.get("instance_uuid"),
                                            mode)
    if connector:
        try:
            attachment, volume = await _connect(request, attachment, volume, connector)
        except Exception:
            await run_blocking(service.attachments.delete, ctx, attachment.id)
            raise
    return JSONResponse({"attachment": views.attachment(attachment, volume)})


@router.get("/v3/attachments")
async def list_attachments(request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    _check(request)
    rows = await run_blocking(svc(request).attachments.list, ctx, dict(request.query_params))
    return JSONResponse({"attachments": [views.attachment(a, v, detail=False) for a, v in rows]})


@router.get("/v3/attachments/detail")
async def list_attachments_detail(request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    _check(request)
    rows = await run_blocking(svc(request).attachments.list, ctx, dict(request.query_params))
    return JSONResponse({"attachments": [views.attachment(a, v) for a, v in rows]})


@router.get("/v3/attachments/{attachment_id}")
async def show_attachment(attachment_id: str, request: Request,
                          ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    _check(request)
    attachment, volume = await run_blocking(svc(request).attachments.get, ctx, attachment_id)
    return JSONResponse({"attachment": views.attachment(attachment, volume)})


@router.put("/v3/attachments/{attachment_id}")
async def update_attachment(attachment_id: str, request: Request,
                            ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    _check(request)
    authorize(request, ctx, "volume:attachment_update")
    body = await json_body(request)
    spec = entity(body, "attachment")
    connector = spec.get("connector")
    if not isinstance(connector, dict) or not connector:
        raise errors.BadRequest("Invalid input for field/attribute attachment. 'connector' is a required property")
    attachment, volume = await run_blocking(svc(request).attachments.check_update, ctx, attachment_id)
    attachment, volume = await _connect(request, attachment, volume, connector)
    return JSONResponse({"attachment": views.attachment(attachment, volume)})


@router.post("/v3/attachments/{attachment_id}/action")
async def attachment_action(attachment_id: str, request: Request,
                            ctx: RequestContext = Depends(authenticated)) -> Response:
    if not at_least(request, "3.44"):
        raise errors.NotFound("The resource could not be found.")
    body = await json_body(request)
    if "os-complete" not in body:
        raise errors.BadRequest("There is no such action in the request body.")
    authorize(request, ctx, "volume:attachment_complete")
    await run_blocking(svc(request).attachments.complete, ctx, attachment_id)
    return Response(status_code=204)


@router.delete("/v3/attachments/{attachment_id}")
async def delete_attachment(attachment_id: str, request: Request,
                            ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    _check(request)
    authorize(request, ctx, "volume:attachment_delete")
    service = svc(request)
    attachment, volume = await run_blocking(service.attachments.get, ctx, attachment_id)
    if attachment.connector:
        try:
            await service.call(volume.host, "terminate_connection", volume.id, attachment.connector)
        except Exception:
            LOG.exception("terminate_connection of volume %s failed; the attachment is removed anyway", volume.id)
    attachment, volume = await run_blocking(service.attachments.delete, ctx, attachment_id)
    return JSONResponse({"attachments": [views.attachment(a, volume, detail=False) for a in volume.attachments]})
