"""Volume transfers: /os-volume-transfer (3.0) and /volume-transfers (3.55+, with no_snapshots)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from monostack.common import errors
from monostack.common.auth import authenticated
from monostack.common.context import RequestContext
from monostack.common.http import JSONResponse, run_blocking
from monostack.volume.api.common import at_least, authorize, entity, isotime, json_body, links, svc
from monostack.volume.service.common import bool_param

router = APIRouter()


def _view(request: Request, ctx: RequestContext, row: Any, collection: str, detail: bool = True) -> dict[str, Any]:
    view: dict[str, Any] = {"id": row.id, "name": row.name, "volume_id": row.volume_id,
                            "links": links(request, ctx, collection, row.id)}
    if detail:
        view["created_at"] = isotime(row.created_at)
        if at_least(request, "3.55"):
            view["no_snapshots"] = row.no_snapshots
        if at_least(request, "3.57"):
            view.update(source_project_id=row.source_project_id, destination_project_id=None, accepted=False)
    return view


def _routes(prefix: str, minimum: str | None) -> None:
    collection = prefix.strip("/")

    def check(request: Request) -> None:
        if minimum and not at_least(request, minimum):
            raise errors.NotFound("The resource could not be found.")

    @router.post(f"/v3{prefix}", name=f"create{collection}")
    async def create(request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
        check(request)
        authorize(request, ctx, "volume:create_transfer")
        body = await json_body(request)
        spec = entity(body, "transfer")
        if not spec.get("volume_id"):
            raise errors.BadRequest("Invalid input for field/attribute transfer. 'volume_id' is a required property")
        no_snapshots = bool_param(spec.get("no_snapshots", False), "no_snapshots") if at_least(request, "3.55") \
            else False
        row, key = await run_blocking(svc(request).transfers.create, ctx, spec["volume_id"], spec.get("name"),
                                      no_snapshots)
        view = _view(request, ctx, row, collection)
        view["auth_key"] = key  # shown once, here
        return JSONResponse({"transfer": view}, status_code=202)

    async def _list(request: Request, ctx: RequestContext, detail: bool) -> JSONResponse:
        check(request)
        authorize(request, ctx, "volume:get_all_transfers")
        all_tenants = "all_tenants" in request.query_params and ctx.is_admin
        rows = await run_blocking(svc(request).transfers.list, ctx, all_tenants)
        return JSONResponse({"transfers": [_view(request, ctx, r, collection, detail) for r in rows]})

    @router.get(f"/v3{prefix}", name=f"list{collection}")
    async def list_(request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
        return await _list(request, ctx, False)

    @router.get(f"/v3{prefix}/detail", name=f"detail{collection}")
    async def detail(request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
        return await _list(request, ctx, True)

    @router.get(f"/v3{prefix}/{{transfer_id}}", name=f"show{collection}")
    async def show(transfer_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
        check(request)
        authorize(request, ctx, "volume:get_transfer")
        row = await run_blocking(svc(request).transfers.get, ctx, transfer_id)
        return JSONResponse({"transfer": _view(request, ctx, row, collection)})

    @router.delete(f"/v3{prefix}/{{transfer_id}}", name=f"delete{collection}")
    async def delete(transfer_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> Response:
        check(request)
        authorize(request, ctx, "volume:delete_transfer")
        await run_blocking(svc(request).transfers.delete, ctx, transfer_id)
        return Response(status_code=202)

    @router.post(f"/v3{prefix}/{{transfer_id}}/accept", name=f"accept{collection}")
    async def accept(transfer_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
        check(request)
        authorize(request, ctx, "volume:accept_transfer")
        body = await json_body(request)
        spec = entity(body, "accept")
        if not spec.get("auth_key"):
            raise errors.BadRequest("Invalid input for field/attribute accept. 'auth_key' is a required property")
        row = await run_blocking(svc(request).transfers.accept, ctx, transfer_id, spec["auth_key"])
        return JSONResponse({"transfer": _view(request, ctx, row, collection, detail=False)}, status_code=202)


_routes("/os-volume-transfer", None)
_routes("/volume-transfers", "3.55")
