"""/v3/{project_id}/os-quota-sets (with defaults and usage) and os-quota-class-sets."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response

from monostack.common import errors
from monostack.common.auth import authenticated
from monostack.common.context import RequestContext
from monostack.common.http import JSONResponse, run_blocking
from monostack.volume.api.common import authorize, json_body, svc
from monostack.volume.service.common import bool_param

router = APIRouter()


@router.get("/v3/os-quota-sets/{project_id}/defaults")
async def defaults(project_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    authorize(request, ctx, "volume_extension:quotas:show", {"project_id": project_id})
    limits = await run_blocking(svc(request).quotas.show, project_id, defaults=True)
    return JSONResponse({"quota_set": {"id": project_id, **limits}})


@router.get("/v3/os-quota-sets/{project_id}")
async def show(project_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    authorize(request, ctx, "volume_extension:quotas:show", {"project_id": project_id})
    usage = bool_param(request.query_params.get("usage", "false"), "usage")
    limits = await run_blocking(svc(request).quotas.show, project_id, usage=usage)
    return JSONResponse({"quota_set": {"id": project_id, **limits}})


@router.put("/v3/os-quota-sets/{project_id}")
async def update(project_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    authorize(request, ctx, "volume_extension:quotas:update", {"project_id": project_id})
    body = await json_body(request)
    values = body.get("quota_set")
    if not isinstance(values, dict):
        raise errors.BadRequest("Missing required element 'quota_set' in request body.")
    values = dict(values)
    skip = bool_param(values.pop("skip_validation", True), "skip_validation")
    values.pop("id", None)
    limits = await run_blocking(svc(request).quotas.update, project_id, values, skip_validation=skip)
    return JSONResponse({"quota_set": limits})


@router.delete("/v3/os-quota-sets/{project_id}")
async def reset(project_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> Response:
    authorize(request, ctx, "volume_extension:quotas:delete", {"project_id": project_id})
    await run_blocking(svc(request).quotas.reset, project_id)
    return Response(status_code=200)


@router.get("/v3/os-quota-class-sets/{class_name}")
async def show_class(class_name: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    authorize(request, ctx, "volume_extension:quota_classes")
    limits = await run_blocking(svc(request).quotas.show_class, class_name)
    return JSONResponse({"quota_class_set": {"id": class_name, **limits}})


@router.put("/v3/os-quota-class-sets/{class_name}")
async def update_class(class_name: str, request: Request,
                       ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    authorize(request, ctx, "volume_extension:quota_classes")
    body = await json_body(request)
    values = body.get("quota_class_set")
    if not isinstance(values, dict):
        raise errors.BadRequest("Missing required element 'quota_class_set' in request body.")
    limits = await run_blocking(svc(request).quotas.update_class, class_name, values)
    return JSONResponse({"quota_class_set": limits})
