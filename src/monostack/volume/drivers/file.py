"""FileDriver: volumes as qcow2 (default) or raw files under the backend's state directory.

The directory's layout (which name means what) is in `layout`.  The schemes:

Snapshots (offline: no guest writes the volume) switch overlays, as Cinder's remotefs
driver does: the volume's file is frozen under the snapshot's name and the volume goes on
in a new, empty qcow2 overlay on it (same path, so attachments do not change).  Instant,
no data copied.  A snapshot of an in-use volume is a full point-in-time copy Compute writes
through QMP (blockdev-backup sync=full) to `snapshot_target`, then `snapshot_created_by_guest`
gives it the snapshot's name: the running guest's image never changes under it.

Clones freeze the source the same way under an anonymous `layer-<uuid>`; the source and the
clone are then two overlays on it.  Volumes from a snapshot are overlays on the snapshot.
A source that a guest is writing is copied instead (qemu-img convert -U: crash-consistent
only; for a consistent clone of an in-use volume, snapshot it through Compute first).

Deleting: a volume or snapshot that other files still have in their chains is *kept* until
the last of them goes (a snapshot gets a `.deleted` tombstone and is no longer offered);
nothing is flattened for a delete, so deletes are instant and any order is safe.  What no
volume or live snapshot needs any more is removed at once (`layout.garbage`).

Flattening: no chain grows past [volume] file_max_chain_depth files.  A new file that would
be too deep is made standalone (qemu-img convert), and a volume about to be frozen with a
chain at the limit is first flattened in place (qemu-img rebase -b '', crash-safe: the
header changes last).

raw volumes ([volume] file_volume_format = raw) never have chains: snapshots and clones are
copies (reflinks where the filesystem can).

Shareable (multiattach) volumes are always raw files, whatever file_volume_format says: two
QEMUs may write one raw file together (share-rw=on), never one qcow2 file (its metadata
would be corrupted, so QEMU refuses to share write access to it).  The service says so at
create time (`shareable=True`); a volume that became multiattach later (a retype) is
converted to raw by its next `initialize_connection(shareable=True)`, when no guest holds it.
Snapshots and clones *of* a raw volume are copies, so no qcow2 chain ever sits under a
shareable volume; volumes *made from* it follow their own flag.

Atomicity: everything is written under a `.tmp-` name, flushed, then renamed; init_host
removes temporaries and rolls back an overlay switch a crash interrupted.  Chain changes
run one at a time (one lock per backend); conversions from images and uploads to images
run beside them (an upload pins the files of its chain against the sweep; an overlay
switch meanwhile is harmless: the open file keeps its contents under its new name).
"""

from __future__ import annotations

import asyncio
import logging
import os
import pathlib
import socket
import uuid as uuid_module
from typing import Any

from monostack.volume.drivers import layout, qemu_img
from monostack.volume.drivers.base import Capacity, VolumeDriver, VolumeDriverError
from monostack.volume.drivers.options import config, option

LOG = logging.getLogger(__name__)
GiB = qemu_img.GiB


