"""qemu-img and friends, run off the event loop (monostack.common.processes), failures as VolumeDriverError."""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import pathlib
import struct
import subprocess
from typing import Any

from monostack.common import processes
from monostack.volume.drivers.base import VolumeDriverError

GiB = 1024 ** 3
# Formats an image may come in / a volume may be uploaded as (Glance disk_format -> qemu-img name).
IMAGE_FORMATS = {"raw": "raw", "qcow2": "qcow2", "vmdk": "vmdk", "vdi": "vdi", "vhd": "vpc", "vhdx": "vhdx"}


async def run(*argv: str, timeout: float | None = 6 * 3600) -> str:
    try:
        done = await processes.run(argv, timeout=timeout)
    except OSError as err:
        raise VolumeDriverError(f"cannot run {argv[0]}: {err}") from None
    except subprocess.TimeoutExpired:
        raise VolumeDriverError(f"{' '.join(argv[:2])} took longer than {timeout}s") from None
    if done.returncode != 0:
        raise VolumeDriverError(f"{' '.join(argv[:2])} failed: "
                                f"{done.stderr.decode(errors='replace').strip()[-2000:]}")
    return done.stdout.decode(errors="replace")


async def info(path: pathlib.Path, fmt: str, *, share: bool = True) -> dict[str, Any]:
    """qemu-img info with the format given (never probed); share=False fails while a QEMU writes the file."""
    argv = ["qemu-img", "info", "--output=json", "-f", fmt]
    if share:
        argv.append("-U")
    return json.loads(await run(*argv, str(path)))


async def in_use(path: pathlib.Path, fmt: str) -> bool:
    """Whether a running QEMU holds the file open for writing.

    Read from QEMU's own image locks: a QEMU with write permission on the file holds a
    shared OFD lock on byte 100 + 1 (BLK_PERM_WRITE).  Asking the lock table directly
    works for every format and for guests sharing a raw file (multiattach, share-rw=on);
    `qemu-img info` without -U misses raw files (it opens them without any permission)."""
    return await asyncio.to_thread(_write_locked, path)


_LOCK_BYTE_WRITE = 101  # QEMU's LOCK_BYTE_PERM_BASE (100) + the bit of BLK_PERM_WRITE (1)
_FLOCK = "hhqqi4x"  # struct flock on Linux x86-64/aarch64: l_type, l_whence, l_start, l_len, l_pid


def _write_locked(path: pathlib.Path) -> bool:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        asked = struct.pack(_FLOCK, fcntl.F_WRLCK, os.SEEK_SET, _LOCK_BYTE_WRITE, 1, 0)
        answer = fcntl.fcntl(fd, fcntl.F_OFD_GETLK, asked)
        return struct.unpack(_FLOCK, answer)[0] != fcntl.F_UNLCK
    except OSError as err:
        raise VolumeDriverError(f"cannot read the locks of {path.name}: {err}") from None
    finally:
        os.close(fd)


async def overlay(path: pathlib.Path, backing_name: str, backing_fmt: str, size: int) -> None:
    """A qcow2 overlay at path on the file backing_name of the same directory (relative name, -F given).
    -u: the backing file is not opened (it may get its final name only later); size is given."""
    await run("qemu-img", "create", "-q", "-f", "qcow2", "-u", "-b", backing_name, "-F", backing_fmt,
              str(path), str(size))


async def convert(src: pathlib.Path, src_fmt: str, dst: pathlib.Path, dst_fmt: str, *, coroutines: int = 16,
                  share: bool = False) -> None:
    """A standalone copy (the backing chain folded in), fast: parallel coroutines, out-of-order writes,
    zeroes left sparse.  The target is flushed by qemu-img at the end (cache=writeback)."""
    argv = ["qemu-img", "convert", "-q", "-f", src_fmt, "-O", dst_fmt, "-W", "-m", str(max(1, min(coroutines, 16)))]
    if share:
        argv.append("-U")
    await run(*argv, str(src), str(dst))


async def resize(path: pathlib.Path, fmt: str, size: int) -> None:
    await run("qemu-img", "resize", "-q", "-f", fmt, str(path), str(size))


async def flatten(path: pathlib.Path) -> None:
    """Pull everything of the backing chain into the qcow2 file at path, which then stands alone."""
    await run("qemu-img", "rebase", "-q", "-f", "qcow2", "-b", "", str(path))


async def copy(src: pathlib.Path, dst: pathlib.Path) -> None:
    """A byte-for-byte sparse copy (reflinked where the filesystem can: instant on XFS/btrfs)."""
    await run("cp", "--sparse=always", "--reflink=auto", str(src), str(dst))


async def fsync(path: pathlib.Path) -> None:
    """The file's data and its name on disk before anything depends on it."""
    def sync() -> None:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        dfd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)

    await asyncio.to_thread(sync)
