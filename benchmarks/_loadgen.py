"""A small, cheap HTTP/1.1 load generator (asyncio, uvloop when available).

The requests of a benchmark are fixed byte strings built once, and responses
are parsed just enough to get the status, the headers and the body, so the
client costs a few tens of microseconds of CPU per request and is not the
bottleneck even on a 2-core machine shared with the server.  Keep-alive is
used whenever the server allows it; servers that answer `Connection: close`
(e.g. gunicorn's sync workers) get a fresh connection per request.

Every loop is bounded by a deadline and a request count, and stops by itself.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from typing import Callable, Sequence

try:  # optional, a faster event loop
    import uvloop  # type: ignore
except ImportError:  # pragma: no cover
    uvloop = None


def build_request(method: str, host: str, path: str, headers: dict[str, str] | None = None,
                  body: object | None = None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", "Accept: application/json",
             "User-Agent: monostack-bench"]
    payload = b""
    if body is not None:
        payload = json.dumps(body).encode()
        lines.append("Content-Type: application/json")
    if body is not None or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(payload)}")
    for k, v in (headers or {}).items():
        lines.append(f"{k}: {v}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + payload


@dataclasses.dataclass
class Response:
    status: int
    headers: dict[str, str]  # lower-cased names
    body: bytes


class HTTPError(Exception):
    pass


class Conn:
    """One HTTP/1.1 connection that reconnects when the server closes it."""

    def __init__(self, host: str, port: int, timeout: float = 30.0):
        self.host, self.port, self.timeout = host, port, timeout
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.connects = 0

    async def _connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.connects += 1

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def request(self, raw: bytes, is_head: bool = False) -> Response:
        """Send `raw`, read the answer; `is_head`: it is a HEAD request (its answer has no body,
        whatever its Content-Length says)."""
        for attempt in (0, 1):
            reused = self.writer is not None
            try:
                return await asyncio.wait_for(self._request(raw, is_head), self.timeout)
            except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                    ValueError, IndexError) as e:
                self.close()
                if reused and attempt == 0:
                    continue  # the server dropped an idle keep-alive connection: retry once
                raise HTTPError(f"connection failed: {e!r}") from e
            except BaseException:
                self.close()
                raise
        raise AssertionError("unreachable")

    async def _request(self, raw: bytes, is_head: bool = False) -> Response:
        if self.writer is None:
            await self._connect()
        assert self.reader is not None and self.writer is not None
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        version, status = parts[0], int(parts[1])
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if line:
                k, _, v = line.partition(":")
                headers[k.strip().lower()] = v.strip()
        te = headers.get("transfer-encoding", "").lower()
        if is_head:
            body = b""
        elif "content-length" in headers:
            body = await self.reader.readexactly(int(headers["content-length"]))
        elif "chunked" in te:
            chunks = []
            while True:
                size_line = await self.reader.readuntil(b"\r\n")
                size = int(size_line.split(b";")[0], 16)
                if size == 0:
                    # trailers until an empty line
                    while (await self.reader.readuntil(b"\r\n")) != b"\r\n":
                        pass
                    break
                chunks.append(await self.reader.readexactly(size))
                await self.reader.readexactly(2)
            body = b"".join(chunks)
        elif status in (204, 304) or 100 <= status < 200:
            body = b""
        else:
            body = await self.reader.read()  # delimited by close
            headers["connection"] = "close"
        conn_hdr = headers.get("connection", "").lower()
        if conn_hdr == "close" or (version == "HTTP/1.0" and conn_hdr != "keep-alive"):
            self.close()
        return Response(status, headers, body)


@dataclasses.dataclass
class LoadResult:
    requests: int = 0
    ok: int = 0
    errors: int = 0
    wall_s: float = 0.0
    client_cpu_s: float = 0.0
    connects: int = 0
    latencies: list[float] = dataclasses.field(default_factory=list)
    error_samples: list[str] = dataclasses.field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.ok / self.wall_s if self.wall_s else 0.0

    def pct(self, p: float) -> float | None:
        if not self.latencies:
            return None
        s = sorted(self.latencies)
        return s[min(len(s) - 1, int(p / 100.0 * len(s)))]


async def _run(host: str, port: int, requests: Sequence[bytes], expect: int, concurrency: int,
               duration: float, max_requests: int,
               on_ok: Callable[[Response], None] | None) -> LoadResult:
    res = LoadResult()
    deadline = time.monotonic() + duration
    conns = [Conn(host, port) for _ in range(concurrency)]
    nreq = len(requests)
    counter = 0

    async def worker(conn: Conn) -> None:
        nonlocal counter
        while time.monotonic() < deadline and counter < max_requests:
            raw = requests[counter % nreq]
            counter += 1
            t0 = time.perf_counter()
            try:
                r = await conn.request(raw)
            except (HTTPError, OSError, asyncio.TimeoutError) as e:
                res.requests += 1
                res.errors += 1
                if len(res.error_samples) < 5:
                    res.error_samples.append(repr(e))
                await asyncio.sleep(0.01)
                continue
            res.latencies.append(time.perf_counter() - t0)
            res.requests += 1
            if r.status == expect:
                res.ok += 1
                if on_ok is not None:
                    on_ok(r)
            else:
                res.errors += 1
                if len(res.error_samples) < 5:
                    res.error_samples.append(f"HTTP {r.status}: {r.body[:200]!r}")

    cpu0, t0 = time.process_time(), time.monotonic()
    await asyncio.gather(*(worker(c) for c in conns))
    res.wall_s = time.monotonic() - t0
    res.client_cpu_s = time.process_time() - cpu0
    res.connects = sum(c.connects for c in conns)
    for c in conns:
        c.close()
    return res


def run_load(host: str, port: int, requests: Sequence[bytes], *, expect: int, concurrency: int,
             duration: float, max_requests: int = 1_000_000,
             on_ok: Callable[[Response], None] | None = None) -> LoadResult:
    """Send `requests` (cycled) with `concurrency` connections for `duration` s.

    Stops at the deadline or after `max_requests`; in-flight requests finish
    and are counted, and wall time runs until the last one completes.
    """
    coro = _run(host, port, requests, expect, concurrency, duration, max_requests, on_ok)
    if uvloop is not None:
        return uvloop.run(coro)
    return asyncio.run(coro)


def one(host: str, port: int, raw: bytes, timeout: float = 60.0) -> Response:
    """A single request (setup steps)."""

    async def go() -> Response:
        c = Conn(host, port, timeout)
        try:
            return await c.request(raw)
        finally:
            c.close()

    return asyncio.run(go())
