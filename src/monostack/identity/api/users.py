"""/v3/users, /v3/groups, membership, and the self-service password change."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from monostack.common import errors
from monostack.common.auth import authenticated
from monostack.common.context import RequestContext
from monostack.identity.api import schemas
from monostack.identity.api.common import many, one, query, svc

router = APIRouter(prefix="/v3", tags=["users"])


def _user_target(identity: Any, user_id: str) -> dict[str, Any]:
    user = identity.users.get_user(user_id)
    return {"target.user.id": user["id"], "target.user.domain_id": user["domain_id"]}


def _group_target(identity: Any, group_id: str) -> dict[str, Any]:
    group = identity.users.get_group(group_id)
    return {"target.group.id": group["id"], "target.group.domain_id": group["domain_id"]}


# -- users -----------------------------------------------------------------
@router.post("/users", status_code=201)
def create_user(request: Request, body: schemas.UserBody,
                ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    identity = svc(request)
    ref = body.user.ref()
    identity.policy.authorize(ctx, "identity:create_user", {"target.user.domain_id": ref.get("domain_id")})
    default_domain = ctx.domain_id or ctx.project_domain_id or "default"
    return one(request, "user", "users", identity.users.create_user(ref, default_domain_id=default_domain))


@router.get("/users")
def list_users(request: Request, ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    identity = svc(request)
    filters = query(request)
    identity.policy.authorize(ctx, "identity:list_users", {"target.domain_id": filters.get("domain_id")})
    return many(request, "users", "users", identity.users.list_users(filters))


@router.get("/users/{user_id}")
def get_user(user_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:get_user", _user_target(identity, user_id))
    return one(request, "user", "users", identity.users.get_user(user_id))


@router.patch("/users/{user_id}")
def update_user(user_id: str, request: Request, body: schemas.UserUpdateBody,
                ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:update_user", _user_target(identity, user_id))
    return one(request, "user", "users", identity.users.update_user(user_id, body.user.ref()))


@router.delete("/users/{user_id}", status_code=204)
def delete_user(user_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> Response:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:delete_user", _user_target(identity, user_id))
    identity.users.delete_user(user_id)
    return Response(status_code=204)


@router.post("/users/{user_id}/password", status_code=204)
def change_password(user_id: str, request: Request, body: schemas.PasswordChangeBody) -> Response:
    """Needs no token: the original password authenticates (so an expired password can be changed)."""
    identity = svc(request)
    try:
        identity.users.get_user(user_id)
    except errors.NotFound:
        raise errors.Unauthorized("The request you have made requires authentication.") from None
    identity.users.change_password(user_id, body.user.original_password, body.user.password)
    return Response(status_code=204)


@router.get("/users/{user_id}/projects")
def list_user_projects(user_id: str, request: Request, ctx: RequestContext = Depends(authenticated)
                       ) -> dict[str, Any]:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:list_user_projects", _user_target(identity, user_id))
    return many(request, "projects", "projects", identity.assignments.user_projects(user_id, query(request)))


@router.get("/users/{user_id}/groups")
def list_user_groups(user_id: str, request: Request, ctx: RequestContext = Depends(authenticated)
                     ) -> dict[str, Any]:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:list_groups_for_user", _user_target(identity, user_id))
    return many(request, "groups", "groups", identity.users.list_user_groups(user_id, query(request)))


# -- groups ------------------------------------------------------------------
@router.post("/groups", status_code=201)
def create_group(request: Request, body: schemas.GroupBody,
                 ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    identity = svc(request)
    ref = body.group.ref()
    identity.policy.authorize(ctx, "identity:create_group", {"target.group.domain_id": ref.get("domain_id")})
    default_domain = ctx.domain_id or ctx.project_domain_id or "default"
    return one(request, "group", "groups", identity.users.create_group(ref, default_domain_id=default_domain))


@router.get("/groups")
def list_groups(request: Request, ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    identity = svc(request)
    filters = query(request)
    identity.policy.authorize(ctx, "identity:list_groups", {"target.domain_id": filters.get("domain_id")})
    return many(request, "groups", "groups", identity.users.list_groups(filters))


@router.get("/groups/{group_id}")
def get_group(group_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:get_group", _group_target(identity, group_id))
    return one(request, "group", "groups", identity.users.get_group(group_id))


@router.patch("/groups/{group_id}")
def update_group(group_id: str, request: Request, body: schemas.GroupUpdateBody,
                 ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:update_group", _group_target(identity, group_id))
    return one(request, "group", "groups", identity.users.update_group(group_id, body.group.ref()))


@router.delete("/groups/{group_id}", status_code=204)
def delete_group(group_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> Response:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:delete_group", _group_target(identity, group_id))
    identity.users.delete_group(group_id)
    return Response(status_code=204)


@router.get("/groups/{group_id}/users")
def list_group_users(group_id: str, request: Request, ctx: RequestContext = Depends(authenticated)
                     ) -> dict[str, Any]:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:list_users_in_group", _group_target(identity, group_id))
    return many(request, "users", "users", identity.users.list_group_users(group_id, query(request)))


@router.put("/groups/{group_id}/users/{user_id}", status_code=204)
def add_group_user(group_id: str, user_id: str, request: Request,
                   ctx: RequestContext = Depends(authenticated)) -> Response:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:add_user_to_group", _group_target(identity, group_id))
    identity.users.add_member(group_id, user_id)
    return Response(status_code=204)


@router.head("/groups/{group_id}/users/{user_id}", status_code=204)
@router.get("/groups/{group_id}/users/{user_id}", status_code=204)
def check_group_user(group_id: str, user_id: str, request: Request,
                     ctx: RequestContext = Depends(authenticated)) -> Response:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:check_user_in_group", _group_target(identity, group_id))
    identity.users.check_member(group_id, user_id)
    return Response(status_code=204)


@router.delete("/groups/{group_id}/users/{user_id}", status_code=204)
def remove_group_user(group_id: str, user_id: str, request: Request,
                      ctx: RequestContext = Depends(authenticated)) -> Response:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:remove_user_from_group", _group_target(identity, group_id))
    identity.users.remove_member(group_id, user_id)
    return Response(status_code=204)
