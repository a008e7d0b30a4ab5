"""/v2.0/floatingips"""

from __future__ import annotations

from fastapi import APIRouter

from monostack.network.api import attributes as a
from monostack.network.api.attributes import Attr
from monostack.network.api.common import Resource

ATTRS = {
    **a.standard(),
    "floating_network_id": Attr(a.uuid_str, put=False, required=True),
    "floating_ip_address": Attr(a.ip_address, put=False, policy=True),
    "subnet_id": Attr(a.uuid_or_none, put=False),
    "port_id": Attr(a.uuid_or_none),
    "fixed_ip_address": Attr(a.ip_or_none),
    "router_id": Attr(post=False, put=False),
    "status": Attr(post=False, put=False),
    "port_details": Attr(post=False, put=False, kind="dict", sortable=False),
    "port_forwardings": Attr(post=False, put=False, kind="list", sortable=False),
    "qos_policy_id": Attr(post=False, put=False),
    "dns_name": Attr(a.string(255), put=False),
    "dns_domain": Attr(a.string(255), put=False),
}

RESOURCE = Resource(
    collection="floatingips", member="floatingip", attrs=ATTRS,
    list=lambda s, ctx: s.list_floatingips(ctx), get=lambda s, ctx, i: s.get_floatingip(ctx, i),
    create=lambda s, ctx, b: s.create_floatingip(ctx, b),
    update=lambda s, ctx, i, b, rev=None: s.update_floatingip(ctx, i, b, rev),
    delete=lambda s, ctx, i: s.delete_floatingip(ctx, i))


def register(router: APIRouter) -> None:
    RESOURCE.register(router)
