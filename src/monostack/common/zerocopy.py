"""Sending a file's bytes to the client with sendfile(2): the ASGI zero-copy send extension.

A large download through Python costs a read into a buffer, a write from it
and the event loop's bookkeeping for every chunk; for a file already on this
host the kernel can move the bytes from the page cache to the socket itself.
ASGI names that `http.response.zerocopysend` (the zero-copy send extension);
uvicorn does not offer it, so `ZeroCopy`, the outermost ASGI layer, adds it
when the server's `send` is uvicorn's response cycle (whose transport and
content-length bookkeeping it uses, and nothing else of it).  An app checks
`offers(scope)` and sends

    {"type": "http.response.zerocopysend", "file": fd, "offset": o, "count": n, "more_body": bool}

after `http.response.start` (with a Content-Length); without the extension it
reads and sends chunks as before.  The file descriptor stays the app's to close.

How: once the bytes the transport holds (the headers) have gone, a worker
thread calls sendfile on a duplicate of the socket (so that the event loop
closing the connection meanwhile can never make it write to a reused
descriptor) until `count` bytes are sent, waiting with poll() when the socket
is full; the event loop is never blocked.  A client that goes away ends it
with a ConnectionError.
"""

from __future__ import annotations

import asyncio
import os
import select
import threading
from typing import Any

from starlette.responses import Response

EXTENSION = "http.response.zerocopysend"
# No progress for this long: the client stopped reading.
STALL_TIMEOUT = 60.0


def offers(scope: dict[str, Any]) -> bool:
    return EXTENSION in (scope.get("extensions") or {})


def _sendfile(sock_fd: int, fd: int, offset: int, count: int) -> int:
    # The kernel doubles its read-ahead for a file read from start to end.
    os.posix_fadvise(fd, offset, count, os.POSIX_FADV_SEQUENTIAL)
    poller = select.poll()
    poller.register(sock_fd, select.POLLOUT)
    sent = 0
    prefetch = _Prefetch(fd, offset, count)
    try:
        while sent < count:
            try:
                n = os.sendfile(sock_fd, fd, offset + sent, min(count - sent, 1 << 30))
            except BlockingIOError:
                if not poller.poll(STALL_TIMEOUT * 1000):
                    raise TimeoutError(f"the client took no data for {STALL_TIMEOUT:.0f} s") from None
                continue
            if n == 0:
                raise EOFError(f"the file ended {count - sent} bytes early")
            sent += n
            prefetch.sent = sent
    finally:
        prefetch.stop()
    return sent


class _Prefetch:
    """Reads the file PREFETCH bytes ahead of what is sent, in large reads, on a thread of its own:
    sendfile on a non-blocking socket reads a cold file a socket buffer at a time, with the disk
    idle while the client drains it; this keeps the disk reading at its own speed meanwhile."""

    CHUNK = 4 << 20
    AHEAD = 32 << 20

    def __init__(self, fd: int, offset: int, count: int):
        self.fd, self.offset, self.count = fd, offset, count
        self.sent = 0
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="zerocopy-prefetch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        buffer = bytearray(self.CHUNK)
        done = 0
        try:
            while done < self.count and not self._stopped.is_set():
                if done - self.sent >= self.AHEAD:
                    self._stopped.wait(0.002)
                    continue
                n = os.preadv(self.fd, [memoryview(buffer)[:min(self.CHUNK, self.count - done)]], self.offset + done)
                if n <= 0:
                    return
                done += n
        except OSError:  # the transfer reads for itself then
            return

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join()


class _Sender:
    """The send of one request, with the zero-copy message handled on the cycle's transport."""

    def __init__(self, send: Any, cycle: Any):
        self.send = send
        self.cycle = cycle

    async def __call__(self, message: dict[str, Any]) -> None:
        if message["type"] != EXTENSION:
            await self.send(message)
            return
        cycle = self.cycle
        count = int(message.get("count") if message.get("count") is not None else
                    os.fstat(message["file"]).st_size - int(message.get("offset") or 0))
        if cycle.chunked_encoding or cycle.expected_content_length < count:
            raise RuntimeError("zero-copy sends need a Content-Length that covers them")
        if cycle.disconnected:
            raise ConnectionResetError("the client went away")
        transport = cycle.transport
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STALL_TIMEOUT
        while transport.get_write_buffer_size():  # the headers (small: usually gone already)
            if transport.is_closing() or loop.time() > deadline:
                raise ConnectionResetError("the client went away")
            await asyncio.sleep(0.001)
        sock_fd = os.dup(transport.get_extra_info("socket").fileno())
        try:
            await asyncio.to_thread(_sendfile, sock_fd, message["file"], int(message.get("offset") or 0), count)
        finally:
            os.close(sock_fd)
        cycle.expected_content_length -= count
        if not message.get("more_body", False):
            await self.send({"type": "http.response.body", "body": b"", "more_body": False})


class ZeroCopy:
    """The outermost ASGI app: adds the zero-copy extension to HTTP requests uvicorn serves."""

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        cycle = getattr(send, "__self__", None)
        if scope["type"] == "http" and all(hasattr(cycle, name) for name in
                                           ("transport", "chunked_encoding", "expected_content_length",
                                            "disconnected")):
            scope["extensions"] = dict(scope.get("extensions") or {}, **{EXTENSION: {}})
            send = _Sender(send, cycle)
        await self.app(scope, receive, send)


class FileSpanResponse(Response):
    """An ASGI response of bytes [offset, offset + count) of a file: sent by the kernel when the
    server offers the extension, else read in chunks on worker threads.  The file is opened when
    the response is sent (a missing one is the caller's to rule out before)."""

    chunk_size = 4 << 20

    def __init__(self, path: str, offset: int, count: int, *, status_code: int = 200,
                 headers: dict[str, str] | None = None):
        self.path = path
        self.offset = offset
        self.count = count
        super().__init__(status_code=status_code,
                         headers={k: v for k, v in (headers or {}).items() if k.lower() != "content-length"})
        self.raw_headers = [(k, v) for k, v in self.raw_headers if k != b"content-length"]
        self.raw_headers.append((b"content-length", str(count).encode()))

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:  # type: ignore[override]
        fd = await asyncio.to_thread(os.open, self.path, os.O_RDONLY)
        try:
            await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
            if scope.get("method") == "HEAD":
                await send({"type": "http.response.body", "body": b""})
            elif offers(scope):
                await send({"type": EXTENSION, "file": fd, "offset": self.offset, "count": self.count,
                            "more_body": False})
            else:
                position, end = self.offset, self.offset + self.count
                while position < end:
                    data = await asyncio.to_thread(os.pread, fd, min(self.chunk_size, end - position), position)
                    if not data:
                        raise EOFError(f"{self.path} ended {end - position} bytes early")
                    position += len(data)
                    await send({"type": "http.response.body", "body": data, "more_body": position < end})
                if not self.count:
                    await send({"type": "http.response.body", "body": b""})
        finally:
            os.close(fd)
