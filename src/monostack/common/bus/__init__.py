"""The message bus every Monostack service uses: RPC (call, cast, fanout) and
notifications, in the spirit of oslo.messaging but small and asyncio-native.

    bus = create_bus("rabbit://guest:guest@127.0.0.1:5672/")
    await bus.start()
    await bus.serve("conductor", ConductorEndpoint())
    result = await bus.call("conductor", "build", ctx, instance_id=...)

`base` holds the interface and shared behaviour, `memory` and `rabbit` the
transports, `dispatch` how handlers are run, `codec` the JSON wire format,
`errors` the exceptions.
"""

from __future__ import annotations

from typing import Any

from monostack.common.bus.base import Bus
from monostack.common.bus.errors import (
    MessageUndeliverable,
    MessagingError,
    MessagingTimeout,
    NoSuchMethod,
    RemoteError,
)

__all__ = [
    "Bus",
    "MessageUndeliverable",
    "MessagingError",
    "MessagingTimeout",
    "NoSuchMethod",
    "RemoteError",
    "create_bus",
    "bus_from_conf",
]


def create_bus(url: str, *, host: str | None = None, **options: Any) -> Bus:
    """A bus for `url`: ``memory://[name]`` or ``rabbit://`` / ``amqp://``
    ``user:pass@host:port/vhost``.  `host` (default: this machine's hostname)
    names this process as an RPC server and notification publisher;
    `options` go to the transport (see RabbitBus for its knobs)."""
    scheme = url.partition("://")[0].lower()
    if scheme == "memory":
        from monostack.common.bus.memory import MemoryBus

        return MemoryBus(url, host=host, **options)
    if scheme in ("rabbit", "amqp", "amqps"):
        from monostack.common.bus.rabbit import RabbitBus

        return RabbitBus(url, host=host, **options)
    raise ValueError(f"unsupported bus URL scheme {scheme!r}")


def bus_from_conf(conf: Any, *, host: str | None = None) -> Bus:
    """The bus `[bus]` configures: its URL and, on RabbitMQ, the heartbeat and the exchanges."""
    options: dict[str, Any] = {}
    if conf.bus.url.partition("://")[0].lower() != "memory":
        prefix = conf.bus.control_exchange
        options = {"heartbeat": conf.bus.heartbeat, "rpc_exchange": f"{prefix}_rpc",
                   "notification_exchange": f"{prefix}_notifications"}
    return create_bus(conf.bus.url, host=host, **options)
