"""Consumers and their allocations, and the usages they add up to.

A write replaces all the allocations of one or more consumers in one transaction:
  1. lock every provider involved, in id order (the provider row lock is the first lock every
     writer of a provider's inventories or allocations takes: no lock order inversions), bumping
     the generation of those the request allocates against, as Placement does;
  2. check and bump each consumer's generation (microversion 1.28: the caller's view of it);
  3. move `inventories.used` by the difference, with a conditional UPDATE where usage grows:
     `used + delta <= (total - reserved) * allocation_ratio`.  The database evaluates that on
     the locked, current row, so two claims racing for the last unit serialise there and
     exactly one fits (409 for the other);
  4. replace the allocation rows; a consumer left without allocations is deleted.
Any failure rolls the whole request back.
"""

from __future__ import annotations

import collections
import logging
from typing import Any, Iterable

import sqlalchemy as sa
from sqlalchemy import exc, orm

from monostack.common import errors
from monostack.common.db import Database, retry_on_deadlock
from monostack.placement.models import Allocation, Consumer, Inventory, ResourceProvider
from monostack.placement.service.common import CONCURRENT_UPDATE, get_provider, now
from monostack.placement.service.names import Names

LOG = logging.getLogger(__name__)
RP = ResourceProvider.__table__
INV = Inventory.__table__
ALLOC = Allocation.__table__
CONS = Consumer.__table__


class ConsumerWrite:
    """What one consumer's allocations become."""

    def __init__(self, uuid: str, allocations: dict[str, dict[str, int]], *, project_id: str, user_id: str,
                 generation: int | None = None, consumer_type: str | None = None):
        self.uuid = uuid
        self.allocations = allocations  # {provider uuid: {class name: amount}}; empty: remove them all
        self.project_id = project_id
        self.user_id = user_id
        self.generation = generation
        self.consumer_type = consumer_type


