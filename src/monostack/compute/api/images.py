"""The image proxy: /v2.1/images (up to 2.35) and /v2.1/images/{id}/metadata
(up to 2.38), Image service images shown as Nova showed them before clients
went to the Image API itself.

Every call goes to the Image service with the caller's token, so its
visibility and ownership rules decide (404/403 pass through).  An image's
"metadata" is what Nova calls its properties: every attribute that is not
one of the Image API's own; changing it replaces those properties with one
JSON patch.
"""

from __future__ import annotations

import datetime
from typing import Any

import httpx
from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from monostack.common import errors
from monostack.common.auth import authenticated
from monostack.common.context import RequestContext
from monostack.common.http import JSONResponse, run_blocking
from monostack.compute.api import common
from monostack.compute.api import parameter_types as types

router = APIRouter()

PROXY_MAX = "2.35"
METADATA_MAX = "2.38"

# The Image API's own attributes (its schema's base properties); the rest are properties.
_BASE = {"id", "name", "status", "visibility", "protected", "os_hidden", "checksum", "os_hash_algo",
         "os_hash_value", "owner", "size", "virtual_size", "container_format", "disk_format", "created_at",
         "updated_at", "tags", "direct_url", "min_ram", "min_disk", "self", "file", "schema", "locations",
         "stores"}
_STATUS = {"active": "ACTIVE", "queued": "SAVING", "saving": "SAVING", "uploading": "SAVING",
           "importing": "SAVING", "deleted": "DELETED", "pending_delete": "DELETED", "killed": "ERROR"}
_PROGRESS = {"queued": 25, "saving": 50, "uploading": 50, "importing": 50, "active": 100}
# Nova's query parameter -> the Image API's filter.
_FILTERS = {"name": "name", "status": "status", "server": "instance_uuid", "type": "image_type",
            "minRam": "min_ram", "minDisk": "min_disk"}

_METADATA = {"type": "object", "required": ["metadata"], "additionalProperties": False,
             "properties": {"metadata": types.metadata}}
_META = {"type": "object", "required": ["meta"], "additionalProperties": False,
         "properties": {"meta": {**types.metadata, "minProperties": 1, "maxProperties": 1}}}


# -- the Image service, with the caller's token -------------------------------------------
async def _glance(request: Request, ctx: RequestContext, method: str, path: str, **kwargs: Any) -> httpx.Response:
    images = common.svc(request).images
    url = f"{await images.auth.endpoint('image')}/v2{path}"
    headers = {"X-Auth-Token": ctx.auth_token or "", **kwargs.pop("headers", {})}
    try:
        response = await images.auth.client.request(method, url, headers=headers, **kwargs)
    except httpx.HTTPError as err:
        raise errors.ServiceUnavailable(f"The Image service did not answer: {err}") from None
    if response.status_code == 404:
        raise errors.NotFound("Image not found.")
    if response.status_code == 403:
        raise errors.Forbidden("You are not allowed to change the image." if method != "GET"
                               else "You are not allowed to see the image.")
    if response.status_code == 400:
        raise errors.BadRequest(response.json().get("message", "Invalid image request.")
                                if response.headers.get("content-type", "").startswith("application/json")
                                else "Invalid image request.")
    if response.status_code >= 300:
        raise errors.ServiceUnavailable(f"The Image service answered {response.status_code}.")
    return response


async def _image(request: Request, ctx: RequestContext, image_id: str) -> dict[str, Any]:
    return (await _glance(request, ctx, "GET", f"/images/{image_id}")).json()


def properties(image: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in image.items() if k not in _BASE}


async def _set_properties(request: Request, ctx: RequestContext, image: dict[str, Any],
                          new: dict[str, Any]) -> dict[str, Any]:
    """Replace the image's properties with `new` (Nova's update with purge_props)."""
    await run_blocking(common.svc(request).quotas.check_metadata, len(new), ctx.project_id)
    old = properties(image)
    patch = [{"op": "remove", "path": f"/{_pointer(k)}"} for k in old if k not in new]
    patch += [{"op": "replace" if k in old else "add", "path": f"/{_pointer(k)}", "value": str(v)}
              for k, v in new.items() if old.get(k) != v]
    if not patch:
        return image
    response = await _glance(request, ctx, "PATCH", f"/images/{image['id']}", json=patch,
                             headers={"Content-Type": "application/openstack-images-v2.1-json-patch"})
    return response.json()


