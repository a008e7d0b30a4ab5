"""Tests of monostack.common.bus, run against both transports.

RabbitMQ tests use the broker at MONOSTACK_TEST_RABBIT_URL (default
amqp://guest:guest@127.0.0.1:5672/) with exchanges unique to each test (deleted
afterwards) and queues that are exclusive or expire a few seconds after use.
Without a broker they are skipped, or fail when CI=true.
"""

from __future__ import annotations

import asyncio
import datetime
import socket
import uuid

import pytest
from yarl import URL

from monostack.common import context
from monostack.common.context import current as current_context
from monostack.common.bus import (
    MessageUndeliverable,
    MessagingError,
    MessagingTimeout,
    NoSuchMethod,
    RemoteError,
    create_bus,
)
from monostack.common.bus import codec, errors
from monostack.common.bus.rabbit import binding_key
from monostack.common.bus.reconnect import BackoffConnection
from tests.rabbit import RABBIT_URL, Rabbit, require_rabbit

WAIT = 10.0  # generous upper bound for anything that should happen


@pytest.fixture(params=["memory", "rabbit"])
async def make_bus(request):
    """make_bus(host=...) -> a started bus; all are stopped after the test."""
    buses = []
    rabbit = None
    if request.param == "rabbit":
        await require_rabbit()
        rabbit = Rabbit()
        url, options = RABBIT_URL, rabbit.options
    else:
        url, options = f"memory://{uuid.uuid4().hex}", {}

    async def make(host: str = "host-a", url: str = url, **extra):
        bus = create_bus(url, host=host, **options, **extra)
        buses.append(bus)
        await asyncio.wait_for(bus.start(), WAIT)
        return bus

    make.transport = request.param
    yield make
    for bus in buses:
        await bus.stop()
    if rabbit is not None:
        await rabbit.cleanup()


@pytest.fixture
def topic() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


class CustomError(Exception):
    """Not in an allowed module: arrives as RemoteError."""


class Endpoint:
    def __init__(self, name: str = "server", seen: asyncio.Queue | None = None):
        self.name = name
        self.seen = seen if seen is not None else asyncio.Queue()
        self.release = asyncio.Event()
        self.running = 0
        self.peak = 0

    async def add(self, a, b):
        return a + b

    def echo(self, value):  # sync methods work too
        return value

    async def whoami(self):
        return self.name

    async def record(self, value):
        await self.seen.put((self.name, value))

    async def whose_context(self, context):
        current = current_context()
        return {
            "arg": context.request_id if context else None,
            "current": current.request_id if current else None,
            "user": context.user_id if context else None,
            "token": context.auth_token if context else None,
        }

    async def fail(self, kind):
        if kind == "value":
            raise ValueError("bad value")
        if kind == "key":
            raise KeyError("missing")
        if kind == "no_such":
            raise NoSuchMethod("nested")
        raise CustomError("custom failure")

    async def wait(self):
        self.running += 1
        self.peak = max(self.peak, self.running)
        try:
            await asyncio.wait_for(self.release.wait(), WAIT)
        finally:
            self.running -= 1
        return "done"

    def _private(self):
        return "secret"


async def wait_for_items(queue: asyncio.Queue, count: int) -> list:
    return [await asyncio.wait_for(queue.get(), WAIT) for _ in range(count)]


# -- unit tests ------------------------------------------------------------


def test_codec_handles_datetimes_and_uuids():
    when = datetime.datetime(2024, 5, 1, 12, 30, tzinfo=datetime.timezone.utc)
    some_id = uuid.uuid4()
    decoded = codec.decode(codec.encode({"when": when, "id": some_id, "roles": {"admin"}}))
    assert decoded == {"when": "2024-05-01T12:30:00+00:00", "id": str(some_id), "roles": ["admin"]}
    with pytest.raises(TypeError):
        codec.encode({"bad": object()})


def test_failures_only_recreate_allowed_classes():
    assert isinstance(errors.from_failure(errors.to_failure(ValueError("x"))), ValueError)
    assert isinstance(errors.from_failure(errors.to_failure(MessagingTimeout("x"))), MessagingTimeout)
    remote = errors.from_failure(errors.to_failure(CustomError("nope")))
    assert isinstance(remote, RemoteError)
    assert remote.exc_type.endswith("CustomError") and remote.message == "nope"
    forged = {"module": "os", "class": "system", "args": ["true"], "message": ""}
    assert isinstance(errors.from_failure(forged), RemoteError)
    not_exception = {"module": "builtins", "class": "print", "args": ["x"], "message": ""}
    assert isinstance(errors.from_failure(not_exception), RemoteError)


def test_binding_key_covers_glob():
    assert binding_key("*") == "notifications.*.#"
    assert binding_key("identity.user.*") == "notifications.*.identity.user.#"
    assert binding_key("identity.*.created") == "notifications.*.identity.#"
    assert binding_key("compute.instance.create.end") == "notifications.*.compute.instance.create.end"


