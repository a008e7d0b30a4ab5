"""/v3/{project_id}/qos-specs: QoS specs, their keys, and their volume type associations."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from monostack.common import errors
from monostack.common.auth import authenticated
from monostack.common.context import RequestContext
from monostack.common.http import JSONResponse, run_blocking
from monostack.volume.api import views
from monostack.volume.api.common import authorize, entity, json_body, links, paginate, svc
from monostack.volume.service.common import bool_param

router = APIRouter()
RULE = "volume_extension:qos_specs_manage"


def _specs(value: dict[str, Any]) -> dict[str, str]:
    specs = {}
    for key, item in value.items():
        if not isinstance(key, str) or not key or len(key) > 255 or not isinstance(item, (str, int, float)):
            raise errors.BadRequest(f"Invalid input received: Invalid QoS spec {key}={item!r}.")
        specs[key] = str(item)
    return specs


@router.get("/v3/qos-specs")
async def list_qos(request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    authorize(request, ctx, RULE)
    rows = await run_blocking(svc(request).qos.list)
    page, _limit = paginate(request, rows)
    return JSONResponse({"qos_specs": [views.qos(request, ctx, r) for r in page]})


@router.post("/v3/qos-specs")
async def create_qos(request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    authorize(request, ctx, RULE)
    body = await json_body(request)
    spec = dict(entity(body, "qos_specs"))
    name = spec.pop("name", None)
    if not isinstance(name, str) or not name.strip() or len(name) > 255:
        raise errors.BadRequest("Invalid input received: Please specify a name for QoS specs.")
    consumer = spec.pop("consumer", "back-end")
    row = await run_blocking(svc(request).qos.create, name.strip(), consumer, _specs(spec))
    return JSONResponse({"qos_specs": views.qos(request, ctx, row), "links": links(request, ctx, "qos-specs",
                                                                                   row.id)})


@router.get("/v3/qos-specs/{qos_id}")
async def show_qos(qos_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    authorize(request, ctx, RULE)
    row = await run_blocking(svc(request).qos.get, qos_id)
    return JSONResponse({"qos_specs": views.qos(request, ctx, row), "links": links(request, ctx, "qos-specs",
                                                                                   row.id)})


@router.put("/v3/qos-specs/{qos_id}")
async def set_keys(qos_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    authorize(request, ctx, RULE)
    body = await json_body(request)
    specs = _specs(entity(body, "qos_specs"))
    await run_blocking(svc(request).qos.set_keys, qos_id, dict(specs))
    return JSONResponse({"qos_specs": specs})


@router.put("/v3/qos-specs/{qos_id}/delete_keys")
async def delete_keys(qos_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> Response:
    authorize(request, ctx, RULE)
    body = await json_body(request)
    keys = body.get("keys")
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise errors.BadRequest("Missing required element 'keys' in request body.")
    await run_blocking(svc(request).qos.delete_keys, qos_id, keys)
    return Response(status_code=202)


@router.delete("/v3/qos-specs/{qos_id}")
async def delete_qos(qos_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> Response:
    authorize(request, ctx, RULE)
    force = bool_param(request.query_params.get("force", "false"), "force")
    await run_blocking(svc(request).qos.delete, qos_id, force)
    return Response(status_code=202)


@router.get("/v3/qos-specs/{qos_id}/associations")
async def associations(qos_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    authorize(request, ctx, RULE)
    return JSONResponse({"qos_associations": await run_blocking(svc(request).qos.associations, qos_id)})


def _type_id(request: Request) -> str:
    type_id = request.query_params.get("vol_type_id")
    if not type_id:
        raise errors.BadRequest("Invalid input received: Volume Type id must not be None.")
    return type_id


@router.get("/v3/qos-specs/{qos_id}/associate")
async def associate(qos_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> Response:
    authorize(request, ctx, RULE)
    await run_blocking(svc(request).qos.associate, qos_id, _type_id(request))
    return Response(status_code=202)


@router.get("/v3/qos-specs/{qos_id}/disassociate")
async def disassociate(qos_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> Response:
    authorize(request, ctx, RULE)
    await run_blocking(svc(request).qos.disassociate, qos_id, _type_id(request))
    return Response(status_code=202)


@router.get("/v3/qos-specs/{qos_id}/disassociate_all")
async def disassociate_all(qos_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> Response:
    authorize(request, ctx, RULE)
    await run_blocking(svc(request).qos.disassociate, qos_id, None)
    return Response(status_code=202)
