"""Helpers the use cases share: lookups with Cinder's 404 texts, ownership checks, time."""

from __future__ import annotations

from typing import Any

from sqlalchemy import orm

from monostack.common import errors
from monostack.common.context import RequestContext
from monostack.volume import models
from monostack.volume.models import utcnow  # noqa: F401  (re-exported for the use cases)

NOT_FOUND = {
    models.Volume: "Volume {id} could not be found.",
    models.Snapshot: "Snapshot {id} could not be found.",
    models.Backup: "Backup {id} could not be found.",
    models.VolumeType: "Volume type {id} could not be found.",
    models.QosSpecs: "QoS Specs {id} could not be found.",
    models.Transfer: "Transfer {id} could not be found.",
    models.Attachment: "Volume attachment could not be found with filter: attachment_id = {id}.",
    models.Message: "Message {id} could not be found.",
    models.GroupSnapshot: "GroupSnapshot {id} could not be found.",
}


def visible(ctx: RequestContext, project_id: str) -> bool:
    return ctx.is_admin or ctx.project_id == project_id


def get_owned(session: orm.Session, model: type, ctx: RequestContext, id_: str, *, for_update: bool = False) -> Any:
    """The row, or Cinder's 404 when it does not exist or belongs to another project (for non-admins)."""
    query = session.query(model).filter_by(id=id_)
    if for_update and session.bind is not None and session.bind.dialect.name != "sqlite":
        query = query.with_for_update()
    row = query.one_or_none()
    if row is None or (hasattr(row, "project_id") and not visible(ctx, row.project_id)):
        raise errors.NotFound(NOT_FOUND[model].format(id=id_))
    return row


def bool_param(value: Any, name: str) -> bool:
    """Cinder's strict boolean parsing ('true', 'yes', '1', 'on' ...) with its 400 text."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "t", "true", "on", "y", "yes"):
        return True
    if text in ("0", "f", "false", "off", "n", "no"):
        return False
    raise errors.BadRequest(f"Invalid input received: {name} must be a boolean, got '{value}'.")


def check_metadata(metadata: Any) -> dict[str, str]:
    if not isinstance(metadata, dict):
        raise errors.BadRequest("Invalid input received: Metadata must be a dictionary.")
    for key, value in metadata.items():
        if not isinstance(key, str) or not key.strip() or len(key) > 255:
            raise errors.BadRequest("Invalid input for field/attribute metadata. Metadata property key must be "
                                    "between 1 and 255 characters.")
        if not isinstance(value, str):
            raise errors.BadRequest(f"Invalid input for field/attribute metadata. Value: {metadata}. "
                                    f"{value!r} is not of type 'string'")
        if len(value) > 255:
            raise errors.BadRequest("Invalid input for field/attribute metadata. Metadata property value must be "
                                    "at most 255 characters.")
    return dict(metadata)
