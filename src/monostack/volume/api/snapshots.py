"""/v3/{project_id}/snapshots: create (force for in-use volumes before 3.66), list,
detail, show, update, delete, metadata, and the snapshot actions (status reset,
force delete)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from monostack.common import errors
from monostack.common.auth import authenticated
from monostack.common.context import RequestContext
from monostack.common.http import JSONResponse, run_blocking
from monostack.volume.api import metadata, views
from monostack.volume.api.common import (DESCRIPTION, METADATA, NAME, at_least, authorize, entity, json_body,
                                         next_links, paginate, svc, validate)
from monostack.volume.service.common import bool_param

router = APIRouter()

CREATE = {"type": "object", "properties": {
    "volume_id": {"type": ["string", "null"]}, "name": NAME, "display_name": NAME, "description": DESCRIPTION,
    "display_description": DESCRIPTION, "force": {"type": ["boolean", "string", "null"]}, "metadata": METADATA},
    "required": ["volume_id"]}
UPDATE = {"type": "object", "properties": {"name": NAME, "display_name": NAME, "description": DESCRIPTION,
                                           "display_description": DESCRIPTION}, "additionalProperties": False}


@router.post("/v3/snapshots")
async def create_snapshot(request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    authorize(request, ctx, "volume:create_snapshot")
    body = await json_body(request)
    spec = dict(entity(body, "snapshot"))
    validate(spec, CREATE)
    spec["name"] = spec.get("name", spec.get("display_name"))
    spec["description"] = spec.get("description", spec.get("display_description"))
    if spec.get("force") is not None:
        bool_param(spec["force"], "force")
    service = svc(request)
    row, volume = await run_blocking(service.snapshots.create, ctx, spec, in_use_allowed=at_least(request, "3.66"))
    service.cast(volume.host, "create_snapshot", row.id, volume.id)
    return JSONResponse({"snapshot": views.snapshot(request, ctx, row, full=False)}, status_code=202)


async def _list(request: Request, ctx: RequestContext, detail: bool) -> JSONResponse:
    authorize(request, ctx, "volume:get_all_snapshots")
    params = dict(request.query_params)
    rows = await run_blocking(svc(request).snapshots.list, ctx, params)
    total = len(rows)
    page, limit = paginate(request, rows)
    items = [views.snapshot(request, ctx, r, full=detail) for r in page]
    body: dict[str, Any] = {"snapshots": items}
    more = next_links(request, ctx, "snapshots/detail" if detail else "snapshots", page, limit)
    if more:
        body["snapshots_links"] = more
    if at_least(request, "3.45") and bool_param(params.get("with_count", "false"), "with_count"):
        body["count"] = total
    return JSONResponse(body)


@router.get("/v3/snapshots")
async def list_snapshots(request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    return await _list(request, ctx, False)


@router.get("/v3/snapshots/detail")
async def list_snapshots_detail(request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    return await _list(request, ctx, True)


@router.get("/v3/snapshots/{snapshot_id}")
async def show_snapshot(snapshot_id: str, request: Request,
                        ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    authorize(request, ctx, "volume:get_snapshot")
    row = await run_blocking(svc(request).snapshots.get, ctx, snapshot_id)
    return JSONResponse({"snapshot": views.snapshot(request, ctx, row)})


@router.put("/v3/snapshots/{snapshot_id}")
async def update_snapshot(snapshot_id: str, request: Request,
                          ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    authorize(request, ctx, "volume:update_snapshot")
    body = await json_body(request)
    changes = dict(entity(body, "snapshot"))
    validate(changes, UPDATE)
    if not changes:
        raise errors.BadRequest("Missing required element 'snapshot' in request body.")
    if "display_name" in changes:
        changes["name"] = changes.pop("display_name")
    if "display_description" in changes:
        changes["description"] = changes.pop("display_description")
    row = await run_blocking(svc(request).snapshots.update, ctx, snapshot_id, changes)
    return JSONResponse({"snapshot": views.snapshot(request, ctx, row, full=False)})


@router.delete("/v3/snapshots/{snapshot_id}")
async def delete_snapshot(snapshot_id: str, request: Request,
                          ctx: RequestContext = Depends(authenticated)) -> Response:
    authorize(request, ctx, "volume:delete_snapshot")
    await _delete(request, ctx, snapshot_id, force=False)
    return Response(status_code=202)


async def _delete(request: Request, ctx: RequestContext, snapshot_id: str, force: bool) -> None:
    service = svc(request)
    row, volume = await run_blocking(service.snapshots.delete, ctx, snapshot_id, force=force)
    if volume is None or volume.host is None:
        await run_blocking(service.snapshots.purge, row.id)
    else:
        service.cast(volume.host, "delete_snapshot", row.id, volume.id)


@router.post("/v3/snapshots/{snapshot_id}/action")
async def snapshot_action(snapshot_id: str, request: Request,
                          ctx: RequestContext = Depends(authenticated)) -> Response:
    body = await json_body(request)
    if "os-reset_status" in body:
        authorize(request, ctx, "volume_extension:snapshot_admin_actions:reset_status")
        arg = body["os-reset_status"] or {}
        if not isinstance(arg, dict) or "status" not in arg:
            raise errors.BadRequest("Invalid input for field/attribute os-reset_status. 'status' is a required "
                                    "property")
        await run_blocking(svc(request).snapshots.reset_status, ctx, snapshot_id, arg["status"])
        return Response(status_code=202)
    if "os-force_delete" in body:
        authorize(request, ctx, "volume_extension:snapshot_admin_actions:force_delete")
        await _delete(request, ctx, snapshot_id, force=True)
        return Response(status_code=202)
    if "os-update_snapshot_status" in body:
        # Nova's callback while it takes an assisted snapshot of an in-use volume.
        arg = body["os-update_snapshot_status"] or {}
        authorize(request, ctx, "snapshot_extension:snapshot_actions:update_snapshot_status")
        if not isinstance(arg, dict) or arg.get("status") not in ("creating", "available", "error"):
            raise errors.BadRequest("Invalid input received: status must be creating, available or error.")
        await run_blocking(svc(request).snapshots.update_status, ctx, snapshot_id, arg["status"],
                           arg.get("progress"))
        return Response(status_code=202)
    raise errors.BadRequest("There is no such action in the request body.")


# -- metadata (volume/api/metadata.py) --------------------------------------------------------
metadata.add_routes(router, "snapshots", "snapshot_id", "snapshots", metadata.Rules(
    read="volume:get_snapshot", create="volume:snapshot_metadata", update="volume:snapshot_metadata",
    delete="volume:snapshot_metadata"))
