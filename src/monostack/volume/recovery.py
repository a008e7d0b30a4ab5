"""Restart recovery of one backend: the rules of states.RECOVERY applied to the
rows of this backend a crash left in a transitional status.

    volume creating          -> partial volume removed, error
    volume deleting          -> the delete is finished (row purged) when the driver can
                                remove the volume (or it is gone), else error_deleting
    volume attaching         -> attachments still 'attaching' go back to 'reserved' (the
                                caller still holds its reservation); the volume settles from
                                its attachments: in-use, reserved or available
    volume detaching         -> settles from its attachments (in-use while one remains)
    volume extending         -> available (new size recorded) when the disk has the new size,
                                else error_extending
    volume uploading/backing-up/retyping -> settles from its attachments
    volume restoring-backup  -> error_restoring (the backup goes back to available)
    volume downloading       -> error
    snapshot creating        -> error (partial snapshot removed); deleting -> finished or error_deleting
    backup creating          -> error; deleting -> finished or error_deleting; restoring -> available
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from monostack.volume import models, states
from monostack.volume.service.common import utcnow

LOG = logging.getLogger(__name__)
GiB = 1024 ** 3


def _reason(status: str) -> str:
    return f"recovered from '{status}' at restart: {states.RECOVERY[status][1]}"


def _rows(svc: Any, backend: str) -> tuple[list[Any], list[Any], list[Any]]:
    with svc.db.reader() as session:
        volumes = [v for v in session.query(models.Volume).filter(
            models.Volume.status.in_(tuple(states.RECOVERY))).all()
            if (v.host or "").partition("#")[0] == backend]
        ours = {v.id for v in session.query(models.Volume.id, models.Volume.host).all()
                if (v.host or "").partition("#")[0] == backend}
        snapshots = [s for s in session.query(models.Snapshot).filter(
            models.Snapshot.status.in_(tuple(states.SNAPSHOT_RECOVERY))).all() if s.volume_id in ours]
        backups = [b for b in session.query(models.Backup).filter(
            models.Backup.status.in_(tuple(states.BACKUP_RECOVERY))).all()
            if (b.host or "").partition("#")[0] == backend or b.volume_id in ours]
    return volumes, snapshots, backups


def _set_volume(svc: Any, volume_id: str, status: str | None, reason: str, *, settle: bool = False,
                **fields: Any) -> None:
    from monostack.volume.service.volumes import Volumes
    with svc.db.writer() as session:
        row = session.get(models.Volume, volume_id)
        if row is None:
            return
        for attachment in list(row.attachments):
            if attachment.attach_status == states.ATTACH_ATTACHING:
                attachment.attach_status = states.ATTACH_RESERVED
                attachment.connection_info = None
        session.flush()
        session.refresh(row)
        if settle:
            Volumes.settle(row)
        if status is not None:
            row.status = status
        for key, value in fields.items():
            setattr(row, key, value)
        row.status_reason = reason
        row.updated_at = utcnow()
        if row.status in (states.ERROR, states.ERROR_DELETING, states.ERROR_EXTENDING, states.ERROR_RESTORING):
            svc.messages.add(session, row.project_id, "VOLUME", row.id, "recover", reason)
    LOG.warning("volume %s %s", volume_id, reason)


async def recover(manager: Any, existing: set[str]) -> dict[str, int]:
    svc, driver = manager.svc, manager.driver
    volumes, snapshots, backups = await asyncio.to_thread(_rows, svc, manager.backend)
    counts: dict[str, int] = {}
    for row in volumes:
        status = row.status
        counts[status] = counts.get(status, 0) + 1
        reason = _reason(status)
        if status == states.CREATING:
            if row.id in existing:
                await manager._cleanup(row.id)
            await asyncio.to_thread(_set_volume, svc, row.id, states.ERROR, reason)
        elif status == states.DELETING:
            try:
                if row.id in existing:
                    await driver.delete_volume(row.id)
                await asyncio.to_thread(svc.volumes.purge, row.id)
                LOG.warning("volume %s: delete finished at restart", row.id)
            except Exception as err:
                await asyncio.to_thread(_set_volume, svc, row.id, states.ERROR_DELETING, f"{reason} ({err})")
        elif status in (states.ATTACHING, states.DETACHING, states.UPLOADING, states.BACKING_UP):
            await asyncio.to_thread(_set_volume, svc, row.id, None, reason, settle=True)
        elif status == states.RETYPING:  # a migration's copy is abandoned: the volume stays here
            fields = {"migration_status": "error"} if row.migration_status == "migrating" else {}
            await asyncio.to_thread(_set_volume, svc, row.id, None, reason, settle=True, **fields)
        elif status == states.EXTENDING:
            grown = False
            size_of = getattr(driver, "volume_size", None)
            if size_of is not None and row.id in existing:
                try:
                    grown = await size_of(row.id) > row.size * GiB
                except Exception:
                    grown = False
            if grown:
                actual = -(-(await size_of(row.id)) // GiB)
                await asyncio.to_thread(_set_volume, svc, row.id, None, reason, settle=True, size=actual)
            else:
                await asyncio.to_thread(_set_volume, svc, row.id, states.ERROR_EXTENDING, reason)
        elif status == states.RESTORING_BACKUP:
            await asyncio.to_thread(_set_volume, svc, row.id, states.ERROR_RESTORING, reason)
        elif status == states.DOWNLOADING:
            await asyncio.to_thread(_set_volume, svc, row.id, states.ERROR, reason)
    for snap in snapshots:
        counts[f"snapshot:{snap.status}"] = counts.get(f"snapshot:{snap.status}", 0) + 1
        if snap.status == states.SNAP_CREATING:
            try:
                await driver.delete_snapshot(snap.id, snap.volume_id)
            except Exception:
                LOG.exception("could not remove the partial snapshot %s", snap.id)
            await asyncio.to_thread(_set_snapshot, svc, snap.id, states.SNAP_ERROR)
        else:
            try:
                await driver.delete_snapshot(snap.id, snap.volume_id)
                await asyncio.to_thread(svc.snapshots.purge, snap.id)
            except Exception:
                await asyncio.to_thread(_set_snapshot, svc, snap.id, states.SNAP_ERROR_DELETING)
    for backup in backups:
        counts[f"backup:{backup.status}"] = counts.get(f"backup:{backup.status}", 0) + 1
        if backup.status == states.BK_DELETING:
            try:
                if manager.backup_store is not None:
                    await manager.backup_store.delete(backup.id)
                await asyncio.to_thread(svc.backups.purge, backup.id)
                continue
            except Exception:
                LOG.exception("could not finish deleting backup %s", backup.id)
        await asyncio.to_thread(_set_backup, svc, backup.id, states.BACKUP_RECOVERY[backup.status])
    for kind, status in await asyncio.to_thread(_recover_groups, svc, manager.backend):
        counts[f"{kind}:{status}"] = counts.get(f"{kind}:{status}", 0) + 1
    if counts:
        LOG.warning("backend %s recovered after restart: %s", manager.backend, counts)
    return counts


def _recover_groups(svc: Any, backend: str) -> list[tuple[str, str]]:
    """Groups and group snapshots of this backend left creating or deleting (their members were
    recovered one by one above) go to error / error_deleting."""
    done = []
    with svc.db.writer() as session:
        groups = [g for g in session.query(models.Group).filter(
            models.Group.status.in_(tuple(states.GROUP_RECOVERY))) if (g.host or "").partition("#")[0] == backend]
        for group in groups:
            done.append(("group", group.status))
            group.status = states.GROUP_RECOVERY[group.status]
            group.updated_at = utcnow()
        ours = {g.id for g in session.query(models.Group) if (g.host or "").partition("#")[0] == backend}
        for gsnap in session.query(models.GroupSnapshot).filter(
                models.GroupSnapshot.status.in_(tuple(states.GROUP_SNAPSHOT_RECOVERY))):
            if gsnap.group_id in ours:
                done.append(("group_snapshot", gsnap.status))
                gsnap.status = states.GROUP_SNAPSHOT_RECOVERY[gsnap.status]
                gsnap.updated_at = utcnow()
    return done


def _set_snapshot(svc: Any, snapshot_id: str, status: str) -> None:
    with svc.db.writer() as session:
        row = session.get(models.Snapshot, snapshot_id)
        if row is not None:
            row.status_reason = f"recovered from '{row.status}' at restart"
            row.status = status
            row.updated_at = utcnow()


def _set_backup(svc: Any, backup_id: str, status: str) -> None:
    with svc.db.writer() as session:
        row = session.get(models.Backup, backup_id)
        if row is not None:
            row.fail_reason = f"recovered from '{row.status}' at restart"
            row.status = status
            row.restore_volume_id = None
            row.updated_at = utcnow()
