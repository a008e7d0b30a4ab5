"""Disk files of a guest, made with qemu-img (and mkfs/mkswap for blank disks).

Every call runs a subprocess through asyncio: the event loop never waits.
"""

from __future__ import annotations

import json
import os
import pathlib
from typing import Any

from monostack.compute.drivers.base import DriverError
from monostack.compute.drivers.commands import run

GiB = 1024 ** 3
MiB = 1024 ** 2


async def info(path: pathlib.Path, fmt: str | None = None) -> dict[str, Any]:
    """qemu-img info (-U: the image may be open in a running guest)."""
    argv = ["qemu-img", "info", "-U", "--output=json"]
    if fmt:
        argv += ["-f", fmt]
    return json.loads(await run(*argv, str(path)))


# (path, format, inode, mtime) -> virtual size of a base image: the cached images overlays are made
# on never change in place (a new download is a new file), so each is read once, not per guest
_base_sizes: dict[tuple[str, str, int, int], int] = {}


async def _base_size(base: pathlib.Path, base_format: str) -> int:
    try:
        st = base.stat()
    except OSError:
        raise DriverError(f"the image {base} is not on this host") from None
    key = (str(base), base_format, st.st_ino, st.st_mtime_ns)
    if key not in _base_sizes:
        _base_sizes[key] = (await info(base, base_format))["virtual-size"]
    return _base_sizes[key]


async def create_overlay(path: pathlib.Path, base: pathlib.Path, base_format: str, size: int = 0) -> None:
    """A qcow2 overlay on base (never written through), size bytes when larger than base."""
    base_size = await _base_size(base, base_format)
    tmp = path.with_name(path.name + ".part")
    argv = ["qemu-img", "create", "-q", "-f", "qcow2", "-F", base_format, "-b", str(base.resolve()), str(tmp)]
    if size > base_size:
        argv.append(str(size))
    await run(*argv)
    os.replace(tmp, path)


async def grow(path: pathlib.Path, size: int, fmt: str = "qcow2") -> None:
    """Grow the disk to size bytes; a smaller size is refused (no disk shrinks under a guest)."""
    current = (await info(path, fmt))["virtual-size"]
    if size < current:
        raise DriverError(f"cannot resize the disk down from {current} to {size} bytes")
    if size > current:
        await run("qemu-img", "resize", "-q", "-f", fmt, str(path), str(size))


async def create_blank(path: pathlib.Path, size: int, *, swap: bool = False, label: str = "") -> None:
    """A sparse raw disk: a swap area (mkswap), or an ext4 filesystem labelled label (Nova's ephemeral0)."""
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "wb") as f:
        f.truncate(size)
    try:
        if swap:
            await run("mkswap", "-L", label or "swap", str(tmp))
        else:
            await run("mkfs.ext4", "-F", "-q", "-L", label or "ephemeral0", "-E", "lazy_itable_init=1",
                      str(tmp))
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)


async def convert_standalone(src: pathlib.Path, target: pathlib.Path, src_format: str = "qcow2") -> None:
    """A qcow2 copy of src with its backing chain folded in (no backing file), written then renamed."""
    tmp = target.with_name(target.name + ".part")
    try:
        await run("qemu-img", "convert", "-U", "-f", src_format, "-O", "qcow2", str(src), str(tmp))
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


async def copy(src: pathlib.Path, dst: pathlib.Path) -> None:
    """A sparse (reflinked where the filesystem can) copy, written then renamed."""
    tmp = dst.with_name(dst.name + ".part")
    try:
        await run("cp", "--sparse=always", "--reflink=auto", str(src), str(tmp))
        os.replace(tmp, dst)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
