"""RabbitMQ transport (``rabbit://`` / ``amqp://``) on aio-pika.

Layout on the broker (``X`` = the RPC exchange name, default monostack_rpc;
``N`` = the notification exchange name, default monostack_notifications)::

    X  direct exchange, durable
       routing key topic         -> queue X.topic         shared by the topic's servers
       routing key topic.server  -> queue X.topic.server  one server
       routing key topic_fanout  -> queue X.topic_fanout.<uuid> per server (exclusive)
    default exchange             -> queue X.reply.<uuid>  per bus (exclusive), replies
                                    matched to calls by correlation id
    N  topic exchange, durable, routing key notifications.<priority>.<event_type>
       subscriber without pool   -> queue N.<uuid> (exclusive)
       subscribers of a pool     -> queue N.<pool>.<glob slug>, shared

Why this shape:

* One durable exchange per purpose is declared once and never deleted, so a
  publisher never races an auto-deleted exchange.
* Shared and per-server RPC queues are neither exclusive nor auto-delete but
  expire (``x-expires``, `queue_ttl`) once unused: messages wait while a
  server restarts or reconnects, abandoned queues still go away.  Calls carry
  their timeout as message expiration so stale calls are not run later.
  Calls are published *mandatory*: a target nobody ever served fails at once
  with `MessageUndeliverable` instead of waiting for the timeout.
* AMQP topic bindings cannot express shell globs, so a subscription binds
  ``notifications.*.<literal words of the glob>.#`` and the exact
  ``fnmatch`` filter runs in the process.  A pool is one queue per (pool,
  glob), so members never receive messages their filter would drop.
  Ceilometer-style consumers can bind their own queue to
  ``notifications.info.#`` on N.
* RPC requests are acked when a handler slot frees up and before the handler
  runs (at-most-once, like oslo.messaging); notifications are acked after the
  callback (at-least-once).  Prefetch bounds unacked messages per consumer and
  a semaphore per consumer bounds running handlers.
* Publishing uses publisher confirms and waits out a reconnect; reconnecting
  itself is aio-pika's RobustConnection (see reconnect.py for the backoff).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import uuid
from typing import Any, Awaitable, Callable

import aio_pika
from aio_pika.abc import AbstractExchange, AbstractIncomingMessage, AbstractQueue
from aio_pika.exceptions import CONNECTION_EXCEPTIONS, DeliveryError, PublishError
from yarl import URL

from monostack.common.bus import errors
from monostack.common.bus.base import Bus, NotificationHandler, RpcHandler
from monostack.common.bus.reconnect import BackoffConnection

LOG = logging.getLogger(__name__)


def amqp_url(url: str, **defaults: Any) -> URL:
    """oslo-style ``rabbit://`` to ``amqp://``; `defaults` fill query params."""
    parsed = URL(url)
    if parsed.scheme == "rabbit":
        parsed = parsed.with_scheme("amqp")
    query = {k: str(v) for k, v in defaults.items()}
    query.update(parsed.query)
    return parsed.with_query(query)


def glob_slug(glob: str) -> str:
    """A queue-name-safe, unique rendering of a glob ("image.*" -> "image._-1a2b3c4d")."""
    digest = hashlib.sha256(glob.encode()).hexdigest()[:8]
    return re.sub(r"[^A-Za-z0-9_.:-]", "_", glob) + "-" + digest


def binding_key(glob: str) -> str:
    """The AMQP binding covering an fnmatch glob: its literal words, then #."""
    words = []
    for word in glob.split("."):
        if any(c in word for c in "*?["):
            words.append("#")
            break
        words.append(word)
    return "notifications.*." + ".".join(words)


