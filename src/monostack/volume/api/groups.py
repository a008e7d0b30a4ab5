"""/v3/{project_id}/groups (3.13+): generic volume groups; and /group_snapshots (3.14+)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from monostack.common import errors
from monostack.common.auth import authenticated
from monostack.common.context import RequestContext
from monostack.common.http import JSONResponse, run_blocking
from monostack.volume.api.common import at_least, authorize, entity, isotime, json_body, svc
from monostack.volume.service.common import bool_param

router = APIRouter()


def _check(request: Request, version: str = "3.13") -> None:
    if not at_least(request, version):
        raise errors.NotFound("The resource could not be found.")


def _view(request: Request, row: Any, volume_ids: list[str] | None = None) -> dict[str, Any]:
    view = {"id": row.id, "name": row.name, "description": row.description, "status": row.status,
            "availability_zone": row.availability_zone, "created_at": isotime(row.created_at),
            "group_type": row.group_type_id, "volume_types": list(row.volume_type_ids),
            "group_snapshot_id": row.group_snapshot_id, "source_group_id": row.source_group_id}
    if at_least(request, "3.25") and volume_ids is not None:
        view["volumes"] = volume_ids
    if at_least(request, "3.38"):
        view["replication_status"] = "disabled"
    return view


@router.post("/v3/groups")
async def create_group(request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    _check(request)
    authorize(request, ctx, "group:create")
    spec = entity(await json_body(request), "group")
    if not spec.get("group_type") or not isinstance(spec.get("volume_types"), list) or not spec["volume_types"]:
        raise errors.BadRequest("Invalid input received: group_type and volume_types must be given.")
    row = await run_blocking(svc(request).groups.create, ctx, spec)
    if row.host is not None:
        svc(request).cast(row.host, "create_group", row.id, [])
    return JSONResponse({"group": {"id": row.id, "name": row.name}}, status_code=202)


@router.post("/v3/groups/action")
async def create_from_source(request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    _check(request, "3.14")
    authorize(request, ctx, "group:create")
    spec = entity(await json_body(request), "create-from-src")
    if bool(spec.get("group_snapshot_id")) == bool(spec.get("source_group_id")):
        raise errors.BadRequest("Invalid input received: Either 'group_snapshot_id' or 'source_group_id' must be "
                                "provided.")
    group, made = await run_blocking(svc(request).groups.create_from_source, ctx, spec)
    svc(request).cast(group.host, "create_group", group.id, [m["volume_id"] for m in made])
    return JSONResponse({"group": {"id": group.id, "name": group.name}}, status_code=202)


async def _list(request: Request, ctx: RequestContext, detail: bool) -> JSONResponse:
    _check(request)
    authorize(request, ctx, "group:get_all")
    all_tenants = "all_tenants" in request.query_params
    rows = await run_blocking(svc(request).groups.list, ctx, all_tenants)
    if not detail:
        return JSONResponse({"groups": [{"id": r.id, "name": r.name} for r in rows]})
    views = []
    for row in rows:
        views.append(_view(request, row, await run_blocking(svc(request).groups.volume_ids, row.id)
                           if request.query_params.get("list_volume") else None))
    return JSONResponse({"groups": views})


@router.get("/v3/groups")
async def list_groups(request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    return await _list(request, ctx, False)


@router.get("/v3/groups/detail")
async def list_groups_detail(request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    return await _list(request, ctx, True)


@router.get("/v3/groups/{group_id}")
async def show_group(group_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    _check(request)
    authorize(request, ctx, "group:get")
    row = await run_blocking(svc(request).groups.get, ctx, group_id)
    volumes = await run_blocking(svc(request).groups.volume_ids, row.id) \
        if request.query_params.get("list_volume") else None
    return JSONResponse({"group": _view(request, row, volumes)})


@router.put("/v3/groups/{group_id}")
async def update_group(group_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> Response:
    _check(request)
    authorize(request, ctx, "group:update")
    spec = entity(await json_body(request), "group")
    if not any(k in spec for k in ("name", "description", "add_volumes", "remove_volumes")):
        raise errors.BadRequest("Invalid input received: Name, description, add_volumes and remove_volumes can not "
                                "be all empty in the request body.")
    await run_blocking(svc(request).groups.update, ctx, group_id, spec)
    return Response(status_code=202)


@router.post("/v3/groups/{group_id}/action")
async def group_action(group_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> Response:
    _check(request)
    body = await json_body(request)
    service = svc(request)
    if "delete" in body:
        authorize(request, ctx, "group:delete")
        arg = body["delete"] or {}
        delete_volumes = bool_param(arg.get("delete-volumes", False), "delete-volumes")
        group, volume_ids = await run_blocking(service.groups.delete, ctx, group_id, delete_volumes)
        if group.host is None:
            await run_blocking(service.groups.purge, group.id)
        else:
            service.cast(group.host, "delete_group", group.id, volume_ids)
        return Response(status_code=202)
    if "reset_status" in body:
        _check(request, "3.20")
        authorize(request, ctx, "group:reset_status")
        arg = body["reset_status"] or {}
        await run_blocking(service.groups.reset_status, ctx, group_id, str(arg.get("status")))
        return Response(status_code=202)
    raise errors.BadRequest("There is no such action in the request body.")


# -- group snapshots -------------------------------------------------------------------------------
def _snapshot_view(row: Any) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "description": row.description, "status": row.status,
            "group_id": row.group_id, "group_type_id": row.group_type_id, "created_at": isotime(row.created_at)}


@router.post("/v3/group_snapshots")
async def create_group_snapshot(request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    _check(request, "3.14")
    authorize(request, ctx, "group:create_group_snapshot")
    spec = entity(await json_body(request), "group_snapshot")
    if not spec.get("group_id"):
        raise errors.BadRequest("Invalid input received: 'group_id' must be given.")
    gsnap, group, members = await run_blocking(svc(request).groups.create_snapshot, ctx, spec)
    svc(request).cast(group.host, "create_group_snapshot", gsnap.id, members)
    return JSONResponse({"group_snapshot": {"id": gsnap.id, "name": gsnap.name,
                                            "group_type_id": gsnap.group_type_id}}, status_code=202)


async def _list_snapshots(request: Request, ctx: RequestContext, detail: bool) -> JSONResponse:
    _check(request, "3.14")
    authorize(request, ctx, "group:get_all_group_snapshots")
    rows = await run_blocking(svc(request).groups.list_snapshots, ctx, "all_tenants" in request.query_params)
    if not detail:
        return JSONResponse({"group_snapshots": [{"id": r.id, "name": r.name} for r in rows]})
    return JSONResponse({"group_snapshots": [_snapshot_view(r) for r in rows]})


@router.get("/v3/group_snapshots")
async def list_group_snapshots(request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    return await _list_snapshots(request, ctx, False)


@router.get("/v3/group_snapshots/detail")
async def list_group_snapshots_detail(request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    return await _list_snapshots(request, ctx, True)


@router.get("/v3/group_snapshots/{gsnap_id}")
async def show_group_snapshot(gsnap_id: str, request: Request,
                              ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    _check(request, "3.14")
    authorize(request, ctx, "group:get_group_snapshot")
    return JSONResponse({"group_snapshot": _snapshot_view(
        await run_blocking(svc(request).groups.get_snapshot, ctx, gsnap_id))})


@router.delete("/v3/group_snapshots/{gsnap_id}")
async def delete_group_snapshot(gsnap_id: str, request: Request,
                                ctx: RequestContext = Depends(authenticated)) -> Response:
    _check(request, "3.14")
    authorize(request, ctx, "group:delete_group_snapshot")
    service = svc(request)
    gsnap, group, members = await run_blocking(service.groups.delete_snapshot, ctx, gsnap_id)
    if group is None or group.host is None:
        await run_blocking(service.groups.finish_snapshot, gsnap.id, None)
    else:
        service.cast(group.host, "delete_group_snapshot", gsnap.id, members)
    return Response(status_code=202)


@router.post("/v3/group_snapshots/{gsnap_id}/action")
async def group_snapshot_action(gsnap_id: str, request: Request,
                                ctx: RequestContext = Depends(authenticated)) -> Response:
    _check(request, "3.19")
    body = await json_body(request)
    if "reset_status" not in body:
        raise errors.BadRequest("There is no such action in the request body.")
    authorize(request, ctx, "group:reset_group_snapshot_status")
    arg = body["reset_status"] or {}
    await run_blocking(svc(request).groups.reset_snapshot_status, ctx, gsnap_id, str(arg.get("status")))
    return Response(status_code=202)
