"""Server metadata (/v2.1/servers/{id}/metadata): read, merge (POST), replace
(PUT), and one key at a time.

Changes need the server unlocked (unless an admin asks) and ACTIVE, PAUSED,
SUSPENDED or SHUTOFF with no task under way (409 otherwise), and stay within
the metadata_items quota (403).
"""

from __future__ import annotations

from typing import Any, Callable

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from monostack.common import errors
from monostack.common.auth import authenticated
from monostack.common.context import RequestContext
from monostack.common.http import JSONResponse, run_blocking
from monostack.compute import models, states
from monostack.compute.api import common
from monostack.compute.api import parameter_types as types
from monostack.compute.service import utcnow

router = APIRouter()

CHANGEABLE = (states.ACTIVE, states.PAUSED, states.SUSPENDED, states.STOPPED)
_METADATA = {"type": "object", "required": ["metadata"], "additionalProperties": False,
             "properties": {"metadata": types.metadata}}
_META = {"type": "object", "required": ["meta"], "additionalProperties": False,
         "properties": {"meta": {**types.metadata, "minProperties": 1, "maxProperties": 1}}}


def check_state(row: models.Instance, method: str, *, require_no_task: bool = True) -> None:
    """Nova's check_instance_state for metadata and tags (409 with its message)."""
    if row.vm_state not in CHANGEABLE:
        raise states.InvalidState(f"Cannot '{method}' instance {row.uuid} while it is in vm_state {row.vm_state}")
    if require_no_task and row.task_state is not None:
        raise states.InvalidState(f"Cannot '{method}' instance {row.uuid} while it is in task_state "
                                  f"{row.task_state}")


def change_server(svc: Any, ctx: RequestContext, server_id: str, change: Callable[[Any, models.Instance], Any]) -> Any:
    """Run `change(session, row)` on the server row in a write transaction (404 as the servers API)."""
    with svc.db.writer() as session:
        row = svc.servers.for_update(session, ctx, server_id)
        result = change(session, row)
        row.updated_at = utcnow()
        return result


async def _server(request: Request, ctx: RequestContext, server_id: str, rule: str) -> models.Instance:
    server = await run_blocking(common.svc(request).servers.get, ctx, server_id)
    common.authorize(request, ctx, rule, {"project_id": server.project_id})
    return server


def _metadata(row: models.Instance) -> dict[str, str]:
    return {item.key: item.value for item in row.metadata_items}


def _update(svc: Any, ctx: RequestContext, server_id: str, items: dict[str, str], *, replace: bool,
            method: str = "update metadata") -> dict[str, str]:
    def change(session: Any, row: models.Instance) -> dict[str, str]:
        svc.servers.check_lock(ctx, row)
        check_state(row, method)
        new = dict(items) if replace else {**_metadata(row), **items}
        if new:
            svc.quotas.check_metadata(len(new), row.project_id)
        svc.servers.set_metadata_items(session, row, new)
        return new
    return change_server(svc, ctx, server_id, change)


@router.get("/v2.1/servers/{server_id}/metadata")
async def index(server_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    server = await _server(request, ctx, server_id, "os_compute_api:server-metadata:index")
    return JSONResponse({"metadata": _metadata(server)})


@router.post("/v2.1/servers/{server_id}/metadata")
async def create(server_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    body = await common.json_body(request)
    common.validate(body, _METADATA)
    await _server(request, ctx, server_id, "os_compute_api:server-metadata:create")
    metadata = await run_blocking(_update, common.svc(request), ctx, server_id, body["metadata"], replace=False)
    return JSONResponse({"metadata": metadata})


@router.put("/v2.1/servers/{server_id}/metadata")
async def update_all(server_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    body = await common.json_body(request)
    common.validate(body, _METADATA)
    await _server(request, ctx, server_id, "os_compute_api:server-metadata:update_all")
    metadata = await run_blocking(_update, common.svc(request), ctx, server_id, body["metadata"], replace=True)
    return JSONResponse({"metadata": metadata})


@router.get("/v2.1/servers/{server_id}/metadata/{key}")
async def show(server_id: str, key: str, request: Request,
               ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    server = await _server(request, ctx, server_id, "os_compute_api:server-metadata:show")
    metadata = _metadata(server)
    if key not in metadata:
        raise errors.NotFound("Metadata item was not found")
    return JSONResponse({"meta": {key: metadata[key]}})


@router.put("/v2.1/servers/{server_id}/metadata/{key}")
async def update(server_id: str, key: str, request: Request,
                 ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    body = await common.json_body(request)
    common.validate(body, _META)
    await _server(request, ctx, server_id, "os_compute_api:server-metadata:update")
    if key not in body["meta"]:
        raise errors.BadRequest("Request body and URI mismatch")
    await run_blocking(_update, common.svc(request), ctx, server_id, body["meta"], replace=False)
    return JSONResponse({"meta": body["meta"]})


@router.delete("/v2.1/servers/{server_id}/metadata/{key}")
async def delete(server_id: str, key: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> Response:
    server = await _server(request, ctx, server_id, "os_compute_api:server-metadata:delete")
    if key not in _metadata(server):
        raise errors.NotFound("Metadata item was not found")
    svc = common.svc(request)

    def change(session: Any, row: models.Instance) -> None:
        svc.servers.check_lock(ctx, row)
        check_state(row, "delete metadata")
        current = _metadata(row)
        if key not in current:
            raise errors.NotFound("Metadata item was not found")
        del current[key]
        svc.servers.set_metadata_items(session, row, current)

    await run_blocking(change_server, svc, ctx, server_id, change)
    return Response(status_code=204)
