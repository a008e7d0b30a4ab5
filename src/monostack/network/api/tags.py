"""/v2.0/{collection}/{id}/tags: replace, add, check, remove one, remove all."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from monostack.common.auth import authenticated
from monostack.common.context import RequestContext
from monostack.common.http import JSONResponse, run_blocking
from monostack.network import exceptions as nexc
from monostack.network.api.common import authorize, bad_request, json_body, svc
from monostack.network.service.tags import TAGGABLE


async def _authorize_change(request: Request, ctx: RequestContext, collection: str, resource_id: str) -> None:
    owner = await run_blocking(svc(request).owner_of, ctx, collection, resource_id)
    member = TAGGABLE[collection][2]
    authorize(request, ctx, f"update_{member}", {"project_id": owner, "tenant_id": owner,
                                                 "network_project_id": owner, "network_device": "False"})


def register(router: APIRouter) -> None:
    for collection in TAGGABLE:
        _register(router, collection)


def _register(router: APIRouter, collection: str) -> None:
    base = f"/v2.0/{collection}/{{resource_id}}/tags"

    @router.get(base, name=f"list_{collection}_tags")
    async def list_tags(resource_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> Any:
        return JSONResponse({"tags": await run_blocking(svc(request).get_tags, ctx, collection, resource_id)})

    @router.get(base + "/{tag}", name=f"show_{collection}_tag")
    async def show_tag(resource_id: str, tag: str, request: Request,
                       ctx: RequestContext = Depends(authenticated)) -> Response:
        tags = await run_blocking(svc(request).get_tags, ctx, collection, resource_id)
        if tag not in tags:
            raise nexc.TagNotFound(resource_id, tag=tag)
        return Response(status_code=204)

    @router.put(base, name=f"replace_{collection}_tags")
    async def replace(resource_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> Any:
        body = await json_body(request)
        if not isinstance(body, dict) or not isinstance(body.get("tags"), list):
            raise bad_request("Invalid input for tags. Reason: 'tags' is required and must be a list.")
        await _authorize_change(request, ctx, collection, resource_id)
        tags = await run_blocking(svc(request).change_tags, ctx, collection, resource_id, replace=body["tags"])
        return JSONResponse({"tags": tags})

    @router.put(base + "/{tag}", status_code=201, name=f"add_{collection}_tag")
    async def add(resource_id: str, tag: str, request: Request, ctx: RequestContext = Depends(authenticated)
                  ) -> Response:
        await _authorize_change(request, ctx, collection, resource_id)
        await run_blocking(svc(request).change_tags, ctx, collection, resource_id, add=tag)
        return Response(status_code=201)

    @router.delete(base, status_code=204, name=f"clear_{collection}_tags")
    async def clear(resource_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> Response:
        await _authorize_change(request, ctx, collection, resource_id)
        await run_blocking(svc(request).change_tags, ctx, collection, resource_id, clear=True)
        return Response(status_code=204)

    @router.delete(base + "/{tag}", status_code=204, name=f"remove_{collection}_tag")
    async def remove(resource_id: str, tag: str, request: Request,
                     ctx: RequestContext = Depends(authenticated)) -> Response:
        await _authorize_change(request, ctx, collection, resource_id)
        await run_blocking(svc(request).change_tags, ctx, collection, resource_id, remove=tag)
        return Response(status_code=204)
