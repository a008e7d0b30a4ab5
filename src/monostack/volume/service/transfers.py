"""Volume transfers: the owner offers a volume (it waits in awaiting-transfer), the
auth key is shown once, and any project that presents it becomes the owner."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from monostack.common import errors
from monostack.common.context import RequestContext
from monostack.volume import models, states
from monostack.volume.service.common import get_owned, utcnow


def _hash(salt: str, key: str) -> str:
    return hashlib.sha256(f"{salt}{key}".encode()).hexdigest()


class Transfers:
    def __init__(self, svc: Any):
        self.svc = svc

    def create(self, ctx: RequestContext, volume_id: str, name: str | None,
               no_snapshots: bool = False) -> tuple[models.Transfer, str]:
        from monostack.volume.service import new_id
        with self.svc.db.writer() as session:
            volume = get_owned(session, models.Volume, ctx, volume_id, for_update=True)
            if volume.status != states.AVAILABLE:
                raise states.InvalidVolume("status must be available")
            if volume.attachments:
                raise states.InvalidVolume("volume has attachments")
            snaps = session.query(models.Snapshot).filter_by(volume_id=volume_id).all()
            if any(s.status != states.SNAP_AVAILABLE for s in snaps) and not no_snapshots:
                raise states.InvalidVolume("snapshot status must be available")
            key = secrets.token_hex(8)
            salt = secrets.token_hex(8)
            row = models.Transfer(id=new_id(), volume_id=volume_id, name=name, salt=salt,
                                  crypt_hash=_hash(salt, key), source_project_id=volume.project_id,
                                  no_snapshots=no_snapshots, created_at=utcnow())
            session.add(row)
            volume.previous_status, volume.status = volume.status, states.VOLUME.next(volume.status, "transfer")
            volume.updated_at = utcnow()
            return row, key

    def _get(self, session: Any, ctx: RequestContext, transfer_id: str) -> models.Transfer:
        row = session.get(models.Transfer, transfer_id)
        if row is None or not (ctx.is_admin or row.source_project_id == ctx.project_id):
            raise errors.NotFound(f"Transfer {transfer_id} could not be found.")
        return row

    def get(self, ctx: RequestContext, transfer_id: str) -> models.Transfer:
        with self.svc.db.reader() as session:
            return self._get(session, ctx, transfer_id)

    def list(self, ctx: RequestContext, all_tenants: bool = False) -> list[models.Transfer]:
        with self.svc.db.reader() as session:
            query = session.query(models.Transfer).order_by(models.Transfer.created_at.desc(),
                                                            models.Transfer.id.desc())
            if not (ctx.is_admin and all_tenants):
                query = query.filter_by(source_project_id=ctx.project_id)
            return query.all()

    def delete(self, ctx: RequestContext, transfer_id: str) -> None:
        with self.svc.db.writer() as session:
            row = self._get(session, ctx, transfer_id)
            volume = session.get(models.Volume, row.volume_id)
            if volume is not None and volume.status == states.AWAITING_TRANSFER:
                volume.status = states.AVAILABLE
                volume.updated_at = utcnow()
            session.delete(row)

    def accept(self, ctx: RequestContext, transfer_id: str, auth_key: str) -> models.Transfer:
        with self.svc.db.writer() as session:
            row = session.get(models.Transfer, transfer_id)
            if row is None:
                raise errors.NotFound(f"Transfer {transfer_id} could not be found.")
            if not hmac.compare_digest(row.crypt_hash, _hash(row.salt, str(auth_key))):
                raise errors.BadRequest(f"Invalid auth key: Attempt to transfer {transfer_id} with invalid auth "
                                        f"key.")
            volume = session.get(models.Volume, row.volume_id)
            if volume is None or volume.status != states.AWAITING_TRANSFER:
                raise states.InvalidVolume("status must be awaiting-transfer")
            vtype = session.get(models.VolumeType, volume.volume_type_id) if volume.volume_type_id else None
            self.svc.quotas.check_volume(session, ctx.project_id, volume.size, vtype.name if vtype else None)
            volume.project_id, volume.user_id = ctx.project_id, ctx.user_id
            volume.status = states.VOLUME.next(volume.status, "transfer_done")
            volume.updated_at = utcnow()
            if not row.no_snapshots:
                for snap in session.query(models.Snapshot).filter_by(volume_id=volume.id):
                    snap.project_id, snap.user_id = ctx.project_id, ctx.user_id
            session.delete(row)
            return row
