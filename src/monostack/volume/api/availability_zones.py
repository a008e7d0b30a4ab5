"""/v3/{project_id}/os-availability-zone: the zones of the backends, available when one is up."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from monostack.common.auth import authenticated
from monostack.common.context import RequestContext
from monostack.common.http import JSONResponse, run_blocking
from monostack.volume.api.common import svc

router = APIRouter()


@router.get("/v3/os-availability-zone")
async def zones(request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    found = await run_blocking(svc(request).hosts.zones)
    return JSONResponse({"availabilityZoneInfo": [{"zoneName": name, "zoneState": {"available": up}}
                                                  for name, up in found]})
