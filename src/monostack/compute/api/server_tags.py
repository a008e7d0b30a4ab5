"""Server tags (/v2.1/servers/{id}/tags, microversion 2.26): at most 50 tags of
at most 60 characters, without '/' or ','.  Changes need the server ACTIVE,
PAUSED, SUSPENDED or SHUTOFF (409 otherwise)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from monostack.common import errors
from monostack.common.auth import authenticated
from monostack.common.context import RequestContext
from monostack.common.http import JSONResponse, base_url, run_blocking
from monostack.compute import models
from monostack.compute.api import common
from monostack.compute.api import parameter_types as types
from monostack.compute.api.server_metadata import change_server, check_state

router = APIRouter()

_UPDATE_ALL = {"type": "object", "required": ["tags"], "additionalProperties": False,
               "properties": {"tags": {"type": "array", "items": types.tag, "maxItems": types.MAX_TAG_COUNT}}}


def _tags(row: models.Instance) -> list[str]:
    return sorted(t.tag for t in row.tags)


async def _server(request: Request, ctx: RequestContext, server_id: str, rule: str) -> models.Instance:
    types.require_version(request, "2.26")
    server = await run_blocking(common.svc(request).servers.get, ctx, server_id)
    common.authorize(request, ctx, rule, {"project_id": server.project_id})
    return server


def _check_tag(tag: str) -> None:
    problem = None
    if not tag:
        problem = "'' is too short"
    elif len(tag) > types.MAX_TAG_LENGTH:
        problem = f"'{tag}' is too long"
    elif "/" in tag or "," in tag:
        problem = f"'{tag}' does not match '^[^,/]*$'"
    if problem:
        raise errors.BadRequest(f"Tag '{tag}' is invalid. It must be a non empty string without characters '/' "
                                f"and ','. Validation error message: {problem}")


@router.get("/v2.1/servers/{server_id}/tags")
async def index(server_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    server = await _server(request, ctx, server_id, "os_compute_api:os-server-tags:index")
    return JSONResponse({"tags": _tags(server)})


@router.put("/v2.1/servers/{server_id}/tags")
async def update_all(server_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    await _server(request, ctx, server_id, "os_compute_api:os-server-tags:update_all")
    body = await common.json_body(request)
    common.validate(body, _UPDATE_ALL)

    def change(_session: Any, row: models.Instance) -> list[str]:
        check_state(row, "update tags", require_no_task=False)
        wanted = list(dict.fromkeys(body["tags"]))
        current = {t.tag: t for t in row.tags}
        row.tags = [current.get(tag) or models.InstanceTag(tag=tag) for tag in wanted]
        return sorted(wanted)

    tags = await run_blocking(change_server, common.svc(request), ctx, server_id, change)
    return JSONResponse({"tags": tags})


@router.delete("/v2.1/servers/{server_id}/tags")
async def delete_all(server_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> Response:
    await _server(request, ctx, server_id, "os_compute_api:os-server-tags:delete_all")

    def change(_session: Any, row: models.Instance) -> None:
        check_state(row, "delete tags", require_no_task=False)
        row.tags = []

    await run_blocking(change_server, common.svc(request), ctx, server_id, change)
    return Response(status_code=204)


@router.get("/v2.1/servers/{server_id}/tags/{tag}")
async def show(server_id: str, tag: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> Response:
    server = await _server(request, ctx, server_id, "os_compute_api:os-server-tags:show")
    if tag not in _tags(server):
        raise errors.NotFound(f"Server {server_id} has no tag '{tag}'")
    return Response(status_code=204)


@router.put("/v2.1/servers/{server_id}/tags/{tag}")
async def update(server_id: str, tag: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> Response:
    await _server(request, ctx, server_id, "os_compute_api:os-server-tags:update")

    def change(_session: Any, row: models.Instance) -> bool:
        check_state(row, "update tag", require_no_task=False)
        _check_tag(tag)
        current = _tags(row)
        if len(current) >= types.MAX_TAG_COUNT:
            raise errors.BadRequest(f"The number of tags exceeded the per-server limit {types.MAX_TAG_COUNT}")
        if tag in current:
            return False
        row.tags.append(models.InstanceTag(tag=tag))
        return True

    created = await run_blocking(change_server, common.svc(request), ctx, server_id, change)
    if not created:
        return Response(status_code=204)
    return Response(status_code=201,
                    headers={"Location": f"{base_url(request)}/v2.1/servers/{server_id}/tags/{tag}"})


@router.delete("/v2.1/servers/{server_id}/tags/{tag}")
async def delete(server_id: str, tag: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> Response:
    await _server(request, ctx, server_id, "os_compute_api:os-server-tags:delete")

    def change(_session: Any, row: models.Instance) -> None:
        check_state(row, "delete tag", require_no_task=False)
        match = [t for t in row.tags if t.tag == tag]
        if not match:
            raise errors.NotFound(f"Instance {server_id} has no tag '{tag}'")
        row.tags.remove(match[0])

    await run_blocking(change_server, common.svc(request), ctx, server_id, change)
    return Response(status_code=204)
