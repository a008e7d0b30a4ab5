"""Which storage nodes a request goes to: primaries, then handoffs, skipping the ones in error.

As Swift's proxy: a node that answers 507 (an unmounted device) is skipped at
once for `error_suppression_interval` seconds; a node that fails
`error_suppression_limit` times within that interval too.  Reads go to the
primaries in random order (spreading the load), then to up to as many handoffs.
"""

from __future__ import annotations

import random
import time
from typing import Any, Iterator


def node_key(node: dict[str, Any]) -> tuple[str, int, str]:
    return (node["ip"], int(node["port"]), node["device"])


def node_name(node: dict[str, Any]) -> str:
    return f"{node['ip']}:{node['port']}/{node['device']}"


class ErrorLimiter:
    def __init__(self, interval: float = 60.0, limit: int = 10):
        self.interval = interval
        self.limit = limit
        self._errors: dict[tuple[str, int, str], tuple[int, float]] = {}

    def limited(self, node: dict[str, Any]) -> bool:
        entry = self._errors.get(node_key(node))
        if entry is None:
            return False
        count, last = entry
        if time.monotonic() - last > self.interval:
            del self._errors[node_key(node)]
            return False
        return count > self.limit

    def error_limit(self, node: dict[str, Any]) -> None:
        """Skip this node from now on (for the interval)."""
        self._errors[node_key(node)] = (self.limit + 1, time.monotonic())

    def error(self, node: dict[str, Any]) -> None:
        key = node_key(node)
        count, last = self._errors.get(key, (0, 0.0))
        now = time.monotonic()
        if now - last > self.interval:
            count = 0
        self._errors[key] = (count + 1, now)

    def clear(self) -> None:
        self._errors.clear()


class NodeIter:
    """Primaries first (shuffled for reads), then handoffs; `primaries_left` tells a caller where it is."""

    def __init__(self, ring: Any, part: int, limiter: ErrorLimiter, shuffle: bool = True,
                 handoffs: int | None = None):
        self.ring = ring
        self.part = part
        self.limiter = limiter
        self.primaries = list(ring.get_part_nodes(part))
        if shuffle:
            random.shuffle(self.primaries)
        self.handoff_limit = len(self.primaries) if handoffs is None else handoffs
        self.primaries_yielded = 0
        self.handoffs_yielded = 0
        self.skipped_primaries = 0
        self._gen = self._nodes()

    def _nodes(self) -> Iterator[dict[str, Any]]:
        for node in self.primaries:
            if self.limiter.limited(node):
                self.skipped_primaries += 1
                continue
            self.primaries_yielded += 1
            yield node
        if self.handoff_limit <= 0:
            return
        for node in self.ring.get_more_nodes(self.part):
            if self.limiter.limited(node):
                continue
            self.handoffs_yielded += 1
            yield node
            if self.handoffs_yielded >= self.handoff_limit:
                return

    def __iter__(self) -> "NodeIter":
        return self

    def __next__(self) -> dict[str, Any]:
        return next(self._gen)
