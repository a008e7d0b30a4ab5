"""The `Bus` interface every Monostack service talks to, and the behaviour
shared by all transports.

RPC follows oslo.messaging's model: a server started with
``serve(topic, endpoint, server=name)`` receives

* calls/casts to ``topic`` — one server of the topic gets each message,
* calls/casts to ``topic`` with ``server=name`` — only that server,
* fanouts to ``topic`` — every server of the topic.

Notifications are oslo-style envelopes (message_id, publisher_id, event_type,
priority, payload, timestamp, context).  ``subscribe(cb, event_types=glob,
pool=name)``: subscribers sharing a pool name *and* glob split the matching
notifications between them; every other subscriber gets its own copy.

This module does the transport-independent part: validating arguments,
building and decoding messages, propagating the request context, raising
remote errors, tracking handler tasks so ``stop()`` can drain them.  A
transport implements the ``_open``/``_close``/``_call``/... primitives, which
only move encoded bytes.
"""

from __future__ import annotations

import abc
import asyncio
import datetime
import logging
import re
import socket
import uuid
from typing import Any, Awaitable, Callable, Coroutine

from monostack.common import context as request_context
from monostack.common.bus import codec, errors
from monostack.common.bus.dispatch import NotificationDispatcher, RpcDispatcher

LOG = logging.getLogger(__name__)

PRIORITIES = frozenset({"audit", "debug", "info", "warn", "warning", "error", "critical", "sample"})

RpcHandler = Callable[[bytes], Awaitable[bytes]]
NotificationHandler = Callable[[bytes], Awaitable[None]]
Context = dict[str, Any] | request_context.RequestContext | None


def _context_dict(ctx: Context) -> dict[str, Any] | None:
    """The context to send: the given one, else the caller's current one."""
    if ctx is None:
        ctx = request_context.current()
    if isinstance(ctx, request_context.RequestContext):
        return ctx.to_dict()
    if ctx is None:
        return None
    return {k: v for k, v in ctx.items() if k != "auth_token"}


# Names end up in AMQP routing keys and queue names.  "." separates topic
# and server there ("compute.node1.example.com"), so topics have none.
_TOPIC = re.compile(r"[A-Za-z0-9_:-]+")
_NAME = re.compile(r"[A-Za-z0-9_.:-]+")


def _check(kind: str, value: str | None, pattern: re.Pattern[str] = _NAME) -> None:
    if value is not None and not pattern.fullmatch(value):
        raise ValueError(f"invalid {kind} {value!r}: allowed are {pattern.pattern}")


def _check_topic(topic: str, server: str | None = None) -> None:
    _check("topic", topic, _TOPIC)
    _check("server", server)


