"""FakeVolumeDriver: an explicit test and scale double of the file driver.  Never a default.

Every volume and snapshot is a tiny JSON file (its size and where it came from) under the
state directory, written then renamed, so a restarted service finds them (`list_volumes`)
and a fake Compute can "attach" the path: instant, and no disk space whatever the sizes.
The same rules as the file driver apply where the service could tell: idempotent creates
and deletes, no shrinking, missing sources refused, snapshots deletable in any order.
`calls` records (method, id) for tests; `fail` makes a method raise (fault injection).
"""

from __future__ import annotations

import asyncio
import json
import os
import pathlib
import socket
from typing import Any

from monostack.volume.drivers.base import Capacity, VolumeDriver, VolumeDriverError
from monostack.volume.drivers.options import config, option

GiB = 1024 ** 3


class FakeVolumeDriver(VolumeDriver):
    def __init__(self, conf: Any, state_dir: pathlib.Path, backend: str = "fake"):
        super().__init__(conf, pathlib.Path(state_dir), backend)
        self.total_gb = int(option(conf, "fake_total_gb"))
        self.calls: list[tuple[str, str]] = []
        self.fail: dict[str, str] = {}  # method name -> error message

    # -- records -----------------------------------------------------------------------------
    def _path(self, kind: str, entry_id: str) -> pathlib.Path:
        return self.state_dir / f"{kind}-{entry_id}.fake"

    def _record(self, method: str, entry_id: str) -> None:
        self.calls.append((method, entry_id))
        if method in self.fail:
            raise VolumeDriverError(self.fail[method])

    async def _read(self, kind: str, entry_id: str) -> dict[str, Any] | None:
        def read() -> dict[str, Any] | None:
            try:
                return json.loads(self._path(kind, entry_id).read_text())
            except FileNotFoundError:
                return None

        return await asyncio.to_thread(read)

    async def _need(self, kind: str, entry_id: str) -> dict[str, Any]:
        record = await self._read(kind, entry_id)
        if record is None:
            raise VolumeDriverError(f"{kind} {entry_id} does not exist on backend {self.backend}")
        return record

    async def _write(self, kind: str, entry_id: str, record: dict[str, Any]) -> None:
        path = self._path(kind, entry_id)

        def write() -> None:
            tmp = path.with_name(".tmp-" + path.name)
            tmp.write_text(json.dumps(record))
            os.replace(tmp, path)

        await asyncio.to_thread(write)

    async def _create(self, kind: str, entry_id: str, size_gb: int, **source: Any) -> None:
        if not isinstance(size_gb, int) or size_gb <= 0:
            raise VolumeDriverError(f"a volume's size must be a positive number of GiB, not {size_gb!r}")
        existing = await self._read(kind, entry_id)
        if existing is not None:
            if existing["size_gb"] != size_gb:
                raise VolumeDriverError(f"{kind} {entry_id} exists with another size")
            return
        await self._write(kind, entry_id, {"size_gb": size_gb, **source})

    async def _ids(self, kind: str) -> set[str]:
        names = await asyncio.to_thread(os.listdir, self.state_dir)
        return {n[len(kind) + 1:-len(".fake")] for n in names if n.startswith(kind + "-") and n.endswith(".fake")}

    # -- the host ------------------------------------------------------------------------------
    async def init_host(self) -> None:
        self._record("init_host", "")
        await asyncio.to_thread(self.state_dir.mkdir, parents=True, exist_ok=True)
        for name in await asyncio.to_thread(os.listdir, self.state_dir):
            if name.startswith(".tmp-"):
                (self.state_dir / name).unlink(missing_ok=True)

    async def capacity(self) -> Capacity:
        provisioned = 0
        for vid in await self._ids("volume"):
            record = await self._read("volume", vid)
            provisioned += record["size_gb"] if record else 0
        backend = self.backend
        if "@" not in backend:
            backend = f"{config(self.conf).get('DEFAULT', 'host') or socket.gethostname()}@{backend}"
        return Capacity(backend=backend, total_gb=float(self.total_gb), free_gb=float(self.total_gb - provisioned),
                        provisioned_gb=float(provisioned), volume_backend_name=self.backend,
                        storage_protocol="file", extra={"fake": True})

    async def list_volumes(self) -> set[str]:
        return await self._ids("volume")

    async def list_snapshots(self) -> set[str]:
        return await self._ids("snapshot")

    def volume_path(self, volume_id: str) -> pathlib.Path:
        return self._path("volume", volume_id)

    async def volume_size(self, volume_id: str) -> int:
        return (await self._need("volume", volume_id))["size_gb"] * GiB

    # -- volumes -------------------------------------------------------------------------------
    async def create_volume(self, volume_id: str, size_gb: int, *, shareable: bool = False) -> None:
        self._record("create_volume", volume_id)
        await self._create("volume", volume_id, size_gb, shareable=shareable)

    async def create_volume_from_image(self, volume_id: str, size_gb: int, image_path: pathlib.Path,
                                       image_format: str, *, shareable: bool = False) -> None:
        self._record("create_volume_from_image", volume_id)
        if not pathlib.Path(image_path).exists():
            raise VolumeDriverError(f"the image file {image_path} is not on this host")
        await self._create("volume", volume_id, size_gb, image=str(image_path), image_format=image_format,
                           shareable=shareable)

    async def reimage_volume(self, volume_id: str, image_path: pathlib.Path, image_format: str) -> None:
        self._record("reimage_volume", volume_id)
        record = await self._need("volume", volume_id)
        if not pathlib.Path(image_path).exists():
            raise VolumeDriverError(f"the image file {image_path} is not on this host")
        record.update(image=str(image_path), image_format=image_format)
        await self._write("volume", volume_id, record)

    async def create_volume_from_snapshot(self, volume_id: str, size_gb: int, snapshot_id: str,
                                          source_volume_id: str, *, shareable: bool = False) -> None:
        self._record("create_volume_from_snapshot", volume_id)
        snap = await self._need("snapshot", snapshot_id)
        if size_gb < snap["size_gb"]:
            raise VolumeDriverError(f"volume {volume_id} cannot be smaller than its source")
        await self._create("volume", volume_id, size_gb, snapshot=snapshot_id, shareable=shareable)

    async def create_cloned_volume(self, volume_id: str, size_gb: int, source_volume_id: str, *,
                                   source: pathlib.Path | None = None, shareable: bool = False) -> None:
        self._record("create_cloned_volume", volume_id)
        src = await self._need("volume", source_volume_id)
        if size_gb < src["size_gb"]:
            raise VolumeDriverError(f"volume {volume_id} cannot be smaller than its source")
        await self._create("volume", volume_id, size_gb, source_volume=source_volume_id,
                           point_in_time_copy=source is not None, shareable=shareable)

    async def extend_volume(self, volume_id: str, new_size_gb: int) -> None:
        self._record("extend_volume", volume_id)
        record = await self._need("volume", volume_id)
        if new_size_gb < record["size_gb"]:
            raise VolumeDriverError(f"volume {volume_id} cannot shrink")
        await self._write("volume", volume_id, dict(record, size_gb=new_size_gb))

    async def delete_volume(self, volume_id: str) -> None:
        self._record("delete_volume", volume_id)
        await asyncio.to_thread(self._path("volume", volume_id).unlink, missing_ok=True)

    async def copy_volume_to_image(self, volume_id: str, target: pathlib.Path, disk_format: str, *,
                                   source: pathlib.Path | None = None) -> None:
        """A sparse raw file of the volume's size (what an empty volume holds)."""
        self._record("copy_volume_to_image", volume_id)
        if source is not None and not pathlib.Path(source).exists():
            raise VolumeDriverError(f"the point-in-time copy {source} is missing")
        size = (await self._need("volume", volume_id))["size_gb"] * GiB

        def write() -> None:
            tmp = pathlib.Path(target).with_name(".tmp-" + pathlib.Path(target).name)
            with open(tmp, "wb") as f:
                f.truncate(size)
            os.replace(tmp, target)

        await asyncio.to_thread(write)

    # -- snapshots -----------------------------------------------------------------------------
    async def create_snapshot(self, snapshot_id: str, volume_id: str) -> None:
        self._record("create_snapshot", snapshot_id)
        record = await self._need("volume", volume_id)
        await self._create("snapshot", snapshot_id, record["size_gb"], volume=volume_id)

    def snapshot_target(self, snapshot_id: str) -> pathlib.Path:
        return self.state_dir / f".tmp-snapshot-{snapshot_id}.fake"

    async def snapshot_created_by_guest(self, snapshot_id: str, volume_id: str) -> None:
        """Whatever (fake) Compute wrote at the target becomes a snapshot of the volume's size."""
        self._record("snapshot_created_by_guest", snapshot_id)
        if await self._read("snapshot", snapshot_id) is not None:
            return
        target = self.snapshot_target(snapshot_id)
        if not target.exists():
            raise VolumeDriverError(f"no snapshot {snapshot_id} was written by Compute")
        record = await self._need("volume", volume_id)
        await self._create("snapshot", snapshot_id, record["size_gb"], volume=volume_id, by_guest=True)
        target.unlink(missing_ok=True)

    async def delete_snapshot(self, snapshot_id: str, volume_id: str) -> None:
        self._record("delete_snapshot", snapshot_id)
        await asyncio.to_thread(self._path("snapshot", snapshot_id).unlink, missing_ok=True)
        await asyncio.to_thread(self.snapshot_target(snapshot_id).unlink, missing_ok=True)

    # -- attachments ---------------------------------------------------------------------------
    async def initialize_connection(self, volume_id: str, connector: dict[str, Any], *,
                                    shareable: bool = False) -> dict[str, Any]:
        self._record("initialize_connection", volume_id)
        record = await self._need("volume", volume_id)
        if shareable and not record.get("shareable"):  # the file driver converts it to raw here
            await self._write("volume", volume_id, dict(record, shareable=True))
        data: dict[str, Any] = {"device_path": str(self.volume_path(volume_id)), "format": "raw", "name": volume_id}
        if shareable:
            data["multiattach"] = True
        return {"driver_volume_type": "file", "data": data}

    async def terminate_connection(self, volume_id: str, connector: dict[str, Any] | None) -> None:
        self._record("terminate_connection", volume_id)