class Allocations:
    def __init__(self, db: Database, names: Names):
        self.db = db
        self.names = names

    # -- reads ---------------------------------------------------------------------------------
    def for_consumer(self, consumer_uuid: str) -> dict[str, Any]:
        """{"allocations": {rp: {"generation", "resources"}}, and when there are any the consumer's
        project_id, user_id, generation and consumer_type}."""
        query = (sa.select(ALLOC.c.resource_class_id, ALLOC.c.used, RP.c.uuid, RP.c.generation,
                           CONS.c.project_id, CONS.c.user_id, CONS.c.generation.label("consumer_generation"),
                           CONS.c.consumer_type, ALLOC.c.created_at)
                 .select_from(ALLOC.join(RP, RP.c.id == ALLOC.c.resource_provider_id)
                              .join(CONS, CONS.c.uuid == ALLOC.c.consumer_id))
                 .where(ALLOC.c.consumer_id == consumer_uuid).order_by(ALLOC.c.id))
        with self.db.reader() as session:
            rows = session.execute(query).all()
        result: dict[str, Any] = {"allocations": {}}
        for row in rows:
            entry = result["allocations"].setdefault(row.uuid, {"generation": row.generation, "resources": {}})
            entry["resources"][self.names.classes.name(row.resource_class_id)] = row.used
        if rows:
            first = rows[0]
            result.update(project_id=first.project_id, user_id=first.user_id,
                          consumer_generation=first.consumer_generation,
                          consumer_type=first.consumer_type or "unknown",
                          last_modified=max(row.created_at for row in rows))
        return result

    def for_provider(self, uuid: str) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
        with self.db.reader() as session:
            provider = get_provider(session, uuid, f"Resource provider '{uuid}' not found: No resource provider "
                                                   f"with uuid {uuid} found")
            rows = session.execute(
                sa.select(ALLOC.c.consumer_id, ALLOC.c.resource_class_id, ALLOC.c.used, CONS.c.generation)
                .select_from(ALLOC.join(CONS, CONS.c.uuid == ALLOC.c.consumer_id))
                .where(ALLOC.c.resource_provider_id == provider["id"]).order_by(ALLOC.c.id)).all()
        consumers: dict[str, dict[str, Any]] = {}
        for row in rows:
            entry = consumers.setdefault(row.consumer_id, {"resources": {}, "consumer_generation": row.generation})
            entry["resources"][self.names.classes.name(row.resource_class_id)] = row.used
        return provider, consumers

    def provider_usages(self, uuid: str) -> tuple[dict[str, Any], dict[str, int]]:
        with self.db.reader() as session:
            provider = get_provider(session, uuid)
            rows = session.execute(sa.select(INV.c.resource_class_id, INV.c.used)
                                   .where(INV.c.resource_provider_id == provider["id"])).all()
        return provider, {self.names.classes.name(rc): used for rc, used in rows}

    def usages(self, project_id: str, user_id: str | None = None) -> dict[str, int]:
        """What a project (and user) has allocated, by resource class."""
        query = (sa.select(ALLOC.c.resource_class_id, sa.func.sum(ALLOC.c.used))
                 .select_from(ALLOC.join(CONS, CONS.c.uuid == ALLOC.c.consumer_id))
                 .where(CONS.c.project_id == project_id).group_by(ALLOC.c.resource_class_id))
        if user_id is not None:
            query = query.where(CONS.c.user_id == user_id)
        with self.db.reader() as session:
            return {self.names.classes.name(rc): int(total) for rc, total in session.execute(query)}

    def usages_by_type(self, project_id: str, user_id: str | None = None,
                       consumer_type: str | None = None) -> dict[str, dict[str, int]]:
        """Microversion 1.38: usages by consumer type, each with its consumer_count; `all` folds
        every type into one, `unknown` is the allocations written before types existed."""
        joined = ALLOC.join(CONS, CONS.c.uuid == ALLOC.c.consumer_id)
        where = [CONS.c.project_id == project_id]
        if user_id is not None:
            where.append(CONS.c.user_id == user_id)
        if consumer_type == "unknown":
            where.append(CONS.c.consumer_type.is_(None))
        elif consumer_type not in (None, "all"):
            where.append(CONS.c.consumer_type == consumer_type)
        by_class = sa.select(ALLOC.c.resource_class_id, sa.func.sum(ALLOC.c.used)).select_from(joined).where(*where)
        consumers = sa.select(sa.func.count(sa.distinct(ALLOC.c.consumer_id))).select_from(joined).where(*where)
        result: dict[str, dict[str, int]] = {}
        with self.db.reader() as session:
            if consumer_type in ("all", "unknown"):  # one group, named after the filter
                rows = session.execute(by_class.group_by(ALLOC.c.resource_class_id)).all()
                counts = [(consumer_type, session.execute(consumers).scalar())] if rows else []
                sums = [(consumer_type, rc, total) for rc, total in rows]
            else:
                kind = sa.func.coalesce(CONS.c.consumer_type, "unknown")
                sums = session.execute(by_class.add_columns(kind).group_by(kind, ALLOC.c.resource_class_id)).all()
                sums = [(kind_, rc, total) for rc, total, kind_ in sums]
                counts = session.execute(consumers.add_columns(kind).group_by(kind)).all()
                counts = [(kind_, count) for count, kind_ in counts]
        for kind_, rc, total in sums:
            result.setdefault(kind_, {})[self.names.classes.name(rc)] = int(total)
        for kind_, count in counts:
            if kind_ in result:
                result[kind_]["consumer_count"] = int(count)
        return result

    # -- writes --------------------------------------------------------------------------------
    def replace(self, writes: list[ConsumerWrite], *, check_generation: bool, set_type: bool,
                error_prefix: str = "Unable to allocate inventory") -> None:
        """Replace the allocations of each consumer in `writes`, all or nothing.
        `check_generation` (1.28+): a consumer's generation must be what the caller says (None: the
        consumer must not exist).  `set_type` (1.38+): record each consumer's type."""
        class_names = {rc for write in writes for resources in write.allocations.values() for rc in resources}
        class_ids = self.names.class_ids(class_names, f"{error_prefix}: ")
        retry_on_deadlock(self._replace)(writes, class_ids, check_generation, set_type)

    def _replace(self, writes: list[ConsumerWrite], class_ids: dict[str, int], check_generation: bool,
                 set_type: bool) -> None:
        with self.db.writer() as session:
            self.replace_in(session, writes, class_ids, check_generation, set_type)

    def replace_in(self, session: orm.Session, writes: list[ConsumerWrite], class_ids: dict[str, int],
                   check_generation: bool, set_type: bool) -> None:
        """The replacement, inside the caller's write transaction (the reshaper's too)."""
        provider_ids = self._provider_ids(session, {rp for w in writes for rp in w.allocations})
        uuids = [write.uuid for write in writes]
        old = session.execute(sa.select(ALLOC.c.consumer_id, ALLOC.c.resource_provider_id,
                                        ALLOC.c.resource_class_id, ALLOC.c.used)
                              .where(ALLOC.c.consumer_id.in_(uuids))).all()
        new: list[tuple[str, int, int, int]] = [
            (write.uuid, provider_ids[rp], class_ids[rc], amount)
            for write in writes for rp, resources in write.allocations.items()
            for rc, amount in resources.items()]
        # Placement bumps the providers the request allocates against, and for a consumer whose
        # allocations are being removed, the providers it had.
        emptied = {write.uuid for write in writes if not write.allocations}
        bumped = {rp for _, rp, _, _ in new} | {row.resource_provider_id for row in old
                                                if row.consumer_id in emptied}
        self._lock_providers(session, bumped, {row.resource_provider_id for row in old})
        self._write_consumers(session, writes, check_generation, set_type)
        self._check_inventories(session, new)
        delta: dict[tuple[int, int], int] = collections.Counter()
        for _, rp, rc, amount in new:
            delta[(rp, rc)] += amount
        for row in old:
            delta[(row.resource_provider_id, row.resource_class_id)] -= row.used
        self._move_usage(session, delta)
        session.execute(sa.delete(ALLOC).where(ALLOC.c.consumer_id.in_(uuids)))
        stamp = now()
        if new:
            session.execute(sa.insert(ALLOC), [
                {"consumer_id": consumer, "resource_provider_id": rp, "resource_class_id": rc, "used": amount,
                 "created_at": stamp, "updated_at": stamp} for consumer, rp, rc, amount in new])
        if emptied:
            session.execute(sa.delete(CONS).where(CONS.c.uuid.in_(emptied)))

    def delete(self, consumer_uuid: str) -> None:
        """DELETE /allocations/{consumer}: 404 when it has none."""
        retry_on_deadlock(self._delete)(consumer_uuid)

    def _delete(self, consumer_uuid: str) -> None:
        with self.db.writer() as session:
            old = session.execute(sa.select(ALLOC.c.resource_provider_id, ALLOC.c.resource_class_id, ALLOC.c.used)
                                  .where(ALLOC.c.consumer_id == consumer_uuid)).all()
            if not old:
                raise errors.NotFound(f"No allocations for consumer '{consumer_uuid}'")
            self._lock_providers(session, set(), {row.resource_provider_id for row in old})
            delta: dict[tuple[int, int], int] = collections.Counter()
            for row in old:
                delta[(row.resource_provider_id, row.resource_class_id)] -= row.used
            self._move_usage(session, delta)
            session.execute(sa.delete(ALLOC).where(ALLOC.c.consumer_id == consumer_uuid))
            session.execute(sa.delete(CONS).where(CONS.c.uuid == consumer_uuid))

    # -- the steps -----------------------------------------------------------------------------
    @staticmethod
    def _provider_ids(session: orm.Session, uuids: set[str]) -> dict[str, int]:
        found = dict(session.execute(sa.select(RP.c.uuid, RP.c.id).where(RP.c.uuid.in_(uuids))).all()) if uuids else {}
        for uuid in sorted(uuids):
            if uuid not in found:
                raise errors.BadRequest(f"Allocation for resource provider '{uuid}' that does not exist.")
        return found

    @staticmethod
    def _lock_providers(session: orm.Session, bump: set[int], lock: Iterable[int]) -> None:
        """Take the row lock of every provider whose usage this transaction changes, in id order;
        increment the generation of those in `bump`."""
        stamp = now()
        for provider_id in sorted(set(bump) | set(lock)):
            if provider_id in bump:
                session.execute(sa.update(RP).where(RP.c.id == provider_id)
                                .values(generation=RP.c.generation + 1, updated_at=stamp))
            else:
                session.execute(sa.select(RP.c.id).where(RP.c.id == provider_id).with_for_update())

    @staticmethod
    def _write_consumers(session: orm.Session, writes: list[ConsumerWrite], check_generation: bool,
                         set_type: bool) -> None:
        existing = {row.uuid: row for row in session.execute(
            sa.select(CONS).where(CONS.c.uuid.in_([w.uuid for w in writes])).with_for_update())}
        stamp = now()
        for write in writes:
            row = existing.get(write.uuid)
            if row is None:
                if check_generation and write.generation is not None:
                    raise errors.Conflict(f"consumer generation conflict - expected null but got "
                                          f"{write.generation}", code=CONCURRENT_UPDATE)
                try:
                    session.execute(sa.insert(CONS).values(
                        uuid=write.uuid, project_id=write.project_id, user_id=write.user_id, generation=1,
                        consumer_type=write.consumer_type if set_type else None, created_at=stamp,
                        updated_at=stamp))
                except exc.IntegrityError:  # another request created this consumer meanwhile
                    raise errors.Conflict("consumer generation conflict - expected null but got a consumer "
                                          "created concurrently", code=CONCURRENT_UPDATE) from None
                continue
            if check_generation and write.generation != row.generation:
                raise errors.Conflict(f"consumer generation conflict - expected {row.generation} but got "
                                      f"{write.generation if write.generation is not None else 'None'}",
                                      code=CONCURRENT_UPDATE)
            values: dict[str, Any] = {"generation": row.generation + 1, "project_id": write.project_id,
                                      "user_id": write.user_id, "updated_at": stamp}
            if set_type:
                values["consumer_type"] = write.consumer_type
            result = session.execute(sa.update(CONS).where(CONS.c.uuid == write.uuid,
                                                           CONS.c.generation == row.generation).values(**values))
            if result.rowcount != 1:
                raise errors.Conflict("Inventory and/or allocations changed while attempting to allocate: Another "
                                      "thread concurrently updated the data. Please retry your update",
                                      code=CONCURRENT_UPDATE)

    def _check_inventories(self, session: orm.Session, new: list[tuple[str, int, int, int]]) -> None:
        """Each allocation names an inventory the provider has, within its min_unit, max_unit and
        step_size (409 otherwise, as in Placement)."""
        if not new:
            return
        pairs = {(rp, rc) for _, rp, rc, _ in new}
        rows = session.execute(sa.select(INV.c.resource_provider_id, INV.c.resource_class_id, INV.c.min_unit,
                                         INV.c.max_unit, INV.c.step_size, RP.c.uuid)
                               .select_from(INV.join(RP, RP.c.id == INV.c.resource_provider_id))
                               .where(INV.c.resource_provider_id.in_({rp for rp, _ in pairs}),
                                      INV.c.resource_class_id.in_({rc for _, rc in pairs}))).all()
        inventories = {(row.resource_provider_id, row.resource_class_id): row for row in rows}
        uuids = dict(session.execute(sa.select(RP.c.id, RP.c.uuid).where(RP.c.id.in_({rp for rp, _ in pairs}))).all())
        for _, rp, rc, amount in new:
            inv = inventories.get((rp, rc))
            rc_name = self.names.classes.name(rc)
            if inv is None:
                raise errors.Conflict(f"Unable to allocate inventory: Inventory for '{rc_name}' on resource "
                                      f"provider '{uuids[rp]}' invalid.")
            if amount < inv.min_unit or amount > inv.max_unit or amount % inv.step_size:
                LOG.warning("Allocation for %s on resource provider %s violates min_unit, max_unit, or step_size. "
                            "Requested: %s, min_unit: %s, max_unit: %s, step_size: %s", rc_name, uuids[rp], amount,
                            inv.min_unit, inv.max_unit, inv.step_size)
                raise errors.Conflict(f"Unable to allocate inventory: Unable to create allocation for '{rc_name}' "
                                      f"on resource provider '{uuids[rp]}'. The requested amount would violate "
                                      f"inventory constraints.")

    def _move_usage(self, session: orm.Session, delta: dict[tuple[int, int], int]) -> None:
        """Apply usage changes, in (provider, class) order.  Growth is a conditional UPDATE: it
        only happens when it fits the capacity, judged on the current row under its lock."""
        stamp = now()
        for (rp, rc), change in sorted(delta.items()):
            if change == 0:
                continue
            where = [INV.c.resource_provider_id == rp, INV.c.resource_class_id == rc]
            if change > 0:
                where.append(INV.c.used + change <= (INV.c.total - INV.c.reserved) * INV.c.allocation_ratio)
            result = session.execute(sa.update(INV).where(*where).values(used=INV.c.used + change, updated_at=stamp))
            if result.rowcount == 1:
                continue
            uuid = session.execute(sa.select(RP.c.uuid).where(RP.c.id == rp)).scalar()
            rc_name = self.names.classes.name(rc)
            if change < 0:  # an inventory with allocations cannot go away: this is a broken invariant
                raise errors.APIError(f"usage of {rc_name} on resource provider {uuid} could not be released")
            LOG.warning("Over capacity for %s on resource provider %s. Needed: %s", rc_name, uuid, change)
            raise errors.Conflict(f"Unable to allocate inventory: Unable to create allocation for '{rc_name}' on "
                                  f"resource provider '{uuid}'. The requested amount would exceed the capacity.")

    # -- repair --------------------------------------------------------------------------------
    def resync_usage(self) -> int:
        """Recompute every inventory's `used` from the allocations (start-up: cheap insurance that
        the denormalised sums match the rows they sum).  Returns how many were wrong."""
        with self.db.writer() as session:
            sums = {(rp, rc): int(total) for rp, rc, total in session.execute(
                sa.select(ALLOC.c.resource_provider_id, ALLOC.c.resource_class_id, sa.func.sum(ALLOC.c.used))
                .group_by(ALLOC.c.resource_provider_id, ALLOC.c.resource_class_id))}
            fixed = 0
            for rp, rc, used in session.execute(sa.select(INV.c.resource_provider_id, INV.c.resource_class_id,
                                                          INV.c.used)).all():
                actual = sums.get((rp, rc), 0)
                if used != actual:
                    LOG.warning("usage of class %s on provider %s was %s, allocations add up to %s: repaired",
                                rc, rp, used, actual)
                    session.execute(sa.update(INV).where(INV.c.resource_provider_id == rp,
                                                         INV.c.resource_class_id == rc).values(used=actual))
                    fixed += 1
        return fixed
