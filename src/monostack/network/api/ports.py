"""/v2.0/ports"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from monostack.common.context import RequestContext
from monostack.network.api import attributes as a
from monostack.network.api.attributes import Attr
from monostack.network.api.common import Resource
from monostack.network.service.ports import VNIC_TYPES

ATTRS = {
    **a.standard(),
    "name": Attr(a.string(255)),
    "network_id": Attr(a.uuid_str, put=False, required=True),
    "admin_state_up": Attr(a.boolean, kind="bool"),
    "mac_address": Attr(a.mac_address, policy=True),
    "fixed_ips": Attr(a.list_of(a.fixed_ip), kind="list", sortable=False),
    "device_id": Attr(a.string(255)),
    "device_owner": Attr(a.string(255), policy=True),
    "status": Attr(post=False, put=False),
    "security_groups": Attr(a.list_of(a.uuid_str), kind="list", sortable=False),
    "allowed_address_pairs": Attr(a.list_of(a.address_pair), policy=True, kind="list", sortable=False),
    "port_security_enabled": Attr(a.boolean, policy=True, kind="bool"),
    "binding:host_id": Attr(a.string(255), policy=True, read_policy=True),
    "binding:vnic_type": Attr(a.one_of(*VNIC_TYPES)),
    "binding:profile": Attr(a.any_dict, policy=True, read_policy=True, kind="dict", sortable=False),
    "binding:vif_type": Attr(post=False, put=False, read_policy=True),
    "binding:vif_details": Attr(post=False, put=False, read_policy=True, kind="dict", sortable=False),
    "ip_allocation": Attr(post=False, put=False),
}


def target(svc: Any, ctx: RequestContext, item: dict[str, Any]) -> dict[str, Any]:
    project = item.get("project_id") if "project_id" in item else ctx.project_id
    return {"project_id": project, "tenant_id": project,
            "network_project_id": svc.network_owner(item["network_id"]) if item.get("network_id") else None,
            "network_device": str(bool((item.get("device_owner") or "").startswith("network:")))}


def _prepare(svc: Any, ctx: RequestContext, body: dict[str, Any]) -> dict[str, Any]:
    svc.get_network(ctx, body["network_id"])  # 404 for a network the caller cannot see, before any 403
    return body


RESOURCE = Resource(prepare=_prepare, 
    collection="ports", member="port", attrs=ATTRS, target=target,
    list=lambda s, ctx: s.list_ports(ctx), get=lambda s, ctx, i: s.get_port(ctx, i),
    create=lambda s, ctx, b: s.create_port(ctx, b),
    update=lambda s, ctx, i, b, rev=None: s.update_port(ctx, i, b, rev),
    delete=lambda s, ctx, i: s.delete_port(ctx, i))


def register(router: APIRouter) -> None:
    RESOURCE.register(router)
