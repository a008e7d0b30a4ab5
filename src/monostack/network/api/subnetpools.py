"""/v2.0/subnetpools"""

from __future__ import annotations

from fastapi import APIRouter

from monostack.network.api import attributes as a
from monostack.network.api.attributes import Attr
from monostack.network.api.common import Resource

ATTRS = {
    **a.standard(),
    "name": Attr(a.string(255)),
    "prefixes": Attr(a.list_of(a.cidr), required=True, kind="list", sortable=False),
    "default_prefixlen": Attr(a.integer(0, 128, nullable=True), kind="int"),
    "min_prefixlen": Attr(a.integer(0, 128, nullable=True), kind="int"),
    "max_prefixlen": Attr(a.integer(0, 128, nullable=True), kind="int"),
    "default_quota": Attr(a.integer(0, nullable=True), kind="int"),
    "shared": Attr(a.boolean, put=False, policy=True, kind="bool"),
    "is_default": Attr(a.boolean, policy=True, kind="bool"),
    "ip_version": Attr(post=False, put=False, kind="int"),
    "address_scope_id": Attr(a.uuid_or_none),
}

RESOURCE = Resource(
    collection="subnetpools", member="subnetpool", attrs=ATTRS,
    list=lambda s, ctx: s.list_subnetpools(ctx), get=lambda s, ctx, i: s.get_subnetpool(ctx, i),
    create=lambda s, ctx, b: s.create_subnetpool(ctx, b),
    update=lambda s, ctx, i, b, rev=None: s.update_subnetpool(ctx, i, b, rev),
    delete=lambda s, ctx, i: s.delete_subnetpool(ctx, i))


def register(router: APIRouter) -> None:
    RESOURCE.register(router)
