"""Flavors (/v2.1/flavors): list, show, create, delete, describe (2.55), their
extra specs (os-extra_specs) and, for private flavors, which projects may use
them (os-flavor-access and the addTenantAccess/removeTenantAccess actions)."""

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
from monostack.compute.service.flavors import SORT_COLUMNS, validate_extra_spec

router = APIRouter()

_FLAVOR_ID = {"type": ["string", "number", "null"], "minLength": 1, "maxLength": 255,
              "pattern": "^(?! )[a-zA-Z0-9. _-]+(?<! )$"}
_SIZE = {"type": ["integer", "string"], "pattern": "^[0-9]+$", "maximum": 0x7FFFFFFF}
_DESCRIPTION = {"type": ["string", "null"], "minLength": 0, "maxLength": 65535,
                "pattern": types.description["pattern"]}


def _create_schema(request: Request) -> dict[str, Any]:
    flavor = {"name": types.name, "id": _FLAVOR_ID, "ram": {**_SIZE, "minimum": 1}, "vcpus": {**_SIZE, "minimum": 1},
              "disk": {**_SIZE, "minimum": 0}, "OS-FLV-EXT-DATA:ephemeral": {**_SIZE, "minimum": 0},
              "swap": {**_SIZE, "minimum": 0},
              "rxtx_factor": {"type": ["number", "string"], "pattern": r"^[0-9]+(\.[0-9]+)?$",
                              "minimum": 0, "exclusiveMinimum": True, "maximum": 3.40282e+38},
              "os-flavor-access:is_public": types.boolean}
    if common.at_least(request, "2.55"):
        flavor["description"] = _DESCRIPTION
    return {"type": "object", "additionalProperties": False, "required": ["flavor"],
            "properties": {"flavor": {"type": "object", "properties": flavor, "additionalProperties": False,
                                      "required": ["name", "ram", "vcpus", "disk"]}}}


_UPDATE = {"type": "object", "additionalProperties": False, "required": ["flavor"],
           "properties": {"flavor": {"type": "object", "properties": {"description": _DESCRIPTION},
                                     "required": ["description"], "additionalProperties": False}}}
_SPEC_VALUES = {"type": ["string", "number"], "maxLength": 255}
_EXTRA_SPECS = {"type": "object", "patternProperties": {types.METADATA_KEY: _SPEC_VALUES},
                "additionalProperties": False}
_EXTRA_SPECS_CREATE = {"type": "object", "properties": {"extra_specs": _EXTRA_SPECS}, "required": ["extra_specs"],
                       "additionalProperties": False}
_EXTRA_SPEC_UPDATE = {**_EXTRA_SPECS, "minProperties": 1, "maxProperties": 1}
_TENANT = {"type": "string", "minLength": 1, "maxLength": 255}


def _action_schema(action: str) -> dict[str, Any]:
    return {"type": "object", "additionalProperties": False, "required": [action],
            "properties": {action: {"type": "object", "properties": {"tenant": _TENANT}, "required": ["tenant"],
                                    "additionalProperties": False}}}


# -- views -----------------------------------------------------------------------------------
def view(flavor: dict[str, Any], request: Request, *, detail: bool = True,
         extra_specs: bool = False) -> dict[str, Any]:
    """A flavor as the API shows it (Nova's flavor view, per microversion)."""
    body: dict[str, Any] = {"id": flavor["id"], "name": flavor["name"]}
    if detail:
        swap = flavor.get("swap") or 0
        body.update({"ram": flavor["ram"], "disk": flavor["disk"],
                     "swap": swap if (swap or common.at_least(request, "2.75")) else "",
                     "OS-FLV-EXT-DATA:ephemeral": flavor.get("ephemeral") or 0,
                     "OS-FLV-DISABLED:disabled": bool(flavor.get("disabled")), "vcpus": flavor["vcpus"],
                     "os-flavor-access:is_public": bool(flavor.get("is_public", True)),
                     "rxtx_factor": flavor.get("rxtx_factor") or ""})
    body["links"] = common.links(request, "flavors", flavor["id"])
    if common.at_least(request, "2.55"):
        body["description"] = flavor.get("description")
    if detail and extra_specs:
        body["extra_specs"] = dict(flavor.get("extra_specs") or {})
    return body


def _with_extra_specs(request: Request, ctx: RequestContext) -> bool:
    """2.61 shows extra specs inside flavors to those allowed to list them."""
    return common.at_least(request, "2.61") and common.allowed(
        request, ctx, "os_compute_api:os-flavor-extra-specs:index", {"project_id": ctx.project_id})


# -- list and show -----------------------------------------------------------------------
_LIST_PARAMS = {"limit", "marker", "is_public", "minRam", "minDisk", "sort_key", "sort_dir"}


def _parse_is_public(value: str | None) -> bool | None:
    if value is None:
        return True
    if value.strip().lower() == "none":
        return None
    try:
        return types.to_bool(value, strict=True)
    except errors.BadRequest:
        raise errors.BadRequest(f"Invalid is_public filter [{value}]") from None


