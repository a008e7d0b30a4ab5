"""Quotas: os-quota-sets (a project's or a user's limits, their usage, the
defaults) and os-quota-class-sets (the "default" class that overrides the
configured defaults).

2.36 drops the nova-network resources (floating_ips, fixed_ips,
security_groups, security_group_rules) and 2.57 the injected file ones; 2.50
adds server_groups and server_group_members to quota classes.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from monostack.common import errors
from monostack.common.auth import authenticated
from monostack.common.context import RequestContext
from monostack.common.http import JSONResponse, run_blocking
from monostack.compute.api import common
from monostack.compute.api import parameter_types as types
from monostack.compute.service.quotas import RESOURCES

router = APIRouter()

NETWORK = ["fixed_ips", "floating_ips", "security_group_rules", "security_groups"]
INJECTED = ["injected_files", "injected_file_content_bytes", "injected_file_path_bytes"]
_LIMIT = {"type": ["integer", "string"], "pattern": "^-?[0-9]+$", "minimum": -1, "maximum": 0x7FFFFFFF}


def hidden_in_sets(request: Request) -> list[str]:
    if common.at_least(request, "2.57"):
        return NETWORK + INJECTED
    if common.at_least(request, "2.36"):
        return NETWORK
    return []


def _hidden_in_classes(request: Request) -> list[str]:
    if common.at_least(request, "2.57"):
        return NETWORK + INJECTED
    if common.at_least(request, "2.50"):
        return NETWORK
    return ["server_groups", "server_group_members"]


def _shown(values: dict[str, Any], hidden: list[str]) -> dict[str, Any]:
    return {name: values[name] for name in RESOURCES if name not in hidden and name in values}


def _limits_schema(key: str, hidden: list[str], *, force: bool) -> dict[str, Any]:
    properties: dict[str, Any] = {name: _LIMIT for name in RESOURCES if name not in hidden}
    if force:
        properties["force"] = types.boolean
    return {"type": "object", "required": [key], "additionalProperties": False,
            "properties": {key: {"type": "object", "properties": properties, "additionalProperties": False}}}


def _user_id(request: Request) -> str | None:
    return types.query_value(request, "user_id") or None


# -- os-quota-sets ---------------------------------------------------------------------------
@router.get("/v2.1/os-quota-sets/{project_id}/defaults")
async def defaults(project_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    common.authorize(request, ctx, "os_compute_api:os-quota-sets:defaults", {"project_id": project_id})
    values = await run_blocking(common.svc(request).quotas.defaults)
    return JSONResponse({"quota_set": {"id": project_id, **_shown(values, hidden_in_sets(request))}})


@router.get("/v2.1/os-quota-sets/{project_id}/detail")
async def detail(project_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    types.check_query(request, {"user_id"})
    common.authorize(request, ctx, "os_compute_api:os-quota-sets:detail", {"project_id": project_id})
    values = await run_blocking(common.svc(request).quotas.details, project_id, _user_id(request))
    return JSONResponse({"quota_set": {"id": project_id, **_shown(values, hidden_in_sets(request))}})


@router.get("/v2.1/os-quota-sets/{project_id}")
async def show(project_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    types.check_query(request, {"user_id"})
    common.authorize(request, ctx, "os_compute_api:os-quota-sets:show", {"project_id": project_id})
    details = await run_blocking(common.svc(request).quotas.details, project_id, _user_id(request))
    values = {name: detail["limit"] for name, detail in details.items()}
    return JSONResponse({"quota_set": {"id": project_id, **_shown(values, hidden_in_sets(request))}})


@router.put("/v2.1/os-quota-sets/{project_id}")
async def update(project_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    types.check_query(request, {"user_id"})
    common.authorize(request, ctx, "os_compute_api:os-quota-sets:update", {"project_id": project_id})
    body = await common.json_body(request)
    hidden = hidden_in_sets(request)
    common.validate(body, _limits_schema("quota_set", hidden, force=True))
    requested = dict(body["quota_set"])
    force = types.to_bool(requested.pop("force", False))
    values = {name: int(value) for name, value in requested.items() if value is not None and value != ""}
    result = await run_blocking(common.svc(request).quotas.update, project_id, values, user_id=_user_id(request),
                                force=force)
    return JSONResponse({"quota_set": _shown(result, hidden)})


@router.delete("/v2.1/os-quota-sets/{project_id}")
async def delete(project_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> Response:
    types.check_query(request, {"user_id"})
    common.authorize(request, ctx, "os_compute_api:os-quota-sets:delete", {"project_id": project_id})
    await run_blocking(common.svc(request).quotas.delete, project_id, _user_id(request))
    return Response(status_code=202)


# -- os-quota-class-sets ---------------------------------------------------------------------
@router.get("/v2.1/os-quota-class-sets/{class_name}")
async def class_show(class_name: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    common.authorize(request, ctx, "os_compute_api:os-quota-class-sets:show", {})
    values = await run_blocking(common.svc(request).quotas.class_limits, class_name)
    return JSONResponse({"quota_class_set": {"id": class_name, **_shown(values, _hidden_in_classes(request))}})


@router.put("/v2.1/os-quota-class-sets/{class_name}")
async def class_update(class_name: str, request: Request,
                       ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    common.authorize(request, ctx, "os_compute_api:os-quota-class-sets:update", {})
    if not 1 <= len(class_name) <= 255:
        raise errors.BadRequest("Invalid input received: quota_class_name has a maximum length of 255.")
    body = await common.json_body(request)
    hidden = _hidden_in_classes(request)
    settable = [name for name in hidden if name not in ("server_groups", "server_group_members")]
    common.validate(body, _limits_schema("quota_class_set", settable, force=False))
    values = {name: int(value) for name, value in body["quota_class_set"].items()}
    result = await run_blocking(common.svc(request).quotas.update_class, class_name, values)
    return JSONResponse({"quota_class_set": _shown(result, hidden)})
