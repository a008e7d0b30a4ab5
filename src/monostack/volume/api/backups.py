"""/v3/{project_id}/backups: create, list, detail, show, delete, restore, status reset."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from monostack.common import errors
from monostack.common.auth import authenticated
from monostack.common.context import RequestContext
from monostack.common.http import JSONResponse, run_blocking
from monostack.volume import models
from monostack.volume.api import views
from monostack.volume.api.common import (DESCRIPTION, METADATA, NAME, at_least, authorize, entity, json_body,
                                         links, next_links, paginate, svc, validate)
from monostack.volume.service.common import bool_param

router = APIRouter()
# Named as Cinder's backup drivers are (clients check the prefix).
SERVICE = "cinder.backup.drivers.monostack"

CREATE = {"type": "object", "properties": {
    "volume_id": {"type": "string"}, "container": {"type": ["string", "null"], "maxLength": 255},
    "name": NAME, "description": DESCRIPTION, "incremental": {"type": ["boolean", "string", "null"]},
    "force": {"type": ["boolean", "string", "null"]}, "snapshot_id": {"type": ["string", "null"]},
    "metadata": METADATA, "availability_zone": {"type": ["string", "null"]}}, "required": ["volume_id"]}


def _dependents(service: Any, rows: list[Any]) -> set[str]:
    with service.db.reader() as session:
        ids = [r.id for r in rows]
        return {p for (p,) in session.query(models.Backup.parent_id).filter(models.Backup.parent_id.in_(ids))}


async def _view(request: Request, ctx: RequestContext, row: Any) -> dict[str, Any]:
    deps = await run_blocking(_dependents, svc(request), [row])
    return views.backup(request, ctx, row, row.id in deps)


@router.post("/v3/backups")
async def create_backup(request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    authorize(request, ctx, "backup:create")
    body = await json_body(request)
    spec = dict(entity(body, "backup"))
    validate(spec, CREATE)
    service = svc(request)
    row, volume = await run_blocking(service.backups.create, ctx, spec)
    service.cast(volume.host, "create_backup", row.id, volume.id)
    return JSONResponse({"backup": {"id": row.id, "name": row.name, "links": links(request, ctx, "backups", row.id)}},
                        status_code=202)


async def _list(request: Request, ctx: RequestContext, detail: bool) -> JSONResponse:
    authorize(request, ctx, "backup:get_all")
    params = dict(request.query_params)
    rows = await run_blocking(svc(request).backups.list, ctx, params)
    total = len(rows)
    page, limit = paginate(request, rows)
    if detail:
        deps = await run_blocking(_dependents, svc(request), page)
        items = [views.backup(request, ctx, r, r.id in deps) for r in page]
    else:
        items = [{"id": r.id, "name": r.name, "links": links(request, ctx, "backups", r.id)} for r in page]
    body: dict[str, Any] = {"backups": items}
    more = next_links(request, ctx, "backups/detail" if detail else "backups", page, limit)
    if more:
        body["backups_links"] = more
    if at_least(request, "3.45") and bool_param(params.get("with_count", "false"), "with_count"):
        body["count"] = total
    return JSONResponse(body)


@router.get("/v3/backups")
async def list_backups(request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    return await _list(request, ctx, False)


@router.get("/v3/backups/detail")
async def list_backups_detail(request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    return await _list(request, ctx, True)


@router.get("/v3/backups/{backup_id}/export_record")
async def export_record(backup_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    authorize(request, ctx, "backup:export-import")
    record = await run_blocking(svc(request).backups.export_record, ctx, backup_id)
    url = base64.b64encode(json.dumps(record).encode()).decode()
    return JSONResponse({"backup-record": {"backup_service": SERVICE, "backup_url": url}})


@router.post("/v3/backups/import_record")
async def import_record(request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    authorize(request, ctx, "backup:export-import")
    spec = entity(await json_body(request), "backup-record")
    if spec.get("backup_service") != SERVICE:
        raise errors.BadRequest(f"Invalid input received: Unsupported backup service {spec.get('backup_service')}.")
    try:
        record = json.loads(base64.b64decode(str(spec.get("backup_url") or ""), validate=True))
        assert isinstance(record, dict)
    except (ValueError, AssertionError, binascii.Error):
        raise errors.BadRequest("Invalid input received: Can't parse backup record.") from None
    row = await run_blocking(svc(request).backups.import_record, ctx, record)
    return JSONResponse({"backup": {"id": row.id, "name": row.name, "links": links(request, ctx, "backups", row.id)}},
                        status_code=201)


@router.get("/v3/backups/{backup_id}")
async def show_backup(backup_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    authorize(request, ctx, "backup:get")
    row = await run_blocking(svc(request).backups.get, ctx, backup_id)
    return JSONResponse({"backup": await _view(request, ctx, row)})


@router.put("/v3/backups/{backup_id}")
async def update_backup(backup_id: str, request: Request,
                        ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    if not at_least(request, "3.9"):
        raise errors.MethodNotAllowed()
    authorize(request, ctx, "backup:update")
    body = await json_body(request)
    changes = entity(body, "backup")
    validate(changes, {"type": "object", "properties": {"name": NAME, "description": DESCRIPTION,
                                                        "metadata": METADATA}, "additionalProperties": False})
    row = await run_blocking(_update, svc(request), ctx, backup_id, changes)
    return JSONResponse({"backup": {"id": row.id, "name": row.name, "links": links(request, ctx, "backups", row.id)}})


def _update(service: Any, ctx: RequestContext, backup_id: str, changes: dict[str, Any]) -> Any:
    from monostack.volume.service.common import get_owned, utcnow
    with service.db.writer() as session:
        row = get_owned(session, models.Backup, ctx, backup_id)
        for key in ("name", "description"):
            if key in changes:
                setattr(row, key, changes[key])
        if "metadata" in changes:
            row.metadata_ = dict(changes["metadata"] or {})
        row.updated_at = utcnow()
        return row


@router.delete("/v3/backups/{backup_id}")
async def delete_backup(backup_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> Response:
    authorize(request, ctx, "backup:delete")
    await _delete(request, ctx, backup_id, False)
    return Response(status_code=202)


async def _delete(request: Request, ctx: RequestContext, backup_id: str, force: bool) -> None:
    service = svc(request)
    row = await run_blocking(service.backups.delete, ctx, backup_id, force=force)
    try:
        service.cast(row.host, "delete_backup", row.id)
    except errors.ServiceUnavailable:
        # The backup's backend is gone: any backend of this process reaches the store.
        if not service.managers:
            raise
        service.cast(next(iter(service.managers)), "delete_backup", row.id)


@router.post("/v3/backups/{backup_id}/restore")
async def restore_backup(backup_id: str, request: Request,
                         ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    authorize(request, ctx, "backup:restore")
    body = await json_body(request)
    spec = body.get("restore")
    if not isinstance(spec, dict):
        raise errors.BadRequest("Missing required element 'restore' in request body.")
    service = svc(request)
    backup, volume = await run_blocking(service.backups.restore, ctx, backup_id, spec.get("volume_id"),
                                        spec.get("name"))
    service.cast(volume.host, "restore_backup", backup.id, volume.id, new_volume=not spec.get("volume_id"))
    return JSONResponse({"restore": {"backup_id": backup.id, "volume_id": volume.id, "volume_name": volume.name}},
                        status_code=202)


@router.post("/v3/backups/{backup_id}/action")
async def backup_action(backup_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> Response:
    body = await json_body(request)
    if "os-reset_status" in body:
        authorize(request, ctx, "volume_extension:backup_admin_actions:reset_status")
        arg = body["os-reset_status"] or {}
        if not isinstance(arg, dict) or "status" not in arg:
            raise errors.BadRequest("Invalid input for field/attribute os-reset_status. 'status' is a required "
                                    "property")
        await run_blocking(svc(request).backups.reset_status, ctx, backup_id, arg["status"])
        return Response(status_code=202)
    if "os-force_delete" in body:
        authorize(request, ctx, "volume_extension:backup_admin_actions:force_delete")
        await _delete(request, ctx, backup_id, True)
        return Response(status_code=202)
    raise errors.BadRequest("There is no such action in the request body.")
