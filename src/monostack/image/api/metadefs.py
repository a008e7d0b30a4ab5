"""/v2/metadefs: Glance's metadata definitions catalog (namespaces, objects, properties,
tags, resource types and their associations)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from monostack.common.auth import authenticated
from monostack.common.context import RequestContext
from monostack.common.http import JSONResponse, run_blocking
from monostack.image.api import schemas
from monostack.image.metadefs import MetadefService

router = APIRouter(prefix="/v2/metadefs")
NS = "/namespaces/{namespace}"


def svc(request: Request) -> MetadefService:
    service = getattr(request.app.state, "metadefs", None)
    if service is None:
        image = request.app.state.image
        service = request.app.state.metadefs = MetadefService(image.db, image.policy)
    return service


async def _body(request: Request) -> Any:
    return schemas.parse_json(await request.body())


def _no_content() -> Response:
    return Response(status_code=204)


# -- namespaces --------------------------------------------------------------------------------
@router.post("/namespaces", status_code=201)
async def create_namespace(request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    body = await _body(request)
    return JSONResponse(await run_blocking(svc(request).create_namespace, ctx, body), status_code=201)


@router.get("/namespaces")
def list_namespaces(request: Request, ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    namespaces = svc(request).list_namespaces(ctx, dict(request.query_params))
    return {"namespaces": namespaces, "first": "/v2/metadefs/namespaces",
            "schema": "/v2/schemas/metadefs/namespaces"}


@router.get(NS)
def show_namespace(request: Request, namespace: str, ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    return svc(request).get_namespace(ctx, namespace)


@router.put(NS)
async def update_namespace(request: Request, namespace: str,
                           ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    body = await _body(request)
    return JSONResponse(await run_blocking(svc(request).update_namespace, ctx, namespace, body))


@router.delete(NS, status_code=204)
def delete_namespace(request: Request, namespace: str, ctx: RequestContext = Depends(authenticated)) -> Response:
    svc(request).delete_namespace(ctx, namespace)
    return _no_content()


# -- objects -----------------------------------------------------------------------------------
@router.post(NS + "/objects", status_code=201)
async def create_object(request: Request, namespace: str, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    body = await _body(request)
    return JSONResponse(await run_blocking(svc(request).create_object, ctx, namespace, body), status_code=201)


@router.get(NS + "/objects")
def list_objects(request: Request, namespace: str, ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    return {"objects": svc(request).list_objects(ctx, namespace), "schema": "/v2/schemas/metadefs/objects"}


@router.get(NS + "/objects/{name}")
def show_object(request: Request, namespace: str, name: str,
                ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    return svc(request).get_object(ctx, namespace, name)


@router.put(NS + "/objects/{name}")
async def update_object(request: Request, namespace: str, name: str,
                        ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    body = await _body(request)
    return JSONResponse(await run_blocking(svc(request).update_object, ctx, namespace, name, body))


@router.delete(NS + "/objects/{name}", status_code=204)
def delete_object(request: Request, namespace: str, name: str,
                  ctx: RequestContext = Depends(authenticated)) -> Response:
    svc(request).delete_object(ctx, namespace, name)
    return _no_content()


# -- properties --------------------------------------------------------------------------------
@router.post(NS + "/properties", status_code=201)
async def create_property(request: Request, namespace: str,
                          ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    body = await _body(request)
    return JSONResponse(await run_blocking(svc(request).create_property, ctx, namespace, body), status_code=201)


@router.get(NS + "/properties")
def list_properties(request: Request, namespace: str, ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    return {"properties": svc(request).list_properties(ctx, namespace)}


@router.get(NS + "/properties/{name}")
def show_property(request: Request, namespace: str, name: str,
                  ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    return svc(request).get_property(ctx, namespace, name)


@router.put(NS + "/properties/{name}")
async def update_property(request: Request, namespace: str, name: str,
                          ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    body = await _body(request)
    return JSONResponse(await run_blocking(svc(request).update_property, ctx, namespace, name, body))


@router.delete(NS + "/properties/{name}", status_code=204)
def delete_property(request: Request, namespace: str, name: str,
                    ctx: RequestContext = Depends(authenticated)) -> Response:
    svc(request).delete_property(ctx, namespace, name)
    return _no_content()


# -- tags --------------------------------------------------------------------------------------
@router.post(NS + "/tags", status_code=201)
async def create_tags(request: Request, namespace: str, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    body = await _body(request)
    append = request.headers.get("x-openstack-append", "").strip().lower() in ("true", "1", "yes")
    tags = await run_blocking(svc(request).create_tags, ctx, namespace, body, append=append)
    return JSONResponse({"tags": tags}, status_code=201)


@router.get(NS + "/tags")
def list_tags(request: Request, namespace: str, ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    return {"tags": svc(request).list_tags(ctx, namespace)}


@router.delete(NS + "/tags", status_code=204)
def delete_tags(request: Request, namespace: str, ctx: RequestContext = Depends(authenticated)) -> Response:
    svc(request).delete_tags(ctx, namespace)
    return _no_content()


@router.post(NS + "/tags/{name}", status_code=201)
def create_tag(request: Request, namespace: str, name: str,
               ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    return JSONResponse(svc(request).create_tag(ctx, namespace, name), status_code=201)


@router.get(NS + "/tags/{name}")
def show_tag(request: Request, namespace: str, name: str,
             ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    return svc(request).get_tag(ctx, namespace, name)


@router.put(NS + "/tags/{name}")
async def update_tag(request: Request, namespace: str, name: str,
                     ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    body = await _body(request)
    return JSONResponse(await run_blocking(svc(request).update_tag, ctx, namespace, name, body))


@router.delete(NS + "/tags/{name}", status_code=204)
def delete_tag(request: Request, namespace: str, name: str,
               ctx: RequestContext = Depends(authenticated)) -> Response:
    svc(request).delete_tag(ctx, namespace, name)
    return _no_content()


# -- resource types ----------------------------------------------------------------------------
@router.get("/resource_types")
def list_resource_types(request: Request, ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    return {"resource_types": svc(request).list_resource_types(ctx)}


@router.post(NS + "/resource_types", status_code=201)
async def create_association(request: Request, namespace: str,
                             ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    body = await _body(request)
    return JSONResponse(await run_blocking(svc(request).create_association, ctx, namespace, body), status_code=201)


@router.get(NS + "/resource_types")
def list_associations(request: Request, namespace: str,
                      ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    return {"resource_type_associations": svc(request).list_associations(ctx, namespace)}


@router.delete(NS + "/resource_types/{name}", status_code=204)
def delete_association(request: Request, namespace: str, name: str,
                       ctx: RequestContext = Depends(authenticated)) -> Response:
    svc(request).delete_association(ctx, namespace, name)
    return _no_content()
