"""The ring: which devices hold a partition, as the servers and the proxy read it.

A ring file (`<type>.ring.gz`) is what a builder's rebalance writes, in Swift's version 1 layout
(gzip of: magic b"R1NG\\x00\\x01", a 4-byte big-endian length and that much JSON with the devices,
part_shift and replica_count, then per replica an array of 2-byte device ids, one per partition).
`Ring.load` reads it and re-reads it when the file changes (checked at most every 15 s).
"""

from __future__ import annotations

import array
import gzip
import hashlib
import itertools
import json
import os
import pathlib
import struct
import sys
import time
from typing import Any, Iterator

from monostack.object.ring import hashing

MAGIC = b"R1NG\x00\x01"
RELOAD_INTERVAL = 15.0


class RingError(Exception):
    """A ring file that cannot be read."""


def write_ring_file(path: str | os.PathLike, devs: list[dict | None], replica2part2dev: list[array.array],
                    part_shift: int, version: int | None = None) -> None:
    """Write atomically (a reader never sees half a ring)."""
    path = pathlib.Path(path)
    header = json.dumps({"devs": devs, "part_shift": part_shift, "replica_count": len(replica2part2dev),
                         "byteorder": sys.byteorder, "version": version}, sort_keys=True).encode()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    # mtime 0 in the gzip header: the same ring always gives the same bytes (md5-comparable copies)
    with open(tmp, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as out:
        out.write(MAGIC)
        out.write(struct.pack("!I", len(header)))
        out.write(header)
        for part2dev in replica2part2dev:
            out.write(part2dev.tobytes())
    with open(tmp, "rb") as flushed:
        os.fsync(flushed.fileno())
    os.replace(tmp, path)


def read_ring_file(path: str | os.PathLike) -> dict[str, Any]:
    try:
        with gzip.open(path, "rb") as raw:
            if raw.read(len(MAGIC)) != MAGIC:
                raise RingError(f"{path} is not a ring file")
            (length,) = struct.unpack("!I", raw.read(4))
            data = json.loads(raw.read(length))
            partitions = 1 << (32 - data["part_shift"])
            table = []
            for _ in range(data["replica_count"]):
                part2dev = array.array("H")
                part2dev.frombytes(raw.read(2 * partitions))
                if data.get("byteorder", sys.byteorder) != sys.byteorder:
                    part2dev.byteswap()
                if len(part2dev) != partitions:
                    raise RingError(f"{path} is truncated")
                table.append(part2dev)
    except (OSError, EOFError, ValueError, KeyError, struct.error) as exc:
        raise RingError(f"cannot read the ring {path}: {exc}") from None
    for dev in data["devs"]:
        if dev is not None:
            dev.setdefault("replication_ip", dev["ip"])
            dev.setdefault("replication_port", dev["port"])
    data["replica2part2dev"] = table
    return data


class Ring:
    """Partitioned consistent hashing, read side."""

    def __init__(self, path: str | os.PathLike, hash_path: hashing.HashPath | None = None,
                 reload_interval: float = RELOAD_INTERVAL):
        self.path = pathlib.Path(path)
        self.hash_path = hash_path if hash_path is not None else hashing.load(self.path.parent)
        self.reload_interval = reload_interval
        self._mtime = -1.0
        self._next_check = 0.0
        self._reload(force=True)

    @classmethod
    def load(cls, path: str | os.PathLike, hash_path: hashing.HashPath | None = None) -> "Ring":
        return cls(path, hash_path)

    # -- loading -----------------------------------------------------------------------------------
    def _reload(self, force: bool = False) -> None:
        self._next_check = time.monotonic() + self.reload_interval
        try:
            mtime = self.path.stat().st_mtime
        except OSError as exc:
            if force:
                raise RingError(f"no ring at {self.path}: {exc}") from None
            return  # keep serving the ring we have
        if not force and mtime == self._mtime:
            return
        data = read_ring_file(self.path)
        self._mtime = mtime
        self._devs: list[dict | None] = data["devs"]
        self._table: list[array.array] = data["replica2part2dev"]
        self._part_shift: int = data["part_shift"]
        self.version = data.get("version")
        assigned = {dev_id for part2dev in self._table for dev_id in set(part2dev)}
        devs = [self._devs[i] for i in assigned if self._devs[i] is not None]
        self._num_regions = len({d["region"] for d in devs})
        self._num_zones = len({(d["region"], d["zone"]) for d in devs})
        self._num_ips = len({(d["region"], d["zone"], d["ip"]) for d in devs})
        self._num_assigned = len(devs)

    def _check(self) -> None:
        if time.monotonic() > self._next_check:
            self._reload()

    # -- properties --------------------------------------------------------------------------------
    @property
    def replica_count(self) -> int:
        self._check()
        return len(self._table)

    @property
    def partition_count(self) -> int:
        self._check()
        return 1 << (32 - self._part_shift)

    @property
    def part_power(self) -> int:
        return 32 - self._part_shift

    @property
    def devs(self) -> list[dict | None]:
        self._check()
        return self._devs

    # -- lookups -----------------------------------------------------------------------------------
    def get_part(self, account: str, container: str | None = None, obj: str | None = None) -> int:
        self._check()
        key = self.hash_path.digest(account, container, obj)
        return struct.unpack_from(">I", key)[0] >> self._part_shift

    def _part_nodes(self, part: int) -> list[dict]:
        nodes = []
        seen: set[int] = set()
        for index, part2dev in enumerate(self._table):
            dev_id = part2dev[part]
            if dev_id in seen:  # a ring with fewer devices than replicas
                continue
            seen.add(dev_id)
            nodes.append(dict(self._devs[dev_id], index=index))
        return nodes

    def get_part_nodes(self, part: int) -> list[dict]:
        self._check()
        return self._part_nodes(part)

    def get_nodes(self, account: str, container: str | None = None,
                  obj: str | None = None) -> tuple[int, list[dict]]:
        part = self.get_part(account, container, obj)
        return part, self._part_nodes(part)

    def get_more_nodes(self, part: int) -> Iterator[dict]:
        """Handoff devices for a partition, the same ones in the same order for as long as the
        ring does not change: first devices in regions the primaries do not use, then in zones they
        do not use, then on hosts they do not use, then any other device.  Candidates are taken
        from the assignments of a run of partitions starting at one derived from this one, which
        spreads handoffs in proportion to the devices' weights."""
        self._check()
        primaries = self._part_nodes(part)
        used = {node["id"] for node in primaries}
        regions = {node["region"] for node in primaries}
        zones = {(node["region"], node["zone"]) for node in primaries}
        hosts = {(node["region"], node["zone"], node["ip"]) for node in primaries}
        partitions = len(self._table[0])
        start = struct.unpack_from(">I", hashlib.md5(str(part).encode(), usedforsecurity=False).digest())[0] \
            >> self._part_shift
        step = max(1, partitions // 65536)
        order = list(itertools.chain(range(start, partitions, step), range(start % step, start, step)))
        counter = itertools.count()

        def candidates() -> Iterator[dict]:
            for handoff_part in order:
                for part2dev in self._table:
                    dev_id = part2dev[handoff_part]
                    if dev_id not in used:
                        yield self._devs[dev_id]

        # Each stage stops as soon as its kind of tier is exhausted.
        stages = [(lambda d: d["region"], regions, self._num_regions),
                  (lambda d: (d["region"], d["zone"]), zones, self._num_zones),
                  (lambda d: (d["region"], d["zone"], d["ip"]), hosts, self._num_ips)]
        for tier_of, seen_tiers, total in stages:
            if len(seen_tiers) >= total:
                continue
            for dev in candidates():
                if dev["id"] in used or tier_of(dev) in seen_tiers:
                    continue
                used.add(dev["id"])
                regions.add(dev["region"])
                zones.add((dev["region"], dev["zone"]))
                hosts.add((dev["region"], dev["zone"], dev["ip"]))
                yield dict(dev, handoff_index=next(counter))
                if len(seen_tiers) >= total:
                    break
        if len(used) >= self._num_assigned:
            return
        for dev in candidates():
            if dev["id"] in used:
                continue
            used.add(dev["id"])
            yield dict(dev, handoff_index=next(counter))
            if len(used) >= self._num_assigned:
                return
