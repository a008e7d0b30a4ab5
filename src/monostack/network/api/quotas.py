"""/v2.0/quotas: limits per project, their usage (/details) and the defaults (/default)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from monostack.common.auth import authenticated
from monostack.common.context import RequestContext
from monostack.common.http import JSONResponse, run_blocking
from monostack.network.api.common import authorize, bad_request, check, json_body, svc


def _target(project_id: str) -> dict[str, Any]:
    return {"project_id": project_id, "tenant_id": project_id}


def register(router: APIRouter) -> None:
    @router.get("/v2.0/quotas")
    async def list_quotas(request: Request, ctx: RequestContext = Depends(authenticated)) -> Any:
        quotas = await run_blocking(svc(request).list_quotas)
        return JSONResponse({"quotas": [q for q in quotas
                                        if check(request, ctx, "get_quota", _target(q["project_id"]))]})

    @router.get("/v2.0/quotas/tenant")
    @router.get("/v2.0/quotas/project")
    async def own_project(request: Request, ctx: RequestContext = Depends(authenticated)) -> Any:
        return JSONResponse({"tenant": {"tenant_id": ctx.project_id, "project_id": ctx.project_id}})

    @router.get("/v2.0/quotas/{project_id}/default")
    async def defaults(project_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> Any:
        authorize(request, ctx, "get_quota", _target(project_id))
        return JSONResponse({"quota": {**svc(request).quota_defaults(), "project_id": project_id,
                                       "tenant_id": project_id}})

    @router.get("/v2.0/quotas/{project_id}/details")
    async def details(project_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> Any:
        authorize(request, ctx, "get_quota", _target(project_id))
        return JSONResponse({"quota": await run_blocking(svc(request).quota_details, project_id)})

    @router.get("/v2.0/quotas/{project_id}")
    async def show(project_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> Any:
        authorize(request, ctx, "get_quota", _target(project_id))
        return JSONResponse({"quota": await run_blocking(svc(request).get_quota, project_id)})

    @router.put("/v2.0/quotas/{project_id}")
    async def update(project_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> Any:
        body = await json_body(request)
        if not isinstance(body, dict) or not isinstance(body.get("quota"), dict):
            raise bad_request("Unable to find 'quota' in request body")
        authorize(request, ctx, "update_quota", _target(project_id))
        values = {k: v for k, v in body["quota"].items() if k not in ("project_id", "tenant_id", "force",
                                                                         "check_limit")}
        return JSONResponse({"quota": await run_blocking(svc(request).update_quota, project_id, values)})

    @router.delete("/v2.0/quotas/{project_id}", status_code=204)
    async def reset(project_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> Response:
        authorize(request, ctx, "delete_quota", _target(project_id))
        await run_blocking(svc(request).delete_quota, project_id)
        return Response(status_code=204)
