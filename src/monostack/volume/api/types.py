"""/v3/{project_id}/types: volume types, their extra specs, their encryption specs
(/types/{id}/encryption), access to private types (os-volume-type-access), and the default
type (/types/default)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from monostack.common import errors
from monostack.common.auth import authenticated
from monostack.common.context import RequestContext
from monostack.common.http import JSONResponse, run_blocking
from monostack.volume.api import views
from monostack.volume.api.common import (DESCRIPTION, authorize, entity, json_body, paginate, sort_rows, svc,
                                         validate)
from monostack.volume.service.common import bool_param

router = APIRouter()

SPECS = {"type": "object", "patternProperties": {"^[a-zA-Z0-9-_:. /]{1,255}$": {
    "type": "string", "maxLength": 255}}, "additionalProperties": False}
CREATE = {"type": "object", "properties": {
    "name": {"type": "string", "minLength": 1, "maxLength": 255}, "description": DESCRIPTION,
    "os-volume-type-access:is_public": {"type": ["boolean", "string"]}, "extra_specs": SPECS},
    "required": ["name"], "additionalProperties": False}
UPDATE = {"type": "object", "properties": {
    "name": {"type": ["string", "null"], "minLength": 1, "maxLength": 255}, "description": DESCRIPTION,
    "is_public": {"type": ["boolean", "string"]}}, "additionalProperties": False}

# Cinder's schema: a key size is an integer, also when given as a string of digits.
KEY_SIZE = {"type": ["string", "integer", "null"], "pattern": "^[0-9]+$", "minimum": 0}
ENCRYPTION = {"type": "object", "properties": {
    "key_size": KEY_SIZE, "provider": {"type": "string", "minLength": 0, "maxLength": 255},
    "control_location": {"type": "string", "enum": ["front-end", "back-end"]},
    "cipher": {"type": ["string", "null"], "minLength": 0, "maxLength": 255}},
    "required": ["provider", "control_location"], "additionalProperties": False}
ENCRYPTION_UPDATE = {**ENCRYPTION, "required": []}


@router.get("/v3/types")
async def list_types(request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    authorize(request, ctx, "volume_extension:type_get_all")
    rows = await run_blocking(svc(request).types.list, ctx, request.query_params.get("is_public"))
    rows = sort_rows(request, rows, ("name", "id", "created_at", "description", "is_public"))
    page, _limit = paginate(request, rows)
    return JSONResponse({"volume_types": [views.volume_type(request, ctx, r) for r in page]})


@router.get("/v3/types/{type_id}")
async def show_type(type_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    authorize(request, ctx, "volume_extension:type_get")
    row = await run_blocking(svc(request).types.get, ctx, type_id)
    return JSONResponse({"volume_type": views.volume_type(request, ctx, row)})


@router.post("/v3/types")
async def create_type(request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    authorize(request, ctx, "volume_extension:types_manage")
    body = await json_body(request)
    spec = entity(body, "volume_type")
    validate(spec, CREATE)
    name = spec["name"].strip()
    if not name:
        raise errors.BadRequest("Invalid input received: Volume type name can not be empty.")
    is_public = bool_param(spec.get("os-volume-type-access:is_public", True), "is_public")
    row = await run_blocking(svc(request).types.create, name, spec.get("description"), is_public,
                             spec.get("extra_specs") or {})
    return JSONResponse({"volume_type": views.volume_type(request, ctx, row, "create")})


@router.put("/v3/types/{type_id}")
async def update_type(type_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    authorize(request, ctx, "volume_extension:types_manage")
    body = await json_body(request)
    spec = entity(body, "volume_type")
    validate(spec, UPDATE)
    changes: dict[str, Any] = {}
    if spec.get("name") is not None:
        if not spec["name"].strip():
            raise errors.BadRequest("Invalid input received: Volume type name can not be empty.")
        changes["name"] = spec["name"].strip()
    if "description" in spec:
        changes["description"] = spec["description"]
    if "is_public" in spec:
        changes["is_public"] = bool_param(spec["is_public"], "is_public")
    if not changes:
        raise errors.BadRequest("Invalid input received: Specify volume type name, description, is_public or a "
                                "combination thereof.")
    row = await run_blocking(svc(request).types.update, ctx, type_id, changes)
    return JSONResponse({"volume_type": views.volume_type(request, ctx, row, "update")})


@router.delete("/v3/types/{type_id}")
async def delete_type(type_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> Response:
    authorize(request, ctx, "volume_extension:types_manage")
    await run_blocking(svc(request).types.delete, ctx, type_id)
    return Response(status_code=202)


# -- extra specs ----------------------------------------------------------------------------------
@router.get("/v3/types/{type_id}/extra_specs")
async def list_specs(type_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    authorize(request, ctx, "volume_extension:type_get")
    row = await run_blocking(svc(request).types.get, ctx, type_id)
    return JSONResponse({"extra_specs": views.volume_type(request, ctx, row)["extra_specs"]})


@router.post("/v3/types/{type_id}/extra_specs")
async def set_specs(type_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    authorize(request, ctx, "volume_extension:types_manage")
    body = await json_body(request)
    specs = body.get("extra_specs")
    if not isinstance(specs, dict):
        raise errors.BadRequest("Missing required element 'extra_specs' in request body.")
    validate(specs, SPECS)
    await run_blocking(svc(request).types.set_extra_specs, ctx, type_id, specs)
    return JSONResponse({"extra_specs": specs})


@router.get("/v3/types/{type_id}/extra_specs/{key}")
async def show_spec(type_id: str, key: str, request: Request,
                    ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    authorize(request, ctx, "volume_extension:type_get")
    row = await run_blocking(svc(request).types.get, ctx, type_id)
    specs = views.volume_type(request, ctx, row)["extra_specs"]
    if key not in specs:
        raise errors.NotFound(f"Volume Type {type_id} has no extra specs with key {key}.")
    return JSONResponse({key: specs[key]})


@router.put("/v3/types/{type_id}/extra_specs/{key}")
async def update_spec(type_id: str, key: str, request: Request,
                      ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    authorize(request, ctx, "volume_extension:types_manage")
    body = await json_body(request)
    if key not in body:
        raise errors.BadRequest("Request body and URI mismatch")
    if len(body) > 1:
        raise errors.BadRequest("Request body contains too many items")
    validate(body, SPECS)
    await run_blocking(svc(request).types.set_extra_specs, ctx, type_id, body)
    return JSONResponse(body)


@router.delete("/v3/types/{type_id}/extra_specs/{key}")
async def delete_spec(type_id: str, key: str, request: Request,
                      ctx: RequestContext = Depends(authenticated)) -> Response:
    authorize(request, ctx, "volume_extension:types_manage")
    await run_blocking(svc(request).types.delete_extra_spec, ctx, type_id, key)
    return Response(status_code=202)


# -- encryption specs -------------------------------------------------------------------------------
def _encryption_body(body: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    spec = entity(body, "encryption")
    validate(spec, schema)
    if spec.get("key_size") is not None:
        spec["key_size"] = int(spec["key_size"])
    return spec


@router.get("/v3/types/{type_id}/encryption")
async def show_encryption(type_id: str, request: Request,
                          ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    """The type's encryption specs, or {} when it is not encrypted."""
    authorize(request, ctx, "volume_extension:volume_type_encryption:get")
    row = await run_blocking(svc(request).types.encryption, ctx, type_id)
    return JSONResponse(views.encryption(row) if row is not None else {})


