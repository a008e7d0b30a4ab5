"""/v3/users/{user_id}/application_credentials and /v3/users/{user_id}/access_rules.

Besides policy, Keystone refuses delegated callers here: a trust-scoped token
may not touch application credentials at all (a credential made from it would
outlive the trust), and a restricted application credential may not create or
delete others.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Request, Response

from monostack.common import errors
from monostack.common.auth import authenticated
from monostack.common.context import RequestContext
from monostack.identity.api.common import many, member, one, query, svc
from monostack.identity.service import IdentityService
from monostack.identity.service.tokens import ValidatedToken

router = APIRouter(prefix="/v3", tags=["app_creds"])
JSONBody = Body(...)


def caller_token(identity: IdentityService, ctx: RequestContext) -> ValidatedToken:
    """The caller's validated token (already in the validation cache: `authenticated` just checked it)."""
    assert ctx.auth_token is not None
    return identity.tokens.cached(ctx.auth_token) or identity.tokens.validate(ctx.auth_token)


def block_trust(ctx: RequestContext) -> None:
    if ctx.trust_id:
        raise errors.Forbidden("Cannot manage application credentials with a token issued via delegation.")


def require_unrestricted(identity: IdentityService, ctx: RequestContext, what: str) -> None:
    """A restricted application credential may not manage more of `what` (Keystone's check)."""
    if ctx.application_credential_id:
        view = identity.app_creds.lookup(ctx.application_credential_id)
        if view is None or not view["unrestricted"]:
            raise errors.Forbidden(f"You are not authorized to perform the requested action: Using method "
                                   f"'application_credential' is not allowed for managing additional {what}.")


def _user_target(user_id: str) -> dict[str, Any]:
    return {"user_id": user_id, "target.user.id": user_id}


def _owner_target(identity: IdentityService, user_id: str, app_cred_id: str) -> dict[str, Any]:
    """Policy is checked against the credential's real owner, not the user named in the URL."""
    return _user_target(identity.app_creds.owner_of(app_cred_id) or user_id)


def _collection(user_id: str) -> str:
    return f"users/{user_id}/application_credentials"


# -- application credentials --------------------------------------------------------
@router.post("/users/{user_id}/application_credentials", status_code=201)
def create_app_cred(user_id: str, request: Request, body: dict[str, Any] = JSONBody,
                    ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    identity = svc(request)
    ref = member(body, "application_credential")
    identity.policy.authorize(ctx, "identity:create_application_credential", _user_target(user_id))
    block_trust(ctx)
    require_unrestricted(identity, ctx, "application credentials")
    if ctx.user_id != user_id:
        raise errors.Forbidden("You are not authorized to perform the requested action: Cannot create an "
                               "application credential for another user.")
    token = caller_token(identity, ctx)
    created = identity.app_creds.create(user_id, ref, project_id=ctx.project_id, system=ctx.system_scope,
                                        token_role_ids={r["id"] for r in token.roles})
    return one(request, "application_credential", _collection(user_id), created)


@router.api_route("/users/{user_id}/application_credentials", methods=["GET", "HEAD"])
def list_app_creds(user_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:list_application_credentials", _user_target(user_id))
    block_trust(ctx)
    return many(request, "application_credentials", _collection(user_id),
                identity.app_creds.list(user_id, query(request)))


@router.api_route("/users/{user_id}/application_credentials/{app_cred_id}", methods=["GET", "HEAD"])
def get_app_cred(user_id: str, app_cred_id: str, request: Request,
                 ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:get_application_credential",
                              _owner_target(identity, user_id, app_cred_id))
    block_trust(ctx)
    return one(request, "application_credential", _collection(user_id), identity.app_creds.get(user_id, app_cred_id))


@router.delete("/users/{user_id}/application_credentials/{app_cred_id}", status_code=204)
def delete_app_cred(user_id: str, app_cred_id: str, request: Request,
                    ctx: RequestContext = Depends(authenticated)) -> Response:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:delete_application_credential",
                              _owner_target(identity, user_id, app_cred_id))
    block_trust(ctx)
    require_unrestricted(identity, ctx, "application credentials")
    identity.app_creds.delete(user_id, app_cred_id)
    return Response(status_code=204)


# -- access rules ---------------------------------------------------------------------
@router.api_route("/users/{user_id}/access_rules", methods=["GET", "HEAD"])
def list_access_rules(user_id: str, request: Request, ctx: RequestContext = Depends(authenticated)
                      ) -> dict[str, Any]:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:list_access_rules", _user_target(user_id))
    block_trust(ctx)
    return many(request, "access_rules", f"users/{user_id}/access_rules",
                identity.app_creds.list_access_rules(user_id, query(request)))


@router.api_route("/users/{user_id}/access_rules/{rule_id}", methods=["GET", "HEAD"])
def get_access_rule(user_id: str, rule_id: str, request: Request,
                    ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:get_access_rule", _user_target(user_id))
    block_trust(ctx)
    return one(request, "access_rule", f"users/{user_id}/access_rules",
               identity.app_creds.get_access_rule(user_id, rule_id))


@router.delete("/users/{user_id}/access_rules/{rule_id}", status_code=204)
def delete_access_rule(user_id: str, rule_id: str, request: Request,
                       ctx: RequestContext = Depends(authenticated)) -> Response:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:delete_access_rule", _user_target(user_id))
    block_trust(ctx)
    identity.app_creds.delete_access_rule(user_id, rule_id)
    return Response(status_code=204)
