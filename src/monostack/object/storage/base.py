"""What the account, container and object servers share: a pure ASGI request/response layer
(these servers are on the data path of every object request, so no framework in between), the
path and timestamp checks of Swift's backend protocol, devices, worker threads.

Header names are lower case; values are "wire strings" (the bytes decoded as latin-1, as WSGI
has them), so metadata round-trips byte for byte.  Paths are UTF-8 decoded real strings.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import errno
import functools
import logging
import os
import random
import sqlite3
import time
import urllib.parse
import uuid
from typing import Any, AsyncIterator, Callable

from monostack.common import context, zerocopy
from monostack.object.proxy.http import REASONS, split_path
from monostack.object.storage import constraints
from monostack.object.storage.timestamp import Timestamp

LOG = logging.getLogger(__name__)

HTML = "text/html; charset=UTF-8"
# Swift's replication verbs (REPLICATE, SSYNC) are not HTTP methods the fast parser (llhttp) takes:
# they travel as POST with this header naming the verb.
VERB_HEADER = "X-Backend-Replication-Verb"
TUNNELED_VERBS = frozenset(("REPLICATE", "SSYNC"))


class HTTPError(Exception):
    """Raised anywhere in a handler to answer with this status."""

    def __init__(self, status: int, body: str | bytes | None = None, headers: dict[str, str] | None = None,
                 content_type: str | None = None):
        super().__init__(status)
        self.response = error_response(status, body, headers, content_type)


class ClientDisconnect(Exception):
    """The client sent less than it announced, or went away."""


class Response:
    __slots__ = ("status", "headers", "body", "stream")

    def __init__(self, status: int = 200, headers: dict[str, str] | None = None, body: bytes = b"",
                 stream: AsyncIterator[bytes] | None = None):
        self.status = status
        self.headers = headers if headers is not None else {}
        self.body = body
        self.stream = stream


def error_response(status: int, body: str | bytes | None = None, headers: dict[str, str] | None = None,
                   content_type: str | None = None) -> Response:
    """Swift's error page (swob's): an HTML explanation unless a body is given."""
    reason, explanation = REASONS.get(status, ("Unknown", ""))
    if body is None:
        body = f"<html><h1>{reason}</h1><p>{explanation}</p></html>" if explanation else ""
        content_type = content_type or HTML
    data = body.encode("utf-8") if isinstance(body, str) else body
    out = dict(headers or {})
    out["Content-Type"] = content_type or "text/plain; charset=UTF-8"
    return Response(status, out, data)


class Request:
    __slots__ = ("scope", "receive", "method", "path", "query_string", "headers", "_params", "_timestamp")

    def __init__(self, scope: dict, receive: Callable, path: str):
        self.scope = scope
        self.receive = receive
        self.method: str = scope["method"]
        self.path = path
        self.query_string: bytes = scope.get("query_string", b"")
        headers: dict[str, str] = {}
        for raw_name, raw_value in scope["headers"]:
            name = raw_name.decode("latin-1").lower()
            value = raw_value.decode("latin-1")
            headers[name] = headers[name] + ", " + value if name in headers else value
        self.headers = headers
        self._params: dict[str, str] | None = None
        self._timestamp: Timestamp | None = None

    @classmethod
    def direct(cls, method: str, path: str, query_string: bytes, headers: dict[str, str],
               body: bytes) -> "Request":
        """A request from a caller in this process (see StorageServer.call_local): `headers` with
        lower-case names, `body` all of it."""
        request = cls.__new__(cls)
        sent = False

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        request.scope = {"type": "http", "method": method, "path": path, "query_string": query_string,
                         "headers": ()}
        request.receive = receive
        request.method = method
        request.path = path
        request.query_string = query_string
        request.headers = headers
        request._params = None
        request._timestamp = None
        return request

    @property
    def params(self) -> dict[str, str]:
        """Query parameters (400 when not UTF-8)."""
        if self._params is None:
            try:
                pairs = urllib.parse.parse_qsl(self.query_string.decode("latin-1"), keep_blank_values=True,
                                               encoding="utf-8", errors="strict")
            except UnicodeDecodeError:
                raise HTTPError(400, "Query parameters are not valid UTF-8", content_type="text/plain") from None
            self._params = dict(pairs)
        return self._params

    def split(self, minsegs: int, maxsegs: int | None = None, rest_with_last: bool = False) -> list[str | None]:
        try:
            return split_path(self.path, minsegs, maxsegs, rest_with_last)
        except ValueError as exc:
            raise HTTPError(400, str(exc), content_type="text/plain") from None

    def timestamp(self) -> Timestamp:
        """X-Timestamp, required (400 when missing or invalid)."""
        if self._timestamp is None:
            value = self.headers.get("x-timestamp")
            if value is None:
                raise HTTPError(400, "Missing X-Timestamp header", content_type="text/plain")
            try:
                self._timestamp = Timestamp(value)
            except (ValueError, TypeError):
                raise HTTPError(400, f"Invalid X-Timestamp header: {value!r}", content_type="text/plain") from None
        return self._timestamp

    def timestamp_or_now(self) -> Timestamp:
        if "x-timestamp" in self.headers:
            return self.timestamp()
        return Timestamp.now()

    @property
    def content_length(self) -> int | None:
        value = self.headers.get("content-length")
        if value is None:
            return None
        value = value.strip()
        if not value.isdigit():
            raise HTTPError(400, f"Invalid Content-Length header value: {value!r}", content_type="text/plain")
        return int(value)

    @property
    def chunked(self) -> bool:
        return "chunked" in self.headers.get("transfer-encoding", "").lower()

    def true(self, name: str) -> bool:
        return self.headers.get(name, "").strip().lower() in ("1", "true", "yes", "on", "t", "y")

    async def chunks(self, timeout: float) -> AsyncIterator[bytes]:
        """The body as it arrives (ClientDisconnect if the client goes away, 408 on a stall)."""
        while True:
            try:
                async with asyncio.timeout(timeout):
                    message = await self.receive()
            except TimeoutError:
                raise HTTPError(408) from None
            if message["type"] == "http.disconnect":
                raise ClientDisconnect()
            body = message.get("body", b"")
            if body:
                yield body
            if not message.get("more_body", False):
                return

    async def read(self, timeout: float, limit: int | None = None) -> bytes:
        parts = []
        size = 0
        async for chunk in self.chunks(timeout):
            size += len(chunk)
            if limit is not None and size > limit:
                raise HTTPError(413)
            parts.append(chunk)
        return b"".join(parts)


def header_timestamp(headers: dict[str, str], name: str) -> Timestamp | None:
    value = headers.get(name)
    if value is None:
        return None
    try:
        return Timestamp(value)
    except (ValueError, TypeError):
        raise HTTPError(400, f"Invalid {name} header: {value!r}", content_type="text/plain") from None


class StorageServer:
    """An ASGI backend server; subclasses define async handlers named after the HTTP methods."""

    server_type = "storage-server"
    methods: frozenset[str] = frozenset()

    def __init__(self, devices_dir: str, *, workers: concurrent.futures.Executor | None = None,
                 client_timeout: float = 60.0):
        self.devices_dir = devices_dir
        self.client_timeout = client_timeout
        self._own_workers = workers is None
        self.workers = workers or concurrent.futures.ThreadPoolExecutor(64, thread_name_prefix=self.server_type)
        self.background: set[asyncio.Task] = set()

    async def run_on(self, device: str, fn: Callable[..., Any], *args: Any) -> Any:
        """`run`, after checking (in the worker thread) that the device is mounted (507 if not)."""
        def work() -> Any:
            self.check_device(device)
            return fn(*args)
        return await self.run(work)

    async def run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Blocking work (disk, SQLite) on a worker thread, keeping the request context for its logs."""
        loop = asyncio.get_running_loop()
        call = functools.partial(fn, *args, **kwargs) if kwargs else (functools.partial(fn, *args) if args else fn)
        return await loop.run_in_executor(self.workers, contextvars.copy_context().run, call)

    def spawn(self, coro: Any) -> asyncio.Task:
        """Background work that outlives the request (kept referenced until done)."""
        task = asyncio.get_running_loop().create_task(coro)
        self.background.add(task)
        task.add_done_callback(self.background.discard)
        return task

    async def close(self) -> None:
        for task in list(self.background):
            task.cancel()
        if self.background:
            await asyncio.gather(*self.background, return_exceptions=True)
        if self._own_workers:
            self.workers.shutdown(wait=False, cancel_futures=True)

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        started = time.perf_counter()
        token = context.set_context(_request_context(scope))
        status = 500
        try:
            response = await self._respond(scope, receive)
            status = response.status
            await _send(send, response, scope["method"] == "HEAD", zerocopy.offers(scope))
        except ClientDisconnect:
            status = 499
        finally:
            self._log(scope["method"], scope.get("path", ""), status, started)
            context._current.reset(token)

    async def call_local(self, method: str, path: str, query_string: bytes, headers: dict[str, str],
                         body: bytes) -> Response:
        """What an HTTP request with this method, path (not %-quoted), query, headers (lower-case
        names, latin-1 "wire strings") and body gets, for a caller in this process (proxy/local.py):
        the same handlers and answers without HTTP in between.  The caller reads the response's
        `stream`, if any, and closes it."""
        started = time.perf_counter()
        request_id = headers.get("x-openstack-request-id") or headers.get("x-trans-id")
        token = context.set_context(_context_for(request_id))
        status = 500
        try:
            if "\x00" in path:
                response = error_response(412, "Invalid UTF8 or contains NULL", content_type="text/plain")
            else:
                response = await self._dispatch(Request.direct(method, path, query_string, headers, body))
            status = response.status
            if response.stream is None and "Content-Length" not in response.headers:
                response.headers["Content-Length"] = str(len(response.body))
            if method == "HEAD":
                if response.stream is not None:
                    await response.stream.aclose()  # type: ignore[attr-defined]
                    response.stream = None
                response.body = b""
            return response
        finally:
            self._log(method, path, status, started)
            context._current.reset(token)

    def _log(self, method: str, path: str, status: int, started: float) -> None:
        if LOG.isEnabledFor(logging.DEBUG) or status >= 500:
            LOG.log(logging.ERROR if status >= 500 else logging.DEBUG, '%s "%s %s" %d %.4f',
                    self.server_type, method, path, status, time.perf_counter() - started)

    async def _respond(self, scope: dict, receive: Callable) -> Response:
        raw = scope.get("raw_path") or scope["path"].encode("utf-8")
        try:
            path = urllib.parse.unquote_to_bytes(raw).decode("utf-8")
        except UnicodeDecodeError:
            path = "\x00"
        if "\x00" in path:
            return error_response(412, "Invalid UTF8 or contains NULL", content_type="text/plain")
        return await self._dispatch(Request(scope, receive, path))

    async def _dispatch(self, request: Request) -> Response:
        verb = request.headers.get(VERB_HEADER.lower())
        if verb is not None and request.method == "POST":
            if verb not in TUNNELED_VERBS:
                return error_response(405)
            request.method = verb
        if request.method not in self.methods:
            return error_response(405)
        try:
            return await getattr(self, request.method)(request)
        except HTTPError as exc:
            return exc.response
        except ClientDisconnect:
            return error_response(499)
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                return error_response(507)
            LOG.exception("%s: %s %s failed", self.server_type, request.method, request.path)
            return error_response(500)
        except sqlite3.OperationalError as exc:  # a database busy beyond its timeout: try another replica
            LOG.error("%s: %s %s failed: %s", self.server_type, request.method, request.path, exc)
            return error_response(503)
        except Exception as exc:
            from monostack.object.storage.diskfile import DeviceUnavailable
            if isinstance(exc, DeviceUnavailable):  # unmounted while we worked
                return error_response(507)
            LOG.exception("%s: %s %s failed", self.server_type, request.method, request.path)
            return error_response(500)

    # -- shared checks -------------------------------------------------------------------------------
    def check_device(self, device: str) -> str:
        """The device's path; 507 when it is not mounted (its directory is missing).  Blocking."""
        path = os.path.join(self.devices_dir, device)
        if not device or "/" in device or device in (".", "..") or not os.path.isdir(path):
            raise HTTPError(507, f"<html><h1>Insufficient Storage</h1><p>There was not enough space to save "
                                 f"the resource. Drive: {device}</p></html>", content_type=HTML)
        return path


