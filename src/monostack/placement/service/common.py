"""What every part of the Placement service layer shares: Placement's error codes, the
provider query (with its parent's and root's uuids), generation bumps, timestamps."""

from __future__ import annotations

import datetime
import uuid as uuidlib
from typing import Any

import sqlalchemy as sa
from sqlalchemy import orm

from monostack.common import errors
from monostack.placement.models import ResourceProvider

# The `code` of Placement's error bodies (microversion 1.23 and later).
DEFAULT_CODE = "placement.undefined_code"
INVENTORY_INUSE = "placement.inventory.inuse"
CONCURRENT_UPDATE = "placement.concurrent_update"
DUPLICATE_NAME = "placement.duplicate_name"
PROVIDER_IN_USE = "placement.resource_provider.inuse"
PROVIDER_CANNOT_DELETE_PARENT = "placement.resource_provider.cannot_delete_parent"
RESOURCE_PROVIDER_NOT_FOUND = "placement.resource_provider.not_found"
ILLEGAL_DUPLICATE_QUERYPARAM = "placement.query.duplicate_key"
QUERYPARAM_BAD_VALUE = "placement.query.bad_value"
QUERYPARAM_MISSING_VALUE = "placement.query.missing_value"

# Placement's largest integer field value (inventory totals, max_unit default).
MAX_INT = 2147483647


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


def normalize_uuid(value: str) -> str:
    """The dashed, lower-case form of a UUID given with or without dashes."""
    return str(uuidlib.UUID(value))


def is_uuid_like(value: Any) -> bool:
    try:
        uuidlib.UUID(str(value))
        return True
    except ValueError:
        return False


_RP = ResourceProvider.__table__
_PARENT = _RP.alias("parent")
_ROOT = _RP.alias("root")


def provider_select() -> sa.Select:
    """Providers with the uuids of their parent and root (the columns every representation needs)."""
    return (sa.select(_RP.c.id, _RP.c.uuid, _RP.c.name, _RP.c.generation, _RP.c.root_provider_id,
                      _PARENT.c.uuid.label("parent_provider_uuid"), _ROOT.c.uuid.label("root_provider_uuid"),
                      _RP.c.created_at, _RP.c.updated_at)
            .select_from(_RP.outerjoin(_PARENT, _RP.c.parent_provider_id == _PARENT.c.id)
                         .outerjoin(_ROOT, _RP.c.root_provider_id == _ROOT.c.id)))


def provider_dict(row: Any) -> dict[str, Any]:
    return {"id": row.id, "uuid": row.uuid, "name": row.name, "generation": row.generation,
            "parent_provider_uuid": row.parent_provider_uuid, "root_provider_uuid": row.root_provider_uuid,
            "root_provider_id": row.root_provider_id, "created_at": row.created_at, "updated_at": row.updated_at}


def get_provider(session: orm.Session, uuid: str, message: str | None = None) -> dict[str, Any]:
    row = session.execute(provider_select().where(_RP.c.uuid == uuid)).first()
    if row is None:
        raise errors.NotFound(message or f"No resource provider with uuid {uuid} found")
    return provider_dict(row)


def bump_generation(session: orm.Session, provider: dict[str, Any], expected: int | None = None,
                    message: str | None = None) -> int:
    """Increment a provider's generation, if it still is `expected` (default: the generation
    read with the provider).  This UPDATE also takes the provider's row lock, which every write
    to a provider's inventories or allocations takes first (no lock order inversions)."""
    expected = provider["generation"] if expected is None else expected
    result = session.execute(sa.update(_RP).where(_RP.c.id == provider["id"], _RP.c.generation == expected)
                             .values(generation=expected + 1, updated_at=now()))
    if result.rowcount != 1:
        raise errors.Conflict(message or "resource provider generation conflict", code=CONCURRENT_UPDATE)
    provider["generation"] = expected + 1
    return expected + 1
