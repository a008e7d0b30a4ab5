"""The ring builder: devices, weights and the assignment of partition replicas to devices.

What a rebalance guarantees:
- the replicas of a partition are on distinct devices, and spread over as many regions, then
  zones, then hosts as there are ("as unique as possible" comes before weight: with three zones
  and three replicas every zone holds one replica of every partition, whatever its weight);
- within those limits each device holds replicas in proportion to its weight;
- it moves as few replicas as it can: only those on removed devices, those on devices holding
  more than their share, and those whose partition could be spread wider;
- outside removals, at most one replica of a partition moves per `min_part_hours`, so two
  replicas of a partition are never in flight at once.

The builder is kept as gzip'd JSON (`<type>.builder`) beside the ring it writes (`<type>.ring.gz`).
"""

from __future__ import annotations

import array
import base64
import collections
import gzip
import json
import math
import os
import pathlib
import random
import time
from typing import Any, Iterable

from monostack.object.ring.ring import write_ring_file

NONE_DEV = 0xFFFF  # an unassigned replica
MAX_PASSES = 8
DEV_KEYS = ("id", "region", "zone", "ip", "port", "replication_ip", "replication_port", "device", "weight", "meta")


class RingBuilderError(Exception):
    """The builder cannot do what was asked (bad device, not enough devices, ...)."""


