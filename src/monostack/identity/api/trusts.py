"""/v3/OS-TRUST/trusts: create, list, show, delete, and the delegated roles.

As in Keystone, no token issued with an application credential may manage
trusts (a credential is bound to one project and must not widen its reach
through the delegation chain), and only the trustor can create a trust.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Request, Response

from monostack.common import errors
from monostack.common.auth import authenticated
from monostack.common.context import RequestContext
from monostack.identity.api.common import member, svc, v3_url, with_link
from monostack.identity.service import IdentityService

router = APIRouter(prefix="/v3/OS-TRUST", tags=["trusts"])
JSONBody = Body(...)
COLLECTION = "OS-TRUST/trusts"


def _enabled(identity: IdentityService) -> None:
    if not identity.conf.identity.trust_enabled:
        raise errors.NotFound("The resource could not be found.")


def _no_app_cred(ctx: RequestContext) -> None:
    if ctx.application_credential_id:
        raise errors.Forbidden("You are not authorized to perform the requested action: Using method "
                               "'application_credential' is not allowed for managing trusts.")


def _target(identity: IdentityService, trust_id: str) -> dict[str, Any]:
    """Policy target of an existing trust; a missing one is a 404 before any 403 (Keystone lp#1840288)."""
    trust = identity.trusts.get(trust_id)
    return {"target.trust.trustor_user_id": trust["trustor_user_id"],
            "target.trust.trustee_user_id": trust["trustee_user_id"]}


def _links(request: Request, trust: dict[str, Any]) -> dict[str, Any]:
    if "roles" in trust:
        for role in trust["roles"]:
            with_link(request, "roles", role)
        trust["roles_links"] = {"self": v3_url(request, f"/{COLLECTION}/{trust['id']}/roles"),
                                "previous": None, "next": None}
    return with_link(request, COLLECTION, trust)


@router.post("/trusts", status_code=201)
def create_trust(request: Request, body: dict[str, Any] = JSONBody,
                 ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    identity = svc(request)
    _enabled(identity)
    ref = member(body, "trust")
    trustor = ref.get("trustor_user_id")
    identity.policy.authorize(ctx, "identity:create_trust", {"trust.trustor_user_id": trustor,
                                                              "target.trust.trustor_user_id": trustor})
    _no_app_cred(ctx)
    if ctx.user_id != trustor:
        raise errors.Forbidden("You are not authorized to perform the requested action: The authenticated user "
                               "should match the trustor.")
    trust = identity.trusts.create(ref, caller_trust_id=ctx.trust_id)
    return {"trust": _links(request, trust)}


@router.api_route("/trusts", methods=["GET", "HEAD"])
def list_trusts(request: Request, ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    identity = svc(request)
    _enabled(identity)
    trustor = request.query_params.get("trustor_user_id")
    trustee = request.query_params.get("trustee_user_id")
    if trustor:
        identity.policy.authorize(ctx, "identity:list_trusts_for_trustor",
                                  {"target.trust.trustor_user_id": trustor})
    elif trustee:
        identity.policy.authorize(ctx, "identity:list_trusts_for_trustee",
                                  {"target.trust.trustee_user_id": trustee})
    else:
        identity.policy.authorize(ctx, "identity:list_trusts")
        # Keystone's own guard for an always-true list_trusts rule: listing everyone's trusts is for
        # admins (and, with today's defaults, system readers).
        identity.policy.authorize(ctx, "identity:admin_or_reader")
    _no_app_cred(ctx)
    trusts = identity.trusts.list(trustor_user_id=trustor or None,
                                  trustee_user_id=None if trustor else trustee or None)
    return {"trusts": [_links(request, t) for t in trusts],
            "links": {"self": str(request.url), "previous": None, "next": None}}


@router.api_route("/trusts/{trust_id}", methods=["GET", "HEAD"])
def get_trust(trust_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    identity = svc(request)
    _enabled(identity)
    identity.policy.authorize(ctx, "identity:get_trust", _target(identity, trust_id))
    _no_app_cred(ctx)
    return {"trust": _links(request, identity.trusts.get(trust_id))}


@router.delete("/trusts/{trust_id}", status_code=204)
def delete_trust(trust_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> Response:
    identity = svc(request)
    _enabled(identity)
    identity.policy.authorize(ctx, "identity:delete_trust", _target(identity, trust_id))
    _no_app_cred(ctx)
    identity.trusts.delete(trust_id)
    return Response(status_code=204)


@router.api_route("/trusts/{trust_id}/roles", methods=["GET", "HEAD"])
def list_trust_roles(trust_id: str, request: Request, ctx: RequestContext = Depends(authenticated)
                     ) -> dict[str, Any]:
    identity = svc(request)
    _enabled(identity)
    identity.policy.authorize(ctx, "identity:list_roles_for_trust", _target(identity, trust_id))
    _no_app_cred(ctx)
    roles = [with_link(request, "roles", r) for r in identity.trusts.roles(trust_id)]
    return {"roles": roles, "links": {"self": v3_url(request, f"/{COLLECTION}/{trust_id}/roles"),
                                      "previous": None, "next": None}}


@router.api_route("/trusts/{trust_id}/roles/{role_id}", methods=["GET", "HEAD"])
def get_trust_role(trust_id: str, role_id: str, request: Request,
                   ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    identity = svc(request)
    _enabled(identity)
    identity.policy.authorize(ctx, "identity:get_role_for_trust", _target(identity, trust_id))
    _no_app_cred(ctx)
    return {"role": with_link(request, "roles", identity.trusts.role(trust_id, role_id))}
