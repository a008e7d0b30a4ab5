"""The metadata routes Cinder gives volumes and snapshots alike:

    GET    /v3/{collection}/{id}/metadata         {"metadata": {...}}
    POST   /v3/{collection}/{id}/metadata         merge
    PUT    /v3/{collection}/{id}/metadata         replace
    GET    /v3/{collection}/{id}/metadata/{key}   {"meta": {key: value}}
    PUT    /v3/{collection}/{id}/metadata/{key}   set one key
    DELETE /v3/{collection}/{id}/metadata/{key}   200

`add_routes` puts them on a router for a service part (`svc(request).<part>`) with the
methods metadata(ctx, id), set_metadata(ctx, id, metadata, replace=) and
delete_metadata(ctx, id, key), under that resource's policy rules."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Depends, Request, Response

from monostack.common import errors
from monostack.common.auth import authenticated
from monostack.common.context import RequestContext
from monostack.common.http import JSONResponse, run_blocking
from monostack.volume.api.common import authorize, json_body, svc


@dataclass(frozen=True)
class Rules:
    """The policy rule of each kind of metadata call."""
    read: str
    create: str
    update: str
    delete: str


def add_routes(router: APIRouter, collection: str, id_param: str, part: str, rules: Rules) -> None:
    base = f"/v3/{collection}/{{{id_param}}}/metadata"

    def service(request: Request):  # type: ignore[no-untyped-def]
        return getattr(svc(request), part)

    async def set_all(request: Request, ctx: RequestContext, rule: str, replace: bool) -> JSONResponse:
        authorize(request, ctx, rule)
        body = await json_body(request)
        if not isinstance(body.get("metadata"), dict):
            raise errors.BadRequest("Malformed request body")
        result = await run_blocking(service(request).set_metadata, ctx, request.path_params[id_param],
                                    body["metadata"], replace=replace)
        return JSONResponse({"metadata": result})

    @router.get(base, name=f"{part}_metadata")
    async def get_all(request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
        authorize(request, ctx, rules.read)
        metadata = await run_blocking(service(request).metadata, ctx, request.path_params[id_param])
        return JSONResponse({"metadata": metadata})

    @router.post(base, name=f"{part}_metadata_merge")
    async def merge(request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
        return await set_all(request, ctx, rules.create, False)

    @router.put(base, name=f"{part}_metadata_replace")
    async def replace(request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
        return await set_all(request, ctx, rules.update, True)

    @router.get(base + "/{key}", name=f"{part}_metadata_item")
    async def get_item(key: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
        authorize(request, ctx, rules.read)
        metadata = await run_blocking(service(request).metadata, ctx, request.path_params[id_param])
        if key not in metadata:
            raise errors.NotFound("Metadata item was not found")
        return JSONResponse({"meta": {key: metadata[key]}})

    @router.put(base + "/{key}", name=f"{part}_metadata_item_set")
    async def set_item(key: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
        authorize(request, ctx, rules.update)
        body = await json_body(request)
        meta = body.get("meta")
        if not isinstance(meta, dict):
            raise errors.BadRequest("Malformed request body")
        if key not in meta:
            raise errors.BadRequest("Request body and URI mismatch")
        if len(meta) > 1:
            raise errors.BadRequest("Request body contains too many items")
        await run_blocking(service(request).set_metadata, ctx, request.path_params[id_param], meta, replace=False)
        return JSONResponse({"meta": meta})

    @router.delete(base + "/{key}", name=f"{part}_metadata_item_delete")
    async def delete_item(key: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> Response:
        authorize(request, ctx, rules.delete)
        await run_blocking(service(request).delete_metadata, ctx, request.path_params[id_param], key)
        return Response(status_code=200)
