"""In-process transport (``memory://``): the bus without a broker.

For tests and single-process deployments.  Every `MemoryBus` created with the
same URL in a process shares one routing table (``memory://a`` and
``memory://b`` are isolated from each other), so several "services" in one
process talk as they would over RabbitMQ, with the same semantics: the topic
is load-balanced round-robin, ``topic.server`` reaches one server, fanout
reaches all, notification pools share messages.  Messages are encoded like on
the wire, so JSON-safety problems show up here too.  No threads: every
delivery runs as an asyncio task of the receiving bus, so a slow handler does
not hold up others.  Delivery is at-most-once and nothing is queued for a
target that is not listening.
"""

from __future__ import annotations

import asyncio
import dataclasses
import fnmatch
import logging
from typing import Any, Awaitable, Callable

from monostack.common.bus import errors
from monostack.common.bus.base import Bus, NotificationHandler, RpcHandler

LOG = logging.getLogger(__name__)


@dataclasses.dataclass(eq=False)
class _Consumer:
    bus: "MemoryBus"
    handler: Callable[[bytes], Awaitable[Any]]
    server: str = ""

    def deliver(self, body: bytes) -> asyncio.Task:
        return self.bus._spawn(self.handler(body))


def _take(consumers: list[_Consumer], server: str | None = None) -> _Consumer | None:
    """Round-robin: pick the first matching consumer and move it to the end."""
    for i, consumer in enumerate(consumers):
        if server is None or consumer.server == server:
            consumers.append(consumers.pop(i))
            return consumer
    return None


class _Broker:
    """Routing tables shared by the buses of one ``memory://`` URL."""

    def __init__(self) -> None:
        self.servers: dict[str, list[_Consumer]] = {}
        # (pool or a unique object, glob) -> subscribers sharing the messages
        self.groups: dict[tuple[object, str], list[_Consumer]] = {}

    def remove(self, bus: "MemoryBus") -> None:
        for table in (self.servers, self.groups):
            for key, consumers in list(table.items()):
                consumers[:] = [c for c in consumers if c.bus is not bus]
                if not consumers:
                    del table[key]


_BROKERS: dict[str, _Broker] = {}


class MemoryBus(Bus):
    def __init__(self, url: str = "memory://", *, host: str | None = None):
        super().__init__(host=host)
        self._broker = _BROKERS.setdefault(url, _Broker())

    async def _open(self) -> None:
        pass

    async def _stop_consuming(self) -> None:
        self._broker.remove(self)

    async def _close(self) -> None:
        pass

    async def _serve(self, topic: str, server: str, handler: RpcHandler) -> None:
        self._broker.servers.setdefault(topic, []).append(_Consumer(self, handler, server))

    def _target(self, topic: str, server: str | None) -> _Consumer | None:
        return _take(self._broker.servers.get(topic, []), server)

    async def _call(self, topic: str, server: str | None, body: bytes, timeout: float) -> bytes:
        consumer = self._target(topic, server)
        if consumer is None:
            raise errors.MessageUndeliverable(f"no server listens on {topic} {server or ''}")
        # wait() rather than await: a caller giving up must not cancel the handler
        task = consumer.deliver(body)
        await asyncio.wait({task})
        if task.cancelled():
            raise errors.MessagingError(f"server on {topic} stopped before replying")
        return task.result()

    async def _cast(self, topic: str, server: str | None, body: bytes) -> None:
        consumer = self._target(topic, server)
        if consumer is None:
            LOG.warning("dropping cast to %s %s: no server listens", topic, server or "")
        else:
            consumer.deliver(body)

    async def _fanout(self, topic: str, body: bytes) -> None:
        for consumer in list(self._broker.servers.get(topic, [])):
            consumer.deliver(body)

    async def _notify(self, event_type: str, priority: str, body: bytes) -> None:
        for (_, glob), consumers in list(self._broker.groups.items()):
            if fnmatch.fnmatchcase(event_type, glob):
                _take(consumers).deliver(body)  # type: ignore[union-attr]

    async def _subscribe(
        self, handler: NotificationHandler, event_types: str, pool: str | None,
    ) -> None:
        key = (pool if pool is not None else object(), event_types)
        self._broker.groups.setdefault(key, []).append(_Consumer(self, handler))
