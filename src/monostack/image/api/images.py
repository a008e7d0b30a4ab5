"""/v2/images and everything under it, /v2/schemas, /v2/info.

Handlers parse the request, then call the service layer (in a worker thread:
plain `def` routes, or `run_blocking`); the data routes stream: an upload is
fed to the store as it arrives, a download is read from the store a chunk at
a time.
"""

from __future__ import annotations

import asyncio
import re
import threading
import urllib.parse
from typing import Any, AsyncIterator, Iterator

from fastapi import APIRouter, Depends, Request, Response
from starlette.requests import ClientDisconnect
from starlette.responses import StreamingResponse

from monostack.common import errors, zerocopy
from monostack.common.auth import authenticated
from monostack.common.context import RequestContext
from monostack.common.http import JSONResponse, run_blocking
from monostack.image.api import schemas
from monostack.image.service import ImageService, RangeNotSatisfiable
from monostack.image.store.filesystem import LocalFileData

router = APIRouter(prefix="/v2")
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def svc(request: Request) -> ImageService:
    return request.app.state.image


async def _body(request: Request) -> Any:
    return schemas.parse_json(await request.body())


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


# -- images ------------------------------------------------------------------------------------
@router.post("/images", status_code=201)
async def create_image(request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    body = await _body(request)
    service = svc(request)
    image = await run_blocking(service.create, ctx, body)
    return JSONResponse(image, status_code=201, headers={
        "Location": f"{request.url.scheme}://{request.url.netloc}{request.scope.get('root_path', '')}{image['self']}",
        "OpenStack-image-import-methods": ",".join(service.import_methods()),
        "OpenStack-image-store-ids": ",".join(service.backends)})


@router.get("/images")
def list_images(request: Request, ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    params = list(request.query_params.multi_items())
    images, limit = svc(request).list(ctx, params)
    body: dict[str, Any] = {"images": images, "first": "/v2/images", "schema": "/v2/schemas/images"}
    if images and len(images) >= limit:
        query = [(k, v) for k, v in params if k != "marker"] + [("marker", images[-1]["id"])]
        body["next"] = f"/v2/images?{urllib.parse.urlencode(query)}"
    return body


@router.api_route("/images/", methods=["GET", "PATCH", "DELETE", "PUT"], include_in_schema=False)
def no_image_id(ctx: RequestContext = Depends(authenticated)) -> None:
    raise errors.NotFound("The resource could not be found.")


@router.get("/images/{image_id}")
def show_image(request: Request, image_id: str, ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    return svc(request).get(ctx, image_id)


@router.patch("/images/{image_id}")
async def update_image(request: Request, image_id: str, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    media_type = _media_type(request)
    if media_type not in schemas.PATCH_MEDIA_TYPES:
        raise errors.UnsupportedMediaType(f"Unsupported Content-Type: {media_type or 'none'}",
                                          headers={"Accept-Patch": ", ".join(schemas.PATCH_MEDIA_TYPES)})
    changes = schemas.parse_patch(await _body(request), media_type)
    return JSONResponse(await run_blocking(svc(request).update, ctx, image_id, changes))


@router.delete("/images/{image_id}", status_code=204)
def delete_image(request: Request, image_id: str, ctx: RequestContext = Depends(authenticated)) -> Response:
    svc(request).delete(ctx, image_id)
    return Response(status_code=204)


@router.post("/images/{image_id}/actions/deactivate", status_code=204)
def deactivate(request: Request, image_id: str, ctx: RequestContext = Depends(authenticated)) -> Response:
    svc(request).set_status(ctx, image_id, "deactivate")
    return Response(status_code=204)


@router.post("/images/{image_id}/actions/reactivate", status_code=204)
def reactivate(request: Request, image_id: str, ctx: RequestContext = Depends(authenticated)) -> Response:
    svc(request).set_status(ctx, image_id, "reactivate")
    return Response(status_code=204)


# -- tags --------------------------------------------------------------------------------------
@router.put("/images/{image_id}/tags/{tag}", status_code=204)
def add_tag(request: Request, image_id: str, tag: str, ctx: RequestContext = Depends(authenticated)) -> Response:
    svc(request).add_tag(ctx, image_id, tag)
    return Response(status_code=204)


@router.delete("/images/{image_id}/tags/{tag}", status_code=204)
def delete_tag(request: Request, image_id: str, tag: str, ctx: RequestContext = Depends(authenticated)) -> Response:
    svc(request).delete_tag(ctx, image_id, tag)
    return Response(status_code=204)


# -- members -----------------------------------------------------------------------------------
@router.post("/images/{image_id}/members")
async def add_member(request: Request, image_id: str, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    body = await _body(request)
    if not isinstance(body, dict) or "member" not in body:
        raise errors.BadRequest("Member to be added not specified")
    return JSONResponse(await run_blocking(svc(request).add_member, ctx, image_id, body["member"]))


@router.get("/images/{image_id}/members")
def list_members(request: Request, image_id: str, ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    return {"members": svc(request).list_members(ctx, image_id), "schema": "/v2/schemas/members"}


@router.get("/images/{image_id}/members/{member_id}")
def show_member(request: Request, image_id: str, member_id: str,
                ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    return svc(request).get_member(ctx, image_id, member_id)


@router.put("/images/{image_id}/members/{member_id}")
async def update_member(request: Request, image_id: str, member_id: str,
                        ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    body = await _body(request)
    if not isinstance(body, dict) or "status" not in body:
        raise errors.BadRequest("Status not specified")
    return JSONResponse(await run_blocking(svc(request).update_member, ctx, image_id, member_id, body["status"]))


@router.delete("/images/{image_id}/members/{member_id}", status_code=204)
def delete_member(request: Request, image_id: str, member_id: str,
                  ctx: RequestContext = Depends(authenticated)) -> Response:
    svc(request).delete_member(ctx, image_id, member_id)
    return Response(status_code=204)


# -- data --------------------------------------------------------------------------------------
async def _receive(request: Request, image_id: str, ctx: RequestContext, *, staging: bool) -> Response:
    if _media_type(request) != "application/octet-stream":
        raise errors.UnsupportedMediaType(f"Content-Type must be application/octet-stream, not "
                                          f"{_media_type(request) or 'none'}")
    service = svc(request)
    length = request.headers.get("content-length", "")
    # The store the data goes to (Glance's multi-store header; staging ignores it) and the size
    # when the client says it (a store may then write one object rather than segments).
    ingest = await run_blocking(service.begin_upload, ctx, image_id, staging=staging,
                                store_id=None if staging else request.headers.get("x-image-meta-store"),
                                size=int(length) if length.isdigit() else None)
    try:
        await ingest.consume(request.stream())
    except ClientDisconnect:
        await run_blocking(service.abort_upload, ingest)
        raise errors.BadRequest("The client disconnected before the image data was complete.") from None
    except BaseException:
        await run_blocking(service.abort_upload, ingest)
        raise
    await run_blocking(service.finish_upload, ctx, ingest)
    return Response(status_code=204)


@router.put("/images/{image_id}/file", status_code=204)
async def upload(request: Request, image_id: str, ctx: RequestContext = Depends(authenticated)) -> Response:
    return await _receive(request, image_id, ctx, staging=False)


@router.put("/images/{image_id}/stage", status_code=204)
async def stage(request: Request, image_id: str, ctx: RequestContext = Depends(authenticated)) -> Response:
    return await _receive(request, image_id, ctx, staging=True)


def _parse_range(header: str | None) -> tuple[int | None, int | None] | None:
    if not header:
        return None
    match = _RANGE.match(header.strip())
    if not match or (not match.group(1) and not match.group(2)):
        raise RangeNotSatisfiable()
    first = int(match.group(1)) if match.group(1) else None
    last = int(match.group(2)) if match.group(2) else None
    return first, last


@router.get("/images/{image_id}/file")
async def download(request: Request, image_id: str, ctx: RequestContext = Depends(authenticated)) -> Response:
    byte_range = _parse_range(request.headers.get("range"))
    image, data, span = await run_blocking(svc(request).open_data, ctx, image_id, byte_range)
    if data is None:
        return Response(status_code=204)
    headers = {"Content-Type": "application/octet-stream"}
    if span is None:
        headers["Content-Length"] = str(image["size"])
        if image["checksum"]:
            headers["Content-MD5"] = image["checksum"]
        status = 200
    else:
        headers["Content-Length"] = str(span[1] - span[0] + 1)
        headers["Content-Range"] = f"bytes {span[0]}-{span[1]}/{image['size']}"
        status = 206
    local = data if isinstance(data, LocalFileData) else None
    if local is not None and zerocopy.offers(request.scope):  # the kernel sends the file's span
        data.close()
        return zerocopy.FileSpanResponse(local.path, local.offset, local.count, status_code=status,
                                         headers=headers)
    return StreamingResponse(_chunks(data), status_code=status, headers=headers)


async def _chunks(data: Iterator[bytes]) -> AsyncIterator[bytes]:
    """The data, reading the next chunk in a worker thread while this one is sent: the disk and
    the socket work at the same time, and at most two chunks are held."""
    lock = threading.Lock()  # a read may still run when the response ends: close after it

    def read() -> bytes | None:
        with lock:
            return next(data, None)

    def close() -> None:
        with lock:
            closer = getattr(data, "close", None)
            if closer is not None:
                closer()

    ahead: asyncio.Future | None = None
    try:
        ahead = asyncio.ensure_future(run_blocking(read))
        while True:
            chunk = await ahead
            ahead = None
            if chunk is None:
                return
            ahead = asyncio.ensure_future(run_blocking(read))
            yield chunk
    finally:
        if ahead is not None:  # its outcome no longer matters
            ahead.add_done_callback(lambda future: future.cancelled() or future.exception())
        await run_blocking(close)


# -- import ------------------------------------------------------------------------------------
@router.post("/images/{image_id}/import", status_code=202)
async def import_image(request: Request, image_id: str, ctx: RequestContext = Depends(authenticated)) -> Response:
    body = await _body(request)
    await run_blocking(svc(request).import_image, ctx, image_id, body, request.headers.get("x-image-meta-store"))
    return Response(status_code=202)


@router.delete("/stores/{store_id}/{image_id}", status_code=204)
def delete_from_store(request: Request, store_id: str, image_id: str,
                      ctx: RequestContext = Depends(authenticated)) -> Response:
    svc(request).delete_from_store(ctx, store_id, image_id)
    return Response(status_code=204)


@router.get("/images/{image_id}/tasks")
def image_tasks(request: Request, image_id: str, ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    return {"tasks": svc(request).tasks(ctx, image_id)}


@router.get("/info/import")
def info_import(request: Request, ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    return {"import-methods": {"description": "Import methods available.", "type": "array",
                               "value": svc(request).import_methods()}}


@router.get("/info/stores")
def info_stores(request: Request, ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    return {"stores": svc(request).stores()}


@router.get("/info/stores/detail")
def info_stores_detail(request: Request, ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    return {"stores": svc(request).stores_detail(ctx)}


@router.get("/info/usage")
def info_usage(request: Request, ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    return {"usage": svc(request).usage(ctx)}


# -- schemas -----------------------------------------------------------------------------------
@router.get("/schemas/{name:path}")
def get_schema(name: str, ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    if name not in schemas.SCHEMAS:
        raise errors.NotFound(f"Schema {name} not found")
    return schemas.SCHEMAS[name]()
