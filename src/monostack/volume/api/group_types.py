"""/v3/{project_id}/group_types (3.11+): group types and their group specs."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from monostack.common import errors
from monostack.common.auth import authenticated
from monostack.common.context import RequestContext
from monostack.common.http import JSONResponse, run_blocking
from monostack.volume.api.common import (DESCRIPTION, at_least, authorize, entity, json_body, sort_rows, svc,
                                         validate)
from monostack.volume.api.types import SPECS
from monostack.volume.service.common import bool_param

router = APIRouter()
MANAGE = "group:group_types_manage"

CREATE = {"type": "object", "properties": {
    "name": {"type": "string", "minLength": 1, "maxLength": 255}, "description": DESCRIPTION,
    "is_public": {"type": ["boolean", "string"]}, "group_specs": SPECS}, "required": ["name"],
    "additionalProperties": False}


def _check(request: Request) -> None:
    if not at_least(request, "3.11"):
        raise errors.NotFound("The resource could not be found.")


def _view(row: Any) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "description": row.description, "is_public": row.is_public,
            "group_specs": dict(row.group_specs or {})}


@router.get("/v3/group_types")
async def list_group_types(request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    _check(request)
    rows = await run_blocking(svc(request).group_types.list, ctx, request.query_params.get("is_public"))
    rows = sort_rows(request, rows, ("name", "id", "created_at", "description", "is_public"))
    return JSONResponse({"group_types": [_view(r) for r in rows]})


@router.get("/v3/group_types/default")
async def default_group_type(request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    _check(request)
    raise errors.NotFound("Default group type could not be found.")


@router.get("/v3/group_types/{type_id}")
async def show_group_type(type_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    _check(request)
    return JSONResponse({"group_type": _view(await run_blocking(svc(request).group_types.get, ctx, type_id))})


@router.post("/v3/group_types")
async def create_group_type(request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    _check(request)
    authorize(request, ctx, MANAGE)
    spec = entity(await json_body(request), "group_type")
    validate(spec, CREATE)
    row = await run_blocking(svc(request).group_types.create, spec["name"].strip(), spec.get("description"),
                             bool_param(spec.get("is_public", True), "is_public"), spec.get("group_specs") or {})
    return JSONResponse({"group_type": _view(row)}, status_code=202)


@router.put("/v3/group_types/{type_id}")
async def update_group_type(type_id: str, request: Request,
                            ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    _check(request)
    authorize(request, ctx, MANAGE)
    spec = entity(await json_body(request), "group_type")
    changes: dict[str, Any] = {}
    if spec.get("name") is not None:
        changes["name"] = str(spec["name"]).strip()
    if "description" in spec:
        changes["description"] = spec["description"]
    if "is_public" in spec:
        changes["is_public"] = bool_param(spec["is_public"], "is_public")
    if not changes:
        raise errors.BadRequest("Invalid input received: Specify group type name, description or is_public.")
    row = await run_blocking(svc(request).group_types.update, ctx, type_id, changes)
    return JSONResponse({"group_type": _view(row)})


@router.delete("/v3/group_types/{type_id}")
async def delete_group_type(type_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> Response:
    _check(request)
    authorize(request, ctx, MANAGE)
    await run_blocking(svc(request).group_types.delete, ctx, type_id)
    return Response(status_code=202)


@router.get("/v3/group_types/{type_id}/group_specs")
async def list_specs(type_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    _check(request)
    authorize(request, ctx, MANAGE)
    row = await run_blocking(svc(request).group_types.get, ctx, type_id)
    return JSONResponse({"group_specs": dict(row.group_specs)})


@router.post("/v3/group_types/{type_id}/group_specs")
async def set_specs(type_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    _check(request)
    authorize(request, ctx, MANAGE)
    specs = (await json_body(request)).get("group_specs")
    if not isinstance(specs, dict):
        raise errors.BadRequest("Missing required element 'group_specs' in request body.")
    validate(specs, SPECS)
    await run_blocking(svc(request).group_types.set_specs, ctx, type_id, specs)
    return JSONResponse({"group_specs": specs}, status_code=202)


@router.get("/v3/group_types/{type_id}/group_specs/{key}")
async def show_spec(type_id: str, key: str, request: Request,
                    ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    _check(request)
    authorize(request, ctx, MANAGE)
    row = await run_blocking(svc(request).group_types.get, ctx, type_id)
    if key not in row.group_specs:
        raise errors.NotFound(f"Group Type {type_id} has no specs with key {key}.")
    return JSONResponse({key: row.group_specs[key]})


@router.put("/v3/group_types/{type_id}/group_specs/{key}")
async def update_spec(type_id: str, key: str, request: Request,
                      ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    _check(request)
    authorize(request, ctx, MANAGE)
    body = await json_body(request)
    if key not in body or len(body) > 1:
        raise errors.BadRequest("Request body and URI mismatch")
    validate(body, SPECS)
    await run_blocking(svc(request).group_types.set_specs, ctx, type_id, body)
    return JSONResponse(body)


@router.delete("/v3/group_types/{type_id}/group_specs/{key}")
async def delete_spec(type_id: str, key: str, request: Request,
                      ctx: RequestContext = Depends(authenticated)) -> Response:
    _check(request)
    authorize(request, ctx, MANAGE)
    await run_blocking(svc(request).group_types.delete_spec, ctx, type_id, key)
    return Response(status_code=202)
