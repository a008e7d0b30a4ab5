"""Backup use cases: create (full or incremental, from an available or, with force,
an in-use volume), restore (into the backup's volume, a named one or a new one),
list, show, delete, status reset.

The data goes through a backup store (monostack.volume.backup): the manager hands it
the volume's file, or for an in-use volume a point-in-time copy of it (qcow2) that
Compute makes.  The interface this service codes against:

    class BackupStore:
        async def backup(self, backup_id, volume_path, *, parent_id=None, volume_id=None,
                         volume_format=None) -> dict
            # {"object_count": int, "container": str} (both optional)
        async def restore(self, backup_id, target_path) -> None
        async def delete(self, backup_id) -> None
"""

from __future__ import annotations

from typing import Any

from monostack.common import errors
from monostack.common.context import RequestContext
from monostack.volume import models, states
from monostack.volume.service.common import bool_param, get_owned, utcnow

SORT = {"id": models.Backup.id, "name": models.Backup.name, "status": models.Backup.status,
        "created_at": models.Backup.created_at, "size": models.Backup.size}


class Backups:
    def __init__(self, svc: Any):
        self.svc = svc

    def create(self, ctx: RequestContext, spec: dict[str, Any]) -> tuple[models.Backup, models.Volume]:
        from monostack.volume.service import new_id
        with self.svc.db.writer() as session:
            volume = get_owned(session, models.Volume, ctx, spec["volume_id"], for_update=True)
            force = bool_param(spec.get("force", False), "force")
            incremental = bool_param(spec.get("incremental", False), "incremental")
            allowed = (states.AVAILABLE, states.IN_USE) if force else (states.AVAILABLE,)
            if volume.status not in allowed:
                raise states.InvalidVolume(f"Volume to be backed up must be available or in-use, but the current "
                                           f"status is \"{volume.status}\".")
            parent = None
            if incremental:
                parent = session.query(models.Backup).filter_by(volume_id=volume.id, status=states.BK_AVAILABLE) \
                    .order_by(models.Backup.created_at.desc(), models.Backup.id.desc()).first()
                if parent is None:
                    raise errors.BadRequest("Invalid backup: No backups available to do an incremental backup.")
            if spec.get("snapshot_id"):
                snap = get_owned(session, models.Snapshot, ctx, spec["snapshot_id"])
                if snap.volume_id != volume.id:
                    raise errors.BadRequest("Invalid backup: the snapshot is not of the volume.")
            self.svc.quotas.check_backup(session, volume.project_id, volume.size)
            row = models.Backup(id=new_id(), volume_id=volume.id, snapshot_id=spec.get("snapshot_id"),
                                project_id=volume.project_id, user_id=ctx.user_id, name=spec.get("name"),
                                description=spec.get("description"), status=states.BK_CREATING, size=volume.size,
                                availability_zone=volume.availability_zone, host=volume.host,
                                is_incremental=parent is not None, parent_id=parent.id if parent else None,
                                container=spec.get("container"), metadata_=dict(spec.get("metadata") or {}),
                                volume_metadata={"metadata": dict(volume.metadata_ or {}),
                                                 "image_metadata": dict(volume.image_metadata or {})},
                                data_timestamp=utcnow(), created_at=utcnow(), updated_at=utcnow())
            session.add(row)
            volume.previous_status = volume.status
            volume.status = states.BACKING_UP
            volume.updated_at = utcnow()
            session.flush()
            return row, volume

    def get(self, ctx: RequestContext, backup_id: str) -> models.Backup:
        with self.svc.db.reader() as session:
            return get_owned(session, models.Backup, ctx, backup_id)

    def list(self, ctx: RequestContext, params: dict[str, str]) -> list[models.Backup]:
        from monostack.volume.service.volumes import parse_sort
        with self.svc.db.reader() as session:
            query = session.query(models.Backup)
            all_tenants = "all_tenants" in params and ctx.is_admin and bool_param(
                params["all_tenants"] or "1", "all_tenants")
            if not all_tenants:
                query = query.filter(models.Backup.project_id == ctx.project_id)
            for key in ("status", "volume_id", "name"):
                if params.get(key):
                    query = query.filter(getattr(models.Backup, key) == params[key])
            order = []
            for key, direction in parse_sort(params) or [("created_at", "desc"), ("id", "desc")]:
                if key not in SORT:
                    raise errors.BadRequest(f"Invalid input received: Invalid sort key {key}")
                order.append(SORT[key].desc() if direction == "desc" else SORT[key].asc())
            order.append(models.Backup.id.desc())
            return query.order_by(*order).all()

    def has_dependents(self, session: Any, backup_id: str) -> bool:
        return session.query(models.Backup.id).filter_by(parent_id=backup_id).first() is not None

    def delete(self, ctx: RequestContext, backup_id: str, *, force: bool = False) -> models.Backup:
        with self.svc.db.writer() as session:
            row = get_owned(session, models.Backup, ctx, backup_id, for_update=True)
            if not force and row.status not in (states.BK_AVAILABLE, states.BK_ERROR):
                raise errors.BadRequest("Invalid backup: Backup status must be available or error")
            if self.has_dependents(session, row.id):
                raise errors.BadRequest("Invalid backup: Incremental backups exist for this backup.")
            row.status = states.BK_DELETING
            row.updated_at = utcnow()
            return row

    def restore(self, ctx: RequestContext, backup_id: str, volume_id: str | None, name: str | None
                ) -> tuple[models.Backup, models.Volume]:
        from monostack.volume.service import new_id
        with self.svc.db.writer() as session:
            backup = get_owned(session, models.Backup, ctx, backup_id, for_update=True)
            if backup.status != states.BK_AVAILABLE:
                raise errors.BadRequest("Invalid backup: Backup status must be available")
            if volume_id is None:
                vtype = self.svc.types.default(session)
                self.svc.quotas.check_volume(session, ctx.project_id, backup.size, vtype.name)
                chosen = self.svc.hosts.schedule(session, backup.size, None, vtype.extra_specs)
                volume = models.Volume(id=new_id(), project_id=ctx.project_id, user_id=ctx.user_id,
                                       name=name or f"restore_backup_{backup.id}", size=backup.size,
                                       status=states.CREATING, attach_status=states.DETACHED,
                                       availability_zone=chosen.zone, host=chosen.host, volume_type_id=vtype.id,
                                       backup_id=backup.id, metadata_={}, admin_metadata={}, image_metadata={},
                                       created_at=utcnow(), updated_at=utcnow())
                session.add(volume)
                volume.status = states.RESTORING_BACKUP
            else:
                volume = get_owned(session, models.Volume, ctx, volume_id, for_update=True)
                if volume.status != states.AVAILABLE:
                    raise states.InvalidVolume("Volume to be restored to must be available")
                if volume.size < backup.size:
                    raise states.InvalidVolume(f"volume size {volume.size} is too small to restore backup of size "
                                               f"{backup.size}.")
                volume.previous_status, volume.status = volume.status, states.RESTORING_BACKUP
            # As Cinder, the restored volume takes the backed-up volume's metadata (merged over its own).
            saved = backup.volume_metadata or {}
            volume.metadata_ = {**(volume.metadata_ or {}), **(saved.get("metadata") or {})}
            volume.image_metadata = {**(volume.image_metadata or {}), **(saved.get("image_metadata") or {})}
            volume.bootable = volume.bootable or bool(saved.get("image_metadata"))
            backup.status = states.BK_RESTORING
            backup.restore_volume_id = volume.id
            volume.updated_at = backup.updated_at = utcnow()
            session.flush()
            return backup, volume

    def finish(self, backup_id: str, event: str, reason: str | None = None, **fields: Any) -> None:
        with self.svc.db.writer() as session:
            row = session.get(models.Backup, backup_id)
            if row is None:
                return
            row.status = states.BACKUP.next(row.status, event)
            if reason is not None:
                row.fail_reason = reason
            for key, value in fields.items():
                setattr(row, key, value)
            row.updated_at = utcnow()

    def data_to_delete(self, backup_id: str) -> str | None:
        """The stored data a delete of this backup removes: none while another record (an import
        or the original) still points at it."""
        with self.svc.db.reader() as session:
            row = session.get(models.Backup, backup_id)
            if row is None:
                return None
            data_id = row.data_id or row.id
            others = session.query(models.Backup.id).filter(models.Backup.id != row.id).filter(
                (models.Backup.id == data_id) | (models.Backup.data_id == data_id)).first()
            return None if others is not None else data_id

    def export_record(self, ctx: RequestContext, backup_id: str) -> dict[str, Any]:
        with self.svc.db.reader() as session:
            row = get_owned(session, models.Backup, ctx, backup_id)
            if row.status != states.BK_AVAILABLE:
                raise errors.BadRequest("Invalid backup: Backup status must be available to export it.")
            return {"id": row.id, "data_id": row.data_id or row.id, "volume_id": row.volume_id,
                    "snapshot_id": row.snapshot_id, "project_id": row.project_id, "user_id": row.user_id,
                    "name": row.name, "description": row.description, "size": row.size,
                    "object_count": row.object_count, "container": row.container,
                    "availability_zone": row.availability_zone, "host": row.host,
                    "is_incremental": row.is_incremental, "parent_id": row.parent_id,
                    "metadata": dict(row.metadata_ or {}), "volume_metadata": row.volume_metadata}

    def import_record(self, ctx: RequestContext, record: dict[str, Any]) -> models.Backup:
        """A backup row again from an exported record (its data is where the record says)."""
        try:
            backup_id, data_id, size = str(record["id"]), str(record.get("data_id") or record["id"]), \
                int(record["size"])
        except (KeyError, TypeError, ValueError):
            raise errors.BadRequest("Invalid input received: the backup record is incomplete.") from None
        with self.svc.db.writer() as session:
            if session.get(models.Backup, backup_id) is not None:
                raise errors.BadRequest("Invalid backup: Backup already exists in database.")
            row = models.Backup(id=backup_id, data_id=data_id if data_id != backup_id else None,
                                volume_id=str(record.get("volume_id") or ""), snapshot_id=record.get("snapshot_id"),
                                project_id=ctx.project_id, user_id=ctx.user_id, name=record.get("name"),
                                description=record.get("description"), status=states.BK_AVAILABLE, size=size,
                                object_count=int(record.get("object_count") or 0), container=record.get("container"),
                                availability_zone=record.get("availability_zone"), host=record.get("host"),
                                is_incremental=bool(record.get("is_incremental")), parent_id=record.get("parent_id"),
                                metadata_=dict(record.get("metadata") or {}),
                                volume_metadata=record.get("volume_metadata") if isinstance(
                                    record.get("volume_metadata"), dict) else None, data_timestamp=utcnow(),
                                created_at=utcnow(), updated_at=utcnow())
            session.add(row)
            return row

    def purge(self, backup_id: str) -> None:
        with self.svc.db.writer() as session:
            row = session.get(models.Backup, backup_id)
            if row is not None:
                session.delete(row)

    def reset_status(self, ctx: RequestContext, backup_id: str, status: str) -> None:
        if status not in (states.BK_AVAILABLE, states.BK_ERROR):
            raise errors.BadRequest("Invalid input received: Must specify a valid status")
        with self.svc.db.writer() as session:
            row = get_owned(session, models.Backup, ctx, backup_id)
            row.status = status
            row.updated_at = utcnow()