def _int_filter(request: Request, name: str) -> int | None:
    value = types.query_value(request, name)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise errors.BadRequest(f"Invalid {name} filter [{value}]") from None


async def _list(request: Request, ctx: RequestContext) -> tuple[list[dict[str, Any]], Any]:
    types.check_query(request, _LIST_PARAMS)
    sort_key = types.query_value(request, "sort_key") or "flavorid"
    sort_dir = types.query_value(request, "sort_dir") or "asc"
    if sort_key not in SORT_COLUMNS:
        raise errors.BadRequest(f"Invalid input for query parameters sort_key. Value: {sort_key}. "
                                f"'{sort_key}' is not one of {sorted(SORT_COLUMNS)}")
    if sort_dir not in ("asc", "desc"):
        raise errors.BadRequest(f"Invalid input for query parameters sort_dir. Value: {sort_dir}. "
                                f"'{sort_dir}' is not one of ['asc', 'desc']")
    page = types.page_request(request)
    is_public = _parse_is_public(types.query_value(request, "is_public")) if ctx.is_admin else True
    flavors = await run_blocking(common.svc(request).flavors.list, ctx, is_public=is_public,
                                 min_ram=_int_filter(request, "minRam"), min_disk=_int_filter(request, "minDisk"),
                                 sort_key=sort_key, sort_dir=sort_dir, limit=page.limit, marker=page.marker)
    return flavors, page


