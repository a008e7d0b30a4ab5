"""/v3/domains, /v3/projects and project tags."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from monostack.common.auth import authenticated
from monostack.common.context import RequestContext
from monostack.identity.api import schemas
from monostack.identity.api.common import many, one, query, svc

router = APIRouter(prefix="/v3", tags=["resources"])


# -- domains -----------------------------------------------------------------
@router.post("/domains", status_code=201)
def create_domain(request: Request, body: schemas.DomainBody,
                  ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:create_domain")
    return one(request, "domain", "domains", identity.resources.create_domain(body.domain.ref()))


@router.get("/domains")
def list_domains(request: Request, ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:list_domains")
    return many(request, "domains", "domains", identity.resources.list_domains(query(request)))


@router.get("/domains/{domain_id}")
def get_domain(domain_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:get_domain", {"target.domain.id": domain_id})
    return one(request, "domain", "domains", identity.resources.get_domain(domain_id))


@router.patch("/domains/{domain_id}")
def update_domain(domain_id: str, request: Request, body: schemas.DomainUpdateBody,
                  ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:update_domain", {"target.domain.id": domain_id})
    return one(request, "domain", "domains", identity.resources.update_domain(domain_id, body.domain.ref()))


@router.delete("/domains/{domain_id}", status_code=204)
def delete_domain(domain_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> Response:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:delete_domain", {"target.domain.id": domain_id})
    identity.resources.delete_domain(domain_id)
    return Response(status_code=204)


# -- projects ------------------------------------------------------------------
def _project_target(identity: Any, project_id: str) -> dict[str, Any]:
    project = identity.resources.get_project_any(project_id)
    return {"target.project.id": project["id"], "target.project.domain_id": project["domain_id"] or project["id"]}


@router.post("/projects", status_code=201)
def create_project(request: Request, body: schemas.ProjectBody,
                   ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    identity = svc(request)
    ref = body.project.ref()
    identity.policy.authorize(ctx, "identity:create_project",
                              {"target.project.domain_id": ref.get("domain_id") or ctx.domain_id or "default"})
    default_domain = ctx.domain_id or ctx.project_domain_id or "default"
    return one(request, "project", "projects",
               identity.resources.create_project(ref, default_domain_id=default_domain))


@router.get("/projects")
def list_projects(request: Request, ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    identity = svc(request)
    filters = query(request)
    identity.policy.authorize(ctx, "identity:list_projects", {"target.domain_id": filters.get("domain_id")})
    return many(request, "projects", "projects", identity.resources.list_projects(filters))


@router.get("/projects/{project_id}")
def get_project(project_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:get_project", _project_target(identity, project_id))
    project = identity.resources.get_project_any(project_id)
    params = request.query_params
    for flag, fetch, as_ids in (("parents_as_list", identity.resources.project_parents, False),
                                ("parents_as_ids", identity.resources.project_parents, True),
                                ("subtree_as_list", identity.resources.project_subtree, False),
                                ("subtree_as_ids", identity.resources.project_subtree, True)):
        if flag in params:
            key = "parents" if flag.startswith("parents") else "subtree"
            related = fetch(project_id)
            if as_ids:
                project[key] = _nested_ids(related, project_id, parents=key == "parents")
            else:
                project[key] = [{"project": {**p, "links": {}}} for p in related]
    if "include_limits" in params:
        project["limits"] = identity.extras.limits.list_limits({"project_id": project_id})
    return one(request, "project", "projects", project)


def _nested_ids(related: list[dict[str, Any]], root: str, *, parents: bool) -> dict[str, Any] | None:
    """Keystone's parents_as_ids / subtree_as_ids: nested {id: {...}} maps."""
    if parents:
        nested: dict[str, Any] | None = None
        for project in reversed(related):
            nested = {project["id"]: nested}
        return nested
    children: dict[str, list[str]] = {}
    for project in related:
        children.setdefault(project["parent_id"], []).append(project["id"])

    def build(node: str) -> dict[str, Any] | None:
        kids = children.get(node)
        return {kid: build(kid) for kid in kids} if kids else None

    return build(root)


@router.patch("/projects/{project_id}")
def update_project(project_id: str, request: Request, body: schemas.ProjectUpdateBody,
                   ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:update_project", _project_target(identity, project_id))
    return one(request, "project", "projects",
               identity.resources.update_project(project_id, body.project.ref()))


@router.delete("/projects/{project_id}", status_code=204)
def delete_project(project_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> Response:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:delete_project", _project_target(identity, project_id))
    cascade = request.query_params.get("cascade", "false").lower() in ("", "true", "1")
    identity.resources.delete_project(project_id, cascade="cascade" in request.query_params and cascade)
    return Response(status_code=204)


# -- project tags -----------------------------------------------------------------
@router.get("/projects/{project_id}/tags")
def list_tags(project_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:list_project_tags", _project_target(identity, project_id))
    return {"tags": identity.resources.list_tags(project_id)}


@router.put("/projects/{project_id}/tags")
def replace_tags(project_id: str, request: Request, body: schemas.TagsBody,
                 ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:update_project_tags", _project_target(identity, project_id))
    return {"tags": identity.resources.replace_tags(project_id, body.tags)}


@router.delete("/projects/{project_id}/tags", status_code=204)
def clear_tags(project_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> Response:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:delete_project_tags", _project_target(identity, project_id))
    identity.resources.replace_tags(project_id, [])
    return Response(status_code=204)


@router.get("/projects/{project_id}/tags/{tag}", status_code=204)
@router.head("/projects/{project_id}/tags/{tag}", status_code=204)
def check_tag(project_id: str, tag: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> Response:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:get_project_tag", _project_target(identity, project_id))
    identity.resources.has_tag(project_id, tag)
    return Response(status_code=204)


@router.put("/projects/{project_id}/tags/{tag}", status_code=201)
def add_tag(project_id: str, tag: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> Response:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:create_project_tag", _project_target(identity, project_id))
    identity.resources.add_tag(project_id, tag)
    return Response(status_code=201, headers={"Location": str(request.url)})


@router.delete("/projects/{project_id}/tags/{tag}", status_code=204)
def delete_tag(project_id: str, tag: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> Response:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:delete_project_tag", _project_target(identity, project_id))
    identity.resources.delete_tag(project_id, tag)
    return Response(status_code=204)
