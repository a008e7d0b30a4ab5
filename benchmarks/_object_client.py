"""The load client of the Object Storage benchmark, run as its own process (so its CPU is not the
servers') and used unchanged for every target.

It reads one job per line (JSON) on stdin and answers each with one line of JSON on stdout, so
the runner can read the servers' CPU counters right before and after each measurement:

  {"kind": "small", "op": "PUT"|"GET"|"HEAD"|"DELETE", "host", "port", "path": container path,
   "headers": {...}, "prefix": object name prefix, "count": N, "size": bytes (PUT),
   "concurrency": 16, "duration": s}
      Objects <prefix>0 .. <prefix>N-1.  PUT and DELETE go through the names once, in order,
      until the deadline (PUT: each a fresh object of `size` random bytes; the answer says how
      many were stored); GET and HEAD cycle over them until the deadline.  HTTP/1.1 keep-alive,
      `concurrency` connections (asyncio + uvloop, the identity benchmark's connection code).
  {"kind": "big_put", "host", "port", "path": object path, "headers", "size"}
      One object of `size` bytes over a plain blocking socket in 4 MiB sendall()s of a random
      pattern, with Content-Length; timed from the first byte sent to the end of the answer.
  {"kind": "big_get", "host", "port", "path", "headers"}
      The object read into a reused 4 MiB buffer and discarded; timed from the request to the
      last byte.

    .venv/bin/python benchmarks/_object_client.py    (driven by object_storage.py)
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _loadgen  # noqa: E402

MIB = 1 << 20
BLOCK = 4 * MIB
EXPECT = {"PUT": 201, "GET": 200, "HEAD": 200, "DELETE": 204}


def _head(method: str, host: str, port: int, path: str, headers: dict[str, str], length: int | None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}", "User-Agent: monostack-bench"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if length is not None:
        lines += [f"Content-Length: {length}", "Content-Type: application/octet-stream"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def _small(job: dict) -> dict:
    op, size, count = job["op"], job.get("size", 0), job["count"]
    host, port = job["host"], job["port"]
    prefix = f"{job['path'].rstrip('/')}/{job['prefix']}"
    body = os.urandom(size) if op == "PUT" else b""
    cycle = op in ("GET", "HEAD")
    expect = EXPECT[op]
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    errors: list[str] = []
    done = [0]
    next_index = [0]
    deadline = time.monotonic() + job["duration"]

    def raw(index: int) -> bytes:
        return _head(op, host, port, f"{prefix}{index}", job["headers"], size if op == "PUT" else None) + body

    async def worker() -> None:
        conn = _loadgen.Conn(host, port, timeout=60.0)
        try:
            while time.monotonic() < deadline and (cycle or next_index[0] < count):
                index = next_index[0] % count if cycle else next_index[0]
                next_index[0] += 1
                started = time.perf_counter()
                try:
                    r = await conn.request(raw(index), is_head=op == "HEAD")
                except (_loadgen.HTTPError, OSError, asyncio.TimeoutError) as exc:
                    statuses[0] = statuses.get(0, 0) + 1
                    if len(errors) < 5:
                        errors.append(repr(exc))
                    continue
                latencies.append(time.perf_counter() - started)
                statuses[r.status] = statuses.get(r.status, 0) + 1
                if r.status == expect and (op != "GET" or len(r.body) == size or not size):
                    done[0] += 1
                elif len(errors) < 5:
                    errors.append(f"HTTP {r.status}: {r.body[:200]!r}")
        finally:
            conn.close()

    cpu0, t0 = time.process_time(), time.monotonic()
    await asyncio.gather(*(worker() for _ in range(job["concurrency"])))
    wall = time.monotonic() - t0
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] * 1e3 if latencies else 0.0

    return {"op": op, "ok": done[0], "requests": sum(statuses.values()), "errors": sum(statuses.values()) - done[0],
            "attempted": min(next_index[0], count) if not cycle else next_index[0],
            "statuses": {str(k): v for k, v in sorted(statuses.items())}, "error_samples": errors,
            "wall_s": wall, "rate_per_s": done[0] / wall if wall else 0.0, "client_cpu_s": time.process_time() - cpu0,
            "latency_ms_p50": pct(50), "latency_ms_p99": pct(99), "concurrency": job["concurrency"]}


def _read_answer(sock: socket.socket, buf: bytearray) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and the start of the body (what came with the head)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"connection closed in the answer's head: {data[:200]!r}")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(lines[0].split()[1]), headers, rest


def _drain(sock: socket.socket, buf: bytearray, remaining: int) -> int:
    view = memoryview(buf)
    got = 0
    while got < remaining:
        n = sock.recv_into(view[:min(len(buf), remaining - got)])
        if not n:
            break
        got += n
    return got


def _big_put(job: dict, pattern: bytes) -> dict:
    size = job["size"]
    sock = socket.create_connection((job["host"], job["port"]))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    view = memoryview(pattern)
    cpu0, t0 = time.process_time(), time.monotonic()
    try:
        sock.sendall(_head("PUT", job["host"], job["port"], job["path"], job["headers"], size))
        sent = 0
        while sent < size:
            n = min(BLOCK, size - sent)
            start = sent % len(pattern)
            if start + n > len(pattern):
                start = 0
            sock.sendall(view[start:start + n])
            sent += n
        status, headers, rest = _read_answer(sock, bytearray())
        length = int(headers.get("content-length", "0"))
        if length > len(rest):
            _drain(sock, bytearray(65536), length - len(rest))
    finally:
        sock.close()
    wall = time.monotonic() - t0
    return {"status": status, "etag": headers.get("etag", ""), "bytes": size, "wall_s": wall,
            "mib_per_s": size / MIB / wall, "client_cpu_s": time.process_time() - cpu0}


def _big_get(job: dict) -> dict:
    sock = socket.create_connection((job["host"], job["port"]))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buf = bytearray(BLOCK)
    cpu0, t0 = time.process_time(), time.monotonic()
    try:
        sock.sendall(_head("GET", job["host"], job["port"], job["path"], job["headers"], None))
        status, headers, rest = _read_answer(sock, buf)
        length = int(headers.get("content-length", "0"))
        got = len(rest) + _drain(sock, buf, length - len(rest))
    finally:
        sock.close()
    wall = time.monotonic() - t0
    return {"status": status, "bytes": got, "expected_bytes": length, "wall_s": wall,
            "mib_per_s": got / MIB / wall, "client_cpu_s": time.process_time() - cpu0}


def main() -> int:
    pattern = os.urandom(64 * MIB)  # sent over and over by big PUTs: random, so nothing compresses it
    for line in sys.stdin:
        if not line.strip():
            continue
        job = json.loads(line)
        try:
            if job["kind"] == "small":
                coro = _small(job)
                result = _loadgen.uvloop.run(coro) if _loadgen.uvloop else asyncio.run(coro)
            elif job["kind"] == "big_put":
                result = _big_put(job, pattern)
            elif job["kind"] == "big_get":
                result = _big_get(job)
            else:
                raise ValueError(f"unknown job {job['kind']!r}")
        except Exception as exc:
            result = {"failed": f"{type(exc).__name__}: {exc}"}
        print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