class RabbitBus(Bus):
    def __init__(
        self, url: str, *, host: str | None = None,
        heartbeat: int = 60, prefetch: int = 10, queue_ttl: float = 600.0,
        send_timeout: float = 60.0, rpc_exchange: str = "monostack_rpc",
        notification_exchange: str = "monostack_notifications",
    ):
        super().__init__(host=host)
        self._url = amqp_url(url, heartbeat=heartbeat, reconnect_interval=1, name=f"monostack:{self.host}")
        self._prefetch = prefetch
        self._queue_args = {"x-expires": int(queue_ttl * 1000)}
        self._send_timeout = send_timeout
        self._rpc_name = rpc_exchange
        self._notification_name = notification_exchange
        self._connection: BackoffConnection | None = None
        self._consumers: list[tuple[AbstractQueue, str]] = []
        self._pending: dict[str, asyncio.Future[bytes]] = {}

    # -- lifecycle --------------------------------------------------------

    async def _open(self) -> None:
        connection = BackoffConnection(self._url, fail_fast=False)
        try:
            await connection.connect()  # retries until the broker answers
            self._publisher = await connection.channel(on_return_raises=True)
            self._channel = await connection.channel()
            await self._channel.set_qos(prefetch_count=self._prefetch)
            self._rpc = await self._publisher.declare_exchange(
                self._rpc_name, aio_pika.ExchangeType.DIRECT, durable=True)
            self._notifications = await self._publisher.declare_exchange(
                self._notification_name, aio_pika.ExchangeType.TOPIC, durable=True)
            self._reply_queue = await self._channel.declare_queue(
                f"{self._rpc_name}.reply.{uuid.uuid4().hex}", exclusive=True)
            await self._reply_queue.consume(self._on_reply, no_ack=True)
        except BaseException:
            await connection.close()
            raise
        self._connection = connection

    async def _stop_consuming(self) -> None:
        consumers, self._consumers = self._consumers, []
        for queue, tag in consumers:
            # While disconnected there is nothing to cancel, and cancel() would
            # wait for the reconnect; closing the connection drops the rest.
            if self._connection is None or not self._connection.connected.is_set():
                return
            try:
                async with asyncio.timeout(5):
                    await queue.cancel(tag)
            except Exception as exc:
                LOG.warning("could not cancel consumer on %s: %r", queue.name, exc)

    async def _close(self) -> None:
        for future in self._pending.values():
            if not future.done():
                future.set_exception(errors.MessagingError("bus stopped"))
        if self._connection is not None:
            await self._connection.close()
            self._connection = None

    # -- sending ----------------------------------------------------------

    async def _publish(
        self, exchange: AbstractExchange, routing_key: str, body: bytes, *,
        mandatory: bool = False, **properties: Any,
    ) -> None:
        """Publish with confirms; on connection loss wait for the reconnect
        and retry (so a message may, rarely, arrive twice)."""
        message = aio_pika.Message(
            body, content_type="application/json", message_id=uuid.uuid4().hex, **properties)
        while True:
            await self._publisher.ready()
            try:
                await exchange.publish(message, routing_key, mandatory=mandatory)
                return
            except DeliveryError:  # returned (PublishError) or nacked
                raise
            except CONNECTION_EXCEPTIONS as exc:
                LOG.warning("publish to %s failed (%r), retrying after reconnect", routing_key, exc)
                await asyncio.sleep(0.5)

    async def _send(self, exchange: AbstractExchange, routing_key: str, body: bytes, **kw: Any) -> None:
        """Publish within send_timeout (casts, fanouts, notifications)."""
        try:
            async with asyncio.timeout(self._send_timeout):
                await self._publish(exchange, routing_key, body, **kw)
        except TimeoutError:
            raise errors.MessagingTimeout(f"could not publish to {routing_key} in time") from None
        except PublishError:
            LOG.warning("dropping message to %s: nobody listens", routing_key)
        except DeliveryError as exc:
            raise errors.MessagingError(f"broker refused message to {routing_key}: {exc}") from exc

    async def _call(self, topic: str, server: str | None, body: bytes, timeout: float) -> bytes:
        correlation_id = uuid.uuid4().hex
        future = self._pending[correlation_id] = asyncio.get_running_loop().create_future()
        routing_key = f"{topic}.{server}" if server else topic
        try:
            await self._publish(
                self._rpc, routing_key, body, mandatory=True, expiration=timeout,
                reply_to=self._reply_queue.name, correlation_id=correlation_id)
            return await future
        except PublishError:
            raise errors.MessageUndeliverable(f"no server listens on {routing_key}") from None
        except DeliveryError as exc:
            raise errors.MessagingError(f"broker refused call to {routing_key}: {exc}") from exc
        finally:
            self._pending.pop(correlation_id, None)

    async def _on_reply(self, message: AbstractIncomingMessage) -> None:
        future = self._pending.get(message.correlation_id or "")
        if future is not None and not future.done():
            future.set_result(message.body)
        else:
            LOG.debug("dropping late or unknown reply %s", message.correlation_id)

    async def _cast(self, topic: str, server: str | None, body: bytes) -> None:
        await self._send(self._rpc, f"{topic}.{server}" if server else topic, body, mandatory=True)

    async def _fanout(self, topic: str, body: bytes) -> None:
        await self._send(self._rpc, f"{topic}_fanout", body)

    async def _notify(self, event_type: str, priority: str, body: bytes) -> None:
        await self._send(
            self._notifications, f"notifications.{priority}.{event_type}", body,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT)

    # -- receiving --------------------------------------------------------

    async def _consume(
        self, queue: AbstractQueue, handler: Callable[[bytes], Awaitable[bytes | None]], *,
        ack_first: bool,
    ) -> None:
        slots = asyncio.Semaphore(self._prefetch)

        async def run(message: AbstractIncomingMessage) -> None:
            async with slots:
                try:
                    if ack_first:
                        await message.ack()
                    reply = await handler(message.body)
                    if not ack_first:
                        await message.ack()
                    if reply is not None and message.reply_to:
                        await self._send(
                            self._publisher.default_exchange, message.reply_to, reply,
                            correlation_id=message.correlation_id)
                except Exception:
                    LOG.exception("handling message from %s failed", queue.name)

        async def on_message(message: AbstractIncomingMessage) -> None:
            self._spawn(run(message))

        self._consumers.append((queue, await queue.consume(on_message)))

    async def _serve(self, topic: str, server: str, handler: RpcHandler) -> None:
        declare = self._channel.declare_queue
        x = self._rpc_name
        for queue, key in [
            (await declare(f"{x}.{topic}", arguments=self._queue_args), topic),
            (await declare(f"{x}.{topic}.{server}", arguments=self._queue_args), f"{topic}.{server}"),
            (await declare(f"{x}.{topic}_fanout.{uuid.uuid4().hex}", exclusive=True), f"{topic}_fanout"),
        ]:
            await queue.bind(x, key)
            await self._consume(queue, handler, ack_first=True)

    async def _subscribe(
        self, handler: NotificationHandler, event_types: str, pool: str | None,
    ) -> None:
        x = self._notification_name
        if pool is None:
            queue = await self._channel.declare_queue(f"{x}.{uuid.uuid4().hex}", exclusive=True)
        else:
            queue = await self._channel.declare_queue(
                f"{x}.{pool}.{glob_slug(event_types)}", arguments=self._queue_args)
        await queue.bind(x, binding_key(event_types))
        await self._consume(queue, handler, ack_first=False)