def title(name: str) -> str:
    """A header name as Swift stores it with metadata ("X-Object-Meta-Color")."""
    return "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))


def validate_partition(partition: str | None) -> str:
    if not partition or not partition.isdigit():
        raise HTTPError(400, f"Invalid partition: {partition}", content_type="text/plain")
    return partition


def check_names(account: str | None, container: str | None = None, obj: str | None = None) -> None:
    """Reserved-namespace rules (Swift's validate_internal_*)."""
    for name, kind in ((account, "account"), (container, "container"), (obj, "object")):
        if name and constraints.RESERVED in name and not name.startswith(constraints.RESERVED):
            raise HTTPError(400, f"Invalid reserved-namespace {kind}", content_type="text/plain")


def _request_context(scope: dict) -> context.RequestContext:
    request_id = None
    for name, value in scope["headers"]:
        if name == b"x-openstack-request-id" or (name == b"x-trans-id" and request_id is None):
            request_id = value.decode("latin-1")
    return _context_for(request_id)


def _context_for(request_id: str | None) -> context.RequestContext:
    """The proxy's request id (its log lines and ours match); else one of our own (not uuid4: reading
    the kernel's random source on every backend request costs more than the request)."""
    if request_id is None:
        return context.RequestContext(request_id=f"req-{uuid.UUID(int=random.getrandbits(128), version=4)}",
                                      is_service=True)
    return context.RequestContext(request_id=request_id, global_request_id=request_id, is_service=True)


async def _send(send: Callable, response: Response, head_only: bool, zero_copy: bool = False) -> None:
    headers = response.headers
    if response.stream is None and "Content-Length" not in headers:
        headers["Content-Length"] = str(len(response.body))
    raw = [(name.encode("latin-1"), str(value).encode("latin-1")) for name, value in headers.items()]
    await send({"type": "http.response.start", "status": response.status, "headers": raw})
    if head_only:
        if response.stream is not None:
            await response.stream.aclose()  # type: ignore[attr-defined]
        await send({"type": "http.response.body", "body": b""})
        return
    if response.stream is None:
        await send({"type": "http.response.body", "body": response.body})
        return
    span = getattr(response.stream, "span", None)  # a FileBody: the kernel sends it (common/zerocopy.py)
    try:
        if zero_copy and span is not None and "Content-Length" in headers:
            await send({"type": zerocopy.EXTENSION, "file": response.stream.fd,  # type: ignore[attr-defined]
                        "offset": span[0], "count": span[1] - span[0], "more_body": False})
            response.stream.sent()  # type: ignore[attr-defined]
            return
        async for chunk in response.stream:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
    finally:
        await response.stream.aclose()  # type: ignore[attr-defined]
    await send({"type": "http.response.body", "body": b""})
