"""/v3/OS-FEDERATION: identity providers, protocols, mappings, service providers (CRUD only)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Request, Response

from monostack.common.auth import authenticated
from monostack.common.context import RequestContext
from monostack.identity.api.common import many, member, one, query, svc, v3_url
from monostack.identity.api.extras_util import GET_HEAD, no_content, or_head

router = APIRouter(tags=["OS-FEDERATION"])
JSONBody = Body(...)
IDPS = "OS-FEDERATION/identity_providers"
MAPPINGS = "OS-FEDERATION/mappings"
SPS = "OS-FEDERATION/service_providers"


def _idp(request: Request, idp: dict[str, Any]) -> dict[str, Any]:
    base = v3_url(request, f"/{IDPS}/{idp['id']}")
    return {**idp, "links": {"self": base, "protocols": f"{base}/protocols"}}


def _protocol(request: Request, protocol: dict[str, Any], *, with_idp: bool = False) -> dict[str, Any]:
    idp_url = v3_url(request, f"/{IDPS}/{protocol['idp_id']}")
    data = {k: v for k, v in protocol.items() if with_idp or k != "idp_id"}
    data["links"] = {"self": f"{idp_url}/protocols/{protocol['id']}", "identity_provider": idp_url}
    return data


def _list_links(request: Request) -> dict[str, Any]:
    return {"self": str(request.url), "previous": None, "next": None}


# -- identity providers -------------------------------------------------------------
@router.get("/OS-FEDERATION/identity_providers")
def list_identity_providers(request: Request, ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:list_identity_providers")
    idps = identity.extras.federation.list_idps(query(request))
    return {"identity_providers": [_idp(request, i) for i in idps], "links": _list_links(request)}


@router.put("/OS-FEDERATION/identity_providers/{idp_id}", status_code=201)
def create_identity_provider(idp_id: str, request: Request, body: dict[str, Any] = JSONBody,
                             ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:create_identity_provider")
    idp = identity.extras.federation.create_idp(idp_id, member(body, "identity_provider"))
    return {"identity_provider": _idp(request, idp)}


@router.api_route("/OS-FEDERATION/identity_providers/{idp_id}", methods=GET_HEAD)
def get_identity_provider(idp_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> Any:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:get_identity_provider")
    return or_head(request, {"identity_provider": _idp(request, identity.extras.federation.get_idp(idp_id))})


@router.patch("/OS-FEDERATION/identity_providers/{idp_id}")
def update_identity_provider(idp_id: str, request: Request, body: dict[str, Any] = JSONBody,
                             ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:update_identity_provider")
    idp = identity.extras.federation.update_idp(idp_id, member(body, "identity_provider"))
    return {"identity_provider": _idp(request, idp)}


@router.delete("/OS-FEDERATION/identity_providers/{idp_id}", status_code=204)
def delete_identity_provider(idp_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> Response:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:delete_identity_provider")
    identity.extras.federation.delete_idp(idp_id)
    return no_content()


# -- protocols -------------------------------------------------------------------------
@router.get("/OS-FEDERATION/identity_providers/{idp_id}/protocols")
def list_protocols(idp_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:list_protocols")
    protocols = identity.extras.federation.list_protocols(idp_id)
    return {"protocols": [_protocol(request, p, with_idp=True) for p in protocols], "links": _list_links(request)}


@router.put("/OS-FEDERATION/identity_providers/{idp_id}/protocols/{protocol_id}", status_code=201)
def create_protocol(idp_id: str, protocol_id: str, request: Request, body: dict[str, Any] = JSONBody,
                    ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:create_protocol")
    protocol = identity.extras.federation.create_protocol(idp_id, protocol_id, member(body, "protocol"))
    return {"protocol": _protocol(request, protocol)}


@router.api_route("/OS-FEDERATION/identity_providers/{idp_id}/protocols/{protocol_id}", methods=GET_HEAD)
def get_protocol(idp_id: str, protocol_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> Any:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:get_protocol")
    protocol = identity.extras.federation.get_protocol(idp_id, protocol_id)
    return or_head(request, {"protocol": _protocol(request, protocol)})


@router.patch("/OS-FEDERATION/identity_providers/{idp_id}/protocols/{protocol_id}")
def update_protocol(idp_id: str, protocol_id: str, request: Request, body: dict[str, Any] = JSONBody,
                    ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:update_protocol")
    protocol = identity.extras.federation.update_protocol(idp_id, protocol_id, member(body, "protocol"))
    return {"protocol": _protocol(request, protocol)}


@router.delete("/OS-FEDERATION/identity_providers/{idp_id}/protocols/{protocol_id}", status_code=204)
def delete_protocol(idp_id: str, protocol_id: str, request: Request,
                    ctx: RequestContext = Depends(authenticated)) -> Response:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:delete_protocol")
    identity.extras.federation.delete_protocol(idp_id, protocol_id)
    return no_content()


# -- mappings ----------------------------------------------------------------------------
@router.get("/OS-FEDERATION/mappings")
def list_mappings(request: Request, ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:list_mappings")
    return many(request, "mappings", MAPPINGS, identity.extras.federation.list_mappings())


@router.put("/OS-FEDERATION/mappings/{mapping_id}", status_code=201)
def create_mapping(mapping_id: str, request: Request, body: dict[str, Any] = JSONBody,
                   ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:create_mapping")
    return one(request, "mapping", MAPPINGS,
               identity.extras.federation.create_mapping(mapping_id, member(body, "mapping")))


@router.api_route("/OS-FEDERATION/mappings/{mapping_id}", methods=GET_HEAD)
def get_mapping(mapping_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> Any:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:get_mapping")
    return or_head(request, one(request, "mapping", MAPPINGS, identity.extras.federation.get_mapping(mapping_id)))


@router.patch("/OS-FEDERATION/mappings/{mapping_id}")
def update_mapping(mapping_id: str, request: Request, body: dict[str, Any] = JSONBody,
                   ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:update_mapping")
    return one(request, "mapping", MAPPINGS,
               identity.extras.federation.update_mapping(mapping_id, member(body, "mapping")))


@router.delete("/OS-FEDERATION/mappings/{mapping_id}", status_code=204)
def delete_mapping(mapping_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> Response:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:delete_mapping")
    identity.extras.federation.delete_mapping(mapping_id)
    return no_content()


# -- service providers ---------------------------------------------------------------
@router.get("/OS-FEDERATION/service_providers")
def list_service_providers(request: Request, ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:list_service_providers")
    return many(request, "service_providers", SPS, identity.extras.federation.list_sps(query(request)))


@router.put("/OS-FEDERATION/service_providers/{sp_id}", status_code=201)
def create_service_provider(sp_id: str, request: Request, body: dict[str, Any] = JSONBody,
                            ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:create_service_provider")
    return one(request, "service_provider", SPS,
               identity.extras.federation.create_sp(sp_id, member(body, "service_provider")))


@router.api_route("/OS-FEDERATION/service_providers/{sp_id}", methods=GET_HEAD)
def get_service_provider(sp_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> Any:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:get_service_provider")
    return or_head(request, one(request, "service_provider", SPS, identity.extras.federation.get_sp(sp_id)))


@router.patch("/OS-FEDERATION/service_providers/{sp_id}")
def update_service_provider(sp_id: str, request: Request, body: dict[str, Any] = JSONBody,
                            ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:update_service_provider")
    return one(request, "service_provider", SPS,
               identity.extras.federation.update_sp(sp_id, member(body, "service_provider")))


@router.delete("/OS-FEDERATION/service_providers/{sp_id}", status_code=204)
def delete_service_provider(sp_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> Response:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:delete_service_provider")
    identity.extras.federation.delete_sp(sp_id)
    return no_content()
