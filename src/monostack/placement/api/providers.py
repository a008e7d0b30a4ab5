"""/resource_providers: the providers themselves, their aggregates and their traits."""

from __future__ import annotations

import uuid as uuidlib
from typing import Any

from fastapi import APIRouter, Request, Response

from monostack.placement.api import query, schemas
from monostack.placement.api.common import (at_least, authorize, blocking, check_accept, json_body, newest, query as
                                            query_params, require, respond, service, url)
from monostack.placement.service.common import normalize_uuid

router = APIRouter()


def provider_links(request: Request, uuid: str) -> list[dict[str, str]]:
    base = url(request, f"/resource_providers/{uuid}")
    rels = ["inventories", "usages"]
    rels += ["aggregates"] if at_least(request, "1.1") else []
    rels += ["traits"] if at_least(request, "1.6") else []
    rels += ["allocations"] if at_least(request, "1.11") else []
    return [{"rel": "self", "href": base}] + [{"rel": rel, "href": f"{base}/{rel}"} for rel in rels]


def provider_body(request: Request, provider: dict[str, Any]) -> dict[str, Any]:
    body = {"uuid": provider["uuid"], "name": provider["name"], "generation": provider["generation"],
            "links": provider_links(request, provider["uuid"])}
    if at_least(request, "1.14"):
        body["parent_provider_uuid"] = provider["parent_provider_uuid"]
        body["root_provider_uuid"] = provider["root_provider_uuid"]
    return body


@router.get("/resource_providers")
async def list_providers(request: Request) -> Response:
    await authorize(request, "placement:resource_providers:list")
    check_accept(request)
    schema = schemas.PROVIDERS_QUERY
    for minimum, candidate in (("1.18", schemas.PROVIDERS_QUERY_1_18), ("1.14", schemas.PROVIDERS_QUERY_1_14),
                               ("1.4", schemas.PROVIDERS_QUERY_1_4), ("1.3", schemas.PROVIDERS_QUERY_1_3)):
        if at_least(request, minimum):
            schema = candidate
            break
    params = query_params(request, schema)
    filters: dict[str, Any] = {"name": params.get("name"), "uuid": params.get("uuid"), "in_tree": params.get("in_tree")}
    if "member_of" in params:
        filters["member_of"], filters["forbidden_aggs"] = query.member_of(request)
    if "required" in params:
        filters["required"], filters["forbidden_traits"] = query.traits(request)
    if "resources" in params:
        filters["resources"] = query.resources(params["resources"])
    providers = await blocking(service(request).providers.list, **filters)
    return respond(request, {"resource_providers": [provider_body(request, p) for p in providers]},
                   last_modified=newest(*(p["updated_at"] for p in providers)))


@router.post("/resource_providers")
async def create_provider(request: Request) -> Response:
    await authorize(request, "placement:resource_providers:create")
    data = await json_body(request, schemas.PROVIDER_POST_1_14 if at_least(request, "1.14") else schemas.PROVIDER_POST)
    uuid = normalize_uuid(data["uuid"]) if data.get("uuid") else str(uuidlib.uuid4())
    provider = await blocking(service(request).providers.create, uuid, data["name"],
                              data.get("parent_provider_uuid"))
    location = {"Location": url(request, f"/resource_providers/{uuid}")}
    if at_least(request, "1.20"):
        return respond(request, provider_body(request, provider), last_modified=provider["updated_at"],
                       headers=location)
    return respond(request, None, 201, headers=location)


@router.get("/resource_providers/{uuid}")
async def show_provider(request: Request, uuid: str) -> Response:
    await authorize(request, "placement:resource_providers:show")
    check_accept(request)
    provider = await blocking(service(request).providers.get, uuid)
    return respond(request, provider_body(request, provider), last_modified=provider["updated_at"])


@router.put("/resource_providers/{uuid}")
async def update_provider(request: Request, uuid: str) -> Response:
    await authorize(request, "placement:resource_providers:update")
    svc = service(request)
    await blocking(svc.providers.get, uuid)  # 404 before the body is looked at, as in Placement
    data = await json_body(request, schemas.PROVIDER_PUT_1_14 if at_least(request, "1.14") else schemas.PROVIDER_PUT)
    provider = await blocking(svc.providers.update, uuid, name=data["name"],
                              parent_uuid=data.get("parent_provider_uuid"),
                              set_parent="parent_provider_uuid" in data,
                              allow_reparenting=at_least(request, "1.37"))
    return respond(request, provider_body(request, provider), last_modified=provider["updated_at"])


@router.delete("/resource_providers/{uuid}")
async def delete_provider(request: Request, uuid: str) -> Response:
    await authorize(request, "placement:resource_providers:delete")
    await blocking(service(request).providers.delete, uuid)
    return respond(request, None, 204)


# -- aggregates (1.1) ----------------------------------------------------------------------------
def _aggregates_body(request: Request, provider: dict[str, Any], aggregates: list[str]) -> dict[str, Any]:
    body: dict[str, Any] = {"aggregates": aggregates}
    if at_least(request, "1.19"):
        body["resource_provider_generation"] = provider["generation"]
    return body


@router.get("/resource_providers/{uuid}/aggregates")
async def get_aggregates(request: Request, uuid: str) -> Response:
    require(request, "1.1")
    await authorize(request, "placement:resource_providers:aggregates:list")
    check_accept(request)
    provider, aggregates = await blocking(service(request).providers.aggregates, uuid)
    return respond(request, _aggregates_body(request, provider, aggregates))


@router.put("/resource_providers/{uuid}/aggregates")
async def set_aggregates(request: Request, uuid: str) -> Response:
    require(request, "1.1")
    await authorize(request, "placement:resource_providers:aggregates:update")
    svc = service(request)
    await blocking(svc.providers.get, uuid)
    with_generation = at_least(request, "1.19")
    data = await json_body(request, schemas.AGGREGATES_PUT_1_19 if with_generation else schemas.AGGREGATE_LIST)
    aggregates = data["aggregates"] if with_generation else data
    provider = await blocking(svc.providers.set_aggregates, uuid, aggregates,
                              data["resource_provider_generation"] if with_generation else None, with_generation)
    return respond(request, _aggregates_body(request, provider, aggregates))


# -- traits of a provider (1.6) ------------------------------------------------------------------
@router.get("/resource_providers/{uuid}/traits")
async def get_provider_traits(request: Request, uuid: str) -> Response:
    require(request, "1.6")
    await authorize(request, "placement:resource_providers:traits:list")
    check_accept(request)
    provider, traits = await blocking(service(request).providers.traits, uuid)
    return respond(request, {"traits": traits, "resource_provider_generation": provider["generation"]})


@router.put("/resource_providers/{uuid}/traits")
async def set_provider_traits(request: Request, uuid: str) -> Response:
    require(request, "1.6")
    await authorize(request, "placement:resource_providers:traits:update")
    data = await json_body(request, schemas.PROVIDER_TRAITS_PUT)
    provider, traits = await blocking(service(request).providers.set_traits, uuid, data["traits"],
                                      data["resource_provider_generation"])
    return respond(request, {"traits": traits, "resource_provider_generation": provider["generation"]})


@router.delete("/resource_providers/{uuid}/traits")
async def delete_provider_traits(request: Request, uuid: str) -> Response:
    require(request, "1.6")
    await authorize(request, "placement:resource_providers:traits:delete")
    await blocking(service(request).providers.set_traits, uuid, [], None)
    return respond(request, None, 204)
