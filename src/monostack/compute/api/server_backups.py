"""The createBackup server action: a snapshot whose image is a backup
(image_type "backup", a backup_type such as "daily"), after which the
server's oldest backups of that type beyond `rotation` are deleted.

The agent uploads the backup like any snapshot; the rotation waits in the
background until that upload made the new backup active (Nova rotates after
the upload too), so a failed backup never costs an old one.  A rotation cut
short by a restart leaves extra backups, which the next backup rotates away.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from monostack.common import errors
from monostack.common.context import RequestContext
from monostack.common.http import JSONResponse, run_blocking
from monostack.compute import states
from monostack.compute.api import common
from monostack.compute.api import parameter_types as types
from monostack.compute.api.server_actions import _act, _snapshot_image, action

LOG = logging.getLogger(__name__)
router = APIRouter()  # no routes of its own: importing the module registers the action

_SCHEMA = {"type": "object", "required": ["name", "backup_type", "rotation"], "additionalProperties": False,
           "properties": {"name": types.name, "backup_type": {"type": "string"},
                          "rotation": types.non_negative_integer, "metadata": types.metadata}}
# How long the rotation waits for the upload of the new backup.
ROTATION_WAIT = 3600.0


@action("createBackup", "os-create-backup")
async def create_backup(request: Request, ctx: RequestContext, row: Any, args: Any) -> Response:
    common.validate(args, _SCHEMA)
    rotation = int(args["rotation"])
    metadata = args.get("metadata") or {}
    service = common.svc(request)
    if not common.at_least(request, "2.39"):  # quota on image metadata until 2.39
        await run_blocking(service.quotas.check_metadata, len(metadata), ctx.project_id)
    if not row.image_ref:
        raise errors.BadRequest("Backup is not supported for volume-backed instances.")
    states.check("snapshot", row.uuid, row.vm_state, row.task_state)
    image = await _snapshot_image(request, ctx, row, args["name"], {**metadata, "backup_type": args["backup_type"]},
                                  extra={"image_type": "backup"})
    try:
        await _act(request, ctx, row, "snapshot", "createBackup", args={"image_id": image["id"]})
    except Exception:
        await service.images.delete(image["id"])
        raise
    service.conductor.spawn(rotate_when_uploaded(service.images, image["id"], row.uuid, row.project_id,
                                                 args["backup_type"], rotation))
    if common.at_least(request, "2.45"):
        return JSONResponse({"image_id": image["id"]}, status_code=202)
    headers = {"Location": common.links(request, "images", image["id"])[0]["href"]} if rotation > 0 else {}
    return Response(status_code=202, headers=headers)


async def rotate_when_uploaded(images: Any, image_id: str, server_uuid: str, project_id: str, backup_type: str,
                               rotation: int, *, wait: float = ROTATION_WAIT, interval: float = 1.0) -> None:
    """Once the new backup is active, delete the server's backups of its type beyond `rotation`."""
    deadline = time.monotonic() + wait
    while True:
        try:
            image = await images.get(image_id)
        except errors.APIError:
            image = {"status": "unknown"}
        if image is None or image.get("status") in ("killed", "deleted", "pending_delete"):
            return  # the backup failed (or went): the old ones stay
        if image.get("status") == "active":
            break
        if time.monotonic() > deadline:
            LOG.warning("backup %s of %s did not become active in %.0fs; not rotating", image_id, server_uuid, wait)
            return
        await asyncio.sleep(interval)
    await rotate(images, server_uuid, project_id, backup_type, rotation)


async def rotate(images: Any, server_uuid: str, project_id: str, backup_type: str, rotation: int) -> list[str]:
    """Delete the oldest backups of the server beyond `rotation`; returns the deleted ids."""
    url = f"{await images.auth.endpoint('image')}/v2/images"
    params = {"instance_uuid": server_uuid, "image_type": "backup", "backup_type": backup_type,
              "owner": project_id, "sort_key": "created_at", "sort_dir": "desc", "limit": "1000"}
    response = await images.auth.client.get(url, params=params, headers=await images.auth.headers())
    if response.status_code != 200:
        LOG.warning("listing the backups of %s failed (%s); not rotating", server_uuid, response.status_code)
        return []
    backups = response.json().get("images", [])
    deleted = []
    for old in backups[rotation:]:
        LOG.info("rotating out backup %s of %s (%s, keeping %d)", old["id"], server_uuid, backup_type, rotation)
        await images.delete(old["id"])
        deleted.append(old["id"])
    return deleted
