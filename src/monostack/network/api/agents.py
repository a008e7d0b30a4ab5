"""/v2.0/agents and /v2.0/availability_zones"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from monostack.network import exceptions as nexc

from monostack.network.api import attributes as a
from monostack.network.api.attributes import Attr
from monostack.network.api.common import Resource

ATTRS = {name: Attr(post=False, put=False) for name in (
    "id", "agent_type", "binary", "topic", "host", "availability_zone", "configurations", "created_at",
    "started_at", "heartbeat_timestamp", "resources_synced", "resource_versions")}
ATTRS["alive"] = Attr(post=False, put=False, kind="bool")
ATTRS["admin_state_up"] = Attr(a.boolean, post=False, kind="bool")
ATTRS["description"] = Attr(a.string_or_none(255), post=False)
ATTRS["configurations"] = Attr(post=False, put=False, kind="dict", sortable=False)

AGENTS = Resource(
    collection="agents", member="agent", attrs=ATTRS,
    target=lambda s, ctx, item: {"project_id": ctx.project_id},
    list=lambda s, ctx: s.list_agents(), get=lambda s, ctx, i: s.get_agent(i),
    update=lambda s, ctx, i, b, rev=None: s.update_agent(i, b), delete=lambda s, ctx, i: s.delete_agent(i))

def _zone(s: Any, ctx: Any, name: str) -> dict[str, Any]:
    zone = next((z for z in s.list_availability_zones() if z["name"] == name), None)
    if zone is None:
        raise nexc.AvailabilityZoneNotFound(f"AvailabilityZone {name} could not be found.")
    return zone


ZONES = Resource(
    collection="availability_zones", member="availability_zone", attrs={
        "name": Attr(post=False, put=False), "resource": Attr(post=False, put=False),
        "state": Attr(post=False, put=False)},
    target=lambda s, ctx, item: {"project_id": ctx.project_id},
    list=lambda s, ctx: s.list_availability_zones(),
    get=_zone)


def register(router: APIRouter) -> None:
    AGENTS.register(router)
    ZONES.register(router)
