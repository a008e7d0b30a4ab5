"""Resource classes and traits: their names and ids (cached), the standard ones kept in step
with the os-resource-classes and os-traits libraries, and the custom ones callers make."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Iterable

import os_resource_classes
import os_traits
import sqlalchemy as sa
from sqlalchemy import exc

from monostack.common import errors
from monostack.common.db import Database
from monostack.placement.models import (CUSTOM_ID_START, Allocation, Inventory, ProviderTrait, ResourceClass,
                                        Trait)
from monostack.placement.service.common import now

LOG = logging.getLogger(__name__)
CUSTOM_PREFIX = "CUSTOM_"
STANDARD_CLASSES = tuple(os_resource_classes.STANDARDS)
STANDARD_TRAITS = frozenset(os_traits.get_traits())
# A name another process created is found on the first miss; a rename or deletion elsewhere is
# seen within this many seconds.
MAX_AGE = 30.0


class NameCache:
    """name <-> id of one table (resource classes or traits), reloaded on a miss."""

    def __init__(self, db: Database, model: Any):
        self.db = db
        self.model = model
        self._by_name: dict[str, int] = {}
        self._by_id: dict[int, str] = {}
        self._loaded = 0.0
        self._lock = threading.Lock()

    def reload(self) -> None:
        with self.db.reader() as session:
            rows = session.execute(sa.select(self.model.id, self.model.name)).all()
        with self._lock:
            self._by_name = {name: id_ for id_, name in rows}
            self._by_id = {id_: name for id_, name in rows}
            self._loaded = time.monotonic()

    def _fresh(self) -> None:
        if time.monotonic() - self._loaded > MAX_AGE:
            self.reload()

    def id(self, name: str) -> int | None:
        self._fresh()
        found = self._by_name.get(name)
        if found is None:
            self.reload()
            found = self._by_name.get(name)
        return found

    def ids(self, names: Iterable[str]) -> tuple[dict[str, int], list[str]]:
        """({name: id} of the known names, the unknown names)."""
        names = list(dict.fromkeys(names))
        self._fresh()
        if any(name not in self._by_name for name in names):
            self.reload()
        known = {name: self._by_name[name] for name in names if name in self._by_name}
        return known, [name for name in names if name not in known]

    def name(self, id_: int) -> str:
        found = self._by_id.get(id_)
        if found is None:
            self.reload()
            found = self._by_id.get(id_, f"UNKNOWN_{id_}")
        return found


class Names:
    def __init__(self, db: Database):
        self.db = db
        self.classes = NameCache(db, ResourceClass)
        self.traits = NameCache(db, Trait)

    # -- start-up ------------------------------------------------------------------------------
    def sync_standard(self) -> None:
        """Add the standard resource classes (each at its os-resource-classes index, so ids never
        move) and traits this library version knows and the database does not yet have."""
        with self.db.writer() as session:
            have = {name: id_ for id_, name in session.execute(sa.select(ResourceClass.id, ResourceClass.name))}
            stamp = now()
            for index, name in enumerate(STANDARD_CLASSES):
                if name not in have:
                    session.add(ResourceClass(id=index, name=name, created_at=stamp))
            known = set(session.execute(sa.select(Trait.name)).scalars())
            missing = sorted(STANDARD_TRAITS - known)
            if missing:
                session.execute(sa.insert(Trait), [{"name": name, "created_at": stamp} for name in missing])
        self.classes.reload()
        self.traits.reload()

    # -- lookups that answer in Placement's words ----------------------------------------------
    def class_id(self, name: str, message: str = "No such resource class {name}.") -> int:
        found = self.classes.id(name)
        if found is None:
            raise errors.BadRequest(message.format(name=name))
        return found

    def class_ids(self, names: Iterable[str], prefix: str = "") -> dict[str, int]:
        known, missing = self.classes.ids(names)
        if missing:
            raise errors.BadRequest(f"{prefix}No such resource class {', '.join(missing)}.")
        return known

    def trait_ids(self, names: Iterable[str], prefix: str = "") -> dict[str, int]:
        known, missing = self.traits.ids(names)
        if missing:
            raise errors.BadRequest(f"{prefix}No such trait(s): {', '.join(sorted(missing))}.")
        return known

    # -- resource classes ----------------------------------------------------------------------
    def list_classes(self) -> list[dict[str, Any]]:
        with self.db.reader() as session:
            rows = session.execute(sa.select(ResourceClass).order_by(ResourceClass.id)).scalars().all()
        return [_class_dict(rc) for rc in rows]

    def get_class(self, name: str) -> dict[str, Any]:
        with self.db.reader() as session:
            rc = session.execute(sa.select(ResourceClass).where(ResourceClass.name == name)).scalar()
        if rc is None:
            raise errors.NotFound(f"No such resource class {name}.")
        return _class_dict(rc)

    def create_class(self, name: str) -> dict[str, Any]:
        """A new custom class (409 when it exists); ids from 10000 up, as in Placement."""
        for attempt in range(5):
            try:
                with self.db.writer() as session:
                    if session.execute(sa.select(ResourceClass.id).where(ResourceClass.name == name)).first():
                        raise errors.Conflict(f"Conflicting resource class already exists: {name}")
                    top = session.execute(sa.select(sa.func.max(ResourceClass.id))).scalar() or 0
                    rc = ResourceClass(id=max(top + 1, CUSTOM_ID_START), name=name, created_at=now())
                    session.add(rc)
                    session.flush()
                    created = _class_dict(rc)
                self.classes.reload()
                return created
            except exc.IntegrityError:  # a concurrent create took the id or the name
                LOG.debug("resource class %s: concurrent create, retrying (%d)", name, attempt + 1)
        raise errors.Conflict(f"Max retries of DB transaction exceeded attempting to create resource class: "
                              f"{name}, please try again.")

    def ensure_class(self, name: str) -> bool:
        """Create the custom class unless it exists; True when this call created it."""
        if self.classes.id(name) is not None:
            return False
        try:
            self.create_class(name)
            return True
        except errors.Conflict:
            return False

    def rename_class(self, name: str, new_name: str) -> dict[str, Any]:
        with self.db.writer() as session:
            rc = session.execute(sa.select(ResourceClass).where(ResourceClass.name == name)).scalar()
            if rc is None:
                raise errors.NotFound(f"No such resource class {name}.")
            if rc.id < CUSTOM_ID_START:
                raise errors.BadRequest(f"Cannot update standard resource class {name}")
            if session.execute(sa.select(ResourceClass.id).where(ResourceClass.name == new_name)).first():
                raise errors.Conflict(f"Resource class already exists: {new_name}")
            rc.name, rc.updated_at = new_name, now()
            session.flush()
            renamed = _class_dict(rc)
        self.classes.reload()
        return renamed

    def delete_class(self, name: str) -> None:
        with self.db.writer() as session:
            rc = session.execute(sa.select(ResourceClass).where(ResourceClass.name == name)).scalar()
            if rc is None:
                raise errors.NotFound(f"No such resource class {name}.")
            if rc.id < CUSTOM_ID_START:
                raise errors.BadRequest(f"Error in delete resource class: Cannot delete standard resource "
                                        f"class {name}.")
            in_use = (session.execute(sa.select(Inventory.resource_class_id)
                                      .where(Inventory.resource_class_id == rc.id).limit(1)).first()
                      or session.execute(sa.select(Allocation.id)
                                         .where(Allocation.resource_class_id == rc.id).limit(1)).first())
            if in_use:
                raise errors.Conflict(f"Error in delete resource class: Cannot delete resource class {name}. "
                                      f"Class is in use in inventory.")
            session.delete(rc)
        self.classes.reload()

    # -- traits --------------------------------------------------------------------------------
    def list_traits(self, *, name_in: list[str] | None = None, prefix: str | None = None,
                    associated: bool | None = None) -> list[dict[str, Any]]:
        query = sa.select(Trait.name, Trait.created_at, Trait.updated_at).order_by(Trait.name)
        if name_in is not None:
            query = query.where(Trait.name.in_(name_in))
        if prefix is not None:
            escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            query = query.where(Trait.name.like(f"{escaped}%", escape="\\"))
        if associated is not None:
            linked = sa.select(ProviderTrait.trait_id)
            query = query.where(Trait.id.in_(linked) if associated else Trait.id.not_in(linked))
        with self.db.reader() as session:
            return [dict(row._mapping) for row in session.execute(query)]

    def get_trait(self, name: str) -> dict[str, Any]:
        with self.db.reader() as session:
            row = session.execute(sa.select(Trait.name, Trait.created_at, Trait.updated_at)
                                  .where(Trait.name == name)).first()
        if row is None:
            raise errors.NotFound(f"No such trait(s): {name}.")
        return dict(row._mapping)

    def ensure_trait(self, name: str) -> tuple[bool, dict[str, Any]]:
        """Create the custom trait unless it exists: (created?, trait)."""
        try:
            return False, self.get_trait(name)
        except errors.NotFound:
            pass
        try:
            with self.db.writer() as session:
                trait = Trait(name=name, created_at=now())
                session.add(trait)
                session.flush()
                made = {"name": trait.name, "created_at": trait.created_at, "updated_at": None}
        except exc.IntegrityError:  # created concurrently
            return False, self.get_trait(name)
        self.traits.reload()
        return True, made

    def delete_trait(self, name: str) -> None:
        with self.db.writer() as session:
            trait = session.execute(sa.select(Trait).where(Trait.name == name)).scalar()
            if trait is None:
                raise errors.NotFound(f"No such trait(s): {name}.")
            if not name.startswith(CUSTOM_PREFIX):
                raise errors.BadRequest(f"Cannot delete standard trait {name}.")
            if session.execute(sa.select(ProviderTrait.trait_id).where(ProviderTrait.trait_id == trait.id)
                               .limit(1)).first():
                raise errors.Conflict(f"The trait {name} is in use by a resource provider.")
            session.delete(trait)
        self.traits.reload()


def _class_dict(rc: ResourceClass) -> dict[str, Any]:
    return {"name": rc.name, "created_at": rc.created_at, "updated_at": rc.updated_at}
