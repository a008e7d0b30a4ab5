"""/v2.0/subnets"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from monostack.common.context import RequestContext
from monostack.network.api import attributes as a
from monostack.network.api.attributes import Attr
from monostack.network.api.common import Resource

IPV6_MODE = a.one_of("slaac", "dhcpv6-stateful", "dhcpv6-stateless", nullable=True)


def _ip_version(value: Any) -> int:
    number = a.integer()(value)
    if number not in (4, 6):
        raise a.Invalid(f"'{value}' is not in [4, 6]")
    return number  # type: ignore[return-value]


ATTRS = {
    **a.standard(),
    "name": Attr(a.string(255)),
    "network_id": Attr(a.uuid_str, put=False, required=True),
    "ip_version": Attr(_ip_version, put=False, required=True, kind="int"),
    "cidr": Attr(a.cidr_or_none, put=False),
    "prefixlen": Attr(a.integer(0, 128), put=False, kind="int"),
    "subnetpool_id": Attr(a.uuid_or_none, put=False),
    "use_default_subnetpool": Attr(a.boolean, put=False, kind="bool"),
    "gateway_ip": Attr(a.ip_or_none),
    "allocation_pools": Attr(a.list_of(a.pool), kind="list", sortable=False),
    "dns_nameservers": Attr(a.list_of(a.ip_address), kind="list", sortable=False),
    "host_routes": Attr(a.list_of(a.route), kind="list", sortable=False),
    "enable_dhcp": Attr(a.boolean, kind="bool"),
    "ipv6_ra_mode": Attr(IPV6_MODE, put=False),
    "ipv6_address_mode": Attr(IPV6_MODE, put=False),
    "service_types": Attr(a.list_of(a.string(255)), policy=True, kind="list", sortable=False),
    "segment_id": Attr(a.uuid_or_none, policy=True, read_policy=True),
    "dns_publish_fixed_ip": Attr(a.boolean, kind="bool"),
}


def target(svc: Any, ctx: RequestContext, item: dict[str, Any]) -> dict[str, Any]:
    project = item.get("project_id") or ctx.project_id
    return {"project_id": project, "tenant_id": project,
            "network_project_id": svc.network_owner(item["network_id"]) if item.get("network_id") else None}


def _prepare(svc: Any, ctx: RequestContext, body: dict[str, Any]) -> dict[str, Any]:
    svc.get_network(ctx, body["network_id"])  # 404 for a network the caller cannot see, before any 403
    return body


RESOURCE = Resource(prepare=_prepare, 
    collection="subnets", member="subnet", attrs=ATTRS, target=target,
    list=lambda s, ctx: s.list_subnets(ctx), get=lambda s, ctx, i: s.get_subnet(ctx, i),
    create=lambda s, ctx, b: s.create_subnet(ctx, b),
    update=lambda s, ctx, i, b, rev=None: s.update_subnet(ctx, i, b, rev),
    delete=lambda s, ctx, i: s.delete_subnet(ctx, i))


def register(router: APIRouter) -> None:
    RESOURCE.register(router)