@router.get("/v3/types/{type_id}/encryption/{key}")
async def show_encryption_item(type_id: str, key: str, request: Request,
                               ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    authorize(request, ctx, "volume_extension:volume_type_encryption:get")
    row = await run_blocking(svc(request).types.encryption, ctx, type_id)
    specs = views.encryption(row) if row is not None else {}
    if key not in specs:
        raise errors.NotFound(f"Volume type encryption for type {type_id} does not exist.")
    return JSONResponse({key: specs[key]})


@router.post("/v3/types/{type_id}/encryption")
async def create_encryption(type_id: str, request: Request,
                            ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    authorize(request, ctx, "volume_extension:volume_type_encryption:create")
    spec = _encryption_body(await json_body(request), ENCRYPTION)
    row = await run_blocking(svc(request).types.create_encryption, ctx, type_id, spec)
    # Cinder answers the body it was given, with the ids it added.
    return JSONResponse({"encryption": {**spec, "volume_type_id": row.volume_type_id,
                                        "encryption_id": row.encryption_id}})


@router.put("/v3/types/{type_id}/encryption/{encryption_id}")
async def update_encryption(type_id: str, encryption_id: str, request: Request,
                            ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    """(Cinder ignores the last path segment: a type has one set of encryption specs.)"""
    authorize(request, ctx, "volume_extension:volume_type_encryption:update")
    spec = _encryption_body(await json_body(request), ENCRYPTION_UPDATE)
    await run_blocking(svc(request).types.update_encryption, ctx, type_id, spec)
    return JSONResponse({"encryption": spec})


@router.delete("/v3/types/{type_id}/encryption/{encryption_id}")
async def delete_encryption(type_id: str, encryption_id: str, request: Request,
                            ctx: RequestContext = Depends(authenticated)) -> Response:
    authorize(request, ctx, "volume_extension:volume_type_encryption:delete")
    await run_blocking(svc(request).types.delete_encryption, ctx, type_id)
    return Response(status_code=202)


# -- access ---------------------------------------------------------------------------------------
@router.get("/v3/types/{type_id}/os-volume-type-access")
async def list_access(type_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    authorize(request, ctx, "volume_extension:volume_type_access")
    return JSONResponse({"volume_type_access": await run_blocking(svc(request).types.access, ctx, type_id)})


@router.post("/v3/types/{type_id}/action")
async def type_action(type_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> Response:
    authorize(request, ctx, "volume_extension:volume_type_access:addProjectAccess")
    body = await json_body(request)
    for name, method in (("addProjectAccess", "add_access"), ("removeProjectAccess", "remove_access")):
        if name in body:
            arg = body[name]
            if not isinstance(arg, dict) or not arg.get("project"):
                raise errors.BadRequest("Access list needs a project: 'project' is a required property")
            await run_blocking(getattr(svc(request).types, method), ctx, type_id, arg["project"])
            return Response(status_code=202)
    raise errors.BadRequest("There is no such action in the request body.")
