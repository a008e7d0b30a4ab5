"""/v2.0/security-groups and /v2.0/security-group-rules"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from monostack.network.api import attributes as a
from monostack.network.api.attributes import Attr
from monostack.network.api.common import Resource


def _no_address_group(value: Any) -> None:
    if value is not None:
        raise a.Invalid("remote address groups are not supported")
    return None


GROUP_ATTRS = {
    **a.standard(),
    "name": Attr(a.string(255)),
    "stateful": Attr(a.boolean, kind="bool"),
    "shared": Attr(post=False, put=False, kind="bool"),
    "security_group_rules": Attr(post=False, put=False, kind="list", sortable=False),
}

RULE_ATTRS = {
    **a.standard(tags=False),
    "security_group_id": Attr(a.uuid_str, put=False, required=True),
    "direction": Attr(a.one_of("ingress", "egress"), put=False, required=True),
    "ethertype": Attr(a.one_of("IPv4", "IPv6"), put=False),
    "protocol": Attr(a.protocol, put=False),
    "port_range_min": Attr(a.integer(nullable=True), put=False, kind="int"),
    "port_range_max": Attr(a.integer(nullable=True), put=False, kind="int"),
    "remote_ip_prefix": Attr(a.cidr_like_or_none, put=False),
    # Not checked as a UUID: Neutron answers 404 for a group that does not exist, whatever the id.
    "remote_group_id": Attr(a.string_or_none(36), put=False),
    "remote_address_group_id": Attr(_no_address_group, put=False),
    "normalized_cidr": Attr(post=False, put=False),
    "belongs_to_default_sg": Attr(post=False, put=False),
}

GROUPS = Resource(
    collection="security_groups", member="security_group", path="security-groups", attrs=GROUP_ATTRS,
    list=lambda s, ctx: s.list_security_groups(ctx), get=lambda s, ctx, i: s.get_security_group(ctx, i),
    create=lambda s, ctx, b: s.create_security_group(ctx, b),
    update=lambda s, ctx, i, b, rev=None: s.update_security_group(ctx, i, b, rev),
    delete=lambda s, ctx, i: s.delete_security_group(ctx, i))


def _rule_prepare(svc: Any, ctx: Any, body: dict[str, Any]) -> dict[str, Any]:
    body.pop("remote_address_group_id", None)
    return body


RULES = Resource(
    collection="security_group_rules", member="security_group_rule", path="security-group-rules",
    attrs=RULE_ATTRS, prepare=_rule_prepare,
    list=lambda s, ctx: s.list_security_group_rules(ctx), get=lambda s, ctx, i: s.get_security_group_rule(ctx, i),
    create=lambda s, ctx, b: s.create_security_group_rule(ctx, b),
    delete=lambda s, ctx, i: s.delete_security_group_rule(ctx, i))


def register(router: APIRouter) -> None:
    GROUPS.register(router)
    RULES.register(router)
