"""Requests to a storage server that runs in this very process, without the network.

On an all-in-one the proxy and the account, container and object servers share
one event loop: sending them HTTP over loopback costs two socket copies, an HTTP
parse on each side and a good share of the CPU of every request.  When the
plugin registers a server's ASGI app for its address, the pool calls the app
directly: the same request (method, path, headers, body) and the same answer,
with the same timeouts.  Addresses of other hosts go over HTTP as before.

A request with its whole body (`request`) calls the server's handler directly
(StorageServer.call_local: no ASGI messages), in a task of its own as behind a
socket, and reads a streamed answer from the handler's own stream.  A streamed
upload (`upload`) goes through ASGI with bounded queues (so a slow writer to the
disk still holds the sender back).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, AsyncIterator

from monostack.object.proxy.backend import READ_SIZE, BackendError
from monostack.object.proxy.http import quote
from monostack.object.storage.streams import SHARED_MD5

LOG = logging.getLogger(__name__)

_END = object()


class _Exchange:
    """One request/response between the caller and an in-process ASGI app."""

    def __init__(self, app: Any, scope: dict[str, Any], timeout: float):
        self.timeout = timeout
        loop = asyncio.get_running_loop()
        self.start: asyncio.Future = loop.create_future()
        self.incoming: asyncio.Queue = asyncio.Queue(maxsize=4)  # request body messages
        self.outgoing: asyncio.Queue = asyncio.Queue(maxsize=8)  # response body chunks, then _END
        self.receiving = asyncio.Event()  # the app asked for the body: Swift's 100 Continue
        self.closed = False
        self.finished = False
        self.task = asyncio.ensure_future(self._run(app, scope))

    async def _receive(self) -> dict[str, Any]:
        self.receiving.set()
        if self.closed:
            return {"type": "http.disconnect"}
        message = await self.incoming.get()
        if message is None:
            return {"type": "http.disconnect"}
        return message

    async def _send(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            if not self.start.done():
                headers = {}
                for name, value in message.get("headers", []):
                    key = name.decode("latin-1").lower()
                    text = value.decode("latin-1")
                    headers[key] = f"{headers[key]}, {text}" if key in headers and key != "content-length" else text
                self.start.set_result((message["status"], headers))
        elif kind == "http.response.body":
            if self.closed:
                return
            body = message.get("body", b"")
            if body:
                await self.outgoing.put(body)
            if not message.get("more_body", False):
                self.finished = True
                await self.outgoing.put(_END)

    async def _run(self, app: Any, scope: dict[str, Any]) -> None:
        try:
            await app(scope, self._receive, self._send)
        except Exception as exc:  # the server failed: as a broken connection would
            LOG.exception("in-process storage server failed on %s %s", scope["method"], scope["path"])
            if not self.start.done():
                self.start.set_exception(BackendError(f"storage server error: {exc!r}"))
        finally:
            if not self.start.done():
                self.start.set_exception(BackendError("the storage server gave no answer"))
            if not self.finished and not self.closed:
                self.finished = True
                try:
                    self.outgoing.put_nowait(BackendError("the storage server broke off its answer"))
                except asyncio.QueueFull:
                    pass

    def close(self) -> None:
        """The caller is done: let the app finish without anyone reading."""
        if self.closed:
            return
        self.closed = True
        while not self.outgoing.empty():
            self.outgoing.get_nowait()
        try:
            self.incoming.put_nowait(None)
        except asyncio.QueueFull:
            pass


class LocalResponse:
    """The answer of an in-process server, used as a BackendResponse is."""

    def __init__(self, exchange: _Exchange, status: int, headers: dict[str, str], method: str,
                 node: dict[str, Any] | None):
        self.exchange = exchange
        self.status = status
        self.reason = ""
        self.headers = headers
        self.node = node
        self.body: bytes | None = None
        self._ended = method == "HEAD" or status in (204, 304)
        self._pending = b""

    @property
    def done(self) -> bool:
        return self._ended or (self.exchange.finished and self.exchange.outgoing.empty())

    async def _next(self) -> bytes:
        if self._ended:
            return b""
        try:
            async with asyncio.timeout(self.exchange.timeout):
                item = await self.exchange.outgoing.get()
        except TimeoutError:
            raise BackendError("timed out reading the storage server's answer") from None
        if item is _END:
            self._ended = True
            return b""
        if isinstance(item, Exception):
            self._ended = True
            raise item
        return item

    async def iter_body(self, size: int = READ_SIZE) -> AsyncIterator[bytes]:
        try:
            buffered = []
            held = 0
            while True:
                data = await self._next()
                if not data:
                    break
                # Join small pieces up to `size`: fewer, larger writes to the client.
                buffered.append(data)
                held += len(data)
                if held >= size:
                    yield b"".join(buffered)
                    buffered, held = [], 0
            if buffered:
                yield b"".join(buffered)
        finally:
            self.finish()

    async def read(self) -> bytes:
        if self.body is not None:
            return self.body
        parts = []
        while True:
            data = await self._next()
            if not data:
                break
            parts.append(data)
        self.body = b"".join(parts)
        self.finish()
        return self.body

    def finish(self) -> None:
        if not self._ended:
            self.exchange.close()

    def close(self) -> None:
        self.exchange.close()


class LocalUpload:
    """A streamed request body to an in-process server, used as an Upload is."""

    def __init__(self, exchange: _Exchange, method: str, node: dict[str, Any]):
        self.exchange = exchange
        self.method = method
        self.node = node
        self.failed = False
        self.early: LocalResponse | None = None
        self.sent = 0
        self._pending: list[bytes] = []

    def write(self, chunk: bytes) -> None:
        if not self.failed:
            self._pending.append(chunk)
            self.sent += len(chunk)

    async def drain(self) -> None:
        pending, self._pending = self._pending, []
        for chunk in pending:
            if self.failed:
                return
            try:
                async with asyncio.timeout(self.exchange.timeout):
                    await self.exchange.incoming.put({"type": "http.request", "body": chunk, "more_body": True})
            except TimeoutError:
                LOG.warning("in-process object server %s stopped taking data", self.node.get("device"))
                self.fail()

    def fail(self) -> None:
        self.failed = True
        self.exchange.close()

    async def response(self) -> LocalResponse | None:
        if self.failed:
            return None
        await self.drain()
        if self.failed:
            return None
        try:
            async with asyncio.timeout(self.exchange.timeout):
                await self.exchange.incoming.put({"type": "http.request", "body": b"", "more_body": False})
                status, headers = await self.exchange.start
        except (TimeoutError, BackendError):
            self.fail()
            return None
        return LocalResponse(self.exchange, status, headers, self.method, self.node)

    def abort(self) -> None:
        if not self.failed:
            self.fail()


def _scope(node: dict[str, Any], part: int | str, method: str, path: str, headers: dict[str, str],
           query: str) -> dict[str, Any]:
    full = f"/{node['device']}/{part}{path}"
    raw = [(b"host", f"{node['ip']}:{node['port']}".encode("latin-1"))]
    raw.extend((name.lower().encode("latin-1"), str(value).encode("latin-1")) for name, value in headers.items())
    return {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
            "method": method, "scheme": "http", "path": full, "raw_path": quote(full).encode("ascii"),
            "query_string": query.encode("latin-1"), "root_path": "", "headers": raw,
            "client": ("127.0.0.1", 0), "server": (node["ip"], int(node["port"]))}


class DirectResponse:
    """The answer of an in-process server called directly (StorageServer.call_local), used as a
    BackendResponse is: its body is read from the server's own stream, with the same timeout."""

    def __init__(self, response: Any, method: str, node: dict[str, Any] | None, timeout: float):
        self.status = response.status
        self.reason = ""
        headers: dict[str, str] = {}
        for name, value in response.headers.items():  # as they would come over HTTP
            key = name.lower()
            text = str(value)
            headers[key] = f"{headers[key]}, {text}" if key in headers and key != "content-length" else text
        self.headers = headers
        self.node = node
        self.timeout = timeout
        self._stream = response.stream
        self.body: bytes | None = None if self._stream is not None else response.body

    @property
    def done(self) -> bool:
        return self._stream is None

    @property
    def file(self) -> Any:
        """The server's FileBody when it answers from a file of this host (zero-copy), else None."""
        return self._stream if hasattr(self._stream, "span") else None

    async def _next(self, chunks: AsyncIterator[bytes]) -> bytes:
        try:
            async with asyncio.timeout(self.timeout):
                return await chunks.__anext__()
        except StopAsyncIteration:
            return b""
        except TimeoutError:
            raise BackendError("timed out reading the storage server's answer") from None
        except Exception as exc:  # the server failed mid-answer: as a broken connection would
            LOG.exception("in-process storage server failed in its answer")
            raise BackendError(f"the storage server broke off its answer: {exc!r}") from None

    async def iter_body(self, size: int = READ_SIZE) -> AsyncIterator[bytes]:
        if self._stream is None:
            if self.body:
                yield self.body
            return
        chunks = self._stream.__aiter__()
        try:
            buffered = []
            held = 0
            while data := await self._next(chunks):
                # Join small pieces up to `size`: fewer, larger writes to the client.
                buffered.append(data)
                held += len(data)
                if held >= size:
                    yield buffered[0] if len(buffered) == 1 else b"".join(buffered)
                    buffered, held = [], 0
            if buffered:
                yield buffered[0] if len(buffered) == 1 else b"".join(buffered)
        finally:
            self.finish()

    async def read(self) -> bytes:
        if self.body is None:
            parts = [chunk async for chunk in self.iter_body()]
            self.body = b"".join(parts)
        return self.body

    def finish(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:  # its files close when it does
            asyncio.ensure_future(stream.aclose())

    close = finish


def _close_later(task: asyncio.Task) -> None:
    """A direct call that finished after its caller gave up: close what it would have streamed."""
    if not task.cancelled() and task.exception() is None and task.result().stream is not None:
        asyncio.ensure_future(task.result().stream.aclose())


async def request(app: Any, node: dict[str, Any], part: int | str, method: str, path: str,
                  headers: dict[str, str], body: bytes | None, query: str, timeout: float) -> Any:
    headers = {k: v for k, v in headers.items() if k.lower() not in ("content-length", "transfer-encoding")}
    if body is not None or method in ("PUT", "POST"):
        headers["content-length"] = str(len(body or b""))
    call_local = getattr(app, "call_local", None)
    if call_local is not None:
        # The server's handler runs as a task of its own, as it would behind a socket: a caller that
        # stops waiting (a timeout, a quorum reached without it) does not cut it short halfway.
        wire = {"host": f"{node['ip']}:{node['port']}"}
        for name, value in headers.items():
            key = name.lower()
            text = str(value)
            text.encode("latin-1")  # what could not go over HTTP does not go here either
            wire[key] = f"{wire[key]}, {text}" if key in wire else text
        task = asyncio.ensure_future(call_local(method, f"/{node['device']}/{part}{path}", query.encode("latin-1"),
                                                wire, body or b""))
        try:
            async with asyncio.timeout(timeout):
                response = await asyncio.shield(task)
        except TimeoutError:
            task.add_done_callback(_close_later)
            raise BackendError(f"{method} to the in-process server timed out") from None
        except asyncio.CancelledError:
            task.add_done_callback(_close_later)
            raise
        except Exception as exc:  # the server failed: as a broken connection would
            LOG.exception("in-process storage server failed on %s %s", method, path)
            raise BackendError(f"storage server error: {exc!r}") from None
        return DirectResponse(response, method, node, timeout)
    exchange = _Exchange(app, _scope(node, part, method, path, headers, query), timeout)
    exchange.incoming.put_nowait({"type": "http.request", "body": body or b"", "more_body": False})
    try:
        async with asyncio.timeout(timeout):
            status, out = await exchange.start
    except TimeoutError:
        exchange.close()
        raise BackendError(f"{method} to the in-process server timed out") from None
    return LocalResponse(exchange, status, out, method, node)


async def upload(app: Any, node: dict[str, Any], part: int | str, method: str, path: str,
                 headers: dict[str, str], expect_continue: bool, timeout: float,
                 shared_md5: Any = None) -> LocalUpload:
    """`shared_md5`: the caller's Hasher of exactly the pieces it will write (see storage/streams.py)."""
    headers = {k: v for k, v in headers.items() if k.lower() not in ("transfer-encoding", "expect")}
    if "content-length" not in {k.lower() for k in headers}:
        headers["transfer-encoding"] = "chunked"
    scope = _scope(node, part, method, path, headers, "")
    if shared_md5 is not None:
        scope[SHARED_MD5] = shared_md5
    exchange = _Exchange(app, scope, timeout)
    sent = LocalUpload(exchange, method, node)
    if expect_continue:
        # As 100 Continue: go on once the server reads the body; an answer before that is final.
        waiting = asyncio.ensure_future(exchange.receiving.wait())
        try:
            done, _ = await asyncio.wait({waiting, exchange.start}, timeout=timeout,
                                         return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiting.cancel()
        if exchange.start in done:
            try:
                status, out = exchange.start.result()
            except BackendError:
                exchange.close()
                raise
            sent.early = LocalResponse(exchange, status, out, method, node)
            sent.failed = True
        elif not done:
            exchange.close()
            raise BackendError("the in-process server neither answered nor read the body")
    return sent
