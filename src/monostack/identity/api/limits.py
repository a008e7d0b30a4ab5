"""/v3/registered_limits, /v3/limits and /v3/limits/model (unified limits).

Anyone may read registered limits and the model.  Limits are listed in full
for system, admin and service callers; a domain-scoped caller sees its domain's
and its projects' limits, a project-scoped caller its project's (as Keystone).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Request, Response

from monostack.common import errors
from monostack.common.auth import authenticated
from monostack.common.context import RequestContext
from monostack.identity.api.common import many, member, one, query, svc, with_link
from monostack.identity.api.extras_util import GET_HEAD, drop_none, field, no_content, or_head

router = APIRouter(tags=["limits"])
JSONBody = Body(...)


# -- registered limits ------------------------------------------------------------
@router.post("/registered_limits", status_code=201)
def create_registered_limits(request: Request, body: dict[str, Any] = JSONBody,
                             ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:create_registered_limits")
    created = identity.extras.limits.create_registered_limits(field(body, "registered_limits"))
    return {"registered_limits": [with_link(request, "registered_limits", r) for r in created]}


@router.get("/registered_limits")
def list_registered_limits(request: Request, ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:list_registered_limits")
    return many(request, "registered_limits", "registered_limits",
                identity.extras.limits.list_registered_limits(query(request)))


@router.api_route("/registered_limits/{registered_limit_id}", methods=GET_HEAD)
def get_registered_limit(registered_limit_id: str, request: Request,
                         ctx: RequestContext = Depends(authenticated)) -> Any:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:get_registered_limit")
    return or_head(request, one(request, "registered_limit", "registered_limits",
                                identity.extras.limits.get_registered_limit(registered_limit_id)))


@router.patch("/registered_limits/{registered_limit_id}")
def update_registered_limit(registered_limit_id: str, request: Request, body: dict[str, Any] = JSONBody,
                            ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:update_registered_limit")
    updated = identity.extras.limits.update_registered_limit(registered_limit_id, member(body, "registered_limit"))
    return one(request, "registered_limit", "registered_limits", updated)


@router.delete("/registered_limits/{registered_limit_id}", status_code=204)
def delete_registered_limit(registered_limit_id: str, request: Request,
                            ctx: RequestContext = Depends(authenticated)) -> Response:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:delete_registered_limit")
    identity.extras.limits.delete_registered_limit(registered_limit_id)
    return no_content()


# -- limits (the model route first: "model" is not a limit id) ---------------------
@router.api_route("/limits/model", methods=GET_HEAD)
def get_limit_model(request: Request, ctx: RequestContext = Depends(authenticated)) -> Any:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:get_limit_model")
    return or_head(request, {"model": identity.extras.limits.model()})


@router.post("/limits", status_code=201)
def create_limits(request: Request, body: dict[str, Any] = JSONBody,
                  ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:create_limits")
    created = identity.extras.limits.create_limits(field(body, "limits"))
    return {"limits": [with_link(request, "limits", r) for r in created]}


@router.get("/limits")
def list_limits(request: Request, ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:list_limits")
    limits = identity.extras.limits
    if ctx.system_scope or ctx.is_service or "admin" in ctx.roles or "service" in ctx.roles:
        found = limits.list_limits(query(request))
    elif ctx.domain_id:
        found = limits.list_limits(query(request), project_ids=limits.projects_in_domain(ctx.domain_id),
                                   domain_id=ctx.domain_id)
    elif ctx.project_id:
        found = limits.list_limits(query(request), project_ids={ctx.project_id})
    else:
        found = []
    return many(request, "limits", "limits", found)


@router.api_route("/limits/{limit_id}", methods=GET_HEAD)
def get_limit(limit_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> Any:
    identity = svc(request)
    try:
        limit = identity.extras.limits.get_limit(limit_id)
    except errors.NotFound:
        identity.policy.authorize(ctx, "identity:get_limit")  # a 403 does not tell whether it exists
        raise
    identity.policy.authorize(ctx, "identity:get_limit", _limit_target(identity, limit))
    return or_head(request, one(request, "limit", "limits", limit))


def _limit_target(identity: Any, limit: dict[str, Any]) -> dict[str, Any]:
    target = {"target.limit.project_id": limit["project_id"], "target.limit.domain_id": limit["domain_id"]}
    if limit["project_id"]:
        try:
            target["target.limit.project.domain_id"] = identity.resources.get_project(limit["project_id"])["domain_id"]
        except errors.NotFound:
            pass
    return drop_none(target)


@router.patch("/limits/{limit_id}")
def update_limit(limit_id: str, request: Request, body: dict[str, Any] = JSONBody,
                 ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:update_limit")
    return one(request, "limit", "limits", identity.extras.limits.update_limit(limit_id, member(body, "limit")))


@router.delete("/limits/{limit_id}", status_code=204)
def delete_limit(limit_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> Response:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:delete_limit")
    identity.extras.limits.delete_limit(limit_id)
    return no_content()
