"""/v2.0/networks"""

from __future__ import annotations

from fastapi import APIRouter

from monostack.network.api import attributes as a
from monostack.network.api.attributes import Attr
from monostack.network.api.common import Resource

ATTRS = {
    **a.standard(),
    "name": Attr(a.string(255)),
    "admin_state_up": Attr(a.boolean, kind="bool"),
    "status": Attr(post=False, put=False),
    "subnets": Attr(post=False, put=False, kind="list", sortable=False),
    "shared": Attr(a.boolean, kind="bool", policy=True),
    "router:external": Attr(a.boolean, kind="bool", policy=True),
    "is_default": Attr(a.boolean, kind="bool", policy=True),
    "provider:network_type": Attr(a.one_of("flat", "vlan", "vxlan", "local", "geneve", "gre"), policy=True,
                                  read_policy=True),
    "provider:physical_network": Attr(a.string_or_none(64), policy=True, read_policy=True),
    "provider:segmentation_id": Attr(a.integer(0, 2 ** 32, nullable=True), policy=True, read_policy=True, kind="int"),
    "mtu": Attr(a.integer(68, nullable=True), kind="int"),
    "port_security_enabled": Attr(a.boolean, kind="bool"),
    "availability_zone_hints": Attr(a.list_of(a.string(255)), put=False, kind="list", sortable=False),
    "availability_zones": Attr(post=False, put=False, kind="list", sortable=False),
    "dns_domain": Attr(a.string(255)),
    "ipv4_address_scope": Attr(post=False, put=False),
    "ipv6_address_scope": Attr(post=False, put=False),
    "l2_adjacency": Attr(post=False, put=False, kind="bool"),
}

RESOURCE = Resource(
    collection="networks", member="network", attrs=ATTRS,
    list=lambda s, ctx: s.list_networks(ctx), get=lambda s, ctx, i: s.get_network(ctx, i),
    create=lambda s, ctx, b: s.create_network(ctx, b),
    update=lambda s, ctx, i, b, rev=None: s.update_network(ctx, i, b, rev),
    delete=lambda s, ctx, i: s.delete_network(ctx, i))


def register(router: APIRouter) -> None:
    RESOURCE.register(router)
