"""Server groups (/v2.1/os-server-groups).

Before 2.64 a group has a one-item `policies` list (and an always empty
`metadata`); from 2.64 a `policy` and `rules` (max_server_per_host, for
anti-affinity only).  2.13 shows project_id and user_id, 2.15 allows the soft
policies.  Members are the group's servers that are not deleted.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from monostack.common.auth import authenticated
from monostack.common.context import RequestContext
from monostack.common.http import JSONResponse, run_blocking
from monostack.compute.api import common
from monostack.compute.api import parameter_types as types

router = APIRouter()


def _create_schema(request: Request) -> dict[str, Any]:
    group: dict[str, Any] = {"name": types.name}
    if common.at_least(request, "2.64"):
        group["policy"] = {"type": "string", "enum": ["anti-affinity", "affinity", "soft-anti-affinity",
                                                      "soft-affinity"]}
        group["rules"] = {"type": "object", "properties": {"max_server_per_host": types.positive_integer},
                          "additionalProperties": False}
        required = ["name", "policy"]
    else:
        policies = ["anti-affinity", "affinity"]
        if common.at_least(request, "2.15"):
            policies += ["soft-anti-affinity", "soft-affinity"]
        group["policies"] = {"type": "array", "items": [{"type": "string", "enum": policies}],
                             "uniqueItems": True, "minItems": 1, "maxItems": 1, "additionalItems": False}
        required = ["name", "policies"]
    return {"type": "object", "required": ["server_group"], "additionalProperties": False,
            "properties": {"server_group": {"type": "object", "properties": group, "required": required,
                                            "additionalProperties": False}}}


def view(request: Request, group: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {"id": group["id"], "name": group["name"]}
    if common.at_least(request, "2.64"):
        body["policy"] = group["policy"]
        body["rules"] = group["rules"]
    else:
        body["policies"] = group["policies"]
        body["metadata"] = {}
    body["members"] = group["members"]
    if common.at_least(request, "2.13"):
        body["project_id"] = group["project_id"]
        body["user_id"] = group["user_id"]
    return body


@router.get("/v2.1/os-server-groups")
async def index(request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    types.check_query(request, {"all_projects", "limit", "offset"})
    common.authorize(request, ctx, "os_compute_api:os-server-groups:index", {"project_id": ctx.project_id})
    project_id = ctx.project_id
    if "all_projects" in request.query_params and ctx.is_admin:
        common.authorize(request, ctx, "os_compute_api:os-server-groups:index:all_projects",
                         {"project_id": ctx.project_id})
        project_id = None
    groups = await run_blocking(common.svc(request).groups.list, project_id)
    return JSONResponse({"server_groups": [view(request, g) for g in types.offset_limit(request, groups)]})


@router.post("/v2.1/os-server-groups")
async def create(request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    common.authorize(request, ctx, "os_compute_api:os-server-groups:create", {"project_id": ctx.project_id})
    body = await common.json_body(request)
    common.validate(body, _create_schema(request))
    values = body["server_group"]
    if common.at_least(request, "2.64"):
        policy = values["policy"]
        rules = {k: int(v) for k, v in (values.get("rules") or {}).items()}
    else:
        policy, rules = values["policies"][0], {}
    group = await run_blocking(common.svc(request).groups.create, ctx, values["name"], policy, rules)
    return JSONResponse({"server_group": view(request, group)})


@router.get("/v2.1/os-server-groups/{group_id}")
async def show(group_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    group = await run_blocking(common.svc(request).groups.get, group_id)
    common.authorize(request, ctx, "os_compute_api:os-server-groups:show", {"project_id": group["project_id"]})
    return JSONResponse({"server_group": view(request, group)})


@router.delete("/v2.1/os-server-groups/{group_id}")
async def delete(group_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> Response:
    groups = common.svc(request).groups
    group = await run_blocking(groups.get, group_id)
    common.authorize(request, ctx, "os_compute_api:os-server-groups:delete", {"project_id": group["project_id"]})
    await run_blocking(groups.delete, group_id)
    return Response(status_code=204)
