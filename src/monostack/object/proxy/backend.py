"""The proxy's HTTP/1.1 client to the storage servers.

A small client on asyncio streams rather than a general-purpose library: every
object request fans out to three servers, so the per-request cost of the client
is paid three times.  Connections are kept alive and reused per server; a
request that fails on a reused connection before any answer came back is sent
again on a fresh one (the server had closed the idle connection).  Timeouts are
Swift's: `conn_timeout` to connect (and to get 100 Continue), `node_timeout`
for every read and write after that.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from typing import Any, AsyncIterator

from monostack.object.proxy.http import quote

LOG = logging.getLogger(__name__)

READ_SIZE = 1 << 20
IDLE_LIFETIME = 4.0  # below the servers' keep-alive timeout (uvicorn: 5 s)


class BackendError(Exception):
    """The server could not be reached or broke the exchange."""


class _Connection:
    __slots__ = ("reader", "writer", "key", "idle_since", "reused")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, key: tuple[str, int]):
        self.reader = reader
        self.writer = writer
        self.key = key
        self.idle_since = 0.0
        self.reused = False

    def close(self) -> None:
        try:
            self.writer.close()
        except Exception:  # already broken
            pass


def _parse_head(data: bytes) -> tuple[int, str, dict[str, str]]:
    lines = data.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/"):
        raise BackendError(f"bad status line {lines[0]!r}")
    status = int(parts[1])
    reason = parts[2] if len(parts) > 2 else ""
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, _, value = line.partition(":")
        name = name.strip().lower()
        value = value.strip()
        if name in headers and name != "content-length":
            headers[name] += ", " + value
        else:
            headers[name] = value
    return status, reason, headers


class BackendResponse:
    """A server's answer; its body is read (or skipped) once, then the connection goes back to the pool."""

    def __init__(self, pool: "BackendPool", conn: _Connection, status: int, reason: str,
                 headers: dict[str, str], method: str, node: dict[str, Any] | None = None):
        self.pool = pool
        self.conn: _Connection | None = conn
        self.status = status
        self.reason = reason
        self.headers = headers
        self.node = node
        self.body: bytes | None = None
        self._chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        self._remaining: int | None = None
        self._eof = False
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            self._remaining = 0
        elif not self._chunked:
            length = headers.get("content-length")
            self._remaining = int(length) if length is not None and length.isdigit() else None
        self._keep_alive = headers.get("connection", "").lower() != "close"
        self._chunk_left = 0

    @property
    def done(self) -> bool:
        return self._eof or self._remaining == 0 and not self._chunked

    async def _read_chunk(self, size: int) -> bytes:
        conn = self.conn
        assert conn is not None
        reader = conn.reader
        async with asyncio.timeout(self.pool.node_timeout):
            if self._chunked:
                if self._eof:
                    return b""
                if self._chunk_left == 0:
                    line = await reader.readline()
                    if not line:
                        raise BackendError("connection closed in a chunked body")
                    self._chunk_left = int(line.split(b";", 1)[0].strip() or b"0", 16)
                    if self._chunk_left == 0:
                        while True:  # trailers, then the blank line
                            trailer = await reader.readline()
                            if trailer in (b"\r\n", b"\n", b""):
                                break
                        self._eof = True
                        return b""
                data = await reader.read(min(size, self._chunk_left))
                if not data:
                    raise BackendError("connection closed in a chunked body")
                self._chunk_left -= len(data)
                if self._chunk_left == 0:
                    await reader.readexactly(2)
                return data
            if self._remaining is None:
                data = await reader.read(size)
                if not data:
                    self._eof = True
                    self._keep_alive = False
                return data
            if self._remaining == 0:
                return b""
            data = await reader.read(min(size, self._remaining))
            if not data:
                raise BackendError("connection closed before the end of the body")
            self._remaining -= len(data)
            return data

    async def iter_body(self, size: int = READ_SIZE) -> AsyncIterator[bytes]:
        try:
            while True:
                data = await self._read_chunk(size)
                if not data:
                    break
                yield data
        finally:
            self.finish()

    async def read(self) -> bytes:
        if self.body is not None:
            return self.body
        if self.conn is None:
            return b""
        parts = []
        try:
            while True:
                data = await self._read_chunk(READ_SIZE)
                if not data:
                    break
                parts.append(data)
        except (OSError, asyncio.IncompleteReadError, BackendError, TimeoutError):
            self.close()
            raise
        self.body = b"".join(parts)
        self.finish()
        return self.body

    def finish(self) -> None:
        """Back to the pool when the body was read to its end, else closed."""
        conn, self.conn = self.conn, None
        if conn is None:
            return
        complete = self._eof if self._chunked else self._remaining == 0
        if complete and self._keep_alive:
            self.pool.checkin(conn)
        else:
            conn.close()

    def close(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            conn.close()


class Upload:
    """A request whose body is streamed (an object PUT): send(), then response()."""

    def __init__(self, pool: "BackendPool", conn: _Connection, method: str, chunked: bool,
                 node: dict[str, Any]):
        self.pool = pool
        self.conn = conn
        self.method = method
        self.chunked = chunked
        self.node = node
        self.failed = False
        self.early: BackendResponse | None = None  # the answer that came instead of 100 Continue
        self.sent = 0

    def write(self, chunk: bytes) -> None:
        if self.failed:
            return
        try:
            if self.chunked:
                self.conn.writer.write(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
            else:
                self.conn.writer.write(chunk)
            self.sent += len(chunk)
        except Exception:
            self.fail()

    async def drain(self) -> None:
        if self.failed:
            return
        try:
            async with asyncio.timeout(self.pool.node_timeout):
                await self.conn.writer.drain()
        except (OSError, TimeoutError, ConnectionError):
            LOG.warning("object server %s:%s/%s stopped taking data", self.node.get("ip"), self.node.get("port"),
                        self.node.get("device"))
            self.fail()

    def fail(self) -> None:
        self.failed = True
        self.conn.close()

    async def response(self) -> BackendResponse | None:
        if self.failed:
            return None
        try:
            if self.chunked:
                self.conn.writer.write(b"0\r\n\r\n")
            async with asyncio.timeout(self.pool.node_timeout):
                await self.conn.writer.drain()
                return await self.pool.read_response(self.conn, self.method, self.node)
        except (OSError, TimeoutError, asyncio.IncompleteReadError, BackendError, ValueError):
            self.fail()
            return None

    def abort(self) -> None:
        if not self.failed:
            self.fail()


class BackendPool:
    def __init__(self, conn_timeout: float = 0.5, node_timeout: float = 10.0, max_idle: int = 64,
                 user_agent: str = "proxy-server"):
        self.conn_timeout = conn_timeout
        self.node_timeout = node_timeout
        self.max_idle = max_idle
        self.user_agent = user_agent
        self._idle: dict[tuple[str, int], collections.deque[_Connection]] = collections.defaultdict(collections.deque)
        # Storage servers of this process, by address: called directly (see local.py).
        self.local: dict[tuple[str, int], Any] = {}

    # -- connections ---------------------------------------------------------------------
    async def _connect(self, key: tuple[str, int]) -> _Connection:
        try:
            async with asyncio.timeout(self.conn_timeout):
                reader, writer = await asyncio.open_connection(key[0], key[1], limit=READ_SIZE)
        except (OSError, TimeoutError) as exc:
            raise BackendError(f"cannot connect to {key[0]}:{key[1]}: {exc}") from None
        return _Connection(reader, writer, key)

    def _checkout(self, key: tuple[str, int]) -> _Connection | None:
        idle = self._idle.get(key)
        now = time.monotonic()
        while idle:
            conn = idle.pop()
            if now - conn.idle_since < IDLE_LIFETIME and not conn.writer.is_closing() \
                    and not conn.reader.at_eof():
                conn.reused = True
                return conn
            conn.close()
        return None

    def checkin(self, conn: _Connection) -> None:
        idle = self._idle[conn.key]
        if len(idle) >= self.max_idle or conn.writer.is_closing():
            conn.close()
            return
        conn.idle_since = time.monotonic()
        idle.append(conn)

    def close(self) -> None:
        for idle in self._idle.values():
            while idle:
                idle.pop().close()

    # -- requests --------------------------------------------------------------------------
    def _head(self, node: dict[str, Any], part: int | str, method: str, path: str, headers: dict[str, str],
              query: str) -> bytes:
        target = f"/{quote(node['device'])}/{part}{quote(path)}"
        if query:
            target += "?" + query
        lines = [f"{method} {target} HTTP/1.1", f"Host: {node['ip']}:{node['port']}",
                 f"User-Agent: {self.user_agent}"]
        for name, value in headers.items():
            lines.append(f"{name}: {value}")
        lines.append("\r\n")
        return "\r\n".join(lines).encode("latin-1")

    async def read_response(self, conn: _Connection, method: str, node: dict[str, Any] | None) -> BackendResponse:
        head = await conn.reader.readuntil(b"\r\n\r\n")
        status, reason, headers = _parse_head(head)
        return BackendResponse(self, conn, status, reason, headers, method, node)

    async def request(self, node: dict[str, Any], part: int | str, method: str, path: str,
                      headers: dict[str, str] | None = None, body: bytes | None = None,
                      query: str = "") -> BackendResponse:
        """One request with a small body (or none); BackendError when the server cannot be used."""
        app = self.local.get((node["ip"], int(node["port"]))) if self.local else None
        if app is not None:
            from monostack.object.proxy import local
            return await local.request(app, node, part, method, path, headers or {}, body, query,  # type: ignore
                                       self.node_timeout)
        headers = {k: v for k, v in (headers or {}).items() if k.lower() not in ("content-length", "transfer-encoding")}
        if body is not None or method in ("PUT", "POST"):
            headers["Content-Length"] = str(len(body or b""))
        data = self._head(node, part, method, path, headers, query)
        if body:
            data += body
        key = (node["ip"], int(node["port"]))
        for attempt in range(2):
            conn = self._checkout(key) if attempt == 0 else None
            if conn is None:
                conn = await self._connect(key)
            try:
                conn.writer.write(data)
                async with asyncio.timeout(self.node_timeout):
                    response = await self.read_response(conn, method, node)
                if body and response.status >= 400:
                    # It may have answered without reading the body: the connection is not clean.
                    response._keep_alive = False
                return response
            except (OSError, asyncio.IncompleteReadError, ConnectionError) as exc:
                conn.close()
                if conn.reused and attempt == 0:
                    continue  # the server had closed the idle connection: once more, fresh
                raise BackendError(f"{method} to {key[0]}:{key[1]} failed: {exc!r}") from None
            except (TimeoutError, BackendError, ValueError, asyncio.LimitOverrunError) as exc:
                conn.close()
                raise BackendError(f"{method} to {key[0]}:{key[1]} failed: {exc!r}") from None
        raise BackendError("unreachable")

    def is_local(self, node: dict[str, Any]) -> bool:
        """The node's server runs in this process (requests to it do not go over the network)."""
        return bool(self.local) and (node["ip"], int(node["port"])) in self.local

    async def upload(self, node: dict[str, Any], part: int | str, method: str, path: str,
                     headers: dict[str, str], expect_continue: bool, shared_md5: Any = None) -> Upload:
        """Open a streamed request; with `expect_continue`, wait for the server's go-ahead first
        (an answer other than 100 is kept in `Upload.early`).  `shared_md5`: the caller's Hasher of
        the body, handed to a server of this process only (one over the network hashes what it got)."""
        app = self.local.get((node["ip"], int(node["port"]))) if self.local else None
        if app is not None:
            from monostack.object.proxy import local
            return await local.upload(app, node, part, method, path, headers, expect_continue,  # type: ignore
                                      self.node_timeout, shared_md5)
        headers = {k: v for k, v in headers.items() if k.lower() not in ("transfer-encoding", "expect")}
        chunked = "content-length" not in {k.lower() for k in headers}
        if chunked:
            headers["Transfer-Encoding"] = "chunked"
        if expect_continue:
            headers["Expect"] = "100-continue"
        data = self._head(node, part, method, path, headers, "")
        key = (node["ip"], int(node["port"]))
        for attempt in range(2):
            conn = self._checkout(key) if attempt == 0 else None
            if conn is None:
                conn = await self._connect(key)
            upload = Upload(self, conn, method, chunked, node)
            try:
                conn.writer.write(data)
                if expect_continue:
                    async with asyncio.timeout(max(self.conn_timeout, 1.0) * 10):
                        answer = await self.read_response(conn, method, node)
                    if answer.status == 100:
                        answer.conn = None  # the same connection carries on
                    else:
                        upload.early = answer
                        upload.failed = True
                return upload
            except (OSError, asyncio.IncompleteReadError, ConnectionError) as exc:
                conn.close()
                if conn.reused and attempt == 0:
                    continue
                raise BackendError(f"{method} to {key[0]}:{key[1]} failed: {exc!r}") from None
            except (TimeoutError, BackendError, ValueError) as exc:
                conn.close()
                raise BackendError(f"{method} to {key[0]}:{key[1]} failed: {exc!r}") from None
        raise BackendError("unreachable")