async def test_reconnect_backoff_doubles_up_to_a_cap():
    connection = BackoffConnection(URL("amqp://127.0.0.1:1/?reconnect_interval=1"))
    now = connection.loop.time()
    for waited, pause in [(0, 1), (1, 1), (2, 2), (4, 4), (16, 16), (100, 30)]:
        connection._down_since = now - waited
        assert connection.reconnect_interval == pytest.approx(pause, abs=0.1)
    connection._down_since = None  # connected
    assert connection.reconnect_interval == 1
    await connection.close()


def test_create_bus_rejects_unknown_scheme():
    with pytest.raises(ValueError):
        create_bus("kafka://localhost")


# -- RPC -------------------------------------------------------------------


async def test_call_returns_result(make_bus, topic):
    bus = await make_bus()
    await bus.serve(topic, Endpoint())
    assert await bus.call(topic, "add", a=2, b=3) == 5
    when = datetime.datetime(2024, 1, 2, 3, 4, 5)
    assert await bus.call(topic, "echo", value={"when": when}) == {"when": "2024-01-02T03:04:05"}


async def test_call_between_buses_is_load_balanced(make_bus, topic):
    client = await make_bus("client")
    for name in ("a", "b"):
        await (await make_bus(name)).serve(topic, Endpoint(name))
    answers = [await client.call(topic, "whoami") for _ in range(6)]
    assert set(answers) == {"a", "b"}


async def test_call_to_server(make_bus, topic):
    client = await make_bus("client")
    for name in ("a", "b"):
        await (await make_bus(f"{name}.example.com")).serve(topic, Endpoint(name))
    for _ in range(4):
        assert await client.call(topic, "whoami", server="b.example.com") == "b"


async def test_cast_reaches_one_server(make_bus, topic):
    client = await make_bus("client")
    seen = asyncio.Queue()
    for name in ("a", "b"):
        await (await make_bus(name)).serve(topic, Endpoint(name, seen))
    await client.cast(topic, "record", value=1)
    await client.cast(topic, "record", value=2, server="b")
    got = await wait_for_items(seen, 2)
    assert sorted(value for _, value in got) == [1, 2]
    assert ("b", 2) in got
    await asyncio.sleep(0.1)
    assert seen.empty()


async def test_fanout_reaches_every_server(make_bus, topic):
    client = await make_bus("client")
    endpoints = [Endpoint(name) for name in ("a", "b", "c")]
    for endpoint in endpoints:
        await (await make_bus(endpoint.name)).serve(topic, endpoint)
    await client.fanout(topic, "record", value="hello")
    for endpoint in endpoints:
        assert await asyncio.wait_for(endpoint.seen.get(), WAIT) == (endpoint.name, "hello")


async def test_remote_exceptions(make_bus, topic):
    client, server = await make_bus("client"), await make_bus("server")
    await server.serve(topic, Endpoint())
    with pytest.raises(ValueError, match="bad value"):
        await client.call(topic, "fail", kind="value")
    with pytest.raises(KeyError):
        await client.call(topic, "fail", kind="key")
    with pytest.raises(NoSuchMethod, match="nested"):  # monostack.* class
        await client.call(topic, "fail", kind="no_such")
    with pytest.raises(RemoteError) as info:
        await client.call(topic, "fail", kind="custom")
    assert info.value.exc_type.endswith("CustomError")
    assert info.value.message == "custom failure"
    assert "CustomError" in info.value.traceback


async def test_handler_exceptions_are_logged(make_bus, topic, caplog):
    bus = await make_bus()
    await bus.serve(topic, Endpoint())
    with pytest.raises(ValueError):
        await bus.call(topic, "fail", kind="value")
    records = [r for r in caplog.records if r.exc_info and r.name.startswith("monostack.common.bus")]
    assert records and "fail" in records[0].getMessage()


async def test_only_public_methods_are_callable(make_bus, topic):
    bus = await make_bus()
    await bus.serve(topic, Endpoint())
    for method in ("_private", "__init__", "nonexistent"):
        with pytest.raises(NoSuchMethod):
            await bus.call(topic, method)


async def test_call_times_out(make_bus, topic):
    bus = await make_bus()
    endpoint = Endpoint()
    await bus.serve(topic, endpoint)
    with pytest.raises(MessagingTimeout):
        await bus.call(topic, "wait", timeout=0.3)
    endpoint.release.set()


async def test_call_without_server_fails_fast(make_bus, topic):
    bus = await make_bus()
    with pytest.raises(MessageUndeliverable):
        await bus.call(topic, "add", timeout=WAIT, a=1, b=2)
    await bus.serve(topic, Endpoint())
    with pytest.raises(MessageUndeliverable):
        await bus.call(topic, "add", server="elsewhere", timeout=WAIT, a=1, b=2)
    await bus.cast(topic, "record", server="elsewhere", value=1)  # dropped, not raised


