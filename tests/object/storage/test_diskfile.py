"""Objects on disk: which files win, cleanup, reclaim, suffix hashes, metadata without xattrs."""

from __future__ import annotations

import errno
import os
import time
from typing import Any

import pytest

from monostack.object.ring.hashing import HashPath
from monostack.object.storage.diskfile import (SIDECAR, DiskFileDeleted, DiskFileManager, DiskFileNotExist,
                                               classify, cleanup_hashdir, read_metadata)
from monostack.object.storage.timestamp import Timestamp


def ts(offset: float) -> str:
    return Timestamp(1700000000 + offset).internal


NOW = time.time()


@pytest.fixture(autouse=True)
def _now() -> None:
    """Timestamps near each test's own start: a suite that runs for minutes would
    otherwise age them past the reclaim age the tests choose."""
    global NOW
    NOW = time.time()


def recent(offset: float) -> str:
    return Timestamp(NOW + offset).internal


def test_timestamps() -> None:
    assert Timestamp("1700000000.5").normal == "1700000000.50000"
    assert Timestamp(1.5).internal == "0000000001.50000"
    with_offset = Timestamp("1700000000.50000_000000000000000a")
    assert with_offset.internal == "1700000000.50000_000000000000000a" and with_offset.normal == "1700000000.50000"
    assert with_offset > Timestamp("1700000000.5") and Timestamp("1700000000.5") == "1700000000.50000"
    assert Timestamp("1700000000.00001").ceil() == 1700000001
    assert Timestamp("1700000000.5").isoformat == "2023-11-14T22:13:20.500000"
    for bad in ("x", "-1", "1e20", "nan", "1_zz", ""):
        with pytest.raises(ValueError):
            Timestamp(bad)


def test_classify_keeps_the_newest() -> None:
    state = classify([f"{ts(1)}.data", f"{ts(2)}.meta", f"{ts(3)}.data", f"{ts(0)}.ts", "junk.tmp"])
    assert state.data == f"{ts(3)}.data" and state.meta is None and state.ts is None
    assert sorted(state.obsolete) == sorted([f"{ts(1)}.data", f"{ts(2)}.meta", f"{ts(0)}.ts", "junk.tmp"])
    state = classify([f"{ts(1)}.data", f"{ts(2)}.meta", f"{ts(3)}.meta"])
    assert state.data == f"{ts(1)}.data" and state.meta == f"{ts(3)}.meta"
    assert state.obsolete == [f"{ts(2)}.meta"]
    state = classify([f"{ts(1)}.data", f"{ts(2)}.ts", f"{ts(3)}.meta"])
    assert state.ts == f"{ts(2)}.ts" and state.data is None and state.meta is None
    state = classify([f"{ts(1)}.ts"], reclaim_before=1700000000 + 5)
    assert state.ts is None and state.obsolete == [f"{ts(1)}.ts"]
    state = classify([f"{ts(1)}.data", f"{ts(1)}.data{SIDECAR}", f"{ts(0)}.data", f"{ts(0)}.data{SIDECAR}",
                      f"{ts(9)}.data{SIDECAR}"])
    assert state.data == f"{ts(1)}.data"
    assert sorted(state.obsolete) == sorted([f"{ts(0)}.data", f"{ts(0)}.data{SIDECAR}", f"{ts(9)}.data{SIDECAR}"])


@pytest.fixture
def manager(tmp_path: Any) -> DiskFileManager:
    (tmp_path / "sda").mkdir()
    return DiskFileManager(str(tmp_path), HashPath(b"", b"suffix"), reclaim_age=100)


def _metadata(df: Any, stamp: str, data: bytes = b"") -> dict[str, str]:
    import hashlib
    return {"name": df.name, "X-Timestamp": stamp, "Content-Type": "a/b", "Content-Length": str(len(data)),
            "ETag": hashlib.md5(data).hexdigest()}