def _hours_now() -> int:
    return int(time.time() // 3600)


def _waterfill(total: float, weights: dict[Any, float], caps: dict[Any, float]) -> dict[Any, float]:
    """Share `total` in proportion to `weights`, no key above its cap (what a capped key cannot take
    goes to the others, in proportion again)."""
    shares: dict[Any, float] = {key: 0.0 for key in weights}
    open_keys = {key for key, weight in weights.items() if weight > 0}
    remaining = total
    while open_keys and remaining > 1e-9:
        weight_sum = sum(weights[key] for key in open_keys)
        capped = [key for key in open_keys if remaining * weights[key] / weight_sum > caps[key] + 1e-9]
        if not capped:
            for key in open_keys:
                shares[key] = remaining * weights[key] / weight_sum
            break
        for key in capped:
            shares[key] = caps[key]
            remaining -= caps[key]
            open_keys.discard(key)
    return shares


class RingBuilder:
    def __init__(self, part_power: int, replicas: int, min_part_hours: int):
        if not 0 <= part_power <= 24:
            raise RingBuilderError("part_power must be between 0 and 24")
        if replicas < 1:
            raise RingBuilderError("replicas must be at least 1")
        if min_part_hours < 0:
            raise RingBuilderError("min_part_hours must be 0 or more")
        self.part_power = part_power
        self.replicas = replicas
        self.min_part_hours = min_part_hours
        self.devs: list[dict | None] = []
        self.version = 0
        self.devs_changed = False
        self._table: list[array.array] | None = None  # replica -> partition -> device id
        self._last_moved = array.array("I", [0]) * self.parts  # hour of each partition's last move
        self._remove_ids: set[int] = set()

    @property
    def parts(self) -> int:
        return 1 << self.part_power

    # -- persistence -------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        def pack(values: array.array) -> str:
            return base64.b64encode(values.tobytes()).decode()
        return {"part_power": self.part_power, "replicas": self.replicas, "min_part_hours": self.min_part_hours,
                "devs": self.devs, "version": self.version, "devs_changed": self.devs_changed,
                "remove_ids": sorted(self._remove_ids),
                "table": None if self._table is None else [pack(row) for row in self._table],
                "last_moved": pack(self._last_moved)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RingBuilder":
        def unpack(code: str, text: str) -> array.array:
            values = array.array(code)
            values.frombytes(base64.b64decode(text))
            return values
        builder = cls(data["part_power"], data["replicas"], data["min_part_hours"])
        builder.devs = data["devs"]
        builder.version = data.get("version", 0)
        builder.devs_changed = data.get("devs_changed", False)
        builder._remove_ids = set(data.get("remove_ids", []))
        if data.get("table") is not None:
            builder._table = [unpack("H", row) for row in data["table"]]
        builder._last_moved = unpack("I", data["last_moved"])
        return builder

    def save(self, path: str | os.PathLike) -> None:
        path = pathlib.Path(path)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with gzip.open(tmp, "wt") as out:
            json.dump(self.to_dict(), out)
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "RingBuilder":
        try:
            with gzip.open(path, "rt") as source:
                return cls.from_dict(json.load(source))
        except FileNotFoundError:
            raise
        except (OSError, ValueError, KeyError) as exc:
            raise RingBuilderError(f"cannot read the builder {path}: {exc}") from None

    def write_ring(self, path: str | os.PathLike) -> None:
        if self._table is None:
            raise RingBuilderError("the ring was never rebalanced")
        devs = []
        for dev in self.devs:
            devs.append(None if dev is None else {key: dev[key] for key in DEV_KEYS if key in dev})
        write_ring_file(path, devs, self._table, 32 - self.part_power, self.version)

    # -- devices -------------------------------------------------------------------------------------
    def add_dev(self, dev: dict[str, Any]) -> int:
        """Add a device (region, zone, ip, port, device, weight; optional id, replication_ip/port, meta)."""
        for key in ("region", "zone", "ip", "port", "device", "weight"):
            if key not in dev:
                raise RingBuilderError(f"a device needs {key}")
        dev = dict(dev)
        dev["weight"] = float(dev["weight"])
        if dev["weight"] < 0:
            raise RingBuilderError("weight must not be negative")
        dev["region"], dev["zone"], dev["port"] = int(dev["region"]), int(dev["zone"]), int(dev["port"])
        if not dev["device"] or "/" in dev["device"] or dev["device"] in (".", ".."):
            raise RingBuilderError(f"invalid device name {dev['device']!r}")
        for other in self.devs:
            if other is not None and (other["ip"], other["port"], other["device"]) == (
                    dev["ip"], dev["port"], dev["device"]):
                raise RingBuilderError(f"device {dev['ip']}:{dev['port']}/{dev['device']} is already in the "
                                       f"ring as d{other['id']}")
        if dev.get("id") is None:
            dev["id"] = len(self.devs)
            for index, slot in enumerate(self.devs):
                if slot is None and index not in self._remove_ids:
                    dev["id"] = index
                    break
        dev_id = int(dev["id"])
        if dev_id >= NONE_DEV:
            raise RingBuilderError("too many devices")
        while len(self.devs) <= dev_id:
            self.devs.append(None)
        if self.devs[dev_id] is not None:
            raise RingBuilderError(f"device id {dev_id} is already in use")
        dev.setdefault("replication_ip", dev["ip"])
        dev.setdefault("replication_port", dev["port"])
        dev.setdefault("meta", "")
        self.devs[dev_id] = {key: dev[key] for key in DEV_KEYS}
        self.devs_changed = True
        self.version += 1
        return dev_id

    def _dev(self, dev_id: int) -> dict:
        if not 0 <= dev_id < len(self.devs) or self.devs[dev_id] is None or dev_id in self._remove_ids:
            raise RingBuilderError(f"no device d{dev_id}")
        return self.devs[dev_id]  # type: ignore[return-value]

    def set_dev_weight(self, dev_id: int, weight: float) -> None:
        if weight < 0:
            raise RingBuilderError("weight must not be negative")
        self._dev(dev_id)["weight"] = float(weight)
        self.devs_changed = True
        self.version += 1

    def remove_dev(self, dev_id: int) -> None:
        """Marked now, gone at the next rebalance (which moves its replicas elsewhere first)."""
        self._dev(dev_id)["weight"] = 0.0
        self._remove_ids.add(dev_id)
        self.devs_changed = True
        self.version += 1

    def search_devs(self, **criteria: Any) -> list[dict]:
        found = []
        for dev in self.devs:
            if dev is None or dev["id"] in self._remove_ids:
                continue
            if all(value is None or dev.get(key) == value for key, value in criteria.items()):
                found.append(dev)
        return found

    def set_replicas(self, replicas: int) -> None:
        if replicas < 1:
            raise RingBuilderError("replicas must be at least 1")
        self.replicas = replicas
        self.devs_changed = True
        self.version += 1

    def pretend_min_part_hours_passed(self) -> None:
        self._last_moved = array.array("I", [0]) * self.parts

    # -- state ---------------------------------------------------------------------------------------
    def _active(self) -> dict[int, dict]:
        return {dev["id"]: dev for dev in self.devs
                if dev is not None and dev["weight"] > 0 and dev["id"] not in self._remove_ids}

    def dev_parts(self) -> dict[int, int]:
        """Replicas each device holds."""
        counts: collections.Counter[int] = collections.Counter()
        for row in self._table or []:
            counts.update(row)
        counts.pop(NONE_DEV, None)
        return {dev["id"]: counts.get(dev["id"], 0) for dev in self.devs if dev is not None}

    def assignments(self) -> list[list[int]]:
        """partition -> [device id per replica] (for inspection and tests)."""
        if self._table is None:
            return []
        return [[row[part] for row in self._table] for part in range(self.parts)]

    def targets(self) -> dict[int, float]:
        """The replicas each device should hold: its weight's share, within the dispersion limits."""
        active = self._active()
        if not active:
            return {}
        parts = self.parts
        tiers: dict = {}
        for dev in active.values():
            tiers.setdefault(dev["region"], {}).setdefault(dev["zone"], {}).setdefault(dev["ip"], []).append(dev)

        def devices(node: Any) -> list[dict]:
            if isinstance(node, list):
                return node
            return [dev for child in node.values() for dev in devices(child)]

        result: dict[int, float] = {}

        def split(node: Any, total: float) -> None:
            per_part = min(self.replicas, math.ceil(total / parts - 1e-9))
            if isinstance(node, list):  # devices of one host: at most one replica of a partition each
                children = {dev["id"]: [dev] for dev in node}
            else:
                children = {key: devices(child) for key, child in node.items()}
            most = math.ceil(per_part / len(children))
            caps = {key: parts * min(most, len(devs)) for key, devs in children.items()}
            weights = {key: sum(dev["weight"] for dev in devs) for key, devs in children.items()}
            for key, share in _waterfill(total, weights, caps).items():
                if isinstance(node, list):
                    result[key] = share
                else:
                    split(node[key], share)

        split(tiers, float(parts * self.replicas))
        return result

    def _int_targets(self, targets: dict[int, float]) -> dict[int, int]:
        """Whole numbers summing to parts * replicas (largest remainders round up)."""
        floors = {dev_id: int(math.floor(share + 1e-9)) for dev_id, share in targets.items()}
        missing = self.parts * self.replicas - sum(floors.values())
        by_remainder = sorted(targets, key=lambda dev_id: (-(targets[dev_id] - floors[dev_id]), dev_id))
        for dev_id in by_remainder[:max(0, missing)]:
            floors[dev_id] += 1
        return floors

    def get_balance(self) -> float:
        """The largest deviation of a device from its target, in percent."""
        targets = self.targets()
        counts = self.dev_parts()
        worst = 0.0
        for dev_id, target in targets.items():
            if target > 0:
                worst = max(worst, abs(counts.get(dev_id, 0) - target) * 100.0 / target)
        return worst

    # -- rebalance -------------------------------------------------------------------------------------
    def rebalance(self, seed: int | None = None) -> tuple[int, float, int]:
        """Reassign what must or should move; returns (replicas moved, balance %, devices removed)."""
        rng = random.Random(seed)
        active = self._active()
        if len(active) < self.replicas:
            raise RingBuilderError(f"{self.replicas} replicas need at least {self.replicas} devices with weight "
                                   f"(there are {len(active)})")
        parts = self.parts
        if self._table is None:
            self._table = [array.array("H", [NONE_DEV]) * parts for _ in range(self.replicas)]
        while len(self._table) < self.replicas:
            self._table.append(array.array("H", [NONE_DEV]) * parts)
        del self._table[self.replicas:]
        table = self._table
        now = _hours_now()
        int_targets = self._int_targets(self.targets())
        tiers = {dev_id: (dev["region"], (dev["region"], dev["zone"]), (dev["region"], dev["zone"], dev["ip"]))
                 for dev_id, dev in active.items()}
        counts: collections.Counter[int] = collections.Counter()
        for row in table:
            counts.update(dev_id for dev_id in row if dev_id in active)
        moved: set[int] = set()
        moves = 0

        def recently_moved(part: int) -> bool:
            return part in moved or now - self._last_moved[part] < self.min_part_hours

        # 1. replicas that must move: unassigned, on devices leaving, or a second copy on one device
        gathered: list[tuple[int, int]] = []
        for part in range(parts):
            seen: set[int] = set()
            for replica, row in enumerate(table):
                dev_id = row[part]
                if dev_id not in active or dev_id in seen:
                    if dev_id in active:
                        counts[dev_id] -= 1
                    gathered.append((part, replica))
                    row[part] = NONE_DEV
                else:
                    seen.add(dev_id)
        moves += self._place(gathered, active, tiers, counts, int_targets, rng, moved, now)

        for _ in range(MAX_PASSES):
            gathered = self._gather_dispersion(active, tiers, counts, int_targets, recently_moved)
            gathered += self._gather_overweight(active, counts, int_targets, recently_moved, rng,
                                                {part for part, _ in gathered})
            if not gathered:
                break
            moves += self._place(gathered, active, tiers, counts, int_targets, rng, moved, now)

        removed = 0
        for dev_id in sorted(self._remove_ids):
            if dev_id < len(self.devs):
                self.devs[dev_id] = None
                removed += 1
        self._remove_ids.clear()
        self.devs_changed = False
        self.version += 1
        return moves, self.get_balance(), removed

    def _gather_dispersion(self, active: dict, tiers: dict, counts: collections.Counter, int_targets: dict,
                           recently_moved: Any) -> list[tuple[int, int]]:
        """A replica sharing a region/zone/host with another replica of its partition while a
        region/zone/host with room for it holds none of them."""
        table = self._table
        assert table is not None
        level_tiers = [collections.defaultdict(list) for _ in range(3)]
        for dev_id, dev_tiers in tiers.items():
            for level in range(3):
                level_tiers[level][dev_tiers[level]].append(dev_id)
        roomy = [{tier for tier, dev_ids in level_tiers[level].items()
                  if any(counts[d] < int_targets.get(d, 0) for d in dev_ids)} for level in range(3)]
        if not any(roomy):
            return []
        gathered = []
        for part in range(self.parts):
            if recently_moved(part):
                continue
            devs = [row[part] for row in table]
            for level in range(3):
                used = collections.Counter(tiers[d][level] for d in devs)
                crowded = [tier for tier, n in used.items() if n > 1]
                if not crowded or not (roomy[level] - set(used)):
                    continue
                # the replica on the fullest device of a crowded tier goes
                candidates = [(counts[d] - int_targets.get(d, 0), replica) for replica, d in enumerate(devs)
                              if tiers[d][level] in crowded]
                _, replica = max(candidates)
                counts[devs[replica]] -= 1
                table[replica][part] = NONE_DEV
                gathered.append((part, replica))
                break
        return gathered

    def _gather_overweight(self, active: dict, counts: collections.Counter, int_targets: dict,
                           recently_moved: Any, rng: random.Random, taken: set[int]) -> list[tuple[int, int]]:
        table = self._table
        assert table is not None
        heavy = {dev_id for dev_id in active if counts[dev_id] > int_targets.get(dev_id, 0)}
        if not heavy or not any(counts[d] < int_targets.get(d, 0) for d in active):
            return []
        holdings: dict[int, list[tuple[int, int]]] = collections.defaultdict(list)
        for replica, row in enumerate(table):
            for part, dev_id in enumerate(row):
                if dev_id in heavy:
                    holdings[dev_id].append((part, replica))
        gathered = []
        for dev_id in sorted(heavy):
            excess = counts[dev_id] - int_targets.get(dev_id, 0)
            choices = holdings[dev_id]
            rng.shuffle(choices)
            for part, replica in choices:
                if excess <= 0:
                    break
                if part in taken or recently_moved(part):
                    continue
                taken.add(part)
                table[replica][part] = NONE_DEV
                counts[dev_id] -= 1
                excess -= 1
                gathered.append((part, replica))
        return gathered

    def _place(self, gathered: list[tuple[int, int]], active: dict, tiers: dict, counts: collections.Counter,
               int_targets: dict, rng: random.Random, moved: set[int], now: int) -> int:
        """Each gathered replica to the device that spreads its partition widest, then wants most."""
        table = self._table
        assert table is not None
        gathered.sort()
        dev_ids = sorted(active)
        moves = 0
        for part, replica in gathered:
            others = [row[part] for index, row in enumerate(table) if index != replica and row[part] != NONE_DEV]
            used = [collections.Counter(tiers[d][level] for d in others) for level in range(3)]
            best_key = None
            best = NONE_DEV
            for dev_id in dev_ids:
                if dev_id in others:
                    continue
                dev_tiers = tiers[dev_id]
                key = (used[0][dev_tiers[0]], used[1][dev_tiers[1]], used[2][dev_tiers[2]],
                       counts[dev_id] - int_targets.get(dev_id, 0), rng.random())
                if best_key is None or key < best_key:
                    best_key, best = key, dev_id
            table[replica][part] = best
            counts[best] += 1
            moved.add(part)
            self._last_moved[part] = now
            moves += 1
        return moves


def parse_device(text: str) -> dict[str, Any]:
    """swift-ring-builder's "r1z2-127.0.0.1:6200R127.0.0.1:6300/sdb1_meta" (region optional)."""
    rest = text
    dev: dict[str, Any] = {}
    if rest.startswith("r"):
        number = _leading_int(rest[1:])
        dev["region"] = int(number)
        rest = rest[1 + len(number):]
    else:
        dev["region"] = 1
    if not rest.startswith("z"):
        raise RingBuilderError(f"invalid device {text!r}: expected z<zone>")
    number = _leading_int(rest[1:])
    dev["zone"] = int(number)
    rest = rest[1 + len(number):]
    if not rest.startswith("-"):
        raise RingBuilderError(f"invalid device {text!r}: expected -<ip>")
    rest = rest[1:]
    address, slash, rest = rest.partition("/")
    if not slash:
        raise RingBuilderError(f"invalid device {text!r}: expected /<device>")
    main, _, replication = address.partition("R")
    dev["ip"], dev["port"] = _host_port(main, text)
    if replication:
        dev["replication_ip"], dev["replication_port"] = _host_port(replication, text)
    name, _, meta = rest.partition("_")
    dev["device"] = name
    dev["meta"] = meta
    return dev


def _leading_int(text: str) -> str:
    digits = ""
    for char in text:
        if not char.isdigit():
            break
        digits += char
    if not digits:
        raise RingBuilderError(f"expected a number at {text!r}")
    return digits


def _host_port(text: str, whole: str) -> tuple[str, int]:
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest.lstrip(":")
    else:
        host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise RingBuilderError(f"invalid device {whole!r}: expected <ip>:<port>")
    return host, int(port)


def format_device(dev: dict[str, Any]) -> str:
    return f"d{dev['id']}r{dev['region']}z{dev['zone']}-{dev['ip']}:{dev['port']}/{dev['device']}"


def match_devs(builder: RingBuilder, search: str) -> list[dict]:
    """Devices matching "d<id>", a bare id, or a search value like "r1z2-127.0.0.1:6200/sdb"
    (any leading part of it)."""
    if search.isdigit():
        return builder.search_devs(id=int(search))
    if search.startswith("d") and search[1:].isdigit():
        return builder.search_devs(id=int(search[1:]))
    criteria: dict[str, Any] = {}
    rest = search
    if rest.startswith("d"):
        number = _leading_int(rest[1:])
        criteria["id"] = int(number)
        rest = rest[1 + len(number):]
    if rest.startswith("r"):
        number = _leading_int(rest[1:])
        criteria["region"] = int(number)
        rest = rest[1 + len(number):]
    if rest.startswith("z"):
        number = _leading_int(rest[1:])
        criteria["zone"] = int(number)
        rest = rest[1 + len(number):]
    if rest.startswith("-"):
        rest = rest[1:]
    address, _, name = rest.partition("/")
    if address:
        host, _, port = address.rpartition(":") if ":" in address else (address, "", "")
        criteria["ip"] = host or None
        criteria["port"] = int(port) if port.isdigit() else None
    if name:
        criteria["device"] = name
    if not criteria:
        raise RingBuilderError(f"invalid search value {search!r}")
    return builder.search_devs(**criteria)


def iter_types(kind: str) -> Iterable[str]:
    return ("account", "container", "object") if kind == "all" else (kind,)
