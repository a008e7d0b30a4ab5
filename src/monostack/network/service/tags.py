"""Tags on any standard-attribute resource (/v2.0/{collection}/{id}/tags)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import orm

from monostack.common.context import RequestContext
from monostack.network import exceptions as nexc
from monostack.network import models
from monostack.network.service.base import Events, ServiceBase, bump

MAX_TAG_LENGTH = 255
# collection -> (model, getter name used for visibility, event resource name)
TAGGABLE = {
    "networks": (models.Network, "_get_network_row", "network"),
    "subnets": (models.Subnet, "_get_subnet_row", "subnet"),
    "ports": (models.Port, "_get_port_row", "port"),
    "routers": (models.Router, "_get_router_row", "router"),
    "floatingips": (models.FloatingIP, "_get_fip_row", "floatingip"),
    "security-groups": (models.SecurityGroup, "_get_group_row", "security_group"),
    "subnetpools": (models.SubnetPool, "_get_pool_row", "subnetpool"),
}


def check_tag(tag: str) -> None:
    if not isinstance(tag, str) or not tag or len(tag) > MAX_TAG_LENGTH or "," in tag:
        raise nexc.errors.BadRequest(f"Invalid input for tags. Reason: '{tag}' is not a valid tag.",
                                     error_type="HTTPBadRequest")


class TagsMixin(ServiceBase):
    def _tagged(self, session: orm.Session, ctx: RequestContext, collection: str, resource_id: str) -> Any:
        if collection not in TAGGABLE:
            raise nexc.errors.NotFound("The resource could not be found.", error_type="HTTPNotFound")
        return getattr(self, TAGGABLE[collection][1])(session, ctx, resource_id)

    def get_tags(self, ctx: RequestContext, collection: str, resource_id: str) -> list[str]:
        with self.db.reader() as session:
            return list(self._tagged(session, ctx, collection, resource_id).tags or [])

    def owner_of(self, ctx: RequestContext, collection: str, resource_id: str) -> str:
        with self.db.reader() as session:
            return self._tagged(session, ctx, collection, resource_id).project_id

    def change_tags(self, ctx: RequestContext, collection: str, resource_id: str, *, replace: list[str] | None = None,
                    add: str | None = None, remove: str | None = None, clear: bool = False) -> list[str]:
        for tag in (replace or []) + ([add] if add is not None else []):
            check_tag(tag)

        def work(session: orm.Session, events: Events) -> list[str]:
            row = self._tagged(session, ctx, collection, resource_id)
            tags = list(row.tags or [])
            if replace is not None:
                tags = list(dict.fromkeys(replace))
            if add is not None and add not in tags:
                tags.append(add)
            if remove is not None:
                if remove not in tags:
                    raise nexc.TagNotFound(resource_id, tag=remove)
                tags.remove(remove)
            if clear:
                tags = []
            if tags != list(row.tags or []):
                row.tags = tags
                bump(row)
            events.append((f"{TAGGABLE[collection][2]}.update.end", {"id": resource_id, "tags": tags}))
            return tags

        return self.write(work)
