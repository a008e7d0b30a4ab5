"""/v3/credentials, /v3/users/{user_id}/credentials/OS-EC2, /v3/ec2tokens and /v3/s3tokens.

A delegated token (trust or application credential) only reaches credentials
of the project it is scoped to, and a restricted application credential may
not make EC2 credentials (they would be a way out of its restrictions).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Request, Response

from monostack.common import errors
from monostack.common.auth import authenticated
from monostack.common.context import RequestContext
from monostack.common.http import run_blocking
from monostack.identity.api.app_creds import require_unrestricted
from monostack.identity.api.common import many, member, one, query, svc, v3_url
from monostack.identity.service import IdentityService
from monostack.identity.service.credentials import EC2

router = APIRouter(prefix="/v3", tags=["credentials"])
JSONBody = Body(...)


def _cred_target(credential: dict[str, Any]) -> dict[str, Any]:
    return {"target.credential.user_id": credential.get("user_id")}


def _in_scope(ctx: RequestContext, project_id: str | None) -> bool:
    """Delegated tokens see only their own project's credentials (never project-less ones)."""
    if not (ctx.trust_id or ctx.application_credential_id):
        return True
    return project_id is not None and project_id == ctx.project_id


def _check_scope(ctx: RequestContext, project_id: str | None) -> None:
    if not _in_scope(ctx, project_id):
        raise errors.Forbidden("You are not authorized to perform the requested action: Credential project does "
                               "not match the project scope of the delegated token.")