@router.get("/v2.1/flavors")
async def index(request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    flavors, page = await _list(request, ctx)
    body: dict[str, Any] = {"flavors": [view(f, request, detail=False) for f in flavors]}
    links = types.next_links(request, "flavors", page, flavors, lambda f: f["id"])
    if links:
        body["flavors_links"] = links
    return JSONResponse(body)


@router.get("/v2.1/flavors/detail")
async def detail(request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    flavors, page = await _list(request, ctx)
    specs = _with_extra_specs(request, ctx)
    body: dict[str, Any] = {"flavors": [view(f, request, extra_specs=specs) for f in flavors]}
    links = types.next_links(request, "flavors/detail", page, flavors, lambda f: f["id"])
    if links:
        body["flavors_links"] = links
    return JSONResponse(body)


@router.get("/v2.1/flavors/{flavor_id}")
async def show(flavor_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    flavor = await run_blocking(common.svc(request).flavors.get, flavor_id, ctx)
    return JSONResponse({"flavor": view(flavor, request, extra_specs=_with_extra_specs(request, ctx))})


# -- managing ----------------------------------------------------------------------------
def _size(values: dict[str, Any], key: str, minimum: int) -> int:
    """A size given as a number or a digit string, within Nova's bounds."""
    value = int(values.get(key, 0))
    if not minimum <= value <= 0x7FFFFFFF:
        raise errors.BadRequest(f"Invalid input for field/attribute {key}. Value: {value}. "
                                f"{key} must be >= {minimum} and <= {0x7FFFFFFF}")
    return value


@router.post("/v2.1/flavors")
async def create(request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    common.authorize(request, ctx, "os_compute_api:os-flavor-manage:create", {})
    body = await common.json_body(request)
    common.validate(body, _create_schema(request))
    values = body["flavor"]
    try:
        rxtx_factor = float(values.get("rxtx_factor", 1.0))
    except ValueError:
        raise errors.BadRequest("Invalid input for field/attribute rxtx_factor.") from None
    if rxtx_factor <= 0:
        raise errors.BadRequest(f"Invalid input for field/attribute rxtx_factor. Value: {rxtx_factor}. "
                                f"{rxtx_factor} is less than or equal to the minimum of 0")
    flavorid = values.get("id")
    flavor = await run_blocking(
        common.svc(request).flavors.create, name=values["name"], ram=_size(values, "ram", 1),
        vcpus=_size(values, "vcpus", 1), disk=_size(values, "disk", 0),
        flavorid=str(flavorid) if flavorid is not None else None,
        ephemeral=_size(values, "OS-FLV-EXT-DATA:ephemeral", 0), swap=_size(values, "swap", 0),
        rxtx_factor=rxtx_factor, is_public=types.to_bool(values.get("os-flavor-access:is_public", True)),
        description=values.get("description") if common.at_least(request, "2.55") else None)
    return JSONResponse({"flavor": view(flavor, request, extra_specs=_with_extra_specs(request, ctx))})


@router.put("/v2.1/flavors/{flavor_id}")
async def update(flavor_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    types.require_version(request, "2.55")
    common.authorize(request, ctx, "os_compute_api:os-flavor-manage:update", {})
    body = await common.json_body(request)
    common.validate(body, _UPDATE)
    flavor = await run_blocking(common.svc(request).flavors.update_description, flavor_id,
                                body["flavor"]["description"])
    return JSONResponse({"flavor": view(flavor, request, extra_specs=_with_extra_specs(request, ctx))})


@router.delete("/v2.1/flavors/{flavor_id}")
async def delete(flavor_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> Response:
    common.authorize(request, ctx, "os_compute_api:os-flavor-manage:delete", {})
    await run_blocking(common.svc(request).flavors.delete, flavor_id)
    return Response(status_code=202)


# -- access ------------------------------------------------------------------------------
def _access(flavor_id: str, projects: list[str]) -> dict[str, Any]:
    return {"flavor_access": [{"flavor_id": flavor_id, "tenant_id": p} for p in projects]}


@router.get("/v2.1/flavors/{flavor_id}/os-flavor-access")
async def access_index(flavor_id: str, request: Request,
                       ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    common.authorize(request, ctx, "os_compute_api:os-flavor-access")
    projects = await run_blocking(common.svc(request).flavors.access_list, flavor_id)
    return JSONResponse(_access(flavor_id, projects))


@router.post("/v2.1/flavors/{flavor_id}/action")
async def action(flavor_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    body = await common.json_body(request)
    flavors = common.svc(request).flavors
    if "addTenantAccess" in body:
        common.authorize(request, ctx, "os_compute_api:os-flavor-access:add_tenant_access", {})
        common.validate(body, _action_schema("addTenantAccess"))
        projects = await run_blocking(flavors.add_access, flavor_id, body["addTenantAccess"]["tenant"],
                                      refuse_public=common.at_least(request, "2.7"))
    elif "removeTenantAccess" in body:
        common.authorize(request, ctx, "os_compute_api:os-flavor-access:remove_tenant_access", {})
        common.validate(body, _action_schema("removeTenantAccess"))
        projects = await run_blocking(flavors.remove_access, flavor_id, body["removeTenantAccess"]["tenant"])
    else:
        raise errors.BadRequest("There is no such action: " + ", ".join(sorted(body)) if body else
                                "Malformed request body")
    return JSONResponse(_access(flavor_id, projects))


# -- extra specs ---------------------------------------------------------------------------
def _spec_values(request: Request, specs: dict[str, Any]) -> dict[str, str]:
    """Numbers become strings (Nova accepts both); from 2.86 known namespaces are validated."""
    result = {}
    for key, value in specs.items():
        text = str(value)
        if len(text) > 255:
            raise errors.BadRequest("Invalid input received: extra_specs value has more than 255 characters.")
        if common.at_least(request, "2.86"):
            validate_extra_spec(key, text)
        result[key] = text
    return result


async def _readable_flavor(request: Request, ctx: RequestContext, flavor_id: str, rule: str) -> dict[str, Any]:
    common.authorize(request, ctx, rule, {"project_id": ctx.project_id})
    return await run_blocking(common.svc(request).flavors.get, flavor_id, ctx)


@router.get("/v2.1/flavors/{flavor_id}/os-extra_specs")
async def extra_specs_index(flavor_id: str, request: Request,
                            ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    flavor = await _readable_flavor(request, ctx, flavor_id, "os_compute_api:os-flavor-extra-specs:index")
    return JSONResponse({"extra_specs": flavor["extra_specs"]})


@router.post("/v2.1/flavors/{flavor_id}/os-extra_specs")
async def extra_specs_create(flavor_id: str, request: Request,
                             ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    common.authorize(request, ctx, "os_compute_api:os-flavor-extra-specs:create", {})
    body = await common.json_body(request)
    common.validate(body, _EXTRA_SPECS_CREATE)
    specs = _spec_values(request, body["extra_specs"])
    await run_blocking(common.svc(request).flavors.set_extra_specs, flavor_id, specs)
    return JSONResponse({"extra_specs": specs})


@router.get("/v2.1/flavors/{flavor_id}/os-extra_specs/{key}")
async def extra_specs_show(flavor_id: str, key: str, request: Request,
                           ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    flavor = await _readable_flavor(request, ctx, flavor_id, "os_compute_api:os-flavor-extra-specs:show")
    if key not in flavor["extra_specs"]:
        raise errors.NotFound(f"Flavor {flavor_id} has no extra specs with key {key}.")
    return JSONResponse({key: flavor["extra_specs"][key]})


@router.put("/v2.1/flavors/{flavor_id}/os-extra_specs/{key}")
async def extra_specs_update(flavor_id: str, key: str, request: Request,
                             ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    common.authorize(request, ctx, "os_compute_api:os-flavor-extra-specs:update", {})
    body = await common.json_body(request)
    common.validate(body, _EXTRA_SPEC_UPDATE)
    specs = _spec_values(request, body)
    if key not in specs:
        raise errors.BadRequest("Request body and URI mismatch")
    await run_blocking(common.svc(request).flavors.set_extra_specs, flavor_id, specs)
    return JSONResponse(specs)


@router.delete("/v2.1/flavors/{flavor_id}/os-extra_specs/{key}")
async def extra_specs_delete(flavor_id: str, key: str, request: Request,
                             ctx: RequestContext = Depends(authenticated)) -> Response:
    common.authorize(request, ctx, "os_compute_api:os-flavor-extra-specs:delete", {})
    await run_blocking(common.svc(request).flavors.delete_extra_spec, flavor_id, key)
    return Response(status_code=200)
