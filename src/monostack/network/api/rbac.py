"""/v2.0/rbac-policies"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from monostack.common.context import RequestContext
from monostack.network.api import attributes as a
from monostack.network.api.attributes import Attr
from monostack.network.api.common import Resource

ATTRS = {
    "id": Attr(post=False, put=False),
    "project_id": Attr(a.string(255), put=False),
    "tenant_id": Attr(a.string(255), put=False),
    "object_type": Attr(a.string(255), put=False, required=True),
    "object_id": Attr(a.uuid_str, put=False, required=True),
    "action": Attr(a.string(255), put=False, required=True),
    "target_tenant": Attr(a.string(255), policy=True),
    "target_project": Attr(a.string(255), policy=True),
}


def _prepare(svc: Any, ctx: RequestContext, body: dict[str, Any]) -> dict[str, Any]:
    target = body.pop("target_project", None)
    if target is not None:
        body.setdefault("target_tenant", target)
    if "target_tenant" not in body:
        from monostack.network.api.common import bad_request
        raise bad_request("Failed to parse request. Required attribute 'target_tenant' not specified")
    return body


def target(svc: Any, ctx: RequestContext, item: dict[str, Any]) -> dict[str, Any]:
    project = item.get("project_id") or ctx.project_id
    return {"project_id": project, "tenant_id": project, "wildcard": str(item.get("target_tenant") == "*")}


def _update(s: Any, ctx: RequestContext, rbac_id: str, body: dict[str, Any], rev: int | None = None) -> Any:
    if "target_project" in body:
        body.setdefault("target_tenant", body.pop("target_project"))
    return s.update_rbac_policy(ctx, rbac_id, body)


RESOURCE = Resource(
    collection="rbac_policies", member="rbac_policy", path="rbac-policies", attrs=ATTRS, target=target,
    prepare=_prepare,
    list=lambda s, ctx: s.list_rbac_policies(ctx), get=lambda s, ctx, i: s.get_rbac_policy(ctx, i),
    create=lambda s, ctx, b: s.create_rbac_policy(ctx, b), update=_update,
    delete=lambda s, ctx, i: s.delete_rbac_policy(ctx, i))


def register(router: APIRouter) -> None:
    RESOURCE.register(router)
