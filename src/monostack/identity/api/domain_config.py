"""/v3/domains/{domain_id}/config[/{group}[/{option}]] and /v3/domains/config/.../default.

The `security_compliance` group is special: any user may read the password
rules of the default domain from it (Keystone's get_security_compliance_domain_config).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Request, Response
from monostack.common.http import JSONResponse

from monostack.common.auth import authenticated
from monostack.common.context import RequestContext
from monostack.identity.api.common import svc
from monostack.identity.api.extras_util import GET_HEAD, field, no_content, or_head
from monostack.identity.service.domain_config import SECURITY_COMPLIANCE

router = APIRouter(tags=["domain config"])
JSONBody = Body(...)


def _group_option(request: Request) -> tuple[str | None, str | None]:
    """One handler serves the whole config, a group and an option: the path says which."""
    return request.path_params.get("group"), request.path_params.get("option")


# -- defaults (registered first: /domains/config/... is not a domain id) ----------
@router.api_route("/domains/config/default", methods=GET_HEAD)
@router.api_route("/domains/config/{group}/default", methods=GET_HEAD)
@router.api_route("/domains/config/{group}/{option}/default", methods=GET_HEAD)
def get_default_config(request: Request, ctx: RequestContext = Depends(authenticated)) -> Any:
    identity = svc(request)
    group, option = _group_option(request)
    identity.policy.authorize(ctx, "identity:get_domain_config_default")
    return or_head(request, {"config": identity.extras.domain_config.defaults(group, option)})


# -- a domain's config -----------------------------------------------------------------
@router.put("/domains/{domain_id}/config")
def create_domain_config(domain_id: str, request: Request, body: dict[str, Any] = JSONBody,
                         ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:create_domain_config", {"target.domain.id": domain_id})
    config, existed = identity.extras.domain_config.create(domain_id, field(body, "config"))
    return JSONResponse({"config": config}, status_code=200 if existed else 201)


@router.api_route("/domains/{domain_id}/config", methods=GET_HEAD)
@router.api_route("/domains/{domain_id}/config/{group}", methods=GET_HEAD)
@router.api_route("/domains/{domain_id}/config/{group}/{option}", methods=GET_HEAD)
def get_domain_config(domain_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> Any:
    identity = svc(request)
    group, option = _group_option(request)
    rule = ("identity:get_security_compliance_domain_config" if group == SECURITY_COMPLIANCE
            else "identity:get_domain_config")
    identity.policy.authorize(ctx, rule, {"target.domain.id": domain_id})
    return or_head(request, {"config": identity.extras.domain_config.get(domain_id, group, option)})


@router.patch("/domains/{domain_id}/config")
@router.patch("/domains/{domain_id}/config/{group}")
@router.patch("/domains/{domain_id}/config/{group}/{option}")
def update_domain_config(domain_id: str, request: Request, body: dict[str, Any] = JSONBody,
                         ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    identity = svc(request)
    group, option = _group_option(request)
    identity.policy.authorize(ctx, "identity:update_domain_config", {"target.domain.id": domain_id})
    return {"config": identity.extras.domain_config.update(domain_id, field(body, "config"), group, option)}


@router.delete("/domains/{domain_id}/config", status_code=204)
@router.delete("/domains/{domain_id}/config/{group}", status_code=204)
@router.delete("/domains/{domain_id}/config/{group}/{option}", status_code=204)
def delete_domain_config(domain_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> Response:
    identity = svc(request)
    group, option = _group_option(request)
    identity.policy.authorize(ctx, "identity:delete_domain_config", {"target.domain.id": domain_id})
    identity.extras.domain_config.delete(domain_id, group, option)
    return no_content()
