"""The volume manager of one backend (Cinder's cinder-volume for host@backend).

It does the work the API casts to it on its driver -- create, delete, extend,
snapshots, image upload, backups, connections -- and records the outcome through
the service layer's state machine.  Every `heartbeat_interval` it reports the
backend's capacity (drivers.base.Capacity) into the services table, which the
scheduler reads.  At start, `recover()` repairs rows a crash left in a
transitional status (states.RECOVERY).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import pathlib
import tempfile
import uuid
from typing import Any, AsyncIterator

from monostack.common import context as request_context
from monostack.volume import models, states
from monostack.volume.drivers.base import VolumeDriver, VolumeDriverError
from monostack.volume.service.hosts import BACKUP_BINARY, VOLUME_BINARY

LOG = logging.getLogger(__name__)


def load_driver(name: str, conf: Any, state_dir: pathlib.Path, backend: str) -> VolumeDriver:
    """The driver class of monostack.volume.drivers.<name> (the module's VolumeDriver subclass)."""
    module = importlib.import_module(f"monostack.volume.drivers.{name}")
    for value in vars(module).values():
        if isinstance(value, type) and issubclass(value, VolumeDriver) and value is not VolumeDriver \
                and value.__module__ == module.__name__:
            return value(conf, state_dir, backend)
    raise RuntimeError(f"monostack.volume.drivers.{name} has no VolumeDriver")


def _text(err: BaseException) -> str:
    return str(err) or type(err).__name__


class VolumeManager:
    def __init__(self, svc: Any, driver: VolumeDriver, *, host: str, backend_name: str, zone: str,
                 backup_store: Any = None):
        self.svc = svc
        self.driver = driver
        self.backend = f"{host}@{backend_name}"  # Cinder's host@backend
        self.backend_name = backend_name
        self.zone = zone
        self.backup_store = backup_store
        self._heartbeat: asyncio.Task | None = None

    # -- life ------------------------------------------------------------------------------
    async def start(self, *, heartbeat: bool = True) -> None:
        await self.driver.init_host()
        await self.report()
        await self.recover()
        if heartbeat:
            self._heartbeat = asyncio.create_task(self._beat())

    async def stop(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()

    async def report(self) -> None:
        capacity = await self.driver.capacity()
        cap = {"total_gb": capacity.total_gb, "free_gb": capacity.free_gb,
               "provisioned_gb": capacity.provisioned_gb,
               "max_over_subscription_ratio": capacity.max_over_subscription_ratio,
               "thin_provisioning": capacity.thin_provisioning,
               "volume_backend_name": capacity.volume_backend_name or self.backend_name,
               "storage_protocol": capacity.storage_protocol, "vendor_name": "Monostack", "driver_version": "1.0.0",
               "multiattach": True, **capacity.extra}
        await asyncio.to_thread(self.svc.hosts.report, self.backend, VOLUME_BINARY, self.zone, cap)
        host = self.backend.partition("@")[0]
        await asyncio.to_thread(self.svc.hosts.report, host, "cinder-scheduler", self.zone)
        if self.backup_store is not None:
            await asyncio.to_thread(self.svc.hosts.report, host, BACKUP_BINARY, self.zone)

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self.svc.conf.volume.heartbeat_interval)
            try:
                await self.report()
            except Exception:  # a missed heartbeat is retried at the next beat
                LOG.exception("could not report backend %s", self.backend)

    # -- volumes -----------------------------------------------------------------------------
    async def create_volume(self, volume_id: str, *, image: dict[str, Any] | None = None) -> None:
        row = await asyncio.to_thread(self._volume, volume_id)
        if row is None:
            return
        shareable = bool(row.multiattach)  # guests will share it: the driver picks a format that allows it
        try:
            if row.snapshot_id:
                snap = await asyncio.to_thread(self._snapshot, row.snapshot_id)
                if snap is None:
                    raise VolumeDriverError(f"snapshot {row.snapshot_id} is gone")
                await self.driver.create_volume_from_snapshot(volume_id, row.size, snap.id, snap.volume_id,
                                                              shareable=shareable)
            elif row.source_volid:
                async with self._point_in_time(row.source_volid, "clone") as copy:
                    await self.driver.create_cloned_volume(volume_id, row.size, row.source_volid, source=copy,
                                                           shareable=shareable)
            elif image is not None:
                if self.svc.images is None:
                    raise VolumeDriverError("no Image service to download the image from")
                path = await self.svc.images.cached(image)
                await self.driver.create_volume_from_image(volume_id, row.size, path,
                                                           image.get("disk_format") or "raw", shareable=shareable)
            else:
                await self.driver.create_volume(volume_id, row.size, shareable=shareable)
        except Exception as err:
            LOG.exception("creating volume %s failed", volume_id)
            await self._cleanup(volume_id)
            await asyncio.to_thread(self.svc.volumes.finish, volume_id, "create_failed", _text(err))
            return
        from monostack.volume.service.common import utcnow
        done = await asyncio.to_thread(self.svc.volumes.finish, volume_id, "created", launched_at=utcnow())
        if done is None:  # deleted while it was being created
            await self._cleanup(volume_id)

    async def _cleanup(self, volume_id: str) -> None:
        try:
            await self.driver.delete_volume(volume_id)
        except Exception:
            LOG.exception("could not remove the partial volume %s", volume_id)

    async def delete_volume(self, volume_id: str, snapshot_ids: list[str] | None = None) -> None:
        row = await asyncio.to_thread(self._volume, volume_id)
        if row is None:
            return
        try:
            for snapshot_id in snapshot_ids or []:
                await self.driver.delete_snapshot(snapshot_id, volume_id)
                await asyncio.to_thread(self.svc.snapshots.purge, snapshot_id)
            await self.driver.delete_volume(volume_id)
        except Exception as err:
            LOG.exception("deleting volume %s failed", volume_id)
            await asyncio.to_thread(self.svc.volumes.finish, volume_id, "delete_failed", _text(err))
            return
        await asyncio.to_thread(self.svc.volumes.purge, volume_id)

    async def extend_volume(self, volume_id: str, new_size: int) -> None:
        row = await asyncio.to_thread(self._volume, volume_id)
        if row is None:
            return
        servers = [a.instance_uuid for a in row.attachments if a.instance_uuid]
        online = row.previous_status == states.IN_USE and bool(servers) and self.svc.compute is not None
        try:
            if not online:  # attached: QEMU grows the file it has open (the volume-extended event below)
                await self.driver.extend_volume(volume_id, new_size)
        except Exception as err:
            LOG.exception("extending volume %s failed", volume_id)
            await asyncio.to_thread(self.svc.volumes.finish, volume_id, "extend_failed", _text(err))
            return
        await asyncio.to_thread(self.svc.volumes.finish, volume_id, "extended", size=new_size)
        if row.previous_status == states.IN_USE:
            await asyncio.to_thread(self._settle, volume_id)
            # Online extend: the guest learns the new size from Compute (Nova's volume-extended event).
            if self.svc.compute is not None:
                for attachment in row.attachments:
                    if attachment.instance_uuid:
                        try:
                            await self.svc.compute.volume_extended(attachment.instance_uuid, volume_id)
                        except Exception:
                            LOG.exception("could not tell Compute that volume %s grew", volume_id)

    async def reimage_volume(self, volume_id: str, image: dict[str, Any]) -> None:
        """os-reimage: the image's data over the volume's; the volume goes back to the status it had
        (its image metadata now the new image's), or to error.  A reserved volume is Nova rebuilding
        the server it boots: that server hears `volume-reimaged` either way."""
        from monostack.volume.service.volumes import Volumes

        row = await asyncio.to_thread(self._volume, volume_id)
        if row is None:
            return
        reserved = row.previous_status == states.RESERVED
        try:
            if self.svc.images is None:
                raise VolumeDriverError("no Image service to download the image from")
            path = await self.svc.images.cached(image)
            await self.driver.reimage_volume(volume_id, path, image.get("disk_format") or "raw")
        except Exception as err:
            LOG.exception("reimaging volume %s failed", volume_id)
            await asyncio.to_thread(self.svc.volumes.finish, volume_id, "reimage_failed", _text(err))
            outcome = "failed"
        else:
            await asyncio.to_thread(self.svc.volumes.finish, volume_id,
                                    "reimaged_reserved" if reserved else "reimaged",
                                    image_metadata=Volumes.image_metadata(image), bootable=True)
            outcome = "completed"
        if reserved and self.svc.compute is not None:
            for server in {a.instance_uuid for a in row.attachments if a.instance_uuid}:
                try:
                    await self.svc.compute.volume_reimaged(server, volume_id, outcome)
                except Exception:
                    LOG.exception("could not tell Compute that volume %s was reimaged", volume_id)

    def _settle(self, volume_id: str) -> None:
        from monostack.volume.service.volumes import Volumes
        with self.svc.db.writer() as session:
            row = session.get(models.Volume, volume_id)
            if row is not None:
                Volumes.settle(row)

    async def migrate_volume(self, volume_id: str, destination: str, old_type_id: str | None) -> None:
        """Move a volume's data to another backend of this process (a retype with migration): a
        standalone copy from this driver, a new volume from it on the destination, then the
        volume's host and type change and this backend's file goes."""
        dest_host, _, new_type_id = destination.partition("|")
        row = await asyncio.to_thread(self._volume, volume_id)
        if row is None:
            return
        tmp = pathlib.Path(tempfile.mkdtemp(prefix="migrate-", dir=self.driver.state_dir))
        dest = None
        multiattach = await asyncio.to_thread(self._type_multiattach, new_type_id)  # the flag follows the type
        try:
            dest = self.svc.manager_for(dest_host)
            copy = tmp / f"{volume_id}.qcow2"
            await self.driver.copy_volume_to_image(volume_id, copy, "qcow2")
            await dest.driver.create_volume_from_image(volume_id, row.size, copy, "qcow2", shareable=multiattach)
        except Exception as err:
            LOG.exception("migrating volume %s to %s failed", volume_id, dest_host)
            if dest is not None:
                try:
                    await dest.driver.delete_volume(volume_id)
                except Exception:
                    LOG.exception("could not remove the partial copy of %s on %s", volume_id, dest_host)
            await asyncio.to_thread(self.svc.volumes.finish, volume_id, "retyped", f"migration failed: {_text(err)}",
                                    migration_status="error")
            return
        finally:
            await asyncio.to_thread(_rmtree, tmp)
        await asyncio.to_thread(self.svc.volumes.finish, volume_id, "retyped", host=dest_host,
                                volume_type_id=new_type_id, multiattach=multiattach, migration_status="success")
        await self._cleanup(volume_id)

    async def upload_to_image(self, volume_id: str, image_id: str, disk_format: str) -> None:
        row = await asyncio.to_thread(self._volume, volume_id)
        if row is None:
            return
        tmp = pathlib.Path(tempfile.mkdtemp(prefix="upload-", dir=self.driver.state_dir))
        target = tmp / f"{image_id}.{disk_format}"
        try:
            async with self._point_in_time(volume_id, "upload") as copy:
                await self.driver.copy_volume_to_image(volume_id, target, disk_format if disk_format in
                                                       ("qcow2", "raw") else "raw", source=copy)
            await self.svc.images.upload(image_id, target)
        except Exception as err:
            LOG.exception("uploading volume %s to image %s failed", volume_id, image_id)
            try:
                await self.svc.images.delete(image_id)
            except Exception:
                LOG.exception("could not delete the failed image %s", image_id)
            await asyncio.to_thread(self._back_from, volume_id, states.UPLOADING, f"upload failed: {_text(err)}")
            return
        finally:
            await asyncio.to_thread(_rmtree, tmp)
        await asyncio.to_thread(self._back_from, volume_id, states.UPLOADING, None)

    def _back_from(self, volume_id: str, status: str, reason: str | None) -> None:
        """From a status the volume passes through while in use or not (uploading, backing-up)
        back to what its attachments say."""
        from monostack.volume.service.common import utcnow
        from monostack.volume.service.volumes import Volumes
        with self.svc.db.writer() as session:
            row = session.get(models.Volume, volume_id)
            if row is None or row.status != status:
                return
            Volumes.settle(row)
            if reason is not None:
                row.status_reason = reason
            row.updated_at = utcnow()

    # -- reading a volume a guest may be writing -----------------------------------------------
    @staticmethod
    def _attached_to(volume: models.Volume | None) -> list[str]:
        """The servers that have the volume attached (their guests may be writing to it)."""
        return [a.instance_uuid for a in (volume.attachments if volume is not None else [])
                if a.instance_uuid and a.attach_status == states.ATTACHED]

    @contextlib.asynccontextmanager
    async def _point_in_time(self, volume_id: str, purpose: str) -> AsyncIterator[pathlib.Path | None]:
        """None when no server has the volume attached (the driver reads it in place); else a
        standalone qcow2 copy of it as of now, which Compute makes (the guest's QEMU copies it
        while the guest goes on writing: Cinder's temporary snapshot of an in-use volume, for
        backups, uploads and clones), removed afterwards.  It is one of the driver's temporaries,
        so a crash leaves nothing the driver does not sweep at its next start."""
        volume = await asyncio.to_thread(self._volume, volume_id)
        servers = self._attached_to(volume)
        if not servers or self.svc.compute is None:
            yield None
            return
        copy_id = f"{purpose}-{uuid.uuid4().hex[:12]}"
        target = self.driver.snapshot_target(copy_id)
        try:
            await self.svc.compute.assisted_snapshot(servers[0], volume_id, copy_id, str(target))
            yield target
        finally:
            await asyncio.to_thread(target.unlink, missing_ok=True)

    # -- snapshots ---------------------------------------------------------------------------
    async def create_snapshot(self, snapshot_id: str, volume_id: str) -> None:
        try:
            volume = await asyncio.to_thread(self._volume, volume_id)
            servers = self._attached_to(volume)
            if servers and self.svc.compute is not None:
                # A guest writes to it: its QEMU copies it point-in-time (Nova's assisted snapshot),
                # then the copy becomes the snapshot.
                await self.svc.compute.assisted_snapshot(servers[0], volume_id, snapshot_id,
                                                         str(self.driver.snapshot_target(snapshot_id)))
                await self.driver.snapshot_created_by_guest(snapshot_id, volume_id)
            else:
                await self.driver.create_snapshot(snapshot_id, volume_id)
        except Exception as err:
            LOG.exception("snapshot %s of volume %s failed", snapshot_id, volume_id)
            await asyncio.to_thread(self.svc.snapshots.finish, snapshot_id, "create_failed", _text(err))
            return
        await asyncio.to_thread(self.svc.snapshots.finish, snapshot_id, "created", progress="100%")

    async def delete_snapshot(self, snapshot_id: str, volume_id: str) -> None:
        try:
            await self.driver.delete_snapshot(snapshot_id, volume_id)
        except Exception as err:
            LOG.exception("deleting snapshot %s failed", snapshot_id)
            await asyncio.to_thread(self.svc.snapshots.finish, snapshot_id, "delete_failed", _text(err))
            return
        await asyncio.to_thread(self.svc.snapshots.purge, snapshot_id)

    # -- connections -------------------------------------------------------------------------
    async def initialize_connection(self, volume_id: str, connector: dict[str, Any], *,
                                    shareable: bool = False) -> dict[str, Any]:
        """shareable: the volume is multiattach (other guests may have it open at the same time)."""
        return await self.driver.initialize_connection(volume_id, connector, shareable=shareable)

    async def terminate_connection(self, volume_id: str, connector: dict[str, Any] | None) -> None:
        await self.driver.terminate_connection(volume_id, connector)

    # -- backups -----------------------------------------------------------------------------
    async def create_backup(self, backup_id: str, volume_id: str) -> None:
        backup = await asyncio.to_thread(self._backup, backup_id)
        if backup is None:
            return
        try:
            if self.backup_store is None:
                raise VolumeDriverError("no backup store is configured")
            parent = await asyncio.to_thread(self._backup, backup.parent_id) if backup.parent_id else None
            parent_data = (parent.data_id or parent.id) if parent is not None else None
            async with self._point_in_time(volume_id, "backup") as copy:
                source, fmt = (copy, "qcow2") if copy is not None else (self.driver.volume_path(volume_id), None)
                result = await self.backup_store.backup(backup_id, source, parent_id=parent_data,
                                                        volume_id=volume_id, volume_format=fmt) or {}
        except Exception as err:
            LOG.exception("backup %s of volume %s failed", backup_id, volume_id)
            await asyncio.to_thread(self.svc.backups.finish, backup_id, "create_failed", _text(err))
            await asyncio.to_thread(self._back_from, volume_id, states.BACKING_UP, None)
            return
        fields = {k: result[k] for k in ("object_count", "container") if result.get(k) is not None}
        await asyncio.to_thread(self.svc.backups.finish, backup_id, "created", **fields)
        await asyncio.to_thread(self._back_from, volume_id, states.BACKING_UP, None)

    async def restore_backup(self, backup_id: str, volume_id: str, *, new_volume: bool = False) -> None:
        try:
            if self.backup_store is None:
                raise VolumeDriverError("no backup store is configured")
            if new_volume:
                row = await asyncio.to_thread(self._volume, volume_id)
                await self.driver.create_volume(volume_id, row.size, shareable=bool(row.multiattach))
            backup = await asyncio.to_thread(self._backup, backup_id)
            data_id = (backup.data_id or backup.id) if backup is not None else backup_id
            await self.backup_store.restore(data_id, self.driver.volume_path(volume_id))
        except Exception as err:
            LOG.exception("restoring backup %s to volume %s failed", backup_id, volume_id)
            await asyncio.to_thread(self.svc.backups.finish, backup_id, "restored")
            await asyncio.to_thread(self.svc.volumes.finish, volume_id, "restore_failed", _text(err))
            return
        await asyncio.to_thread(self.svc.backups.finish, backup_id, "restored", restore_volume_id=None)
        await asyncio.to_thread(self.svc.volumes.finish, volume_id, "restored")

    async def delete_backup(self, backup_id: str) -> None:
        try:
            data_id = await asyncio.to_thread(self.svc.backups.data_to_delete, backup_id)
            if self.backup_store is not None and data_id is not None:
                await self.backup_store.delete(data_id)
        except Exception as err:
            LOG.exception("deleting backup %s failed", backup_id)
            await asyncio.to_thread(self.svc.backups.finish, backup_id, "delete_failed", _text(err))
            return
        await asyncio.to_thread(self.svc.backups.purge, backup_id)

    # -- groups -------------------------------------------------------------------------------
    async def create_group(self, group_id: str, volume_ids: list[str]) -> None:
        """The group's member volumes (a group from a group snapshot or another group), then the group."""
        for volume_id in volume_ids:
            await self.create_volume(volume_id)
        rows = [await asyncio.to_thread(self._volume, v) for v in volume_ids]
        ok = all(r is not None and r.status == states.AVAILABLE for r in rows)
        await asyncio.to_thread(self.svc.groups.finish, group_id,
                                states.GROUP_AVAILABLE if ok else states.GROUP_ERROR)

    async def delete_group(self, group_id: str, volume_ids: list[str]) -> None:
        for volume_id in volume_ids:
            await self.delete_volume(volume_id)
        left = [v for v in volume_ids if await asyncio.to_thread(self._volume, v) is not None]
        if left:
            await asyncio.to_thread(self.svc.groups.finish, group_id, states.GROUP_ERROR_DELETING)
        else:
            await asyncio.to_thread(self.svc.groups.purge, group_id)

    async def create_group_snapshot(self, gsnap_id: str, members: list[tuple[str, str]]) -> None:
        for snapshot_id, volume_id in members:
            await self.create_snapshot(snapshot_id, volume_id)
        rows = [await asyncio.to_thread(self._snapshot, s) for s, _ in members]
        ok = all(r is not None and r.status == states.SNAP_AVAILABLE for r in rows)
        await asyncio.to_thread(self.svc.groups.finish_snapshot, gsnap_id,
                                states.SNAP_AVAILABLE if ok else states.SNAP_ERROR)

    async def delete_group_snapshot(self, gsnap_id: str, members: list[tuple[str, str]]) -> None:
        for snapshot_id, volume_id in members:
            await self.delete_snapshot(snapshot_id, volume_id)
        left = [s for s, _ in members if await asyncio.to_thread(self._snapshot, s) is not None]
        await asyncio.to_thread(self.svc.groups.finish_snapshot, gsnap_id,
                                states.SNAP_ERROR_DELETING if left else None)

    # -- lookups ------------------------------------------------------------------------------
    def _volume(self, volume_id: str) -> models.Volume | None:
        with self.svc.db.reader() as session:
            return session.get(models.Volume, volume_id)

    def _snapshot(self, snapshot_id: str) -> models.Snapshot | None:
        with self.svc.db.reader() as session:
            return session.get(models.Snapshot, snapshot_id)

    def _type_multiattach(self, type_id: str | None) -> bool:
        from monostack.volume.service.types import is_multiattach
        with self.svc.db.reader() as session:
            vtype = session.get(models.VolumeType, type_id) if type_id else None
            return vtype is not None and is_multiattach(vtype.extra_specs)

    def _backup(self, backup_id: str) -> models.Backup | None:
        with self.svc.db.reader() as session:
            return session.get(models.Backup, backup_id)

    # -- restart recovery -----------------------------------------------------------------------
    async def recover(self) -> dict[str, int]:
        """Nothing of this backend stays in a transitional status (rules: states.RECOVERY)."""
        from monostack.volume.recovery import recover
        with request_context.use_context(request_context.RequestContext.service()):
            existing = await self.driver.list_volumes()
            return await recover(self, existing)


def _rmtree(path: pathlib.Path) -> None:
    import shutil
    shutil.rmtree(path, ignore_errors=True)
