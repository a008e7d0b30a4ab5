"""/v3/{project_id}/limits: the caller's absolute limits and usage."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from monostack.common.auth import authenticated
from monostack.common.context import RequestContext
from monostack.common.http import JSONResponse, run_blocking
from monostack.volume.api.common import svc

router = APIRouter()


@router.get("/v3/limits")
async def limits(request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    project = ctx.project_id or ""
    if ctx.is_admin and request.query_params.get("project_id"):
        project = request.query_params["project_id"]
    quota = await run_blocking(svc(request).quotas.show, project, usage=True)
    absolute = {
        "maxTotalVolumes": quota["volumes"]["limit"], "totalVolumesUsed": quota["volumes"]["in_use"],
        "maxTotalSnapshots": quota["snapshots"]["limit"], "totalSnapshotsUsed": quota["snapshots"]["in_use"],
        "maxTotalVolumeGigabytes": quota["gigabytes"]["limit"], "totalGigabytesUsed": quota["gigabytes"]["in_use"],
        "maxTotalBackups": quota["backups"]["limit"], "totalBackupsUsed": quota["backups"]["in_use"],
        "maxTotalBackupGigabytes": quota["backup_gigabytes"]["limit"],
        "totalBackupGigabytesUsed": quota["backup_gigabytes"]["in_use"],
    }
    return JSONResponse({"limits": {"rate": [], "absolute": absolute}})