def test_write_read_delete_and_hashes(manager: DiskFileManager) -> None:
    df = manager.diskfile("sda", 3, "a", "c", "o")
    df.put(b"one", recent(1), _metadata(df, recent(1), b"one"))
    df.put(b"two", recent(2), _metadata(df, recent(2), b"two"))
    assert os.listdir(df.hashdir) == [f"{recent(2)}.data"]  # the older one was removed
    fresh = manager.diskfile("sda", 3, "a", "c", "o")
    assert fresh.load()["ETag"] and fresh.read_all() == b"two"
    hashes = manager.get_hashes("sda", 3)
    suffix = df.hash[-3:]
    assert list(hashes) == [suffix]
    assert manager.get_hashes("sda", 3) == hashes  # stable while nothing changes
    fresh.write_marker(recent(3), "ts", {"name": df.name, "X-Timestamp": recent(3)})
    with pytest.raises(DiskFileDeleted) as deleted:
        manager.diskfile("sda", 3, "a", "c", "o").load()
    assert deleted.value.timestamp == Timestamp(recent(3))
    changed = manager.get_hashes("sda", 3)
    assert changed[suffix] != hashes[suffix]
    # once the tombstone is older than reclaim_age, computing the hashes removes it, and the suffix goes
    manager.reclaim_age = -60  # (the tombstone is a few seconds in the future)
    assert manager.get_hashes("sda", 3, [suffix]) == {}
    assert not os.path.exists(df.hashdir)
    with pytest.raises(DiskFileNotExist):
        manager.diskfile("sda", 3, "a", "c", "o").load()


def test_metadata_in_a_sidecar_when_xattrs_fail(manager: DiskFileManager, monkeypatch: Any) -> None:
    def refuse(*_args: Any) -> None:
        raise OSError(errno.ENOTSUP, "no xattrs here")
    monkeypatch.setattr(os, "setxattr", refuse)
    df = manager.diskfile("sda", 0, "a", "c", "side")
    df.put(b"data", recent(1), _metadata(df, recent(1), b"data"))
    assert sorted(os.listdir(df.hashdir)) == [f"{recent(1)}.data", f"{recent(1)}.data{SIDECAR}"]
    assert read_metadata(os.path.join(df.hashdir, f"{recent(1)}.data"))["Content-Length"] == "4"
    fresh = manager.diskfile("sda", 0, "a", "c", "side")
    fresh.load()
    assert fresh.read_all() == b"data"
    df.put(b"more", recent(2), _metadata(df, recent(2), b"more"))
    assert sorted(os.listdir(df.hashdir)) == [f"{recent(2)}.data", f"{recent(2)}.data{SIDECAR}"]


def test_cleanup_of_a_hash_directory(tmp_path: Any) -> None:
    directory = tmp_path / "hash"
    directory.mkdir()
    now = time.time()
    old_ts = Timestamp(now - 1000).internal
    (directory / f"{old_ts}.ts").write_bytes(b"")
    state = cleanup_hashdir(str(directory), reclaim_age=100)
    assert state.ts is None and not directory.exists()  # reclaimed, and the empty directory went too


def test_corrupt_metadata_quarantines(manager: DiskFileManager) -> None:
    df = manager.diskfile("sda", 0, "a", "c", "bad")
    df.put(b"data", recent(1), _metadata(df, recent(1), b"data"))
    os.setxattr(os.path.join(df.hashdir, f"{recent(1)}.data"), "user.swift.metadata", b"{not json")
    with pytest.raises(DiskFileNotExist):
        manager.diskfile("sda", 0, "a", "c", "bad").load()
    assert not os.path.exists(df.hashdir)
    assert os.listdir(os.path.join(manager.devices_dir, "sda", "quarantined", "objects")) == [df.hash]
    # and a wrong length
    df = manager.diskfile("sda", 0, "a", "c", "short")
    df.put(b"data", recent(1), dict(_metadata(df, recent(1), b"data"), **{"Content-Length": "10"}))
    with pytest.raises(DiskFileNotExist):
        manager.diskfile("sda", 0, "a", "c", "short").load()
    quarantined = os.listdir(os.path.join(manager.devices_dir, "sda", "quarantined", "objects"))
    assert sorted(quarantined) == sorted([df.hash, manager.diskfile("sda", 0, "a", "c", "bad").hash])


