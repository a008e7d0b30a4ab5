"""/os-assisted-volume-snapshots (admin, Block Storage calls it): a snapshot of a volume a
running guest writes to, made by the guest's QEMU.

Nova's libvirt driver makes `new_file` the guest's new active overlay; here `new_file` is
where QEMU writes a point-in-time copy of the volume (blockdev-backup), the guest's own
image unchanged, and Block Storage makes that copy the snapshot.  The answer comes once the
copy is complete.  Deleting such a snapshot is Block Storage's own business (the guest
never used the copy); only a copy made for a relative `new_file`, which Compute keeps in the
server's directory (nothing is written where a caller's relative name points), goes with it.
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from monostack.common import errors
from monostack.common.auth import authenticated
from monostack.common.context import RequestContext
from monostack.common.http import JSONResponse, run_blocking
from monostack.compute import models
from monostack.compute.api.common import authorize, json_body, svc

router = APIRouter()


def _server_of(service: Any, volume_id: str) -> models.Instance | None:
    with service.db.reader() as session:
        return session.scalar(sa.select(models.Instance).join(
            models.BlockDeviceMapping, models.BlockDeviceMapping.instance_uuid == models.Instance.uuid).where(
            models.BlockDeviceMapping.volume_id == volume_id, models.Instance.deleted.is_(False)))


@router.post("/v2.1/os-assisted-volume-snapshots")
async def create(request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    authorize(request, ctx, "os_compute_api:os-assisted-volume-snapshots:create", {})
    body = await json_body(request)
    snapshot = body.get("snapshot") if isinstance(body, dict) else None
    info = snapshot.get("create_info") if isinstance(snapshot, dict) else None
    if not isinstance(info, dict) or not snapshot.get("volume_id") or not info.get("snapshot_id") \
            or not info.get("new_file") or info.get("type") != "qcow2":
        raise errors.BadRequest("Invalid input for field/attribute snapshot: volume_id, create_info with "
                                "snapshot_id, type qcow2 and new_file are required.")
    service = svc(request)
    row = await run_blocking(_server_of, service, snapshot["volume_id"])
    if row is None or not row.host:
        raise errors.NotFound(f"Volume {snapshot['volume_id']} is not attached to any server.")
    await service.conductor.call_agent(row, "snapshot_volume", timeout=3600, instance_uuid=row.uuid,
                                       volume_id=snapshot["volume_id"], target=str(info["new_file"]),
                                       snapshot_id=str(info["snapshot_id"]))
    return JSONResponse({"snapshot": {"id": info["snapshot_id"], "volumeId": snapshot["volume_id"]}})


@router.delete("/v2.1/os-assisted-volume-snapshots/{snapshot_id}", status_code=204)
async def delete(snapshot_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> Response:
    authorize(request, ctx, "os_compute_api:os-assisted-volume-snapshots:delete", {})
    raw = request.query_params.get("delete_info")
    try:
        info = json.loads(raw) if raw else None
    except ValueError:
        info = None
    if not isinstance(info, dict) or not request.query_params.get("delete_info"):
        raise errors.BadRequest("Invalid delete_info: a JSON object is required.")
    service = svc(request)
    row = await run_blocking(_server_of, service, str(info.get("volume_id") or ""))
    if row is not None and row.host:  # a copy kept for a relative new_file goes with the snapshot
        await service.conductor.call_agent(row, "delete_volume_snapshot", instance_uuid=row.uuid,
                                           snapshot_id=snapshot_id)
    return Response(status_code=204)
