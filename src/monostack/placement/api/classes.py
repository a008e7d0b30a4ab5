"""/resource_classes (1.2) and /traits (1.6): the standard names and the CUSTOM_ ones."""

from __future__ import annotations

from typing import Any

import jsonschema
from fastapi import APIRouter, Request, Response

from monostack.common import errors
from monostack.placement.api import schemas
from monostack.placement.api.common import (authorize, blocking, check_accept, json_body, newest, query, require,
                                            respond, service, url, version)

router = APIRouter()


def _class_body(request: Request, rc: dict[str, Any]) -> dict[str, Any]:
    return {"name": rc["name"], "links": [{"rel": "self", "href": url(request, f"/resource_classes/{rc['name']}")}]}


@router.get("/resource_classes")
async def list_classes(request: Request) -> Response:
    require(request, "1.2")
    await authorize(request, "placement:resource_classes:list")
    check_accept(request)
    classes = await blocking(service(request).names.list_classes)
    return respond(request, {"resource_classes": [_class_body(request, rc) for rc in classes]},
                   last_modified=newest(*(rc["updated_at"] or rc["created_at"] for rc in classes)))


@router.post("/resource_classes")
async def create_class(request: Request) -> Response:
    require(request, "1.2")
    await authorize(request, "placement:resource_classes:create")
    data = await json_body(request, schemas.RESOURCE_CLASS)
    await blocking(service(request).names.create_class, data["name"])
    return respond(request, None, 201, headers={"Location": url(request, f"/resource_classes/{data['name']}")})


@router.get("/resource_classes/{name}")
async def show_class(request: Request, name: str) -> Response:
    require(request, "1.2")
    await authorize(request, "placement:resource_classes:show")
    check_accept(request)
    rc = await blocking(service(request).names.get_class, name)
    return respond(request, _class_body(request, rc), last_modified=rc["updated_at"] or rc["created_at"])


@router.put("/resource_classes/{name}")
async def update_class(request: Request, name: str) -> Response:
    """1.2-1.6: rename a custom class; from 1.7: create it unless it exists (201, else 204)."""
    require(request, "1.2")
    await authorize(request, "placement:resource_classes:update")
    names = service(request).names
    if not version(request).matches("1.7"):
        data = await json_body(request, schemas.RESOURCE_CLASS)
        rc = await blocking(names.rename_class, name, data["name"])
        return respond(request, _class_body(request, rc))
    try:
        jsonschema.validate({"name": name}, schemas.RESOURCE_CLASS)
    except jsonschema.ValidationError as exc:
        raise errors.BadRequest(f"JSON does not validate: {exc.message}") from None
    created = await blocking(names.ensure_class, name)
    return respond(request, None, 201 if created else 204,
                   headers={"Location": url(request, f"/resource_classes/{name}")})


@router.delete("/resource_classes/{name}")
async def delete_class(request: Request, name: str) -> Response:
    require(request, "1.2")
    await authorize(request, "placement:resource_classes:delete")
    await blocking(service(request).names.delete_class, name)
    return respond(request, None, 204)


# -- traits -----------------------------------------------------------------------------------------
@router.get("/traits")
async def list_traits(request: Request) -> Response:
    require(request, "1.6")
    await authorize(request, "placement:traits:list")
    check_accept(request)
    params = query(request, schemas.TRAITS_QUERY)
    filters: dict[str, Any] = {}
    if "name" in params:
        op, sep, value = params["name"].partition(":")
        if not sep:
            raise errors.BadRequest(f'Badly formatted name parameter. Expected name query string parameter in form: '
                                    f'?name=[in|startswith]:[name1,name2|prefix]. Got: "{params["name"]}"')
        if op == "in":
            filters["name_in"] = value.split(",")
        elif op == "startswith":
            filters["prefix"] = value
    if "associated" in params:
        if params["associated"].lower() not in ("true", "false"):
            raise errors.BadRequest('The query parameter "associated" only accepts "true" or "false"')
        filters["associated"] = params["associated"].lower() == "true"
    traits = await blocking(service(request).names.list_traits, **filters)
    return respond(request, {"traits": [t["name"] for t in traits]},
                   last_modified=newest(*(t["updated_at"] or t["created_at"] for t in traits)))


@router.put("/traits/{name}")
async def put_trait(request: Request, name: str) -> Response:
    require(request, "1.6")
    await authorize(request, "placement:traits:update")
    try:
        jsonschema.validate(name, schemas.CUSTOM_TRAIT)
    except jsonschema.ValidationError:
        raise errors.BadRequest('The trait is invalid. A valid trait must be no longer than 255 characters, start '
                                'with the prefix "CUSTOM_" and use following characters: "A"-"Z", "0"-"9" and "_"'
                                ) from None
    created, _trait = await blocking(service(request).names.ensure_trait, name)
    return respond(request, None, 201 if created else 204, headers={"Location": url(request, f"/traits/{name}")})


@router.get("/traits/{name}")
async def show_trait(request: Request, name: str) -> Response:
    require(request, "1.6")
    await authorize(request, "placement:traits:show")
    await blocking(service(request).names.get_trait, name)
    return respond(request, None, 204)


@router.delete("/traits/{name}")
async def delete_trait(request: Request, name: str) -> Response:
    require(request, "1.6")
    await authorize(request, "placement:traits:delete")
    await blocking(service(request).names.delete_trait, name)
    return respond(request, None, 204)