def test_every_new_directory_is_fsynced_before_a_write_returns(tmp_path: Any, monkeypatch: Any) -> None:
    """With fsync threads, the directories a new object's write made are fsynced alongside its data:
    each one before the write returns, and a failed one fails the write."""
    import concurrent.futures

    from monostack.object.storage import diskfile

    (tmp_path / "sda").mkdir()
    synced: list[str] = []
    real = diskfile.fsync_dir

    def recording(path: str) -> None:
        real(path)
        synced.append(path)

    monkeypatch.setattr(diskfile, "fsync_dir", recording)
    with concurrent.futures.ThreadPoolExecutor(4) as workers:
        manager = DiskFileManager(str(tmp_path), HashPath(b"", b"suffix"), fsync_workers=workers)
        df = manager.diskfile("sda", 7, "a", "c", "o")
        df.put(b"data", recent(1), _metadata(df, recent(1), b"data"))
        suffix_dir = os.path.dirname(df.hashdir)
        partition_dir = os.path.dirname(suffix_dir)
        # the object's directory (after the rename), and each directory that got a new entry
        objects_dir = os.path.dirname(partition_dir)  # (new too, and made in the device's directory)
        assert sorted(synced) == sorted([df.hashdir, suffix_dir, partition_dir, objects_dir,
                                         os.path.dirname(objects_dir)])
        fresh = manager.diskfile("sda", 7, "a", "c", "o")
        assert fresh.load()["Content-Length"] == "4" and fresh.read_all() == b"data"

        def failing(path: str) -> None:
            if path.endswith("/objects/8"):
                raise OSError(errno.EIO, "the disk went away")
            real(path)

        monkeypatch.setattr(diskfile, "fsync_dir", failing)
        other = manager.diskfile("sda", 8, "a", "c", "p")
        with pytest.raises(OSError):
            other.put(b"data", recent(2), _metadata(other, recent(2), b"data"))


@pytest.mark.parametrize("unnamed", [True, False])
def test_writes_leave_nothing_behind_in_tmp(manager: DiskFileManager, unnamed: bool) -> None:
    """A write goes to an unnamed file in the object's directory (O_TMPFILE) when the filesystem
    has them, else to a named one in tmp/; either way a finished or abandoned write leaves no file
    there, and a write that dies before its commit leaves no object."""
    manager.unnamed_files = unnamed and hasattr(os, "O_TMPFILE")
    df = manager.diskfile("sda", 1, "a", "c", f"o-{unnamed}")
    df.put(b"data", recent(1), _metadata(df, recent(1), b"data"))
    assert df.unnamed == manager.unnamed_files
    assert os.listdir(df.hashdir) == [f"{recent(1)}.data"]
    fresh = manager.diskfile("sda", 1, "a", "c", f"o-{unnamed}")
    assert fresh.load()["ETag"] and fresh.read_all() == b"data"
    abandoned = manager.diskfile("sda", 1, "a", "c", f"gone-{unnamed}")
    fd, tmp = abandoned.create_tmp(1 << 20)
    os.write(fd, b"partial")
    os.close(fd)
    if not abandoned.unnamed:
        os.unlink(tmp)  # (what the object server's discard does with a named one)
    with pytest.raises(DiskFileNotExist):
        manager.diskfile("sda", 1, "a", "c", f"gone-{unnamed}").load()
    tmp_dir = os.path.join(manager.devices_dir, "sda", "tmp")
    assert not os.path.isdir(tmp_dir) or os.listdir(tmp_dir) == []
