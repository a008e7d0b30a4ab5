"""/v3/{project_id}/volumes: create, list (summary and detail), show, update, delete, metadata."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from monostack.common import errors
from monostack.common.auth import authenticated
from monostack.common.context import RequestContext
from monostack.common.http import JSONResponse, run_blocking
from monostack.volume import models
from monostack.volume.api import metadata, views
from monostack.volume.api.common import (DESCRIPTION, METADATA, NAME, at_least, authorize, entity, json_body,
                                         next_links, paginate, size_of, svc, validate)
from monostack.volume.service.common import bool_param

router = APIRouter()

CREATE = {"type": "object", "properties": {
    "name": NAME, "display_name": NAME, "description": DESCRIPTION, "display_description": DESCRIPTION,
    "volume_type": {"type": ["string", "null"], "maxLength": 255},
    "metadata": METADATA, "snapshot_id": {"type": ["string", "null"]}, "source_volid": {"type": ["string", "null"]},
    "imageRef": {"type": ["string", "null"]}, "image_id": {"type": ["string", "null"]},
    "backup_id": {"type": ["string", "null"]},
    "availability_zone": {"type": ["string", "null"], "maxLength": 255},
    "multiattach": {"type": ["boolean", "string", "null"]}, "consistencygroup_id": {"type": ["string", "null"]},
    "group_id": {"type": ["string", "null"]}, "size": {}, "scheduler_hints": {"type": ["object", "null"]}}}
UPDATE = {"type": "object", "properties": {"name": NAME, "display_name": NAME, "description": DESCRIPTION,
                                           "display_description": DESCRIPTION, "metadata": METADATA},
          "additionalProperties": False}


def type_names(request: Request) -> dict[str, str]:
    with svc(request).db.reader() as session:
        return dict(session.query(models.VolumeType.id, models.VolumeType.name))


async def render(request: Request, ctx: RequestContext, row: Any, *, full: bool = True) -> dict[str, Any]:
    names = await run_blocking(type_names, request)
    return views.volume(request, ctx, row, names, full=full)


@router.post("/v3/volumes")
async def create_volume(request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    authorize(request, ctx, "volume:create")
    body = await json_body(request)
    spec = dict(entity(body, "volume"))
    validate(spec, CREATE)
    spec["name"] = spec.get("name", spec.get("display_name"))
    spec["description"] = spec.get("description", spec.get("display_description"))
    if spec.get("size") is not None:
        spec["size"] = size_of(spec["size"])
    elif not (spec.get("snapshot_id") or spec.get("source_volid") or spec.get("backup_id")):
        raise errors.BadRequest("Invalid input for field/attribute size. Value: None. None is not of type "
                                "'integer', 'string'")
    if not at_least(request, "3.13"):
        spec.pop("group_id", None)
    if spec.get("multiattach") is not None and bool_param(spec["multiattach"], "multiattach"):
        # Cinder removed the flag (Train): only a volume type makes volumes multiattach.
        raise errors.BadRequest("multiattach parameter has been removed. The default behavior is to use multiattach "
                                "enabled volume types. Contact your administrator to create a multiattach enabled "
                                "volume type and use it to create multiattach volumes.")
    spec.pop("multiattach", None)
    service = svc(request)
    image = None
    image_id = spec.get("imageRef") or spec.get("image_id")
    if image_id:
        authorize(request, ctx, "volume:create_from_image")
        if service.images is None:
            raise errors.BadRequest("Invalid input received: no Image service to create the volume from.")
        image = await service.images.get(image_id, ctx.auth_token)
        if image is None:
            raise errors.NotFound(f"Image {image_id} could not be found.")
    if spec.get("backup_id"):
        raise errors.BadRequest("Invalid input received: creating a volume from a backup is done with the "
                                "backup's restore action.")
    row = await run_blocking(service.volumes.create, ctx, spec, image)
    if row.status == "creating":
        service.cast(row.host, "create_volume", row.id, image=image)
    return JSONResponse({"volume": await render(request, ctx, row, full=False)}, status_code=202)


async def _list(request: Request, ctx: RequestContext, detail: bool) -> JSONResponse:
    authorize(request, ctx, "volume:get_all")
    params = dict(request.query_params)
    if "all_tenants" in params and not ctx.is_admin:
        params.pop("all_tenants")
    rows = await run_blocking(svc(request).volumes.list, ctx, params)
    total = len(rows)
    page, limit = paginate(request, rows)
    if detail:
        names = await run_blocking(type_names, request)
        items = [views.volume(request, ctx, r, names) for r in page]
    else:
        items = [views.volume_summary(request, ctx, r) for r in page]
    body: dict[str, Any] = {"volumes": items}
    more = next_links(request, ctx, "volumes/detail" if detail else "volumes", page, limit)
    if more:
        body["volumes_links"] = more
    if at_least(request, "3.45") and bool_param(params.get("with_count", "false"), "with_count"):
        body["count"] = total
    return JSONResponse(body)


@router.get("/v3/volumes")
async def list_volumes(request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    return await _list(request, ctx, detail=False)


@router.get("/v3/volumes/detail")
async def list_volumes_detail(request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    return await _list(request, ctx, detail=True)


@router.get("/v3/volumes/summary")
async def volumes_summary(request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    if not at_least(request, "3.12"):
        raise errors.NotFound("The resource could not be found.")
    authorize(request, ctx, "volume:get_all")
    params = dict(request.query_params)
    rows = await run_blocking(svc(request).volumes.list, ctx, params)
    summary: dict[str, Any] = {"total_size": sum(r.size for r in rows), "total_count": len(rows)}
    if at_least(request, "3.36"):
        metadata: dict[str, list[str]] = {}
        for row in rows:
            for key, value in (row.metadata_ or {}).items():
                metadata.setdefault(key, [])
                if value not in metadata[key]:
                    metadata[key].append(value)
        summary["metadata"] = metadata
    return JSONResponse({"volume-summary": summary})


@router.get("/v3/volumes/{volume_id}")
async def show_volume(volume_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    authorize(request, ctx, "volume:get")
    row = await run_blocking(svc(request).volumes.get, ctx, volume_id)
    return JSONResponse({"volume": await render(request, ctx, row)})


@router.put("/v3/volumes/{volume_id}")
async def update_volume(volume_id: str, request: Request,
                        ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    authorize(request, ctx, "volume:update")
    body = await json_body(request)
    changes = dict(entity(body, "volume"))
    validate(changes, UPDATE)
    if not changes:
        raise errors.BadRequest("Missing required element 'volume' in request body.")
    if "display_name" in changes:
        changes["name"] = changes.pop("display_name")
    if "display_description" in changes:
        changes["description"] = changes.pop("display_description")
    row = await run_blocking(svc(request).volumes.update, ctx, volume_id, changes)
    return JSONResponse({"volume": await render(request, ctx, row, full=False)})


@router.delete("/v3/volumes/{volume_id}")
async def delete_volume(volume_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> Response:
    authorize(request, ctx, "volume:delete")
    params = request.query_params
    cascade = bool_param(params.get("cascade", "false"), "cascade")
    force = bool_param(params.get("force", "false"), "force") if at_least(request, "3.23") else False
    if force:
        authorize(request, ctx, "volume:force_delete")
    service = svc(request)
    row, snapshot_ids = await run_blocking(service.volumes.delete, ctx, volume_id, cascade=cascade, force=force)
    if row is not None:
        service.cast(row.host, "delete_volume", row.id, snapshot_ids)
    return Response(status_code=202)


# -- metadata (volume/api/metadata.py) --------------------------------------------------------
metadata.add_routes(router, "volumes", "volume_id", "volumes", metadata.Rules(
    read="volume:get_volume_metadata", create="volume:create_volume_metadata",
    update="volume:update_volume_metadata", delete="volume:delete_volume_metadata"))
