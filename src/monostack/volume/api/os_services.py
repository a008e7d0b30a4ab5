"""/v3/{project_id}/os-services: the scheduler, backup and volume services with
their heartbeats; enable, disable (with a reason)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from monostack.common import errors
from monostack.common.auth import authenticated
from monostack.common.context import RequestContext
from monostack.common.http import JSONResponse, run_blocking
from monostack.volume.api.common import at_least, authorize, isotime, json_body, svc

router = APIRouter()


def _view(request: Request, service: Any, row: Any) -> dict[str, Any]:
    view = {"binary": row.binary, "host": row.host, "zone": row.availability_zone,
            "status": "disabled" if row.disabled else "enabled", "state": "up" if service.hosts.is_up(row) else "down",
            "updated_at": isotime(row.updated_at), "disabled_reason": row.disabled_reason}
    if row.binary == "cinder-volume":
        view.update(replication_status="disabled", active_backend_id=None, frozen=row.frozen)
    if at_least(request, "3.7"):
        view["cluster"] = None
    if at_least(request, "3.49") and row.binary == "cinder-volume":
        view["backend_state"] = "up" if service.hosts.is_up(row) else "down"
    return view


@router.get("/v3/os-services")
async def list_services(request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    authorize(request, ctx, "volume_extension:services:index")
    service = svc(request)
    rows = await run_blocking(service.hosts.list, request.query_params.get("host"),
                              request.query_params.get("binary"))
    return JSONResponse({"services": [_view(request, service, r) for r in rows]})


@router.put("/v3/os-services/{verb}")
async def update_service(verb: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    authorize(request, ctx, "volume_extension:services:update")
    if verb in ("freeze", "thaw"):
        return await _freeze(request, verb == "freeze")
    if verb not in ("enable", "disable", "disable-log-reason"):
        raise errors.NotFound("Unknown action")
    body = await json_body(request)
    host, binary = body.get("host"), body.get("binary") or body.get("service")
    if not host or not binary:
        raise errors.BadRequest("Missing required element 'host' or 'binary' in request body.")
    reason = body.get("disabled_reason")
    if verb == "disable-log-reason" and (not isinstance(reason, str) or not reason.strip() or len(reason) > 255):
        raise errors.BadRequest("Disabled reason contains invalid characters or is too long")
    row = await run_blocking(svc(request).hosts.set_enabled, host, binary, verb == "enable", reason)
    result = {"host": row.host, "binary": row.binary, "service": row.binary,
              "status": "disabled" if row.disabled else "enabled", "disabled": row.disabled}
    if verb != "disable":
        result["disabled_reason"] = row.disabled_reason
    return JSONResponse(result)


async def _freeze(request: Request, frozen: bool) -> JSONResponse:
    """Freeze (no more volume changes on a backend) or thaw it: recorded on the backend's service."""
    body = await json_body(request)
    host = body.get("host")
    if not isinstance(host, str) or not host:
        raise errors.BadRequest("Missing required element 'host' in request body.")
    rows = await run_blocking(svc(request).hosts.list, host, "cinder-volume")
    if not rows:
        raise errors.BadRequest(f"Invalid input received: Host {host} is not a volume backend.")
    for row in rows:
        await run_blocking(svc(request).hosts.set_frozen, row.host, frozen)
    return JSONResponse({}, status_code=200)
