"""/servers/{id}/os-server-password: the (encrypted) password the guest posted
to the metadata service; an owner may clear it."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response

from monostack.common.auth import authenticated
from monostack.common.context import RequestContext
from monostack.common.http import JSONResponse, run_blocking
from monostack.compute.api.common import authorize, svc

router = APIRouter()


@router.get("/v2.1/servers/{server_id}/os-server-password")
async def show_password(server_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    row = await run_blocking(svc(request).servers.get, ctx, server_id)
    authorize(request, ctx, "os_compute_api:os-server-password:show", {"project_id": row.project_id})
    return JSONResponse({"password": row.guest_password or ""})


@router.delete("/v2.1/servers/{server_id}/os-server-password", status_code=204)
async def clear_password(server_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> Response:
    row = await run_blocking(svc(request).servers.get, ctx, server_id)
    authorize(request, ctx, "os_compute_api:os-server-password:clear", {"project_id": row.project_id})
    await run_blocking(svc(request).servers.update, ctx, server_id, {"guest_password": None})
    return Response(status_code=204)
