"""Host aggregates (/v2.1/os-aggregates): create, rename, zone, metadata, hosts.

Aggregates are named by integer id (400 otherwise); 2.41 shows their uuid.
Create answers 200 without hosts and metadata, delete 200, as Nova does.
Host membership is mirrored onto the hosts' resource providers in Placement.
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

router = APIRouter()

_ZONE = {"oneOf": [types.az_name, {"type": "null"}]}
_CREATE = {"type": "object", "required": ["aggregate"], "additionalProperties": False,
           "properties": {"aggregate": {"type": "object", "required": ["name"], "additionalProperties": False,
                                        "properties": {"name": types.name, "availability_zone": _ZONE}}}}
_UPDATE = {"type": "object", "required": ["aggregate"], "additionalProperties": False,
           "properties": {"aggregate": {"type": "object", "additionalProperties": False,
                                        "properties": {"name": types.name, "availability_zone": _ZONE},
                                        "anyOf": [{"required": ["name"]}, {"required": ["availability_zone"]}]}}}


def _host_action(action: str) -> dict[str, Any]:
    return {"type": "object", "required": [action], "additionalProperties": False,
            "properties": {action: {"type": "object", "required": ["host"], "additionalProperties": False,
                                    "properties": {"host": types.fqdn}}}}


_SET_METADATA = {"type": "object", "required": ["set_metadata"], "additionalProperties": False,
                 "properties": {"set_metadata": {"type": "object", "required": ["metadata"],
                                                 "additionalProperties": False,
                                                 "properties": {"metadata": types.metadata_with_null}}}}


def view(request: Request, aggregate: dict[str, Any], *, full: bool = True) -> dict[str, Any]:
    body: dict[str, Any] = {"availability_zone": aggregate["availability_zone"],
                            "created_at": common.isotime_micro(aggregate["created_at"]), "deleted": False,
                            "deleted_at": None, "id": aggregate["id"], "name": aggregate["name"],
                            "updated_at": common.isotime_micro(aggregate["updated_at"])}
    if full:
        body["hosts"] = aggregate["hosts"]
        body["metadata"] = aggregate["metadata"]
    if common.at_least(request, "2.41"):
        body["uuid"] = aggregate["uuid"]
    return {"aggregate": body}


def _id(value: str) -> int:
    return types.validate_integer(value, "id")


@router.get("/v2.1/os-aggregates")
async def index(request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    common.authorize(request, ctx, "os_compute_api:os-aggregates:index", {})
    aggregates = await run_blocking(common.svc(request).aggregates.list)
    return JSONResponse({"aggregates": [view(request, a)["aggregate"] for a in aggregates]})


@router.post("/v2.1/os-aggregates")
async def create(request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    common.authorize(request, ctx, "os_compute_api:os-aggregates:create", {})
    body = await common.json_body(request)
    common.validate(body, _CREATE)
    values = body["aggregate"]
    aggregate = await run_blocking(common.svc(request).aggregates.create, values["name"].strip(),
                                   (values.get("availability_zone") or "").strip() or None)
    return JSONResponse(view(request, aggregate, full=False))


@router.get("/v2.1/os-aggregates/{aggregate_id}")
async def show(aggregate_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    common.authorize(request, ctx, "os_compute_api:os-aggregates:show", {})
    aggregate = await run_blocking(common.svc(request).aggregates.get, _id(aggregate_id))
    return JSONResponse(view(request, aggregate))


@router.put("/v2.1/os-aggregates/{aggregate_id}")
async def update(aggregate_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    common.authorize(request, ctx, "os_compute_api:os-aggregates:update", {})
    body = await common.json_body(request)
    common.validate(body, _UPDATE)
    values = body["aggregate"]
    changes: dict[str, Any] = {}
    if "name" in values:
        changes["name"] = values["name"].strip()
    if "availability_zone" in values:
        changes["availability_zone"] = values["availability_zone"]
    aggregate = await run_blocking(common.svc(request).aggregates.update, _id(aggregate_id), **changes)
    return JSONResponse(view(request, aggregate))


@router.delete("/v2.1/os-aggregates/{aggregate_id}")
async def delete(aggregate_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> Response:
    common.authorize(request, ctx, "os_compute_api:os-aggregates:delete", {})
    await run_blocking(common.svc(request).aggregates.delete, _id(aggregate_id))
    return Response(status_code=200)


@router.post("/v2.1/os-aggregates/{aggregate_id}/action")
async def action(aggregate_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    body = await common.json_body(request)
    aggregates = common.svc(request).aggregates
    if "add_host" in body:
        common.authorize(request, ctx, "os_compute_api:os-aggregates:add_host", {})
        common.validate(body, _host_action("add_host"))
        result = await run_blocking(aggregates.add_host, _id(aggregate_id), body["add_host"]["host"])
        await aggregates.sync_placement(body["add_host"]["host"])
    elif "remove_host" in body:
        common.authorize(request, ctx, "os_compute_api:os-aggregates:remove_host", {})
        common.validate(body, _host_action("remove_host"))
        result = await run_blocking(aggregates.remove_host, _id(aggregate_id), body["remove_host"]["host"])
        await aggregates.sync_placement(body["remove_host"]["host"], removed=result["uuid"])
    elif "set_metadata" in body:
        common.authorize(request, ctx, "os_compute_api:os-aggregates:set_metadata", {})
        common.validate(body, _SET_METADATA)
        result = await run_blocking(aggregates.set_metadata, _id(aggregate_id), body["set_metadata"]["metadata"])
    else:
        raise errors.BadRequest(f"There is no such action: {', '.join(sorted(body))}" if body else
                                "Malformed request body")
    return JSONResponse(view(request, result))
