"""/v3/roles, implied roles, grants on projects/domains/system (and OS-INHERIT),
and /v3/role_assignments."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from monostack.common.auth import authenticated
from monostack.common.context import RequestContext
from monostack.identity.api import schemas
from monostack.identity.api.common import many, one, query, svc, v3_url

router = APIRouter(prefix="/v3", tags=["roles"])


# -- roles -----------------------------------------------------------------
def _role_rule(identity: Any, action: str, role: dict[str, Any] | None = None, domain_id: str | None = None) -> str:
    """identity:<action>_role, or _domain_role for domain-specific roles (list: plural)."""
    domain_specific = (role or {}).get("domain_id") or domain_id
    noun = "domain_role" if domain_specific else "role"
    return f"identity:{action}_{noun}{'s' if action == 'list' else ''}"


@router.post("/roles", status_code=201)
def create_role(request: Request, body: schemas.RoleBody,
                ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    identity = svc(request)
    ref = body.role.ref()
    identity.policy.authorize(ctx, _role_rule(identity, "create", domain_id=ref.get("domain_id")))
    return one(request, "role", "roles", identity.assignments.create_role(ref))


@router.get("/roles")
def list_roles(request: Request, ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    identity = svc(request)
    filters = query(request)
    identity.policy.authorize(ctx, _role_rule(identity, "list", domain_id=filters.get("domain_id")))
    return many(request, "roles", "roles", identity.assignments.list_roles(filters))


@router.get("/roles/{role_id}")
def get_role(role_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    identity = svc(request)
    role = identity.assignments.get_role(role_id)
    identity.policy.authorize(ctx, _role_rule(identity, "get", role))
    return one(request, "role", "roles", role)


@router.patch("/roles/{role_id}")
def update_role(role_id: str, request: Request, body: schemas.RoleUpdateBody,
                ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    identity = svc(request)
    identity.policy.authorize(ctx, _role_rule(identity, "update", identity.assignments.get_role(role_id)))
    return one(request, "role", "roles", identity.assignments.update_role(role_id, body.role.ref()))


@router.delete("/roles/{role_id}", status_code=204)
def delete_role(role_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> Response:
    identity = svc(request)
    identity.policy.authorize(ctx, _role_rule(identity, "delete", identity.assignments.get_role(role_id)))
    identity.assignments.delete_role(role_id)
    return Response(status_code=204)


# -- implied roles ------------------------------------------------------------------
def _inference_links(request: Request, body: dict[str, Any]) -> dict[str, Any]:
    inference = body["role_inference"]
    inference["prior_role"]["links"] = {"self": v3_url(request, f"/roles/{inference['prior_role']['id']}")}
    implies = inference["implies"]
    for role in implies if isinstance(implies, list) else [implies]:
        role["links"] = {"self": v3_url(request, f"/roles/{role['id']}")}
    return body


@router.put("/roles/{prior_id}/implies/{implied_id}", status_code=201)
def create_implied(prior_id: str, implied_id: str, request: Request,
                   ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:create_implied_role")
    body = _inference_links(request, identity.assignments.create_implied(prior_id, implied_id))
    body["links"] = {"self": v3_url(request, f"/roles/{prior_id}/implies/{implied_id}")}
    return body


@router.get("/roles/{prior_id}/implies/{implied_id}")
def get_implied(prior_id: str, implied_id: str, request: Request,
                ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:get_implied_role")
    body = _inference_links(request, identity.assignments.get_implied(prior_id, implied_id))
    body["links"] = {"self": v3_url(request, f"/roles/{prior_id}/implies/{implied_id}")}
    return body


@router.head("/roles/{prior_id}/implies/{implied_id}", status_code=204)
def check_implied(prior_id: str, implied_id: str, request: Request,
                  ctx: RequestContext = Depends(authenticated)) -> Response:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:check_implied_role")
    identity.assignments.get_implied(prior_id, implied_id)
    return Response(status_code=204)


@router.delete("/roles/{prior_id}/implies/{implied_id}", status_code=204)
def delete_implied(prior_id: str, implied_id: str, request: Request,
                   ctx: RequestContext = Depends(authenticated)) -> Response:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:delete_implied_role")
    identity.assignments.delete_implied(prior_id, implied_id)
    return Response(status_code=204)


@router.get("/roles/{prior_id}/implies")
def list_implied(prior_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:list_implied_roles")
    body = _inference_links(request, identity.assignments.list_implied(prior_id))
    body["links"] = {"self": v3_url(request, f"/roles/{prior_id}/implies")}
    return body


@router.get("/role_inferences")
def list_role_inferences(request: Request, ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:list_role_inference_rules")
    inferences = [_inference_links(request, {"role_inference": i})["role_inference"]
                  for i in identity.assignments.list_all_implied()]
    return {"role_inferences": inferences,
            "links": {"self": v3_url(request, "/role_inferences"), "previous": None, "next": None}}


# -- grants: one set of four routes per (target, actor, inherited) -----------------
def _grant_routes(prefix: str, target: str, actor: str, *, inherited: bool, rules: dict[str, str]) -> None:
    suffix = "/inherited_to_projects" if inherited else ""
    item_path = f"{prefix}/{{target_id}}/{actor}s/{{actor_id}}/roles/{{role_id}}{suffix}" if target != "system" \
        else f"{prefix}/{actor}s/{{actor_id}}/roles/{{role_id}}"
    list_path = f"{prefix}/{{target_id}}/{actor}s/{{actor_id}}/roles{suffix}" if target != "system" \
        else f"{prefix}/{actor}s/{{actor_id}}/roles"

    def target_of(params: dict[str, str]) -> str:
        return params.get("target_id", "all")

    def grant(request: Request, ctx: RequestContext = Depends(authenticated)) -> Response:
        identity = svc(request)
        p = request.path_params
        identity.policy.authorize(ctx, rules["create"])
        identity.assignments.grant(actor, p["actor_id"], target, target_of(p), p["role_id"], inherited=inherited)
        return Response(status_code=204)

    def check(request: Request, ctx: RequestContext = Depends(authenticated)) -> Response:
        identity = svc(request)
        p = request.path_params
        identity.policy.authorize(ctx, rules["check"])
        identity.assignments.check_grant(actor, p["actor_id"], target, target_of(p), p["role_id"],
                                         inherited=inherited)
        return Response(status_code=204)

    def revoke(request: Request, ctx: RequestContext = Depends(authenticated)) -> Response:
        identity = svc(request)
        p = request.path_params
        identity.policy.authorize(ctx, rules["revoke"])
        identity.assignments.revoke(actor, p["actor_id"], target, target_of(p), p["role_id"], inherited=inherited)
        return Response(status_code=204)

    def list_(request: Request, ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
        identity = svc(request)
        p = request.path_params
        identity.policy.authorize(ctx, rules["list"])
        roles = identity.assignments.list_grants(actor, p["actor_id"], target, target_of(p), inherited=inherited)
        return many(request, "roles", "roles", roles)

    name = f"{target}_{actor}{'_inherited' if inherited else ''}"
    router.add_api_route(item_path, grant, methods=["PUT"], status_code=204, name=f"grant_{name}")
    router.add_api_route(item_path, check, methods=["HEAD", "GET"], status_code=204, name=f"check_{name}")
    router.add_api_route(item_path, revoke, methods=["DELETE"], status_code=204, name=f"revoke_{name}")
    router.add_api_route(list_path, list_, methods=["GET"], name=f"list_{name}")


_GRANT_RULES = {"create": "identity:create_grant", "check": "identity:check_grant",
                "revoke": "identity:revoke_grant", "list": "identity:list_grants"}
for _actor in ("user", "group"):
    _grant_routes("/projects", "project", _actor, inherited=False, rules=_GRANT_RULES)
    _grant_routes("/domains", "domain", _actor, inherited=False, rules=_GRANT_RULES)
    _grant_routes("/OS-INHERIT/projects", "project", _actor, inherited=True, rules=_GRANT_RULES)
    _grant_routes("/OS-INHERIT/domains", "domain", _actor, inherited=True, rules=_GRANT_RULES)
    _grant_routes("/system", "system", _actor, inherited=False, rules={
        "create": f"identity:create_system_grant_for_{_actor}", "check": f"identity:check_system_grant_for_{_actor}",
        "revoke": f"identity:revoke_system_grant_for_{_actor}", "list": f"identity:list_system_grants_for_{_actor}"})


# -- /v3/role_assignments ----------------------------------------------------------
@router.get("/role_assignments")
def list_role_assignments(request: Request, ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    identity = svc(request)
    params = query(request)
    identity.policy.authorize(ctx, "identity:list_role_assignments",
                              {"target.domain_id": params.get("scope.domain.id")})
    entries = identity.assignments.list_role_assignments(params)
    for entry in entries:
        entry["links"] = _assignment_links(request, entry)
    return {"role_assignments": entries, "links": {"self": str(request.url), "previous": None, "next": None}}


def _assignment_links(request: Request, entry: dict[str, Any]) -> dict[str, str]:
    links = {k: v3_url(request, v[3:]) for k, v in entry.get("links", {}).items()}
    scope = entry["scope"]
    actor = "users" if "user" in entry else "groups"
    actor_id = (entry.get("user") or entry.get("group"))["id"]
    role_id = entry["role"]["id"]
    if "system" in scope:
        path = f"/system/{actor}/{actor_id}/roles/{role_id}"
    else:
        kind = "projects" if "project" in scope else "domains"
        target_id = scope.get("project", scope.get("domain", {})).get("id")
        path = f"/{kind}/{target_id}/{actor}/{actor_id}/roles/{role_id}"
        if scope.get("OS-INHERIT:inherited_to"):
            path = f"/OS-INHERIT{path}/inherited_to_projects"
    links["assignment"] = v3_url(request, path)
    return links