async def test_slow_calls_run_concurrently(make_bus, topic):
    client, server = await make_bus("client"), await make_bus("server")
    endpoint = Endpoint()
    await server.serve(topic, endpoint)
    calls = [asyncio.create_task(client.call(topic, "wait", timeout=WAIT)) for _ in range(2)]
    while endpoint.peak < 2:  # both handlers are running at the same time
        await asyncio.sleep(0.01)
        assert not any(c.done() for c in calls)
    endpoint.release.set()
    assert await asyncio.gather(*calls) == ["done", "done"]


async def test_invalid_arguments(make_bus, topic):
    bus = await make_bus()
    with pytest.raises(ValueError):
        await bus.call("has.dot", "x")
    with pytest.raises(ValueError):
        await bus.cast(topic, "x", server="no spaces")
    with pytest.raises(ValueError):
        await bus.subscribe(print, pool="no/slash")
    with pytest.raises(TypeError):
        await bus.call(topic, "x", context={})
    with pytest.raises(TypeError):
        await bus.cast(topic, "x", value=object())
    with pytest.raises(ValueError):
        await bus.notify("a.b", {}, priority="loud")


# -- context propagation -----------------------------------------------------


async def test_call_propagates_current_context(make_bus, topic):
    client, server = await make_bus("client"), await make_bus("server")
    await server.serve(topic, Endpoint())
    ctx = context.RequestContext(request_id="req-123", user_id="u1", auth_token="secret")
    with context.use_context(ctx):
        seen = await client.call(topic, "whose_context")
    assert seen == {"arg": "req-123", "current": "req-123", "user": "u1", "token": None}
    explicit = context.RequestContext(request_id="req-456").to_dict()
    seen = await client.call(topic, "whose_context", explicit)
    assert seen["arg"] == seen["current"] == "req-456"
    assert await client.call(topic, "whose_context") == {
        "arg": None, "current": None, "user": None, "token": None}


# -- notifications ---------------------------------------------------------


async def test_notification_envelope_and_glob(make_bus):
    publisher, listener = await make_bus("publisher"), await make_bus("listener")
    users, everything = asyncio.Queue(), asyncio.Queue()
    await listener.subscribe(users.put, event_types="identity.user.*")
    await listener.subscribe(everything.put)
    with context.use_context(context.RequestContext(request_id="req-n1")):
        await publisher.notify("identity.project.created", {"id": "p1"})
        await publisher.notify("identity.user.created", {"id": "u1"}, priority="warn",
                               publisher_id="identity.host-a")
    (note,) = await wait_for_items(users, 1)
    assert note["event_type"] == "identity.user.created"
    assert note["payload"] == {"id": "u1"}
    assert note["priority"] == "WARN"
    assert note["publisher_id"] == "identity.host-a"
    assert note["context"]["request_id"] == "req-n1"
    assert uuid.UUID(note["message_id"])
    assert datetime.datetime.fromisoformat(note["timestamp"]).tzinfo is not None
    assert users.empty()  # the project event, sent first, was filtered out
    got = await wait_for_items(everything, 2)
    assert [n["event_type"] for n in got] == ["identity.project.created", "identity.user.created"]


async def test_notification_pools_share_messages(make_bus):
    publisher = await make_bus("publisher")
    pool_a, pool_b, solo = asyncio.Queue(), asyncio.Queue(), asyncio.Queue()
    await (await make_bus("a")).subscribe(pool_a.put, event_types="image.*", pool="workers")
    await (await make_bus("b")).subscribe(pool_b.put, event_types="image.*", pool="workers")
    await (await make_bus("c")).subscribe(solo.put, event_types="image.*")
    for i in range(6):
        await publisher.notify("image.upload", {"i": i})
    assert len(await wait_for_items(solo, 6)) == 6
    deadline = asyncio.get_running_loop().time() + WAIT
    while pool_a.qsize() + pool_b.qsize() < 6 and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.2)  # nothing more should arrive
    assert pool_a.qsize() + pool_b.qsize() == 6
    assert pool_a.qsize() > 0 and pool_b.qsize() > 0


async def test_subscriber_gets_context(make_bus):
    bus = await make_bus()
    seen = asyncio.Queue()

    async def callback(notification, context):
        await seen.put((context.request_id, current_context().request_id))

    await bus.subscribe(callback, event_types="compute.*")
    await bus.notify("compute.instance.create.end", {}, {"request_id": "req-n2"})
    assert await asyncio.wait_for(seen.get(), WAIT) == ("req-n2", "req-n2")


