"""The file driver's directory: what each file name means, and the backing chains between the files.

    volume-<id>.<fmt>     a volume (fmt qcow2 or raw: the name records the format, it is never
                          probed, so a guest writing a qcow2 header into a raw volume changes nothing)
    snapshot-<id>.<fmt>   a snapshot: immutable once it has this name
    snapshot-<id>.deleted the snapshot was deleted while other files still have it in their chain;
                          the file goes when the last of them does
    layer-<uuid>.qcow2    an anonymous immutable layer (what a volume held when it was cloned)
    .tmp-*                work in progress: never part of a chain, removed by init_host

qcow2 files name their backing file relative to this directory (a bare file name), with the
backing format recorded (-F), so the directory can move and QEMU never probes a format.

The chains are read from the qcow2 headers themselves (a few bytes each, no subprocess), so
the files are the whole truth: nothing else to keep in step after a crash.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import struct

QCOW2_MAGIC = b"QFI\xfb"
TMP = ".tmp-"
FORMATS = ("qcow2", "raw")


@dataclasses.dataclass(frozen=True)
class Entry:
    kind: str  # volume, snapshot, layer
    id: str
    fmt: str

    @property
    def name(self) -> str:
        return f"{self.kind}-{self.id}.{self.fmt}"


def parse(name: str) -> Entry | None:
    """The entry a file name stands for (None: a temp, a tombstone or a stranger)."""
    if name.startswith(TMP) or "." not in name:
        return None
    stem, fmt = name.rsplit(".", 1)
    if fmt not in FORMATS:
        return None
    for kind in ("volume", "snapshot", "layer"):
        if stem.startswith(kind + "-") and len(stem) > len(kind) + 1:
            return Entry(kind, stem[len(kind) + 1:], fmt)
    return None


def tombstone(directory: pathlib.Path, snapshot_id: str) -> pathlib.Path:
    return directory / f"snapshot-{snapshot_id}.deleted"


def find(directory: pathlib.Path, kind: str, entry_id: str) -> pathlib.Path | None:
    for fmt in FORMATS:
        path = directory / f"{kind}-{entry_id}.{fmt}"
        if path.exists():
            return path
    return None


@dataclasses.dataclass(frozen=True)
class Header:
    virtual_size: int
    backing: str | None  # the backing file's name as written in the header


def read_header(path: pathlib.Path) -> Header:
    """The virtual size and backing file name of a qcow2 file (blocking; reads < 1 KiB)."""
    with open(path, "rb") as f:
        head = f.read(32)
        if len(head) < 32 or head[:4] != QCOW2_MAGIC:
            raise ValueError(f"{path.name} is not a qcow2 file")
        offset, length = struct.unpack(">QI", head[8:20])
        size = struct.unpack(">Q", head[24:32])[0]
        backing = None
        if offset and length:
            f.seek(offset)
            backing = f.read(length).decode()
    return Header(size, backing)


def virtual_size(path: pathlib.Path) -> int:
    """Bytes the guest sees (blocking)."""
    if path.name.endswith(".qcow2"):
        return read_header(path).virtual_size
    return path.stat().st_size


def backing_of(directory: pathlib.Path, name: str) -> str | None:
    """The name of the file `name` is an overlay on, when that file is one of this directory's (blocking)."""
    if not name.endswith(".qcow2"):
        return None
    backing = read_header(directory / name).backing
    if not backing:
        return None
    if "/" in backing:  # only our own bare names are followed; nothing writes others
        raise ValueError(f"{name} has a foreign backing file {backing!r}")
    return backing


def chain(directory: pathlib.Path, name: str) -> list[str]:
    """name and the files under it, top first (blocking)."""
    out = [name]
    while (below := backing_of(directory, out[-1])) is not None:
        if below in out or len(out) > 1000:
            raise ValueError(f"the backing chain of {name} loops")
        out.append(below)
    return out


def depth(directory: pathlib.Path, name: str) -> int:
    return len(chain(directory, name))


def garbage(directory: pathlib.Path, pinned: set[str] = frozenset()) -> list[pathlib.Path]:
    """Files no volume or live snapshot needs any more: layers and deleted snapshots outside
    every chain, and tombstones of snapshots that are gone (blocking)."""
    names = set(os.listdir(directory))
    entries = {n: parse(n) for n in names}
    roots = set(pinned)
    for name, entry in entries.items():
        if entry is None:
            continue
        if entry.kind == "volume" or (entry.kind == "snapshot"
                                      and f"snapshot-{entry.id}.deleted" not in names):
            roots.add(name)
    needed: set[str] = set()
    for root in roots:
        if root in names and root not in needed:
            try:
                needed.update(chain(directory, root))
            except (OSError, ValueError):
                return []  # a chain that cannot be read: delete nothing rather than something needed
    out = []
    for name, entry in entries.items():
        if entry is not None and entry.kind in ("layer", "snapshot") and name not in needed:
            out.append(directory / name)
    for name in names:
        if name.endswith(".deleted") and not any(
                f"{name[:-len('.deleted')]}.{fmt}" in needed for fmt in FORMATS):
            out.append(directory / name)
    return out


def dependants(directory: pathlib.Path, name: str) -> list[str]:
    """Volumes and live snapshots whose chain goes through name (blocking)."""
    out = []
    for other in os.listdir(directory):
        entry = parse(other)
        if entry is None or other == name or entry.kind == "layer":
            continue
        if name in chain(directory, other)[1:]:
            out.append(other)
    return out
