"""Full and incremental backups of a volume file in fixed-size chunks, and restores.

A backup is the volume's guest-visible bytes cut into chunks of [volume] backup_chunk_size_mb
(32 MiB).  Per chunk the manifest records its sha256 and which backup holds its data:

    {"version": 1, "backup_id", "volume_id", "parent_id", "size", "chunk_size", "compression",
     "created_at", "chunks": [{"zero": true} | {"sha256": hex, "stored_in": backup id, "length": n,
                                                 "compressed": bool}, ...],
     "stored_chunks": n, "stored_bytes": n}

- zero chunks (unallocated or all zeroes: `qemu-img map` answers most without reading) store nothing;
- a full backup stores every other chunk; an incremental one only the chunks whose sha256
  differs from its parent's manifest, and points at the parent's (or an older) backup for the
  rest, so a restore reads one manifest and never walks the chain;
- objects are "<backup id>/chunk-<index>" (zlib level 1 by default, unless a sample of the
  chunk shows it does not compress) and
  "<backup id>/manifest.json", written last: a backup without a manifest is incomplete and
  is removed by `delete`.

Reading the volume: one `qemu-img convert` per non-zero chunk, from a raw window over the
volume (json:{"driver":"raw","offset":..,"size":..,"file":<the volume's format node>}, the
backing chain followed by QEMU) into a temporary raw file of one chunk.  PARALLEL (2) chunks
are in flight at a time, each in memory once (twice while compressed): memory and temporary
disk use stay flat whatever the volume's size.  -U reads a file a guest may have open (back
up a snapshot for consistency: in-use volumes go through a snapshot first, as in Cinder).

Restoring: zero chunks become `qemu-io write -z -u` (no data written), the others are
fetched and checked against their sha256 (the next one while the current one is written)
and piped into `qemu-io write -s /dev/stdin <offset> <length>`, through the volume's format
driver (qcow2 or raw).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import hashlib
import json
import logging
import pathlib
import subprocess
import zlib
from typing import Any

from monostack.common import processes
from monostack.volume.backup.stores import BackupStore, BackupStoreError, ObjectNotFound
from monostack.volume.drivers import qemu_img
from monostack.volume.drivers.base import VolumeDriverError
from monostack.volume.drivers.options import option

LOG = logging.getLogger(__name__)
MiB = 1024 ** 2
MANIFEST = "manifest.json"
PARALLEL = 2  # chunks read, hashed and stored at once (each holds one chunk in memory)
SAMPLE = 256 * 1024


class BackupError(Exception):
    """A backup, restore or delete that cannot be done; the message is for the backup's fail_reason."""


def chunk_name(backup_id: str, index: int) -> str:
    return f"{backup_id}/chunk-{index:08d}"


def manifest_name(backup_id: str) -> str:
    return f"{backup_id}/{MANIFEST}"


@dataclasses.dataclass
class Manifest:
    backup_id: str
    volume_id: str
    size: int
    chunk_size: int
    compression: str
    chunks: list[dict[str, Any]]
    parent_id: str | None = None
    created_at: str = ""
    stored_chunks: int = 0
    stored_bytes: int = 0
    version: int = 1

    def to_json(self) -> bytes:
        return json.dumps(dataclasses.asdict(self), sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes) -> "Manifest":
        raw = json.loads(data)
        if raw.get("version") != 1:
            raise BackupError(f"unknown backup manifest version {raw.get('version')!r}")
        return cls(**raw)

    @property
    def holders(self) -> set[str]:
        """The backups whose objects this one's restore reads."""
        return {c["stored_in"] for c in self.chunks if not c.get("zero")}


def _window(path: pathlib.Path, fmt: str, offset: int, length: int) -> str:
    """A json: filename QEMU opens as the raw bytes [offset, offset+length) of the volume."""
    node = {"driver": fmt, "file": {"driver": "file", "filename": str(path)}}
    return "json:" + json.dumps({"driver": "raw", "offset": offset, "size": length, "file": node})


