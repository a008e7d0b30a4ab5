"""/v2.0/network-ip-availabilities (admin)"""

from __future__ import annotations

from fastapi import APIRouter

from monostack.network.api.attributes import Attr
from monostack.network.api.common import Resource

ATTRS = {name: Attr(post=False, put=False) for name in (
    "network_id", "network_name", "project_id", "tenant_id", "subnet_ip_availability")}
ATTRS["total_ips"] = Attr(post=False, put=False, kind="int")
ATTRS["used_ips"] = Attr(post=False, put=False, kind="int")


def _ip_version(item: dict, values: list[str]) -> bool:
    """Networks with a subnet of the version (Neutron's ip_version filter)."""
    return any(str(s["ip_version"]) in values for s in item["subnet_ip_availability"])


RESOURCE = Resource(
    collection="network_ip_availabilities", member="network_ip_availability", path="network-ip-availabilities",
    attrs=ATTRS, custom_filters={"ip_version": _ip_version}, target=lambda s, ctx, item: {"project_id": item.get("project_id")},
    list=lambda s, ctx: s.list_ip_availability(), get=lambda s, ctx, i: s.get_ip_availability(i))


def register(router: APIRouter) -> None:
    RESOURCE.register(router)
