"""A provider's inventories, one per resource class: what it has (total, reserved), how it
may be handed out (min_unit, max_unit, step_size) and overcommitted (allocation_ratio).

Every change bumps the provider's generation (compare-and-swap on the generation the caller
read, so a concurrent change is a 409).  An inventory with allocations cannot be removed;
shrinking one below what is allocated is allowed (Placement logs it: the provider is then over
capacity, and takes no new allocation of that class until usage falls)."""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa
from sqlalchemy import orm

from monostack.common import errors
from monostack.common.db import Database
from monostack.placement.models import Inventory
from monostack.placement.service.common import (CONCURRENT_UPDATE, INVENTORY_INUSE, MAX_INT, bump_generation,
                                                get_provider, now)
from monostack.placement.service.names import Names

LOG = logging.getLogger(__name__)
INV = Inventory.__table__
FIELDS = ("total", "reserved", "min_unit", "max_unit", "step_size", "allocation_ratio")
DEFAULTS = {"reserved": 0, "min_unit": 1, "max_unit": MAX_INT, "step_size": 1, "allocation_ratio": 1.0}


def capacity(inv: dict[str, Any]) -> int:
    return int((inv["total"] - inv["reserved"]) * inv["allocation_ratio"])


class Inventories:
    def __init__(self, db: Database, names: Names):
        self.db = db
        self.names = names

    def _rows(self, session: orm.Session, provider_id: int) -> dict[str, dict[str, Any]]:
        rows = session.execute(sa.select(INV).where(INV.c.resource_provider_id == provider_id)
                               .order_by(INV.c.resource_class_id)).all()
        return {self.names.classes.name(row.resource_class_id): dict(row._mapping) for row in rows}

    def list(self, uuid: str) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
        with self.db.reader() as session:
            provider = get_provider(session, uuid)
            return provider, self._rows(session, provider["id"])

    def get(self, uuid: str, rc_name: str) -> tuple[dict[str, Any], dict[str, Any]]:
        provider, inventories = self.list(uuid)
        if rc_name not in inventories:
            raise errors.NotFound(f"No inventory of class {rc_name} for {uuid}")
        return provider, inventories[rc_name]

    @staticmethod
    def _validate(uuid: str, rc_name: str, inv: dict[str, Any], reserved_can_be_total: bool) -> None:
        """Placement's checks: capacity must be left over the reserved part (from 1.26 reserved may
        equal the total), and min_unit <= max_unit."""
        if reserved_can_be_total:
            if inv["reserved"] > inv["total"]:
                raise errors.BadRequest(f"Unable to update inventory for resource provider {uuid}: Invalid "
                                        f"inventory for '{rc_name}' on resource provider '{uuid}'. The reserved "
                                        f"value is greater than total.")
        elif inv["reserved"] >= inv["total"]:
            raise errors.BadRequest(f"Unable to update inventory for resource provider {uuid}: Invalid inventory "
                                    f"for '{rc_name}' on resource provider '{uuid}'. The reserved value is "
                                    f"greater than or equal to total.")
        if inv["min_unit"] > inv["max_unit"]:
            raise errors.BadRequest(f"Unable to update inventory for resource provider {uuid}: Invalid inventory "
                                    f"for '{rc_name}' on resource provider '{uuid}'. min_unit is greater than "
                                    f"max_unit.")

    def _write(self, session: orm.Session, provider: dict[str, Any], rc_id: int, inv: dict[str, Any],
               existing: dict[str, Any] | None) -> None:
        values = {field: inv[field] for field in FIELDS}
        if existing is None:
            session.execute(sa.insert(INV).values(resource_provider_id=provider["id"], resource_class_id=rc_id,
                                                  used=0, created_at=now(), updated_at=now(), **values))
            return
        if existing["used"] > capacity(inv):
            LOG.warning("Resource provider %s is now over-capacity for %s", provider["uuid"],
                        self.names.classes.name(rc_id))
        session.execute(sa.update(INV).where(INV.c.resource_provider_id == provider["id"],
                                             INV.c.resource_class_id == rc_id).values(updated_at=now(), **values))

    def create(self, uuid: str, rc_name: str, fields: dict[str, Any], *,
               reserved_can_be_total: bool) -> tuple[dict[str, Any], dict[str, Any]]:
        """POST one inventory (409 if the provider has one of that class)."""
        inv = {**DEFAULTS, **fields}
        with self.db.writer() as session:
            provider = get_provider(session, uuid)
            rc_id = self.names.class_id(rc_name, f"Unable to create inventory for resource provider {uuid}: "
                                                 f"No such resource class {{name}}.")
            self._validate(uuid, rc_name, inv, reserved_can_be_total)
            bump_generation(session, provider)
            if rc_name in self._rows(session, provider["id"]):
                raise errors.Conflict(f"Update conflict: Inventory for '{rc_name}' on resource provider "
                                      f"'{uuid}' already exists.", code=CONCURRENT_UPDATE)
            self._write(session, provider, rc_id, inv, None)
        return provider, inv

    def update(self, uuid: str, rc_name: str, generation: int, fields: dict[str, Any], *,
               reserved_can_be_total: bool) -> tuple[dict[str, Any], dict[str, Any]]:
        """PUT one existing inventory at the caller's generation."""
        inv = {**DEFAULTS, **fields}
        with self.db.writer() as session:
            provider = get_provider(session, uuid)
            if generation != provider["generation"]:
                raise errors.Conflict("resource provider generation conflict", code=CONCURRENT_UPDATE)
            rc_id = self.names.class_id(rc_name, f"No inventory record with resource class for resource "
                                                 f"provider {uuid}: No such resource class {{name}}.")
            existing = self._rows(session, provider["id"]).get(rc_name)
            if existing is None:
                raise errors.BadRequest(f"No inventory record with resource class for resource provider {uuid}: "
                                        f"No inventory of class {rc_name} found.")
            self._validate(uuid, rc_name, inv, reserved_can_be_total)
            bump_generation(session, provider, generation)
            self._write(session, provider, rc_id, inv, existing)
        return provider, inv

    def replace(self, uuid: str, generation: int | None, inventories: dict[str, dict[str, Any]], *,
                reserved_can_be_total: bool = True) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
        """PUT all inventories at the caller's generation (None: DELETE all, at whatever it is):
        classes not named are removed (409 if allocated), the others created or updated."""
        wanted = {rc: {**DEFAULTS, **fields} for rc, fields in inventories.items()}
        with self.db.writer() as session:
            provider = get_provider(session, uuid)
            if generation is not None and generation != provider["generation"]:
                raise errors.Conflict("resource provider generation conflict", code=CONCURRENT_UPDATE)
            class_ids = self.names.class_ids(wanted, f"Unknown resource class in inventory for resource provider "
                                                     f"{uuid}: ")
            for rc_name, inv in wanted.items():
                self._validate(uuid, rc_name, inv, reserved_can_be_total)
            bump_generation(session, provider, generation)
            self._apply(session, provider, class_ids, wanted)
        return provider, wanted

    def _apply(self, session: orm.Session, provider: dict[str, Any], class_ids: dict[str, int],
               wanted: dict[str, dict[str, Any]]) -> None:
        """Make the provider's inventories exactly `wanted` (the generation is already bumped)."""
        self.upsert(session, provider, class_ids, wanted)
        self.remove_others(session, provider, wanted)

    def upsert(self, session: orm.Session, provider: dict[str, Any], class_ids: dict[str, int],
               wanted: dict[str, dict[str, Any]]) -> None:
        existing = self._rows(session, provider["id"])
        for rc_name, inv in wanted.items():
            self._write(session, provider, class_ids[rc_name], inv, existing.get(rc_name))

    def remove_others(self, session: orm.Session, provider: dict[str, Any], wanted: dict[str, Any]) -> None:
        """Remove the inventories not in `wanted` (409 when allocated)."""
        existing = self._rows(session, provider["id"])
        removed = [rc for rc in existing if rc not in wanted]
        in_use = [rc for rc in removed if existing[rc]["used"] > 0]
        if in_use:
            raise errors.Conflict(f"update conflict: Inventory for '{', '.join(in_use)}' on resource provider "
                                  f"'{provider['uuid']}' in use.", code=INVENTORY_INUSE)
        if removed:
            session.execute(sa.delete(INV).where(
                INV.c.resource_provider_id == provider["id"],
                INV.c.resource_class_id.in_([existing[rc]["resource_class_id"] for rc in removed])))

    def prepare_replace(self, session: orm.Session, uuid: str, generation: int,
                        inventories: dict[str, dict[str, Any]]) -> tuple[dict[str, Any], dict[str, int], dict]:
        """For the reshaper: check one provider's new inventories and bump its generation (the
        caller upserts, moves allocations, then removes the rest)."""
        wanted = {rc: {**DEFAULTS, **fields} for rc, fields in inventories.items()}
        try:
            provider = get_provider(session, uuid)
        except errors.NotFound:
            raise errors.BadRequest(f"Resource provider {uuid} in inventories not found: No resource provider "
                                    f"with uuid {uuid} found") from None
        class_ids = self.names.class_ids(wanted, f"Unknown resource class in inventory for resource provider "
                                                 f"{uuid}: ")
        for rc_name, inv in wanted.items():
            self._validate(uuid, rc_name, inv, True)
        bump_generation(session, provider, generation)
        return provider, class_ids, wanted

    def delete(self, uuid: str, rc_name: str) -> None:
        """DELETE one inventory (409 if allocated)."""
        with self.db.writer() as session:
            provider = get_provider(session, uuid)
            bump_generation(session, provider)  # first: the provider's lock orders this after any claim
            existing = self._rows(session, provider["id"]).get(rc_name)
            if existing is None:
                raise errors.NotFound(f"No inventory of class {rc_name} found for delete: No inventory of class "
                                      f"{rc_name} found.")
            if existing["used"] > 0:
                raise errors.Conflict(f"Unable to delete inventory of class {rc_name}: Inventory for '{rc_name}' "
                                      f"on resource provider '{uuid}' in use.", code=CONCURRENT_UPDATE)
            session.execute(sa.delete(INV).where(INV.c.resource_provider_id == provider["id"],
                                                 INV.c.resource_class_id == existing["resource_class_id"]))
