"""Resource providers: create, list with filters, update (rename, parent), delete; their
traits and aggregates (each change bumps the provider's generation, as Placement does)."""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc, orm

from monostack.common import errors
from monostack.common.db import Database
from monostack.placement.models import Allocation, ProviderAggregate, ProviderTrait, ResourceProvider, Trait
from monostack.placement.service import filters
from monostack.placement.service.common import (CONCURRENT_UPDATE, DUPLICATE_NAME, PROVIDER_CANNOT_DELETE_PARENT,
                                                PROVIDER_IN_USE, bump_generation, get_provider, now,
                                                provider_dict, provider_select)
from monostack.placement.service.names import Names

LOG = logging.getLogger(__name__)
RP = ResourceProvider.__table__


class Providers:
    def __init__(self, db: Database, names: Names):
        self.db = db
        self.names = names

    # -- providers -----------------------------------------------------------------------------
    def get(self, uuid: str) -> dict[str, Any]:
        with self.db.reader() as session:
            return get_provider(session, uuid)

    def list(self, *, name: str | None = None, uuid: str | None = None, in_tree: str | None = None,
             member_of: list[set[str]] | None = None, forbidden_aggs: set[str] | None = None,
             resources: dict[str, int] | None = None, required: list[set[str]] | None = None,
             forbidden_traits: set[str] | None = None) -> list[dict[str, Any]]:
        query = provider_select().order_by(RP.c.id)
        if name is not None:
            query = query.where(RP.c.name == name)
        if uuid is not None:
            query = query.where(RP.c.uuid == uuid)
        if resources:
            class_ids = self.names.class_ids(resources, "Invalid resource class in resources parameter: ")
            for rc_name, amount in resources.items():
                inv = filters.INV.alias()
                query = query.where(RP.c.id.in_(sa.select(inv.c.resource_provider_id)
                                                .where(filters.fits(inv, class_ids[rc_name], amount))))
        if required or forbidden_traits:
            prefix = 'Invalid trait(s) in "required" parameter: '
            ids = self.names.trait_ids({t for any_of in required or () for t in any_of} | set(forbidden_traits or ()),
                                       prefix)
            query = query.where(*filters.with_traits(RP.c.id, [{ids[t] for t in any_of} for any_of in required or ()],
                                                     {ids[t] for t in forbidden_traits or ()}))
        if member_of or forbidden_aggs:
            query = query.where(*filters.in_aggregates(RP.c.id, member_of or [], forbidden_aggs or set()))
        with self.db.reader() as session:
            if in_tree is not None:
                root = session.execute(sa.select(RP.c.root_provider_id).where(RP.c.uuid == in_tree)).scalar()
                if root is None:
                    return []
                query = query.where(RP.c.root_provider_id == root)
            return [provider_dict(row) for row in session.execute(query)]

    def create(self, uuid: str, name: str, parent_uuid: str | None = None) -> dict[str, Any]:
        try:
            with self.db.writer() as session:
                self._check_unique(session, uuid=uuid, name=name)
                parent = None
                if parent_uuid is not None:
                    if parent_uuid == uuid:
                        raise errors.BadRequest(
                            f'Unable to create resource provider "{name}", {uuid}: Object action create failed '
                            f'because: parent provider UUID cannot be same as UUID. Please set parent provider '
                            f'UUID to None if there is no parent.')
                    parent = session.execute(sa.select(RP.c.id, RP.c.root_provider_id)
                                             .where(RP.c.uuid == parent_uuid)).first()
                    if parent is None:
                        raise errors.BadRequest(f'Unable to create resource provider "{name}", {uuid}: Object '
                                                f'action create failed because: parent provider UUID does not '
                                                f'exist.')
                stamp = now()
                rp = ResourceProvider(uuid=uuid, name=name, generation=0, created_at=stamp, updated_at=stamp,
                                      parent_provider_id=parent.id if parent else None,
                                      root_provider_id=parent.root_provider_id if parent else None)
                session.add(rp)
                session.flush()
                if parent is None:
                    rp.root_provider_id = rp.id
                    session.flush()
                return get_provider(session, uuid)
        except exc.IntegrityError:  # a concurrent create of the same uuid or name
            with self.db.reader() as session:
                self._check_unique(session, uuid=uuid, name=name)
            raise

    def _check_unique(self, session: orm.Session, *, uuid: str | None, name: str, own_id: int | None = None) -> None:
        duplicates = []
        if uuid is not None and session.execute(sa.select(RP.c.id).where(RP.c.uuid == uuid)).first():
            duplicates.append(f"uuid: {uuid}")
        other = session.execute(sa.select(RP.c.id).where(RP.c.name == name)).scalar()
        if other is not None and other != own_id:
            duplicates.append(f"name: {name}")
        if duplicates:
            raise errors.Conflict(f"Conflicting resource provider {', '.join(duplicates)} already exists.",
                                  code=DUPLICATE_NAME)

    def update(self, uuid: str, *, name: str, parent_uuid: str | None = None, set_parent: bool = False,
               allow_reparenting: bool = False) -> dict[str, Any]:
        """Rename, and with `set_parent` (microversion 1.14+) give a root provider a parent; with
        `allow_reparenting` (1.37+) move the provider under another one or make it a root.  The
        providers under it follow it into its new tree."""
        with self.db.writer() as session:
            provider = get_provider(session, uuid)
            self._check_unique(session, uuid=None, name=name, own_id=provider["id"])
            values: dict[str, Any] = {"name": name, "updated_at": now()}
            if set_parent:
                values.update(self._new_parent(session, provider, parent_uuid, allow_reparenting))
            session.execute(sa.update(RP).where(RP.c.id == provider["id"]).values(**values))
            return get_provider(session, uuid)

    def _new_parent(self, session: orm.Session, provider: dict[str, Any], parent_uuid: str | None,
                    allow_reparenting: bool) -> dict[str, Any]:
        current = provider["parent_provider_uuid"]
        if parent_uuid == current:
            return {}
        fail = f"Unable to save resource provider {provider['uuid']}: Object action update failed because: "
        if parent_uuid is None:
            if not allow_reparenting:
                raise errors.BadRequest(fail + "un-parenting a provider is not currently allowed.")
            new_root = provider["id"]
            values: dict[str, Any] = {"parent_provider_id": None}
        else:
            parent = session.execute(sa.select(RP.c.id, RP.c.root_provider_id)
                                     .where(RP.c.uuid == parent_uuid)).first()
            if parent is None:
                raise errors.BadRequest(fail.replace("update failed", "create failed")
                                        + "parent provider UUID does not exist.")
            if current is not None and not allow_reparenting:
                raise errors.BadRequest(fail + "re-parenting a provider is not currently allowed.")
            if parent.id in self._subtree(session, provider):
                raise errors.BadRequest(fail + "creating loop in the provider tree is not allowed.")
            new_root = parent.root_provider_id
            values = {"parent_provider_id": parent.id}
        # The provider and everything under it move to the new root.
        subtree = self._subtree(session, provider)
        session.execute(sa.update(RP).where(RP.c.id.in_(subtree)).values(root_provider_id=new_root))
        return values

    @staticmethod
    def _subtree(session: orm.Session, provider: dict[str, Any]) -> set[int]:
        """The ids of the provider and all its descendants (one query for the tree, walked here)."""
        rows = session.execute(sa.select(RP.c.id, RP.c.parent_provider_id)
                               .where(RP.c.root_provider_id == provider["root_provider_id"])).all()
        children: dict[int, list[int]] = {}
        for id_, parent in rows:
            children.setdefault(parent, []).append(id_)
        found, todo = {provider["id"]}, [provider["id"]]
        while todo:
            for child in children.get(todo.pop(), []):
                if child not in found:
                    found.add(child)
                    todo.append(child)
        return found

    def delete(self, uuid: str) -> None:
        with self.db.writer() as session:
            provider = get_provider(session, uuid, f"No resource provider with uuid {uuid} found for delete")
            if session.execute(sa.select(RP.c.id).where(RP.c.parent_provider_id == provider["id"]).limit(1)).first():
                raise errors.Conflict(f"Unable to delete parent resource provider {uuid}: It has child resource "
                                      f"providers.", code=PROVIDER_CANNOT_DELETE_PARENT)
            if session.execute(sa.select(Allocation.id).where(Allocation.resource_provider_id == provider["id"])
                               .limit(1)).first():
                raise errors.Conflict(f"Unable to delete resource provider {uuid}: Resource provider has "
                                      f"allocations.", code=PROVIDER_IN_USE)
            # Inventories, traits and aggregates go with it (ON DELETE CASCADE).
            session.execute(sa.delete(RP).where(RP.c.id == provider["id"]))

    # -- traits --------------------------------------------------------------------------------
    def traits(self, uuid: str) -> tuple[dict[str, Any], list[str]]:
        with self.db.reader() as session:
            provider = get_provider(session, uuid)
            names = session.execute(sa.select(Trait.name).join(ProviderTrait, ProviderTrait.trait_id == Trait.id)
                                    .where(ProviderTrait.resource_provider_id == provider["id"])
                                    .order_by(Trait.name)).scalars().all()
        return provider, list(names)

    def set_traits(self, uuid: str, traits: list[str], generation: int | None) -> tuple[dict[str, Any], list[str]]:
        """Replace the provider's traits (generation None: whatever it is now, for DELETE)."""
        traits = sorted(set(traits))
        known, missing = self.names.traits.ids(traits)
        with self.db.writer() as session:
            provider = get_provider(session, uuid)
            if generation is not None and generation != provider["generation"]:
                raise errors.Conflict("Resource provider's generation already changed. Please update the "
                                      "generation and try again.", code=CONCURRENT_UPDATE)
            if missing:
                raise errors.BadRequest(f"No such trait {', '.join(missing)}")
            have = set(session.execute(sa.select(ProviderTrait.trait_id)
                                       .where(ProviderTrait.resource_provider_id == provider["id"])).scalars())
            want = set(known.values())
            if have != want:
                bump_generation(session, provider)
                if have - want:
                    session.execute(sa.delete(ProviderTrait).where(
                        ProviderTrait.resource_provider_id == provider["id"],
                        ProviderTrait.trait_id.in_(have - want)))
                if want - have:
                    session.execute(sa.insert(ProviderTrait), [
                        {"resource_provider_id": provider["id"], "trait_id": id_} for id_ in sorted(want - have)])
        return provider, traits

    # -- aggregates ----------------------------------------------------------------------------
    def aggregates(self, uuid: str) -> tuple[dict[str, Any], list[str]]:
        with self.db.reader() as session:
            provider = get_provider(session, uuid)
            aggs = session.execute(sa.select(ProviderAggregate.aggregate_uuid)
                                   .where(ProviderAggregate.resource_provider_id == provider["id"])
                                   .order_by(ProviderAggregate.aggregate_uuid)).scalars().all()
        return provider, list(aggs)

    def set_aggregates(self, uuid: str, aggregates: list[str], generation: int | None,
                       bump: bool) -> dict[str, Any]:
        """Replace the provider's aggregates; from microversion 1.19 (`bump`) only at the
        expected generation, which it increments."""
        with self.db.writer() as session:
            provider = get_provider(session, uuid)
            if bump:
                bump_generation(session, provider, generation,
                                "Resource provider's generation already changed. Please update the generation "
                                "and try again.")
            have = set(session.execute(sa.select(ProviderAggregate.aggregate_uuid)
                                       .where(ProviderAggregate.resource_provider_id == provider["id"])).scalars())
            want = set(aggregates)
            if have - want:
                session.execute(sa.delete(ProviderAggregate).where(
                    ProviderAggregate.resource_provider_id == provider["id"],
                    ProviderAggregate.aggregate_uuid.in_(have - want)))
            if want - have:
                session.execute(sa.insert(ProviderAggregate), [
                    {"resource_provider_id": provider["id"], "aggregate_uuid": agg} for agg in sorted(want - have)])
        return provider
