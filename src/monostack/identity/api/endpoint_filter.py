"""/v3/OS-EP-FILTER: endpoint groups and project <-> endpoint associations."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Request, Response

from monostack.common.auth import authenticated
from monostack.common.context import RequestContext
from monostack.identity.api.common import many, member, one, query, svc, v3_url
from monostack.identity.api.extras_util import GET_HEAD, no_content, or_head

router = APIRouter(tags=["OS-EP-FILTER"])
JSONBody = Body(...)
GROUPS = "OS-EP-FILTER/endpoint_groups"


# -- endpoint groups -------------------------------------------------------------
@router.post("/OS-EP-FILTER/endpoint_groups", status_code=201)
def create_endpoint_group(request: Request, body: dict[str, Any] = JSONBody,
                          ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:create_endpoint_group")
    group = identity.extras.endpoint_filter.create_group(member(body, "endpoint_group"))
    return one(request, "endpoint_group", GROUPS, group)


@router.get("/OS-EP-FILTER/endpoint_groups")
def list_endpoint_groups(request: Request, ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:list_endpoint_groups")
    return many(request, "endpoint_groups", GROUPS, identity.extras.endpoint_filter.list_groups(query(request)))


@router.api_route("/OS-EP-FILTER/endpoint_groups/{group_id}", methods=GET_HEAD)
def get_endpoint_group(group_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> Any:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:get_endpoint_group")
    return or_head(request, one(request, "endpoint_group", GROUPS, identity.extras.endpoint_filter.get_group(group_id)))


@router.patch("/OS-EP-FILTER/endpoint_groups/{group_id}")
def update_endpoint_group(group_id: str, request: Request, body: dict[str, Any] = JSONBody,
                          ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:update_endpoint_group")
    group = identity.extras.endpoint_filter.update_group(group_id, member(body, "endpoint_group"))
    return one(request, "endpoint_group", GROUPS, group)


@router.delete("/OS-EP-FILTER/endpoint_groups/{group_id}", status_code=204)
def delete_endpoint_group(group_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> Response:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:delete_endpoint_group")
    identity.extras.endpoint_filter.delete_group(group_id)
    return no_content()


@router.get("/OS-EP-FILTER/endpoint_groups/{group_id}/endpoints")
def list_endpoints_in_group(group_id: str, request: Request,
                            ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:list_endpoints_associated_with_endpoint_group")
    return many(request, "endpoints", "endpoints", identity.extras.endpoint_filter.endpoints_in_group(group_id))


@router.get("/OS-EP-FILTER/endpoint_groups/{group_id}/projects")
def list_projects_for_group(group_id: str, request: Request,
                            ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:list_projects_associated_with_endpoint_group")
    return many(request, "projects", "projects", identity.extras.endpoint_filter.projects_for_group(group_id))


# -- endpoint group <-> project ----------------------------------------------------
@router.api_route("/OS-EP-FILTER/endpoint_groups/{group_id}/projects/{project_id}", methods=GET_HEAD)
def get_group_in_project(group_id: str, project_id: str, request: Request,
                         ctx: RequestContext = Depends(authenticated)) -> Any:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:get_endpoint_group_in_project")
    ref = identity.extras.endpoint_filter.get_group_in_project(group_id, project_id)
    ref["links"] = {"self": v3_url(request, f"/{GROUPS}/{group_id}/projects/{project_id}")}
    return or_head(request, {"project_endpoint_group": ref})


@router.put("/OS-EP-FILTER/endpoint_groups/{group_id}/projects/{project_id}", status_code=204)
def add_group_to_project(group_id: str, project_id: str, request: Request,
                         ctx: RequestContext = Depends(authenticated)) -> Response:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:add_endpoint_group_to_project")
    identity.extras.endpoint_filter.add_group_to_project(group_id, project_id)
    return no_content()


@router.delete("/OS-EP-FILTER/endpoint_groups/{group_id}/projects/{project_id}", status_code=204)
def remove_group_from_project(group_id: str, project_id: str, request: Request,
                              ctx: RequestContext = Depends(authenticated)) -> Response:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:remove_endpoint_group_from_project")
    identity.extras.endpoint_filter.remove_group_from_project(group_id, project_id)
    return no_content()


@router.get("/OS-EP-FILTER/projects/{project_id}/endpoint_groups")
def list_groups_for_project(project_id: str, request: Request,
                            ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:list_endpoint_groups_for_project")
    return many(request, "endpoint_groups", GROUPS, identity.extras.endpoint_filter.groups_for_project(project_id))


# -- endpoint <-> project ----------------------------------------------------------
@router.get("/OS-EP-FILTER/projects/{project_id}/endpoints")
def list_endpoints_for_project(project_id: str, request: Request,
                               ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:list_endpoints_for_project")
    endpoints = identity.extras.endpoint_filter.endpoints_for_project_list(project_id)
    return many(request, "endpoints", "endpoints", endpoints)


@router.api_route("/OS-EP-FILTER/projects/{project_id}/endpoints/{endpoint_id}", methods=GET_HEAD,
                  status_code=204)
def check_endpoint_in_project(project_id: str, endpoint_id: str, request: Request,
                              ctx: RequestContext = Depends(authenticated)) -> Response:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:check_endpoint_in_project")
    identity.extras.endpoint_filter.check_endpoint_in_project(project_id, endpoint_id)
    return no_content()


@router.put("/OS-EP-FILTER/projects/{project_id}/endpoints/{endpoint_id}", status_code=204)
def add_endpoint_to_project(project_id: str, endpoint_id: str, request: Request,
                            ctx: RequestContext = Depends(authenticated)) -> Response:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:add_endpoint_to_project")
    identity.extras.endpoint_filter.add_endpoint_to_project(project_id, endpoint_id)
    return no_content()


@router.delete("/OS-EP-FILTER/projects/{project_id}/endpoints/{endpoint_id}", status_code=204)
def remove_endpoint_from_project(project_id: str, endpoint_id: str, request: Request,
                                 ctx: RequestContext = Depends(authenticated)) -> Response:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:remove_endpoint_from_project")
    identity.extras.endpoint_filter.remove_endpoint_from_project(project_id, endpoint_id)
    return no_content()


@router.get("/OS-EP-FILTER/endpoints/{endpoint_id}/projects")
def list_projects_for_endpoint(endpoint_id: str, request: Request,
                               ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:list_projects_for_endpoint")
    return many(request, "projects", "projects", identity.extras.endpoint_filter.projects_for_endpoint(endpoint_id))