# -- lifecycle -------------------------------------------------------------


async def test_stop_finishes_inflight_handlers(make_bus, topic):
    client, server = await make_bus("client"), await make_bus("server")
    endpoint = Endpoint()
    await server.serve(topic, endpoint)
    call = asyncio.create_task(client.call(topic, "wait", timeout=WAIT))
    while not endpoint.running:
        await asyncio.sleep(0.01)
    stopping = asyncio.create_task(server.stop())
    await asyncio.sleep(0.2)
    assert not stopping.done()  # waits for the handler
    endpoint.release.set()
    await asyncio.wait_for(stopping, WAIT)
    assert await call == "done"
    with pytest.raises(MessageUndeliverable if make_bus.transport == "memory" else MessagingTimeout):
        await client.call(topic, "whoami", timeout=0.5)


async def test_stop_cancels_handlers_after_grace(make_bus, topic):
    bus = await make_bus()
    endpoint = Endpoint()
    await bus.serve(topic, endpoint)
    call = asyncio.create_task(bus.call(topic, "wait", timeout=WAIT))
    while not endpoint.running:
        await asyncio.sleep(0.01)
    await asyncio.wait_for(bus.stop(grace=0.2), WAIT)
    assert endpoint.running == 0
    with pytest.raises(MessagingError):
        await call


async def test_stop_leaves_no_tasks(make_bus, topic):
    before = asyncio.all_tasks()
    bus = await make_bus()
    await bus.serve(topic, Endpoint())
    await bus.subscribe(lambda n: None)
    await bus.call(topic, "add", a=1, b=1)
    await bus.notify("x.y", {})
    await bus.stop()
    await asyncio.sleep(0)
    assert asyncio.all_tasks() - before == set()


# -- RabbitMQ connection loss ------------------------------------------------


class Proxy:
    """A TCP proxy in front of the broker whose connections the test can cut."""

    def __init__(self, port: int):
        self.port = port
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()
        self.tasks: set[asyncio.Task] = set()

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)

    async def _accept(self, reader, writer) -> None:
        target = URL(RABBIT_URL)
        up_reader, up_writer = await asyncio.open_connection(target.host, target.port or 5672)
        self.writers |= {writer, up_writer}
        pipes = [asyncio.ensure_future(self._pipe(reader, up_writer)),
                 asyncio.ensure_future(self._pipe(up_reader, writer))]
        self.tasks.update(pipes)
        await asyncio.gather(*pipes, return_exceptions=True)

    @staticmethod
    async def _pipe(reader, writer) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()

    def cut(self) -> None:
        for writer in self.writers:
            writer.transport.abort()
        self.writers.clear()

    async def close(self) -> None:
        self.cut()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
        await asyncio.gather(*self.tasks, return_exceptions=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
async def proxy():
    await require_rabbit()
    proxy = Proxy(free_port())
    yield proxy
    await proxy.close()


def proxied_url(proxy: Proxy) -> str:
    return str(URL(RABBIT_URL).with_host("127.0.0.1").with_port(proxy.port))


@pytest.mark.parametrize("make_bus", ["rabbit"], indirect=True)
async def test_rabbit_waits_for_broker_at_start(proxy, make_bus, topic):
    starting = asyncio.create_task(make_bus("late", url=proxied_url(proxy)))
    await asyncio.sleep(0.5)
    assert not starting.done()  # broker "down": start() keeps retrying
    await proxy.start()
    bus = await asyncio.wait_for(starting, WAIT)
    await bus.serve(topic, Endpoint())
    assert await bus.call(topic, "add", a=1, b=2) == 3


@pytest.mark.parametrize("make_bus", ["rabbit"], indirect=True)
async def test_rabbit_recovers_from_connection_loss(proxy, make_bus, topic):
    await proxy.start()
    server = await make_bus("server", url=proxied_url(proxy))
    client = await make_bus("client")
    await server.serve(topic, Endpoint("server"))
    assert await client.call(topic, "whoami") == "server"

    proxy.cut()
    # The call waits in the server's queue until the server has reconnected
    # and restored its consumers; the server's own calls and replies resume.
    assert await client.call(topic, "whoami", timeout=WAIT) == "server"
    assert await server.call(topic, "add", a=2, b=2, timeout=WAIT) == 4
    await server.cast(topic, "record", value=1)
    await server.notify("a.b", {})


@pytest.mark.parametrize("make_bus", ["rabbit"], indirect=True)
async def test_rabbit_stops_while_broker_is_down(proxy, make_bus, topic):
    await proxy.start()
    bus = await make_bus("server", url=proxied_url(proxy))
    await bus.serve(topic, Endpoint())
    await bus.subscribe(lambda n: None)
    await proxy.close()
    await asyncio.sleep(0.2)
    await asyncio.wait_for(bus.stop(), WAIT)