# -- /v3/credentials ------------------------------------------------------------------------
@router.post("/credentials", status_code=201)
def create_credential(request: Request, body: dict[str, Any] = JSONBody,
                      ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    identity = svc(request)
    ref = member(body, "credential")
    identity.policy.authorize(ctx, "identity:create_credential", _cred_target(ref))
    if isinstance(ref.get("type"), str) and ref["type"].lower() == EC2:
        require_unrestricted(identity, ctx, "credentials")
    _check_scope(ctx, ref.get("project_id"))
    created = identity.credentials.create(ref, trust_id=ctx.trust_id,
                                          app_cred_id=None if ctx.trust_id else ctx.application_credential_id)
    return one(request, "credential", "credentials", created)


@router.api_route("/credentials", methods=["GET", "HEAD"])
def list_credentials(request: Request, ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    identity = svc(request)
    target = None if ctx.system_scope else {"target.credential.user_id": ctx.user_id}
    identity.policy.authorize(ctx, "identity:list_credentials", target)
    # Each credential is shown only if the caller may get it (a member sees its own).
    found = [c for c in identity.credentials.list(query(request))
             if identity.policy.check(ctx, "identity:get_credential", _cred_target(c))
             and _in_scope(ctx, c["project_id"])]
    return many(request, "credentials", "credentials", found)


def _existing(identity: IdentityService, ctx: RequestContext, credential_id: str, rule: str) -> dict[str, Any]:
    credential = identity.credentials.get(credential_id)
    identity.policy.authorize(ctx, rule, _cred_target(credential))
    _check_scope(ctx, credential["project_id"])
    return credential


@router.api_route("/credentials/{credential_id}", methods=["GET", "HEAD"])
def get_credential(credential_id: str, request: Request, ctx: RequestContext = Depends(authenticated)
                   ) -> dict[str, Any]:
    identity = svc(request)
    return one(request, "credential", "credentials",
               _existing(identity, ctx, credential_id, "identity:get_credential"))


@router.patch("/credentials/{credential_id}")
def update_credential(credential_id: str, request: Request, body: dict[str, Any] = JSONBody,
                      ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    identity = svc(request)
    current = _existing(identity, ctx, credential_id, "identity:update_credential")
    ref = member(body, "credential")
    # The new owner must pass too: a user cannot hand a credential to someone else.
    identity.policy.authorize(ctx, "identity:update_credential", _cred_target({**current, **ref}))
    if "project_id" in ref:
        _check_scope(ctx, ref["project_id"])
    return one(request, "credential", "credentials", identity.credentials.update(credential_id, ref))


@router.delete("/credentials/{credential_id}", status_code=204)
def delete_credential(credential_id: str, request: Request, ctx: RequestContext = Depends(authenticated)
                      ) -> Response:
    identity = svc(request)
    _existing(identity, ctx, credential_id, "identity:delete_credential")
    identity.credentials.delete(credential_id)
    return Response(status_code=204)


# -- OS-EC2 ---------------------------------------------------------------------------------------
def _ec2_links(request: Request, cred: dict[str, Any]) -> dict[str, Any]:
    cred.pop("id", None)
    cred["links"] = {"self": v3_url(request, f"/users/{cred['user_id']}/credentials/OS-EC2/{cred['access']}")}
    return cred


def _user_target(user_id: str) -> dict[str, Any]:
    return {"user_id": user_id, "target.user.id": user_id, "target.credential.user_id": user_id}


@router.post("/users/{user_id}/credentials/OS-EC2", status_code=201)
def create_ec2(user_id: str, request: Request, body: dict[str, Any] = JSONBody,
               ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:ec2_create_credential", _user_target(user_id))
    require_unrestricted(identity, ctx, "credentials")
    tenant_id = body.get("tenant_id")
    _check_scope(ctx, tenant_id)
    created = identity.credentials.create_ec2(user_id, tenant_id, trust_id=ctx.trust_id,
                                              app_cred_id=None if ctx.trust_id else ctx.application_credential_id)
    return {"credential": _ec2_links(request, created)}


@router.api_route("/users/{user_id}/credentials/OS-EC2", methods=["GET", "HEAD"])
def list_ec2(user_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:ec2_list_credentials", _user_target(user_id))
    found = [_ec2_links(request, c) for c in identity.credentials.list_ec2(user_id) if _in_scope(ctx, c["tenant_id"])]
    return {"credentials": found, "links": {"self": str(request.url), "previous": None, "next": None}}


def _existing_ec2(identity: IdentityService, ctx: RequestContext, user_id: str, access: str,
                  rule: str) -> dict[str, Any]:
    cred = identity.credentials.get_ec2(user_id, access)
    identity.policy.authorize(ctx, rule, {"user_id": user_id, "target.credential.user_id": cred["user_id"]})
    _check_scope(ctx, cred["tenant_id"])
    return cred


@router.api_route("/users/{user_id}/credentials/OS-EC2/{access}", methods=["GET", "HEAD"])
def get_ec2(user_id: str, access: str, request: Request, ctx: RequestContext = Depends(authenticated)
            ) -> dict[str, Any]:
    identity = svc(request)
    cred = _existing_ec2(identity, ctx, user_id, access, "identity:ec2_get_credential")
    return {"credential": _ec2_links(request, cred)}


@router.delete("/users/{user_id}/credentials/OS-EC2/{access}", status_code=204)
def delete_ec2(user_id: str, access: str, request: Request, ctx: RequestContext = Depends(authenticated)
               ) -> Response:
    identity = svc(request)
    _existing_ec2(identity, ctx, user_id, access, "identity:ec2_delete_credential")
    identity.credentials.delete_ec2(user_id, access)
    return Response(status_code=204)


# -- signed-request logins (for the EC2 and S3 APIs) -------------------------------------------------
@router.post("/ec2tokens", status_code=200)
async def ec2tokens(request: Request, body: dict[str, Any] = JSONBody,
                    ctx: RequestContext = Depends(authenticated)) -> Response:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:ec2tokens_validate")
    validated = await run_blocking(identity.credentials.authenticate_signed, body, s3=False)
    data = await run_blocking(identity.tokens.render, validated)
    return Response(data, status_code=200, media_type="application/json",
                    headers={"X-Subject-Token": validated.token_id})


@router.post("/s3tokens", status_code=200)
async def s3tokens(request: Request, body: dict[str, Any] = JSONBody,
                   ctx: RequestContext = Depends(authenticated)) -> Response:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:s3tokens_validate")
    validated = await run_blocking(identity.credentials.authenticate_signed, body, s3=True)
    data = await run_blocking(identity.tokens.render, validated)
    return Response(data, status_code=200, media_type="application/json",
                    headers={"X-Subject-Token": validated.token_id})
