"""Backups of real qcow2/raw volumes (content written with qemu-io) into the directory store:
full, incremental, restore onto new and existing volumes, the bytes compared end to end."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess

import pytest

from monostack.volume.backup import BackupEngine, BackupError, DirectoryStore, make_engine
from monostack.volume.drivers.file import FileDriver
from tests.volume.drivers.conftest import MiB, digest, holds, make_conf, need_tools, write

CHUNK = 4 * MiB  # small chunks: the same code paths as 32 MiB, on small volumes


@pytest.fixture(autouse=True)
def _tools() -> None:
    need_tools()


def qcow2(path: pathlib.Path, size: int) -> pathlib.Path:
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), str(size)], check=True)
    return path


def engine(tmp_path: pathlib.Path, compression: str = "zlib") -> BackupEngine:
    return BackupEngine(DirectoryStore(tmp_path / "backups"), tmp_path / "backups" / ".work", chunk_size=CHUNK,
                        compression=compression)


def objects(tmp_path: pathlib.Path, backup_id: str) -> list[str]:
    d = tmp_path / "backups" / backup_id
    return sorted(os.listdir(d)) if d.exists() else []


@pytest.mark.parametrize("compression", ["zlib", "none"])
async def test_full_incremental_and_restore(tmp_path: pathlib.Path, compression: str) -> None:
    eng = engine(tmp_path, compression)
    vol = qcow2(tmp_path / "vol.qcow2", 64 * MiB + 123 * 512)  # a size that is no multiple of the chunk
    write(vol, 0x11, 0, 6 * MiB)  # chunks 0 and 1
    write(vol, 0x22, 20 * MiB, MiB)  # chunk 5
    write(vol, 0x33, 64 * MiB, 123 * 512)  # the short last chunk
    subprocess.run(["qemu-io", "-f", "qcow2", "-c", f"write -z {40 * MiB} {4 * MiB}", str(vol)], check=True,
                   capture_output=True)
    write(vol, 0x00, 44 * MiB, 4 * MiB)  # chunk 11: allocated, but written zeroes
    full_digest = digest(vol)
    full = await eng.backup("b-full", "vol", vol, "qcow2")
    assert len(full.chunks) == 17 and full.size == 64 * MiB + 123 * 512
    stored = [i for i, c in enumerate(full.chunks) if not c.get("zero")]
    assert stored == [0, 1, 5, 16] and full.stored_chunks == 4
    assert objects(tmp_path, "b-full") == ["chunk-00000000", "chunk-00000001", "chunk-00000005", "chunk-00000016",
                                           "manifest.json"]
    manifest = json.loads((tmp_path / "backups" / "b-full" / "manifest.json").read_text())
    assert manifest["chunks"][5]["stored_in"] == "b-full" and manifest["compression"] == compression

    # change one chunk, add one: the incremental stores those two only
    write(vol, 0x44, 1 * MiB, 512)
    write(vol, 0x55, 30 * MiB, MiB)
    incr_digest = digest(vol)
    incr = await eng.backup("b-incr", "vol", vol, "qcow2", parent=full)
    assert incr.parent_id == "b-full" and incr.stored_chunks == 2
    assert [i for i, c in enumerate(incr.chunks) if c.get("stored_in") == "b-incr"] == [0, 7]
    assert incr.chunks[5]["stored_in"] == "b-full"
    assert objects(tmp_path, "b-incr") == ["chunk-00000000", "chunk-00000007", "manifest.json"]

    # restore each onto a new volume, and the full one over the changed volume itself
    for backup_id, expected in (("b-full", full_digest), ("b-incr", incr_digest)):
        target = qcow2(tmp_path / f"restore-{backup_id}.qcow2", 64 * MiB + 123 * 512)
        await eng.restore(backup_id, target, "qcow2")
        assert digest(target) == expected
    write(vol, 0x66, 40 * MiB, 8 * MiB)  # where the backup has zeroes
    await eng.restore("b-full", vol, "qcow2")
    assert digest(vol) == full_digest
    # a bigger raw volume takes it too (the rest left as it was)
    raw = tmp_path / "bigger.raw"
    with open(raw, "wb") as f:
        f.truncate(128 * MiB)
    await eng.restore("b-incr", raw, "raw")
    assert holds(raw, 0x44, MiB, 512, fmt="raw") and holds(raw, 0x55, 30 * MiB, MiB, fmt="raw")
    assert holds(raw, 0x33, 64 * MiB, 123 * 512, fmt="raw") and holds(raw, 0, 70 * MiB, 58 * MiB, fmt="raw")

    small = qcow2(tmp_path / "small.qcow2", 32 * MiB)
    with pytest.raises(BackupError, match="smaller"):
        await eng.restore("b-full", small, "qcow2")
    # the full backup has an incremental on it: deleting it is refused until that one goes
    with pytest.raises(BackupError, match="Incremental backups exist"):
        await eng.delete("b-full")
    await eng.delete("b-incr")
    await eng.delete("b-full")
    await eng.delete("b-full")  # again
    assert await eng.store.list() == []
    assert not list((tmp_path / "backups" / ".work").iterdir())


async def test_backup_of_a_backing_chain_and_a_corrupt_chunk(tmp_path: pathlib.Path) -> None:
    """A file driver volume with a snapshot under it: the backup holds what the guest sees."""
    drv = FileDriver(make_conf(tmp_path), tmp_path / "volumes")
    await drv.init_host()
    await drv.create_volume("v", 1)
    path = drv.volume_path("v")
    write(path, 0x71, 0, 2 * MiB)
    await drv.create_snapshot("s", "v")
    write(path, 0x72, MiB, 2 * MiB)
    eng = engine(tmp_path)
    await eng.backup("b1", "v", path, "qcow2")
    await drv.create_volume("r", 1)
    await eng.restore("b1", drv.volume_path("r"), "qcow2")
    assert digest(drv.volume_path("r")) == digest(path)
    (tmp_path / "backups" / "b1" / "chunk-00000000").write_bytes(b"garbage")
    with pytest.raises(BackupError):
        await eng.restore("b1", drv.volume_path("r"), "qcow2")
    with pytest.raises(BackupError, match="no manifest"):
        await eng.restore("nope", drv.volume_path("r"), "qcow2")


async def test_a_failed_backup_leaves_nothing(tmp_path: pathlib.Path) -> None:
    eng = engine(tmp_path)
    vol = qcow2(tmp_path / "vol.qcow2", 16 * MiB)
    write(vol, 0x12, 0, 12 * MiB)

    class Flaky(DirectoryStore):
        puts = 0

        async def put(self, name: str, data: bytes) -> None:
            Flaky.puts += 1
            if Flaky.puts == 3:
                raise OSError("disk full")
            await super().put(name, data)

    eng.store = Flaky(tmp_path / "backups")
    with pytest.raises(OSError):
        await eng.backup("b", "vol", vol, "qcow2")
    assert await eng.store.list() == []
    with pytest.raises(BackupError):
        await eng.backup("b2", "vol", tmp_path / "missing.qcow2", "qcow2")


async def test_make_engine_uses_the_data_dir(tmp_path: pathlib.Path) -> None:
    eng = make_engine(make_conf(tmp_path), tmp_path)
    assert isinstance(eng.store, DirectoryStore) and eng.store.root == tmp_path / "backups"
    assert eng.chunk_size == 32 * MiB and eng.compression == "zlib"
