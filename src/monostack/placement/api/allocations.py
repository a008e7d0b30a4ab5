"""/allocations (per consumer, and POST for several at once), a provider's allocations and
usages, and /usages of a project."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from monostack.common import errors
from monostack.placement.api import schemas
from monostack.placement.api.common import (at_least, authorize, blocking, check_accept, json_body, query, require,
                                            respond, service, version)
from monostack.placement.service import ConsumerWrite
from monostack.placement.service.common import is_uuid_like, normalize_uuid

router = APIRouter()


@router.get("/allocations/{consumer_uuid}")
async def get_allocations(request: Request, consumer_uuid: str) -> Response:
    await authorize(request, "placement:allocations:list")
    check_accept(request)
    result = await blocking(service(request).allocations.for_consumer, consumer_uuid)
    last_modified = result.pop("last_modified", None)
    extras = ("project_id", "user_id", "consumer_generation", "consumer_type")
    shown = {"project_id": "1.12", "user_id": "1.12", "consumer_generation": "1.28", "consumer_type": "1.38"}
    body = {"allocations": result["allocations"]}
    for key in extras:
        if key in result and at_least(request, shown[key]):
            body[key] = result[key]
    return respond(request, body, last_modified=last_modified)


def _writes_for(request: Request, consumer_uuid: str, data: dict[str, Any]) -> ConsumerWrite:
    """One consumer's part of a PUT or POST body, in the shape the service takes."""
    conf = service(request).conf.placement
    allocations = data["allocations"]
    if isinstance(allocations, list):  # before 1.12: a list of {resource_provider: {uuid}, resources}
        allocations = {item["resource_provider"]["uuid"]: {"resources": item["resources"]} for item in allocations}
    return ConsumerWrite(
        consumer_uuid, {rp: entry["resources"] for rp, entry in allocations.items()},
        project_id=data.get("project_id") or conf.incomplete_consumer_project_id,
        user_id=data.get("user_id") or conf.incomplete_consumer_user_id,
        generation=data.get("consumer_generation"), consumer_type=data.get("consumer_type"))


@router.put("/allocations/{consumer_uuid}")
async def put_allocations(request: Request, consumer_uuid: str) -> Response:
    await authorize(request, "placement:allocations:update")
    if not is_uuid_like(consumer_uuid):
        raise errors.BadRequest(f"Malformed consumer_uuid: {consumer_uuid}")
    consumer_uuid = normalize_uuid(consumer_uuid)
    data = await json_body(request, schemas.allocations_put(version(request)))
    write = _writes_for(request, consumer_uuid, data)
    await blocking(service(request).allocations.replace, [write], check_generation=at_least(request, "1.28"),
                   set_type=at_least(request, "1.38"),
                   error_prefix=f"Unable to allocate inventory for consumer {consumer_uuid}")
    return respond(request, None, 204)


@router.post("/allocations")
async def post_allocations(request: Request) -> Response:
    require(request, "1.13")
    await authorize(request, "placement:allocations:manage")
    data = await json_body(request, schemas.allocations_post(version(request)))
    writes = [_writes_for(request, normalize_uuid(consumer), body) for consumer, body in data.items()]
    await blocking(service(request).allocations.replace, writes, check_generation=at_least(request, "1.28"),
                   set_type=at_least(request, "1.38"))
    return respond(request, None, 204)


@router.delete("/allocations/{consumer_uuid}")
async def delete_allocations(request: Request, consumer_uuid: str) -> Response:
    await authorize(request, "placement:allocations:delete")
    await blocking(service(request).allocations.delete, consumer_uuid)
    return respond(request, None, 204)


@router.get("/resource_providers/{uuid}/allocations")
async def provider_allocations(request: Request, uuid: str) -> Response:
    await authorize(request, "placement:resource_providers:allocations:list")
    check_accept(request)
    provider, consumers = await blocking(service(request).allocations.for_provider, uuid)
    if not at_least(request, "1.28"):
        for entry in consumers.values():
            entry.pop("consumer_generation", None)
    return respond(request, {"resource_provider_generation": provider["generation"], "allocations": consumers})


@router.get("/resource_providers/{uuid}/usages")
async def provider_usages(request: Request, uuid: str) -> Response:
    await authorize(request, "placement:resource_providers:usages")
    check_accept(request)
    provider, usages = await blocking(service(request).allocations.provider_usages, uuid)
    return respond(request, {"resource_provider_generation": provider["generation"], "usages": usages})


@router.get("/usages")
async def usages(request: Request) -> Response:
    require(request, "1.9")
    by_type = at_least(request, "1.38")
    params = query(request, schemas.USAGES_QUERY_1_38 if by_type else schemas.USAGES_QUERY)
    await authorize(request, "placement:usages", {"project_id": params["project_id"]})
    check_accept(request)
    allocations = service(request).allocations
    if by_type:
        result = await blocking(allocations.usages_by_type, params["project_id"], params.get("user_id"),
                                params.get("consumer_type"))
    else:
        result = await blocking(allocations.usages, params["project_id"], params.get("user_id"))
    return respond(request, {"usages": result})


@router.post("/reshaper")
async def reshape(request: Request) -> Response:
    """Move inventories and allocations between providers atomically (1.30)."""
    require(request, "1.30")
    await authorize(request, "placement:reshaper:reshape")
    schema = (schemas.RESHAPE_1_38 if at_least(request, "1.38") else
              schemas.RESHAPE_1_34 if at_least(request, "1.34") else schemas.RESHAPE)
    data = await json_body(request, schema)
    writes = [_writes_for(request, normalize_uuid(consumer), body) for consumer, body in data["allocations"].items()]
    await blocking(service(request).reshaper.reshape, data["inventories"], writes, set_type=at_least(request, "1.38"))
    return respond(request, None, 204)
