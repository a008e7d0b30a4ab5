"""/os-volumes and /os-snapshots: Nova's deprecated proxy to Block Storage (up to 2.35;
from 2.36 Nova answers 404), volumes and snapshots in Nova's old shapes.

Every call goes to Block Storage with the caller's token, so its visibility, ownership
and quotas decide; its errors come back as Nova translates them (VolumeAPI._proxy).
Lists are everything Block Storage returns for the project, cut by Nova's offset/limit.
Without a Block Storage service the routes answer 404, as the other proxies here do
(Nova itself fails with a 500 when the catalog has no volume endpoint).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from monostack.common import errors
from monostack.common.auth import authenticated
from monostack.common.context import RequestContext
from monostack.common.http import JSONResponse
from monostack.compute.api import common
from monostack.compute.api import parameter_types as types

router = APIRouter()

PROXY_MAX = "2.35"

# Nova's schemas: only these keys (so no imageRef), a size that is an integer or digits.
_TEXT = {"type": "string"}
_CREATE_VOLUME = {"type": "object", "required": ["volume"], "additionalProperties": False, "properties": {
    "volume": {"type": "object", "required": ["size"], "additionalProperties": False, "properties": {
        "size": {"type": ["integer", "string"], "pattern": "^[0-9]+$", "minimum": 1},
        "volume_type": _TEXT, "metadata": {"type": "object"}, "snapshot_id": _TEXT, "availability_zone": _TEXT,
        "display_name": _TEXT, "display_description": _TEXT}}}}
_CREATE_SNAPSHOT = {"type": "object", "required": ["snapshot"], "additionalProperties": False, "properties": {
    "snapshot": {"type": "object", "required": ["volume_id"], "additionalProperties": False, "properties": {
        "volume_id": _TEXT, "force": types.boolean, "display_name": _TEXT, "display_description": _TEXT}}}}


async def _volumes(request: Request, ctx: RequestContext, rule: str) -> Any:
    """Nova's order: the microversion (404), the policy (403), then Block Storage."""
    types.require_version(request, "2.1", PROXY_MAX)
    common.authorize(request, ctx, f"os_compute_api:os-volumes:{rule}", {"project_id": ctx.project_id})
    volumes = common.svc(request).volumes
    if volumes is None or not await volumes.available():
        raise errors.NotFound("The resource could not be found.")
    return volumes


# -- views (nova.api.openstack.compute.volumes / snapshots) ------------------------------------
def volume_view(volume: dict[str, Any]) -> dict[str, Any]:
    # Nova shows one attachment, the first, even of a multiattach volume; none is [{}], not [].
    attachment: dict[str, Any] = {}
    if volume.get("attachments"):
        first = volume["attachments"][0]
        attachment = {"id": volume["id"], "volumeId": volume["id"], "serverId": first.get("server_id")}
        if first.get("device"):
            attachment["device"] = first["device"]
    return {"id": volume["id"], "status": volume["status"], "size": volume["size"],
            "availabilityZone": volume.get("availability_zone"), "createdAt": volume.get("created_at"),
            "attachments": [attachment], "displayName": volume.get("name"),
            "displayDescription": volume.get("description"), "volumeType": volume.get("volume_type"),
            "snapshotId": volume.get("snapshot_id"), "metadata": volume.get("metadata") or {}}


def snapshot_view(snapshot: dict[str, Any]) -> dict[str, Any]:
    return {"id": snapshot["id"], "volumeId": snapshot["volume_id"], "status": snapshot["status"],
            "size": snapshot["size"], "createdAt": snapshot.get("created_at"), "displayName": snapshot.get("name"),
            "displayDescription": snapshot.get("description")}


# -- /os-volumes ---------------------------------------------------------------------------------
async def _list_volumes(request: Request, ctx: RequestContext, rule: str) -> JSONResponse:
    volumes = await _volumes(request, ctx, rule)
    found = await volumes.list_volumes(ctx)
    return JSONResponse({"volumes": [volume_view(v) for v in types.offset_limit(request, found)]})


