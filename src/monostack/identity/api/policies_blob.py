"""/v3/policies and OS-ENDPOINT-POLICY (policy <-> endpoint, service, service in region)."""

from __future__ import annotations

from typing import Any, Callable

from fastapi import APIRouter, Body, Depends, Request, Response

from monostack.common.auth import authenticated
from monostack.common.context import RequestContext
from monostack.identity.api.common import many, member, one, query, svc
from monostack.identity.api.extras_util import GET_HEAD, no_content, or_head

router = APIRouter(tags=["policies"])
JSONBody = Body(...)


@router.post("/policies", status_code=201)
def create_policy(request: Request, body: dict[str, Any] = JSONBody,
                  ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:create_policy")
    return one(request, "policy", "policies", identity.extras.policies.create_policy(member(body, "policy")))


@router.get("/policies")
def list_policies(request: Request, ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:list_policies")
    return many(request, "policies", "policies", identity.extras.policies.list_policies(query(request)))


@router.api_route("/policies/{policy_id}", methods=GET_HEAD)
def get_policy(policy_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> Any:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:get_policy")
    return or_head(request, one(request, "policy", "policies", identity.extras.policies.get_policy(policy_id)))


@router.patch("/policies/{policy_id}")
def update_policy(policy_id: str, request: Request, body: dict[str, Any] = JSONBody,
                  ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:update_policy")
    return one(request, "policy", "policies",
               identity.extras.policies.update_policy(policy_id, member(body, "policy")))


@router.delete("/policies/{policy_id}", status_code=204)
def delete_policy(policy_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> Response:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:delete_policy")
    identity.extras.policies.delete_policy(policy_id)
    return no_content()


@router.get("/policies/{policy_id}/OS-ENDPOINT-POLICY/endpoints")
def list_endpoints_for_policy(policy_id: str, request: Request,
                              ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:list_endpoints_for_policy")
    return many(request, "endpoints", "endpoints", identity.extras.policies.endpoints_for_policy(policy_id))


@router.api_route("/endpoints/{endpoint_id}/OS-ENDPOINT-POLICY/policy", methods=GET_HEAD)
def get_policy_for_endpoint(endpoint_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> Any:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:get_policy_for_endpoint")
    return or_head(request, one(request, "policy", "policies",
                                identity.extras.policies.policy_for_endpoint(endpoint_id)))


# -- the three kinds of association, each with PUT, GET/HEAD (check) and DELETE -----
def _association_routes(path: str, suffix: str) -> None:
    """Routes for one association target; path parameters name the target."""

    def run(request: Request, ctx: RequestContext, action: str, call: Callable[..., None],
            policy_id: str, targets: dict[str, str]) -> Response:
        identity = svc(request)
        identity.policy.authorize(ctx, f"identity:{action}_policy_association_for_{suffix}")
        call(identity.extras.policies)(policy_id, **targets)
        return no_content()

    def targets_of(request: Request) -> dict[str, str]:
        return {k: v for k, v in request.path_params.items() if k != "policy_id"}

    def put(policy_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> Response:
        return run(request, ctx, "create", lambda m: m.associate, policy_id, targets_of(request))

    def check(policy_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> Response:
        return run(request, ctx, "check", lambda m: m.check_association, policy_id, targets_of(request))

    def delete(policy_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> Response:
        return run(request, ctx, "delete", lambda m: m.dissociate, policy_id, targets_of(request))

    full = f"/policies/{{policy_id}}/OS-ENDPOINT-POLICY{path}"
    router.add_api_route(full, put, methods=["PUT"], status_code=204, name=f"associate_policy_{suffix}")
    router.add_api_route(full, check, methods=GET_HEAD, status_code=204, name=f"check_policy_{suffix}")
    router.add_api_route(full, delete, methods=["DELETE"], status_code=204, name=f"dissociate_policy_{suffix}")


_association_routes("/endpoints/{endpoint_id}", "endpoint")
_association_routes("/services/{service_id}", "service")
_association_routes("/services/{service_id}/regions/{region_id}", "region_and_service")