def _pointer(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


# -- views ------------------------------------------------------------------------------
def _links(request: Request, image_id: str, image_url: str) -> list[dict[str, str]]:
    """self, bookmark, and the image in the Image API (`image_url`: its endpoint)."""
    return [*common.links(request, "images", image_id),
            {"rel": "alternate", "type": "application/vnd.openstack.image", "href": f"{image_url}/images/{image_id}"}]


async def _image_url(request: Request) -> str:
    return (await common.svc(request).images.auth.endpoint("image")).rstrip("/")


def _time(value: str | None) -> str | None:
    if not value:
        return None
    try:
        parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    return common.isotime(parsed.astimezone(datetime.timezone.utc).replace(tzinfo=None))


def image_view(request: Request, image: dict[str, Any], image_url: str) -> dict[str, Any]:
    metadata = properties(image)
    view: dict[str, Any] = {
        "id": image["id"], "name": image.get("name"), "minRam": int(image.get("min_ram") or 0),
        "minDisk": int(image.get("min_disk") or 0), "metadata": metadata, "created": _time(image.get("created_at")),
        "updated": _time(image.get("updated_at")), "status": _STATUS.get(image.get("status", ""), "UNKNOWN"),
        "progress": _PROGRESS.get(image.get("status", ""), 0), "OS-EXT-IMG-SIZE:size": image.get("size"),
        "links": _links(request, image["id"], image_url)}
    server = metadata.get("instance_uuid")
    if server:
        view["server"] = {"id": server, "links": common.links(request, "servers", server)}
    if metadata.get("auto_disk_config") is not None:
        auto = types.to_bool(metadata["auto_disk_config"])
        view["OS-DCF:diskConfig"] = "AUTO" if auto else "MANUAL"
    return view


# -- /images ----------------------------------------------------------------------------
async def _list(request: Request, ctx: RequestContext, *, detail: bool) -> JSONResponse:
    types.require_version(request, "2.1", PROXY_MAX)
    params: list[tuple[str, str]] = []
    for key, value in request.query_params.multi_items():
        if key in _FILTERS:
            if key == "server":
                value = value.rstrip("/").rsplit("/", 1)[-1]  # a server id or its link
            if key == "status":
                value = value.lower()
            params.append((_FILTERS[key], value))
        elif key == "changes-since":
            params.append(("updated_at", "gte:" + value))
        elif key.startswith("property-"):
            params.append((key[len("property-"):], value))
        elif key in ("limit", "marker"):
            if key == "limit":
                types.validate_integer(value, "limit", minimum=0)
            params.append((key, value))
    images = (await _glance(request, ctx, "GET", "/images", params=params)).json().get("images", [])
    image_url = await _image_url(request)
    if detail:
        body: dict[str, Any] = {"images": [image_view(request, i, image_url) for i in images]}
    else:
        body = {"images": [{"id": i["id"], "name": i.get("name"), "links": _links(request, i["id"], image_url)}
                           for i in images]}
    limit = types.query_value(request, "limit")
    if images and limit and limit.isdigit() and len(images) == int(limit):
        body["images_links"] = common.collection_next(
            request, "images/detail" if detail else "images", images[-1]["id"], int(limit))
    return JSONResponse(body)


@router.get("/v2.1/images")
async def list_images(request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    return await _list(request, ctx, detail=False)


@router.get("/v2.1/images/detail")
async def list_images_detail(request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    return await _list(request, ctx, detail=True)


@router.get("/v2.1/images/{image_id}")
async def show_image(image_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    types.require_version(request, "2.1", PROXY_MAX)
    image = await _image(request, ctx, image_id)
    return JSONResponse({"image": image_view(request, image, await _image_url(request))})


@router.delete("/v2.1/images/{image_id}", status_code=204)
async def delete_image(image_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> Response:
    types.require_version(request, "2.1", PROXY_MAX)
    await _glance(request, ctx, "DELETE", f"/images/{image_id}")
    return Response(status_code=204)


# -- /images/{id}/metadata ----------------------------------------------------------------
@router.get("/v2.1/images/{image_id}/metadata")
async def list_metadata(image_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    types.require_version(request, "2.1", METADATA_MAX)
    return JSONResponse({"metadata": properties(await _image(request, ctx, image_id))})


@router.post("/v2.1/images/{image_id}/metadata")
async def merge_metadata(image_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    types.require_version(request, "2.1", METADATA_MAX)
    body = await common.json_body(request)
    common.validate(body, _METADATA)
    image = await _image(request, ctx, image_id)
    image = await _set_properties(request, ctx, image, {**properties(image), **body["metadata"]})
    return JSONResponse({"metadata": properties(image)})


@router.put("/v2.1/images/{image_id}/metadata")
async def replace_metadata(image_id: str, request: Request,
                           ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    types.require_version(request, "2.1", METADATA_MAX)
    body = await common.json_body(request)
    common.validate(body, _METADATA)
    image = await _image(request, ctx, image_id)
    await _set_properties(request, ctx, image, body["metadata"])
    return JSONResponse({"metadata": body["metadata"]})


@router.get("/v2.1/images/{image_id}/metadata/{key}")
async def show_metadata_item(image_id: str, key: str, request: Request,
                             ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    types.require_version(request, "2.1", METADATA_MAX)
    metadata = properties(await _image(request, ctx, image_id))
    if key not in metadata:
        raise errors.NotFound("Image metadata item not found.")
    return JSONResponse({"meta": {key: metadata[key]}})


@router.put("/v2.1/images/{image_id}/metadata/{key}")
async def set_metadata_item(image_id: str, key: str, request: Request,
                            ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    types.require_version(request, "2.1", METADATA_MAX)
    body = await common.json_body(request)
    common.validate(body, _META)
    if key not in body["meta"]:
        raise errors.BadRequest("Request body and URI mismatch")
    image = await _image(request, ctx, image_id)
    await _set_properties(request, ctx, image, {**properties(image), key: body["meta"][key]})
    return JSONResponse({"meta": body["meta"]})


@router.delete("/v2.1/images/{image_id}/metadata/{key}", status_code=204)
async def delete_metadata_item(image_id: str, key: str, request: Request,
                               ctx: RequestContext = Depends(authenticated)) -> Response:
    types.require_version(request, "2.1", METADATA_MAX)
    image = await _image(request, ctx, image_id)
    metadata = properties(image)
    if key not in metadata:
        raise errors.NotFound("Invalid metadata key")
    del metadata[key]
    await _set_properties(request, ctx, image, metadata)
    return Response(status_code=204)