@router.get("/v2.1/os-volumes")
async def list_volumes(request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    return await _list_volumes(request, ctx, "list")


@router.get("/v2.1/os-volumes/detail")
async def list_volumes_detail(request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    return await _list_volumes(request, ctx, "detail")  # the same view: Nova's detail adds nothing


@router.post("/v2.1/os-volumes")
async def create_volume(request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    types.require_version(request, "2.1", PROXY_MAX)
    body = await common.json_body(request)
    common.validate(body, _CREATE_VOLUME)
    volumes = await _volumes(request, ctx, "create")
    spec = body["volume"]
    if spec.get("snapshot_id") is not None:
        await volumes.get_snapshot(ctx, spec["snapshot_id"])  # Nova checks it first: 404 names the snapshot
    cinder: dict[str, Any] = {"size": int(spec["size"]), "name": spec.get("display_name"),
                              "description": spec.get("display_description")}
    for key in ("snapshot_id", "volume_type", "metadata", "availability_zone"):
        if spec.get(key) is not None:
            cinder[key] = spec[key]
    created = await volumes.create_volume(ctx, cinder)
    # 200, not 202, as Nova (the volume is still "creating").
    return JSONResponse({"volume": volume_view(created)},
                        headers={"Location": common.links(request, "os-volumes", created["id"])[0]["href"]})


@router.get("/v2.1/os-volumes/{volume_id}")
async def show_volume(volume_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    volumes = await _volumes(request, ctx, "show")
    return JSONResponse({"volume": volume_view(await volumes.get(volume_id, ctx))})


@router.delete("/v2.1/os-volumes/{volume_id}", status_code=202)
async def delete_volume(volume_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> Response:
    volumes = await _volumes(request, ctx, "delete")
    await volumes.delete_volume(ctx, volume_id)
    return Response(status_code=202)


# -- /os-snapshots -------------------------------------------------------------------------------
async def _list_snapshots(request: Request, ctx: RequestContext, rule: str) -> JSONResponse:
    volumes = await _volumes(request, ctx, rule)
    found = await volumes.list_snapshots(ctx)
    return JSONResponse({"snapshots": [snapshot_view(s) for s in types.offset_limit(request, found)]})


@router.get("/v2.1/os-snapshots")
async def list_snapshots(request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    return await _list_snapshots(request, ctx, "snapshots:list")


@router.get("/v2.1/os-snapshots/detail")
async def list_snapshots_detail(request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    return await _list_snapshots(request, ctx, "snapshots:detail")


@router.post("/v2.1/os-snapshots")
async def create_snapshot(request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    types.require_version(request, "2.1", PROXY_MAX)
    body = await common.json_body(request)
    common.validate(body, _CREATE_SNAPSHOT)
    volumes = await _volumes(request, ctx, "snapshots:create")
    spec = body["snapshot"]
    created = await volumes.create_snapshot(
        ctx, spec["volume_id"], force=types.to_bool(spec.get("force", False), strict=True, field="force"),
        name=spec.get("display_name"), description=spec.get("display_description"))
    return JSONResponse({"snapshot": snapshot_view(created)})


@router.get("/v2.1/os-snapshots/{snapshot_id}")
async def show_snapshot(snapshot_id: str, request: Request,
                        ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    volumes = await _volumes(request, ctx, "snapshots:show")
    return JSONResponse({"snapshot": snapshot_view(await volumes.get_snapshot(ctx, snapshot_id))})


@router.delete("/v2.1/os-snapshots/{snapshot_id}", status_code=202)
async def delete_snapshot(snapshot_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> Response:
    volumes = await _volumes(request, ctx, "snapshots:delete")
    await volumes.delete_snapshot(ctx, snapshot_id)
    return Response(status_code=202)
