"""/resource_providers/{uuid}/inventories: all of a provider's inventories, or one class's."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from monostack.placement.api import schemas
from monostack.placement.api.common import (at_least, authorize, blocking, check_accept, json_body, newest, require,
                                            respond, service, url)
from monostack.placement.service.inventories import FIELDS

router = APIRouter()
BASE = "/resource_providers/{uuid}/inventories"


def _inventory(inv: dict[str, Any]) -> dict[str, Any]:
    return {field: inv[field] for field in FIELDS}


def _inventories_body(provider: dict[str, Any], inventories: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {"resource_provider_generation": provider["generation"],
            "inventories": {rc: _inventory(inv) for rc, inv in inventories.items()}}


@router.get(BASE)
async def list_inventories(request: Request, uuid: str) -> Response:
    await authorize(request, "placement:resource_providers:inventories:list")
    check_accept(request)
    provider, inventories = await blocking(service(request).inventories.list, uuid)
    return respond(request, _inventories_body(provider, inventories),
                   last_modified=newest(*(inv["updated_at"] for inv in inventories.values())))


@router.put(BASE)
async def set_inventories(request: Request, uuid: str) -> Response:
    await authorize(request, "placement:resource_providers:inventories:update")
    svc = service(request)
    await blocking(svc.providers.get, uuid)
    data = await json_body(request, schemas.INVENTORIES_PUT)
    provider, inventories = await blocking(svc.inventories.replace, uuid, data["resource_provider_generation"],
                                           data["inventories"], reserved_can_be_total=at_least(request, "1.26"))
    return respond(request, _inventories_body(provider, inventories))


@router.delete(BASE)
async def delete_inventories(request: Request, uuid: str) -> Response:
    require(request, "1.5", status=405)
    await authorize(request, "placement:resource_providers:inventories:delete")
    await blocking(service(request).inventories.replace, uuid, None, {})
    return respond(request, None, 204)


@router.post(BASE)
async def create_inventory(request: Request, uuid: str) -> Response:
    await authorize(request, "placement:resource_providers:inventories:create")
    svc = service(request)
    await blocking(svc.providers.get, uuid)
    data = await json_body(request, schemas.INVENTORY_POST)
    rc_name = data.pop("resource_class")
    provider, inv = await blocking(svc.inventories.create, uuid, rc_name, data,
                                   reserved_can_be_total=at_least(request, "1.26"))
    return respond(request, {**_inventory(inv), "resource_provider_generation": provider["generation"]}, 201,
                   headers={"Location": url(request, f"/resource_providers/{uuid}/inventories/{rc_name}")})


@router.get(BASE + "/{resource_class}")
async def show_inventory(request: Request, uuid: str, resource_class: str) -> Response:
    await authorize(request, "placement:resource_providers:inventories:show")
    check_accept(request)
    provider, inv = await blocking(service(request).inventories.get, uuid, resource_class)
    return respond(request, {**_inventory(inv), "resource_provider_generation": provider["generation"]},
                   last_modified=inv["updated_at"])


@router.put(BASE + "/{resource_class}")
async def update_inventory(request: Request, uuid: str, resource_class: str) -> Response:
    await authorize(request, "placement:resource_providers:inventories:update")
    svc = service(request)
    await blocking(svc.providers.get, uuid)
    data = await json_body(request, schemas.INVENTORY)
    generation = data.pop("resource_provider_generation")
    provider, inv = await blocking(svc.inventories.update, uuid, resource_class, generation, data,
                                   reserved_can_be_total=at_least(request, "1.26"))
    return respond(request, {**_inventory(inv), "resource_provider_generation": provider["generation"]})


@router.delete(BASE + "/{resource_class}")
async def delete_inventory(request: Request, uuid: str, resource_class: str) -> Response:
    await authorize(request, "placement:resource_providers:inventories:delete")
    await blocking(service(request).inventories.delete, uuid, resource_class)
    return respond(request, None, 204)
