"""/v3/regions, /v3/services, /v3/endpoints."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from monostack.common import errors
from monostack.common.auth import authenticated
from monostack.common.context import RequestContext
from monostack.identity.api import schemas
from monostack.identity.api.common import many, one, query, svc

router = APIRouter(prefix="/v3", tags=["catalog"])


@router.post("/regions", status_code=201)
def create_region(request: Request, body: schemas.RegionBody,
                  ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:create_region")
    return one(request, "region", "regions", identity.catalog.create_region(body.region.ref()))


@router.put("/regions/{region_id}", status_code=201)
def create_region_with_id(region_id: str, request: Request, body: schemas.RegionBody,
                          ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:create_region")
    ref = body.region.ref()
    if ref.get("id") not in (None, region_id):
        raise errors.ValidationError("Conflicting region IDs specified: "
                                     f"{ref['id']!r} v. {region_id!r}")
    return one(request, "region", "regions", identity.catalog.create_region(ref, region_id))


@router.get("/regions")
def list_regions(request: Request, ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:list_regions")
    return many(request, "regions", "regions", identity.catalog.list_regions(query(request)))


@router.get("/regions/{region_id}")
def get_region(region_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:get_region")
    return one(request, "region", "regions", identity.catalog.get_region(region_id))


@router.patch("/regions/{region_id}")
def update_region(region_id: str, request: Request, body: schemas.RegionUpdateBody,
                  ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:update_region")
    return one(request, "region", "regions", identity.catalog.update_region(region_id, body.region.ref()))


@router.delete("/regions/{region_id}", status_code=204)
def delete_region(region_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> Response:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:delete_region")
    identity.catalog.delete_region(region_id)
    return Response(status_code=204)


@router.post("/services", status_code=201)
def create_service(request: Request, body: schemas.ServiceBody,
                   ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:create_service")
    return one(request, "service", "services", identity.catalog.create_service(body.service.ref()))


@router.get("/services")
def list_services(request: Request, ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:list_services")
    return many(request, "services", "services", identity.catalog.list_services(query(request)))


@router.get("/services/{service_id}")
def get_service(service_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:get_service")
    return one(request, "service", "services", identity.catalog.get_service(service_id))


@router.patch("/services/{service_id}")
def update_service(service_id: str, request: Request, body: schemas.ServiceUpdateBody,
                   ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:update_service")
    return one(request, "service", "services",
               identity.catalog.update_service(service_id, body.service.ref()))


@router.delete("/services/{service_id}", status_code=204)
def delete_service(service_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> Response:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:delete_service")
    identity.catalog.delete_service(service_id)
    return Response(status_code=204)


@router.post("/endpoints", status_code=201)
def create_endpoint(request: Request, body: schemas.EndpointBody,
                    ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:create_endpoint")
    return one(request, "endpoint", "endpoints", identity.catalog.create_endpoint(body.endpoint.ref()))


@router.get("/endpoints")
def list_endpoints(request: Request, ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:list_endpoints")
    return many(request, "endpoints", "endpoints", identity.catalog.list_endpoints(query(request)))


@router.get("/endpoints/{endpoint_id}")
def get_endpoint(endpoint_id: str, request: Request, ctx: RequestContext = Depends(authenticated)
                 ) -> dict[str, Any]:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:get_endpoint")
    return one(request, "endpoint", "endpoints", identity.catalog.get_endpoint(endpoint_id))


@router.patch("/endpoints/{endpoint_id}")
def update_endpoint(endpoint_id: str, request: Request, body: schemas.EndpointUpdateBody,
                    ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:update_endpoint")
    return one(request, "endpoint", "endpoints",
               identity.catalog.update_endpoint(endpoint_id, body.endpoint.ref()))


@router.delete("/endpoints/{endpoint_id}", status_code=204)
def delete_endpoint(endpoint_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> Response:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:delete_endpoint")
    identity.catalog.delete_endpoint(endpoint_id)
    return Response(status_code=204)