class FileDriver(VolumeDriver):
    def __init__(self, conf: Any, state_dir: pathlib.Path, backend: str = "file"):
        super().__init__(conf, pathlib.Path(state_dir), backend)
        self.volume_format = str(option(conf, "file_volume_format")).lower()
        if self.volume_format not in layout.FORMATS:
            raise VolumeDriverError(f"[volume] file_volume_format must be qcow2 or raw, not {self.volume_format!r}")
        self.max_depth = max(2, int(option(conf, "file_max_chain_depth")))
        self.coroutines = int(option(conf, "file_convert_coroutines"))
        self._lock = asyncio.Lock()
        self._pins: list[str] = []  # files long reads outside the lock need (kept by the sweep)

    # -- helpers -------------------------------------------------------------------------------
    def _find(self, kind: str, entry_id: str) -> pathlib.Path | None:
        return layout.find(self.state_dir, kind, entry_id)

    def _require(self, kind: str, entry_id: str) -> pathlib.Path:
        path = self._find(kind, entry_id)
        if path is None or (kind == "snapshot" and layout.tombstone(self.state_dir, entry_id).exists()):
            raise VolumeDriverError(f"{kind} {entry_id} does not exist on backend {self.backend}")
        return path

    def _tmp(self, final_name: str) -> pathlib.Path:
        return self.state_dir / f"{layout.TMP}{uuid_module.uuid4().hex[:8]}-{final_name}"

    async def _publish(self, tmp: pathlib.Path, final: pathlib.Path) -> None:
        """tmp becomes final, whole and on disk (flushed before the rename, the rename flushed after)."""
        await qemu_img.fsync(tmp)
        await asyncio.to_thread(os.replace, tmp, final)
        await qemu_img.fsync(final)

    async def _making(self, final: pathlib.Path, make: Any) -> None:
        """Run make(tmp) and publish tmp as final; tmp removed on any failure."""
        tmp = self._tmp(final.name)
        try:
            await make(tmp)
            await self._publish(tmp, final)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    async def _size(self, path: pathlib.Path) -> int:
        try:
            return await asyncio.to_thread(layout.virtual_size, path)
        except (OSError, ValueError) as err:
            raise VolumeDriverError(f"cannot read {path.name}: {err}") from None

    async def _grow(self, path: pathlib.Path, fmt: str, size: int) -> None:
        if size > await self._size(path):
            await qemu_img.resize(path, fmt, size)

    def _format(self, shareable: bool) -> str:
        """A new volume's format: raw when guests may share it (see the module's doc)."""
        return "raw" if shareable else self.volume_format

    async def _existing(self, volume_id: str, size_gb: int) -> bool:
        """A retried create: the volume is there (with the size asked, else it is an error)."""
        path = self._find("volume", volume_id)
        if path is None:
            return False
        if await self._size(path) != size_gb * GiB:
            raise VolumeDriverError(f"volume {volume_id} exists with another size")
        return True

    @staticmethod
    def _check_size(size_gb: int) -> int:
        if not isinstance(size_gb, int) or size_gb <= 0:
            raise VolumeDriverError(f"a volume's size must be a positive number of GiB, not {size_gb!r}")
        return size_gb * GiB

    async def _gc(self) -> None:
        """Remove what nothing needs any more (the caller holds the lock)."""
        def sweep() -> list[str]:
            doomed = layout.garbage(self.state_dir, set(self._pins))
            doomed.sort(key=lambda p: p.name.endswith(".deleted"))  # files before their tombstones
            for path in doomed:
                path.unlink(missing_ok=True)
            return [p.name for p in doomed]

        removed = await asyncio.to_thread(sweep)
        if removed:
            LOG.info("backend %s: removed %s", self.backend, ", ".join(removed))

    # -- the host ------------------------------------------------------------------------------
    async def init_host(self) -> None:
        await asyncio.to_thread(self.state_dir.mkdir, parents=True, exist_ok=True)
        async with self._lock:
            await asyncio.to_thread(self._recover)
            await self._gc()

    def _recover(self) -> None:
        """Undo what a crash left: temporaries, and a frozen name sharing the volume's inode (an overlay
        switch stopped between the link and the rename: the volume is still the file it was)."""
        volumes: dict[int, str] = {}
        names = sorted(os.listdir(self.state_dir))
        for name in list(names):
            entry = layout.parse(name)
            if entry is not None and entry.kind == "volume" and entry.fmt == "qcow2" \
                    and f"volume-{entry.id}.raw" in names:
                # a conversion to raw (_make_raw) stopped after publishing the raw file, which is whole
                LOG.info("backend %s: removing %s, converted to raw before a crash", self.backend, name)
                (self.state_dir / name).unlink()
                names.remove(name)
        for name in names:
            entry = layout.parse(name)
            if entry is not None and entry.kind == "volume":
                volumes[os.stat(self.state_dir / name).st_ino] = name
        for name in names:
            path = self.state_dir / name
            if name.startswith(layout.TMP):
                LOG.info("backend %s: removing %s a crash left", self.backend, name)
                path.unlink(missing_ok=True)
                continue
            entry = layout.parse(name)
            if entry is not None and entry.kind != "volume":
                st = os.stat(path)
                if st.st_nlink > 1 and st.st_ino in volumes:
                    LOG.warning("backend %s: rolling back the interrupted freeze of %s into %s",
                                self.backend, volumes[st.st_ino], name)
                    path.unlink()

    async def capacity(self) -> Capacity:
        def measure() -> tuple[os.statvfs_result, float]:
            st = os.statvfs(self.state_dir)
            provisioned = 0
            for name in os.listdir(self.state_dir):
                entry = layout.parse(name)
                if entry is not None and entry.kind == "volume":
                    try:
                        provisioned += layout.virtual_size(self.state_dir / name)
                    except (OSError, ValueError):
                        continue
            return st, provisioned / GiB

        st, provisioned = await asyncio.to_thread(measure)
        backend = self.backend
        if "@" not in backend:
            backend = f"{config(self.conf).get('DEFAULT', 'host') or socket.gethostname()}@{backend}"
        return Capacity(backend=backend, total_gb=round(st.f_blocks * st.f_frsize / GiB, 2),
                        free_gb=round(st.f_bavail * st.f_frsize / GiB, 2), provisioned_gb=round(provisioned, 2),
                        max_over_subscription_ratio=float(option(self.conf, "file_max_over_subscription_ratio")),
                        thin_provisioning=True, volume_backend_name=self.backend, storage_protocol="file",
                        extra={"volume_format": self.volume_format, "max_chain_depth": self.max_depth})

    async def _ids(self, kind: str) -> set[str]:
        def scan() -> set[str]:
            names = os.listdir(self.state_dir)
            out = set()
            for name in names:
                entry = layout.parse(name)
                if entry is not None and entry.kind == kind and f"{kind}-{entry.id}.deleted" not in names:
                    out.add(entry.id)
            return out

        return await asyncio.to_thread(scan)

    async def list_volumes(self) -> set[str]:
        return await self._ids("volume")

    async def list_snapshots(self) -> set[str]:
        return await self._ids("snapshot")

    def volume_path(self, volume_id: str, shareable: bool = False) -> pathlib.Path:
        return self._find("volume", volume_id) or self.state_dir / f"volume-{volume_id}.{self._format(shareable)}"

    async def volume_size(self, volume_id: str) -> int:
        return await self._size(self._require("volume", volume_id))

    # -- volumes -------------------------------------------------------------------------------
    async def create_volume(self, volume_id: str, size_gb: int, *, shareable: bool = False) -> None:
        size = self._check_size(size_gb)
        if await self._existing(volume_id, size_gb):
            return
        fmt = self._format(shareable)

        async def make(tmp: pathlib.Path) -> None:
            if fmt == "raw":
                await asyncio.to_thread(_sparse_file, tmp, size)
            else:
                await qemu_img.run("qemu-img", "create", "-q", "-f", "qcow2", str(tmp), str(size))

        await self._making(self.volume_path(volume_id, shareable), make)

    async def create_volume_from_image(self, volume_id: str, size_gb: int, image_path: pathlib.Path,
                                       image_format: str, *, shareable: bool = False) -> None:
        size = self._check_size(size_gb)
        if await self._existing(volume_id, size_gb):
            return
        make = await self._from_image(pathlib.Path(image_path), image_format, size, self._format(shareable))
        await self._making(self.volume_path(volume_id, shareable), make)

    async def reimage_volume(self, volume_id: str, image_path: pathlib.Path, image_format: str) -> None:
        """A new standalone file of the volume's format and size, made from the image beside the chain
        changes (as a volume from an image is), takes the volume's path in one rename under the lock;
        the layers under the old file stay while its snapshots need them."""
        path = self._require("volume", volume_id)
        fmt = path.suffix[1:]

        async def check_free() -> None:
            if await qemu_img.in_use(path, fmt):
                raise VolumeDriverError(f"volume {volume_id} is open by a guest: it cannot be reimaged")

        await check_free()
        make = await self._from_image(pathlib.Path(image_path), image_format, await self._size(path), fmt)
        tmp = self._tmp(path.name)
        try:
            await make(tmp)
            async with self._lock:
                self._require("volume", volume_id)  # not deleted meanwhile
                await check_free()
                await self._publish(tmp, path)
                await self._gc()
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    async def _from_image(self, image_path: pathlib.Path, image_format: str, size: int, fmt: str) -> Any:
        """make(tmp) writing the image converted to fmt and grown to size bytes, once the image is
        found usable."""
        src_fmt = qemu_img.IMAGE_FORMATS.get(str(image_format).lower())
        if src_fmt is None:
            raise VolumeDriverError(f"images in {image_format!r} format cannot become volumes")
        if not image_path.is_file():
            raise VolumeDriverError(f"the image file {image_path} is not on this host")
        info = await qemu_img.info(image_path, src_fmt)
        # An image naming another file (backing file, external data file) would let its uploader
        # read this host's files: refused, as Nova and Cinder do.
        if info.get("backing-filename") or info.get("format-specific", {}).get("data", {}).get("data-file"):
            raise VolumeDriverError("the image refers to another file (backing or data file): refused")
        if info["virtual-size"] > size:
            raise VolumeDriverError(f"the image's virtual size ({info['virtual-size']} bytes) is larger than "
                                    f"the volume ({size // GiB} GiB)")

        async def make(tmp: pathlib.Path) -> None:
            await qemu_img.convert(image_path, src_fmt, tmp, fmt, coroutines=self.coroutines)
            if size > info["virtual-size"]:
                await qemu_img.resize(tmp, fmt, size)  # metadata only for qcow2, a truncate for raw

        return make

    async def _derive(self, volume_id: str, base: pathlib.Path, size: int, fmt: str) -> None:
        """A new volume in format fmt with the contents of the immutable file base (lock held)."""
        base_fmt = base.suffix[1:]
        if size < await self._size(base):
            raise VolumeDriverError(f"volume {volume_id} cannot be smaller than its source")
        too_deep = await asyncio.to_thread(layout.depth, self.state_dir, base.name) + 1 > self.max_depth

        async def make(tmp: pathlib.Path) -> None:
            if fmt == "qcow2" and not too_deep:
                await qemu_img.overlay(tmp, base.name, base_fmt, size)
                return
            if fmt == base_fmt == "raw":
                await qemu_img.copy(base, tmp)
            else:
                await qemu_img.convert(base, base_fmt, tmp, fmt, coroutines=self.coroutines)
            await self._grow(tmp, fmt, size)

        await self._making(self.state_dir / f"volume-{volume_id}.{fmt}", make)

    async def _freeze(self, volume_id: str, src: pathlib.Path, frozen_name: str) -> pathlib.Path:
        """The overlay switch (lock held; src is a qcow2 volume no guest writes): src's file keeps its
        contents under frozen_name, immutable from now on, and the volume continues in a new empty
        overlay on it at the same path."""
        if await asyncio.to_thread(layout.depth, self.state_dir, src.name) + 1 > self.max_depth:
            LOG.info("volume %s: flattening its backing chain (at the depth limit %d)", volume_id, self.max_depth)
            await qemu_img.flatten(src)
            await self._gc()  # layers only this volume still used
        size = await self._size(src)
        frozen = self.state_dir / frozen_name
        tmp = self._tmp(src.name)
        try:
            await qemu_img.overlay(tmp, frozen_name, "qcow2", size)
            await qemu_img.fsync(tmp)
            await asyncio.to_thread(os.link, src, frozen)
            try:
                # the switch: from here the volume writes into the overlay, frozen never changes
                await asyncio.to_thread(os.replace, tmp, src)
            except BaseException:
                frozen.unlink(missing_ok=True)
                raise
            await qemu_img.fsync(src)
        finally:
            tmp.unlink(missing_ok=True)
        return frozen

    async def create_volume_from_snapshot(self, volume_id: str, size_gb: int, snapshot_id: str,
                                          source_volume_id: str, *, shareable: bool = False) -> None:
        size = self._check_size(size_gb)
        async with self._lock:
            if await self._existing(volume_id, size_gb):
                return
            await self._derive(volume_id, self._require("snapshot", snapshot_id), size, self._format(shareable))

    async def create_cloned_volume(self, volume_id: str, size_gb: int, source_volume_id: str, *,
                                   source: pathlib.Path | None = None, shareable: bool = False) -> None:
        size = self._check_size(size_gb)
        fmt = self._format(shareable)
        async with self._lock:
            if await self._existing(volume_id, size_gb):
                return
            src = self._require("volume", source_volume_id)
            if size < await self._size(src):
                raise VolumeDriverError(f"volume {volume_id} cannot be smaller than its source")
            if source is not None:
                await self._adopt(volume_id, source, size, fmt)
                return
            src_fmt = src.suffix[1:]
            busy = await qemu_img.in_use(src, src_fmt)
            if src_fmt == "qcow2" and fmt == "qcow2" and not busy:
                layer = await self._freeze(source_volume_id, src, f"layer-{uuid_module.uuid4()}.qcow2")
                await self._derive(volume_id, layer, size, fmt)
                return
            if busy:
                LOG.warning("volume %s is being written by a guest: its clone %s is crash-consistent only",
                            source_volume_id, volume_id)

            async def make(tmp: pathlib.Path) -> None:
                if src_fmt == fmt == "raw" and not busy:
                    await qemu_img.copy(src, tmp)
                else:
                    await qemu_img.convert(src, src_fmt, tmp, fmt, coroutines=self.coroutines, share=busy)
                await self._grow(tmp, fmt, size)

            await self._making(self.state_dir / f"volume-{volume_id}.{fmt}", make)

    async def _adopt(self, volume_id: str, copy: pathlib.Path, size: int, fmt: str) -> None:
        """A standalone qcow2 copy (made by Compute in this directory) becomes the volume in format
        fmt: renamed when that is qcow2, converted to raw."""

        async def make(tmp: pathlib.Path) -> None:
            if fmt == "qcow2":
                await asyncio.to_thread(os.replace, copy, tmp)
            else:
                await qemu_img.convert(copy, "qcow2", tmp, fmt, coroutines=self.coroutines)
            await self._grow(tmp, fmt, size)

        await self._making(self.state_dir / f"volume-{volume_id}.{fmt}", make)

    async def extend_volume(self, volume_id: str, new_size_gb: int) -> None:
        size = self._check_size(new_size_gb)
        path = self._require("volume", volume_id)
        current = await self._size(path)
        if size < current:
            raise VolumeDriverError(f"volume {volume_id} cannot shrink from {current} to {size} bytes")
        if size == current:
            return
        if await qemu_img.in_use(path, path.suffix[1:]):
            raise VolumeDriverError(f"volume {volume_id} is in use by a guest: extend it through Compute")
        await qemu_img.resize(path, path.suffix[1:], size)

    async def delete_volume(self, volume_id: str) -> None:
        async with self._lock:
            for fmt in layout.FORMATS:
                (self.state_dir / f"volume-{volume_id}.{fmt}").unlink(missing_ok=True)
            await self._gc()

    async def copy_volume_to_image(self, volume_id: str, target: pathlib.Path, disk_format: str, *,
                                   source: pathlib.Path | None = None) -> None:
        fmt = qemu_img.IMAGE_FORMATS.get(str(disk_format).lower())
        if fmt is None:
            raise VolumeDriverError(f"volumes cannot be uploaded in {disk_format!r} format")
        target = pathlib.Path(target)
        async with self._lock:
            src = self._require("volume", volume_id)
            pinned = [] if source else await asyncio.to_thread(layout.chain, self.state_dir, src.name)
            self._pins.extend(pinned)  # no sweep removes a file of the chain while it is read
        src, src_fmt = (source, "qcow2") if source else (src, src.suffix[1:])
        tmp = target.with_name(f"{layout.TMP}{target.name}")
        try:
            await qemu_img.convert(src, src_fmt, tmp, fmt, coroutines=self.coroutines)
            await self._publish(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        finally:
            for name in pinned:
                self._pins.remove(name)

    # -- snapshots -----------------------------------------------------------------------------
    async def create_snapshot(self, snapshot_id: str, volume_id: str) -> None:
        async with self._lock:
            if self._find("snapshot", snapshot_id) is not None:
                return
            src = self._require("volume", volume_id)
            src_fmt = src.suffix[1:]
            if await qemu_img.in_use(src, src_fmt):
                raise VolumeDriverError(f"volume {volume_id} is being written by a guest: "
                                        "snapshot it through Compute (snapshot_target)")
            if src_fmt == "raw":
                async def make(tmp: pathlib.Path) -> None:
                    await qemu_img.copy(src, tmp)

                await self._making(self.state_dir / f"snapshot-{snapshot_id}.raw", make)
            else:
                await self._freeze(volume_id, src, f"snapshot-{snapshot_id}.qcow2")

    def snapshot_target(self, snapshot_id: str) -> pathlib.Path:
        return self.state_dir / f"{layout.TMP}snapshot-{snapshot_id}.qcow2"

    async def snapshot_created_by_guest(self, snapshot_id: str, volume_id: str) -> None:
        async with self._lock:
            if self._find("snapshot", snapshot_id) is not None:
                return
            tmp = self.snapshot_target(snapshot_id)
            if not tmp.exists():
                raise VolumeDriverError(f"no snapshot {snapshot_id} was written by Compute")
            try:
                header = await asyncio.to_thread(layout.read_header, tmp)
            except (OSError, ValueError) as err:
                raise VolumeDriverError(f"the snapshot Compute wrote is unusable: {err}") from None
            if header.backing:
                raise VolumeDriverError("the snapshot Compute wrote is not standalone")
            await self._publish(tmp, self.state_dir / f"snapshot-{snapshot_id}.qcow2")

    async def delete_snapshot(self, snapshot_id: str, volume_id: str) -> None:
        async with self._lock:
            self.snapshot_target(snapshot_id).unlink(missing_ok=True)
            if self._find("snapshot", snapshot_id) is not None:
                # a tombstone, then the sweep: gone at once unless other files are built on it
                stone = layout.tombstone(self.state_dir, snapshot_id)
                await asyncio.to_thread(stone.touch)
                await qemu_img.fsync(stone)
            await self._gc()

    # -- attachments ---------------------------------------------------------------------------
    async def initialize_connection(self, volume_id: str, connector: dict[str, Any], *,
                                    shareable: bool = False) -> dict[str, Any]:
        path = self._require("volume", volume_id)
        if shareable and path.suffix == ".qcow2":
            path = await self._make_raw(volume_id)
        # QEMU opens path and follows its backing chain itself (the names are relative to this directory).
        data: dict[str, Any] = {"device_path": str(path), "format": path.suffix[1:], "name": volume_id}
        if shareable:
            data["multiattach"] = True  # Compute opens it shared (share-rw=on), so other guests can too
        return {"driver_volume_type": "file", "data": data}

    async def _make_raw(self, volume_id: str) -> pathlib.Path:
        """A qcow2 volume that became shareable (a retype, or made before shareable volumes were
        raw) is converted to a standalone raw file before a guest opens it shared.  Refused while a
        guest writes the qcow2 file (what it writes after the copy would be lost)."""
        async with self._lock:
            path = self._require("volume", volume_id)
            if path.suffix != ".qcow2":
                return path
            if await qemu_img.in_use(path, "qcow2"):
                raise VolumeDriverError(f"volume {volume_id} is a qcow2 file a guest is writing: it cannot be "
                                        "shared before it is detached (it is then converted to raw)")
            LOG.info("volume %s: converting it to raw so that guests can share it", volume_id)
            raw = self.state_dir / f"volume-{volume_id}.raw"

            async def make(tmp: pathlib.Path) -> None:
                await qemu_img.convert(path, "qcow2", tmp, "raw", coroutines=self.coroutines)

            await self._making(raw, make)
            # Both names exist until here: init_host keeps the raw one (complete once published).
            await asyncio.to_thread(path.unlink, missing_ok=True)
            await self._gc()  # layers only the qcow2 file still used
            return raw

    async def terminate_connection(self, volume_id: str, connector: dict[str, Any] | None) -> None:
        return None


def _sparse_file(path: pathlib.Path, size: int) -> None:
    with open(path, "xb") as f:
        f.truncate(size)