class Bus(abc.ABC):
    def __init__(self, *, host: str | None = None):
        self.host = host or socket.gethostname()
        self._state = "new"  # -> running -> stopping -> stopped
        self._tasks: set[asyncio.Task] = set()

    # -- lifecycle --------------------------------------------------------

    async def start(self) -> None:
        if self._state != "new":
            raise RuntimeError(f"bus is {self._state}, cannot start")
        await self._open()
        self._state = "running"

    async def stop(self, grace: float = 30.0) -> None:
        """Stop consuming, let in-flight handlers finish (cancelling those
        still running after `grace` seconds), then close the transport."""
        if self._state != "running":
            return
        self._state = "stopping"  # handlers may still send while draining
        try:
            await self._stop_consuming()
            await self._drain(grace)
        finally:
            self._state = "stopped"
            await self._close()

    async def __aenter__(self) -> "Bus":
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task:
        """Run a handler as its own task, tracked so stop() can wait for it."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _drain(self, grace: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        while self._tasks:  # loop: deliveries already under way may add more
            _, pending = await asyncio.wait(set(self._tasks), timeout=max(deadline - loop.time(), 0))
            if pending and loop.time() >= deadline:
                for task in pending:
                    LOG.warning("cancelling handler still running after %.0fs: %r", grace, task)
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)

    def _require(self, *states: str) -> None:
        if self._state not in states:
            raise errors.MessagingError(f"bus is {self._state}")

    # -- RPC --------------------------------------------------------------

    async def serve(self, topic: str, endpoint: object, *, server: str | None = None) -> None:
        """Expose the public methods of `endpoint` on `topic`."""
        server = server or self.host
        _check_topic(topic, server)
        self._require("running")
        await self._serve(topic, server, RpcDispatcher(topic, endpoint))

    def _request(self, method: str, ctx: Context, kwargs: dict[str, Any]) -> bytes:
        if "context" in kwargs:
            raise TypeError("pass the request context as ctx, not as a 'context' keyword")
        return codec.encode({"method": method, "kwargs": kwargs, "context": _context_dict(ctx)})

    async def call(
        self, topic: str, method: str, ctx: Context = None, *,
        server: str | None = None, timeout: float = 60.0, **kwargs: Any,
    ) -> Any:
        """Call `method` on one server of `topic` and return its result."""
        _check_topic(topic, server)
        self._require("running", "stopping")
        body = self._request(method, ctx, kwargs)
        target = f"{topic}.{server}" if server else topic
        try:
            async with asyncio.timeout(timeout):
                reply = await self._call(topic, server, body, timeout)
        except TimeoutError:
            raise errors.MessagingTimeout(
                f"no reply from {target} to {method!r} within {timeout}s") from None
        answer = codec.decode(reply)
        if "failure" in answer:
            raise errors.from_failure(answer["failure"])
        return answer.get("result")

    async def cast(
        self, topic: str, method: str, ctx: Context = None, *,
        server: str | None = None, **kwargs: Any,
    ) -> None:
        """Send `method` to one server of `topic` without waiting for it."""
        _check_topic(topic, server)
        self._require("running", "stopping")
        await self._cast(topic, server, self._request(method, ctx, kwargs))

    async def fanout(self, topic: str, method: str, ctx: Context = None, **kwargs: Any) -> None:
        """Send `method` to every server of `topic` without waiting."""
        _check_topic(topic)
        self._require("running", "stopping")
        await self._fanout(topic, self._request(method, ctx, kwargs))

    # -- notifications ------------------------------------------------------

    async def notify(
        self, event_type: str, payload: dict[str, Any], ctx: Context = None, *,
        priority: str = "info", publisher_id: str | None = None,
    ) -> None:
        """Publish a notification.  Like oslo's notifier, a transport failure
        is logged, not raised: notifications must not break the request."""
        priority = priority.lower()
        if priority not in PRIORITIES:
            raise ValueError(f"unknown priority {priority!r}")
        self._require("running", "stopping")
        body = codec.encode({
            "message_id": str(uuid.uuid4()),
            "publisher_id": publisher_id or self.host,
            "event_type": event_type,
            "priority": priority.upper(),
            "payload": payload,
            "timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(),
            "context": _context_dict(ctx),
        })
        try:
            await self._notify(event_type, priority, body)
        except Exception:
            LOG.exception("could not send notification %s", event_type)

    async def subscribe(
        self, callback: Callable[..., Any], *, event_types: str = "*", pool: str | None = None,
    ) -> None:
        """Call `callback(notification)` for notifications matching the glob."""
        _check("pool", pool)
        self._require("running")
        await self._subscribe(NotificationDispatcher(callback, event_types), event_types, pool)

    # -- transport primitives ---------------------------------------------

    @abc.abstractmethod
    async def _open(self) -> None: ...

    @abc.abstractmethod
    async def _stop_consuming(self) -> None: ...

    @abc.abstractmethod
    async def _close(self) -> None: ...

    @abc.abstractmethod
    async def _serve(self, topic: str, server: str, handler: RpcHandler) -> None: ...

    @abc.abstractmethod
    async def _call(self, topic: str, server: str | None, body: bytes, timeout: float) -> bytes:
        """Deliver a request and return the encoded reply; raise
        MessageUndeliverable if no server listens (the caller applies the timeout)."""

    @abc.abstractmethod
    async def _cast(self, topic: str, server: str | None, body: bytes) -> None: ...

    @abc.abstractmethod
    async def _fanout(self, topic: str, body: bytes) -> None: ...

    @abc.abstractmethod
    async def _notify(self, event_type: str, priority: str, body: bytes) -> None: ...

    @abc.abstractmethod
    async def _subscribe(
        self, handler: NotificationHandler, event_types: str, pool: str | None,
    ) -> None: ...