def _format(path: pathlib.Path, fmt: str | None) -> str:
    """The file driver's names record a volume's format (volume-<id>.qcow2|.raw): that wins over
    what a caller assumes (a backend whose default format changed still holds older volumes)."""
    suffix = pathlib.Path(path).suffix[1:]
    if suffix in ("qcow2", "raw"):
        return suffix
    return fmt or "raw"


def _pack(data: bytes, compression: str) -> tuple[bytes, bool]:
    """The chunk as stored, and whether it is compressed: zlib (level 1, fast) unless a 256 KiB
    sample shows the data does not compress (encrypted or compressed files: zlib would crawl
    through them for nothing)."""
    if compression != "zlib":
        return data, False
    sample = data[:SAMPLE]
    if len(zlib.compress(sample, 1)) > 0.9 * len(sample):
        return data, False
    return zlib.compress(data, 1), True


def _unpack(data: bytes, compressed: bool) -> bytes:
    return zlib.decompress(data) if compressed else data


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _nonzero_chunks(extents: list[dict[str, Any]], chunk_size: int, size: int) -> set[int]:
    """Indexes of the chunks `qemu-img map` says hold something other than zeroes."""
    out: set[int] = set()
    for extent in extents:
        if extent.get("zero"):
            continue
        start, end = extent["start"], min(extent["start"] + extent["length"], size)
        out.update(range(start // chunk_size, (end - 1) // chunk_size + 1))
    return out


class BackupEngine:
    """Backups of volume files into one store.  work_dir holds one chunk at a time per operation."""

    def __init__(self, store: BackupStore, work_dir: pathlib.Path, *, conf: Any = None,
                 chunk_size: int | None = None, compression: str | None = None):
        self.store = store
        self.work_dir = pathlib.Path(work_dir)
        self.chunk_size = chunk_size or int(option(conf, "backup_chunk_size_mb")) * MiB
        self.compression = (compression or str(option(conf, "backup_compression"))).lower()
        if self.compression not in ("zlib", "none"):
            raise BackupError(f"unknown backup compression {self.compression!r}")

    async def manifest(self, backup_id: str) -> Manifest:
        try:
            return Manifest.from_json(await self.store.get(manifest_name(backup_id)))
        except ObjectNotFound:
            raise BackupError(f"backup {backup_id} is incomplete or gone (no manifest)") from None

    # -- backup -------------------------------------------------------------------------------
    async def backup(self, backup_id: str, volume_id: str, source: pathlib.Path, fmt: str | None, *,
                     parent: Manifest | None = None) -> Manifest:
        """Back up the file source (fmt qcow2 or raw; a volume or a snapshot of it); incremental
        against parent when given.  On failure nothing of this backup stays in the store."""
        fmt = _format(source, fmt)
        await self.store.prepare()
        await asyncio.to_thread(self.work_dir.mkdir, parents=True, exist_ok=True)
        try:
            size = (await qemu_img.info(source, fmt))["virtual-size"]
            extents = json.loads(await qemu_img.run("qemu-img", "map", "-U", "--output=json", "-f", fmt,
                                                    str(source)))
        except VolumeDriverError as err:
            raise BackupError(f"cannot read the volume: {err}") from None
        chunk_size = self.chunk_size
        if parent is not None and parent.chunk_size != chunk_size:
            LOG.warning("backup %s: the parent %s has another chunk size: a full backup", backup_id,
                        parent.backup_id)
            parent = None
        nonzero = _nonzero_chunks(extents, chunk_size, size)
        count = (size + chunk_size - 1) // chunk_size
        manifest = Manifest(backup_id=backup_id, volume_id=volume_id, size=size, chunk_size=chunk_size,
                            compression=self.compression, chunks=[], created_at=_now(),
                            parent_id=parent.backup_id if parent else None)
        todo = [i for i in range(count) if i in nonzero]
        entries: dict[int, dict[str, Any]] = {}
        slots = asyncio.Semaphore(PARALLEL)

        async def one(index: int) -> None:
            async with slots:
                entries[index] = await self._backup_chunk(backup_id, source, fmt, index, size, parent, manifest)

        tasks = [asyncio.create_task(one(i)) for i in todo]
        try:
            try:
                await asyncio.gather(*tasks)
            except BaseException:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                raise
            manifest.chunks = [entries.get(i, {"zero": True}) for i in range(count)]
            await self.store.put(manifest_name(backup_id), manifest.to_json())
        except BaseException:
            try:
                await asyncio.shield(self._remove(backup_id))
            except Exception as err:  # the backup's own error matters more
                LOG.warning("backup %s: leftovers not removed: %s", backup_id, err)
            raise
        LOG.info("backup %s of volume %s: %d chunks, %d stored (%d bytes)%s", backup_id, volume_id, count,
                 manifest.stored_chunks, manifest.stored_bytes,
                 f", incremental on {manifest.parent_id}" if manifest.parent_id else "")
        return manifest

    async def _backup_chunk(self, backup_id: str, source: pathlib.Path, fmt: str, index: int, size: int,
                            parent: Manifest | None, manifest: Manifest) -> dict[str, Any]:
        """Read, hash and (unless its parent has it) store one chunk; its manifest entry."""
        offset = index * self.chunk_size
        length = min(self.chunk_size, size - offset)
        tmp = self.work_dir / f".chunk-{backup_id}-{index}"
        try:
            await qemu_img.run("qemu-img", "convert", "-U", "-W", "-m", "16", "-O", "raw",
                               _window(source, fmt, offset, length), str(tmp))
            data = await asyncio.to_thread(tmp.read_bytes)
        except VolumeDriverError as err:
            raise BackupError(f"cannot read the volume: {err}") from None
        finally:
            tmp.unlink(missing_ok=True)
        if data == bytes(len(data)):  # written zeroes
            return {"zero": True}
        digest = await asyncio.to_thread(_sha256, data)
        known = parent.chunks[index] if parent is not None and index < len(parent.chunks) else None
        if known and not known.get("zero") and known["sha256"] == digest and known["length"] == length:
            return {"sha256": digest, "stored_in": known["stored_in"], "length": length,
                    "compressed": known.get("compressed", False)}
        packed, compressed = await asyncio.to_thread(_pack, data, self.compression)
        del data
        await self.store.put(chunk_name(backup_id, index), packed)
        manifest.stored_chunks += 1
        manifest.stored_bytes += len(packed)
        return {"sha256": digest, "stored_in": backup_id, "length": length, "compressed": compressed}

    # -- restore ------------------------------------------------------------------------------
    async def restore(self, backup_id: str, target: pathlib.Path, fmt: str | None) -> Manifest:
        """Write the backup's bytes onto the volume file target (new or existing; at least as large
        as the backed up volume; not in use)."""
        manifest = await self.manifest(backup_id)
        fmt = _format(target, fmt)
        try:
            size = (await qemu_img.info(target, fmt))["virtual-size"]
        except VolumeDriverError as err:
            raise BackupError(f"cannot open the volume to restore onto: {err}") from None
        if size < manifest.size:
            raise BackupError(f"the volume ({size} bytes) is smaller than the backup ({manifest.size} bytes)")
        await asyncio.to_thread(self.work_dir.mkdir, parents=True, exist_ok=True)
        zeros = []
        for index, chunk in enumerate(manifest.chunks):
            if chunk.get("zero"):
                offset = index * manifest.chunk_size
                zeros.append(f"write -q -z -u {offset} {min(manifest.chunk_size, manifest.size - offset)}")
        for start in range(0, len(zeros), 256):
            await self._qemu_io(target, fmt, zeros[start:start + 256])
        # one chunk is fetched and checked while the one before is written (writes are serial:
        # one writer at a time holds the volume's lock)
        queue: asyncio.Queue = asyncio.Queue(maxsize=1)

        async def fetch() -> None:
            try:
                for index, chunk in enumerate(manifest.chunks):
                    if not chunk.get("zero"):
                        await queue.put((index, await self._restore_chunk(manifest, index, chunk)))
                await queue.put(None)
            except BaseException as err:  # handed to the writer, which raises it
                await queue.put(err)

        fetcher = asyncio.create_task(fetch())
        try:
            while (item := await queue.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                index, data = item
                await self._qemu_io(target, fmt, [f"write -q -s /dev/stdin {index * manifest.chunk_size} {len(data)}"],
                                    data=data)
                del data, item
        finally:
            fetcher.cancel()
            await asyncio.gather(fetcher, return_exceptions=True)
        LOG.info("restored backup %s onto %s", backup_id, target.name)
        return manifest

    async def _restore_chunk(self, manifest: Manifest, index: int, chunk: dict[str, Any]) -> bytes:
        """One chunk's bytes from the store, checked against the manifest."""
        packed = await self.store.get(chunk_name(chunk["stored_in"], index))
        try:
            data = await asyncio.to_thread(_unpack, packed, chunk.get("compressed", False))
        except zlib.error:
            raise BackupError(f"chunk {index} of backup {chunk['stored_in']} is corrupt") from None
        del packed
        if len(data) != chunk["length"] or await asyncio.to_thread(_sha256, data) != chunk["sha256"]:
            raise BackupError(f"chunk {index} of backup {chunk['stored_in']} is corrupt")
        return data

    async def _qemu_io(self, target: pathlib.Path, fmt: str, commands: list[str], data: bytes | None = None) -> None:
        """qemu-io commands on the volume (through its format driver); data is its stdin (write -s /dev/stdin)."""
        argv = ["qemu-io", "-f", fmt]
        for command in commands:
            argv += ["-c", command]
        try:
            # stdin=None: processes.run would give the child /dev/null; the data goes through a pipe instead
            done = await processes.run(argv + [str(target)], timeout=3600,
                                       **({"input": data, "stdin": None} if data is not None else {}))
        except (OSError, subprocess.TimeoutExpired) as err:
            raise BackupError(f"cannot write the volume: {err}") from None
        if done.returncode != 0:  # qemu-io exits 1 when a command failed
            raise BackupError(f"cannot write the volume: "
                              f"{(done.stdout + done.stderr).decode(errors='replace').strip()[-500:]}")

    # -- delete -------------------------------------------------------------------------------
    async def dependants(self, backup_id: str) -> list[str]:
        """Other backups whose restores read objects of backup_id (incrementals on it)."""
        out = []
        for name in await self.store.list():
            if not name.endswith("/" + MANIFEST) or name == manifest_name(backup_id):
                continue
            try:
                other = Manifest.from_json(await self.store.get(name))
            except (ObjectNotFound, BackupError, ValueError):
                continue
            if backup_id in other.holders:
                out.append(other.backup_id)
        return out

    async def delete(self, backup_id: str) -> None:
        """Remove the backup's objects (idempotent); refused while incrementals depend on it,
        as Cinder refuses with 400."""
        children = await self.dependants(backup_id)
        if children:
            raise BackupError(f"Incremental backups exist for this backup: {', '.join(sorted(children))}")
        await self._remove(backup_id)

    async def _remove(self, backup_id: str) -> None:
        # the manifest first: from then on the backup is visibly incomplete, whatever happens next
        try:
            await self.store.delete(manifest_name(backup_id))
            for name in await self.store.list(f"{backup_id}/"):
                await self.store.delete(name)
        except BackupStoreError as err:
            LOG.warning("backup %s: cleanup incomplete: %s", backup_id, err)
            raise


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
