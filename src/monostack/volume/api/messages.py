"""/v3/{project_id}/messages (3.3+): user messages about failed operations."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from monostack.common import errors
from monostack.common.auth import authenticated
from monostack.common.context import RequestContext
from monostack.common.http import JSONResponse, run_blocking
from monostack.volume.api.common import at_least, authorize, isotime, links, svc

router = APIRouter()


def _view(request: Request, ctx: RequestContext, row: Any) -> dict[str, Any]:
    return {"id": row.id, "resource_type": row.resource_type, "resource_uuid": row.resource_uuid,
            "event_id": row.event_id, "message_level": row.message_level, "user_message": row.user_message,
            "request_id": row.request_id, "created_at": isotime(row.created_at),
            "guaranteed_until": isotime(row.expires_at), "links": links(request, ctx, "messages", row.id)}


def _check(request: Request) -> None:
    if not at_least(request, "3.3"):
        raise errors.NotFound("The resource could not be found.")


@router.get("/v3/messages")
async def list_messages(request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    _check(request)
    authorize(request, ctx, "message:get_all")
    rows = await run_blocking(svc(request).messages.list, ctx)
    return JSONResponse({"messages": [_view(request, ctx, r) for r in rows]})


@router.get("/v3/messages/{message_id}")
async def show_message(message_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    _check(request)
    authorize(request, ctx, "message:get")
    row = await run_blocking(svc(request).messages.get, ctx, message_id)
    return JSONResponse({"message": _view(request, ctx, row)})


@router.delete("/v3/messages/{message_id}")
async def delete_message(message_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> Response:
    _check(request)
    authorize(request, ctx, "message:delete")
    await run_blocking(svc(request).messages.delete, ctx, message_id)
    return Response(status_code=204)
