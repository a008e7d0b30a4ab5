"""Moving large objects between the network and the disk at the disk's speed.

A large upload is cut into `chunk_size` pieces that two worker threads consume at the same time:
one computes the md5 (the ETag), the other writes, starting the write-back of each piece at once
and waiting for pieces well behind, so the disk is busy from the first megabyte and the final
fsync has little left to do.  At most `depth` pieces are in flight: the event loop stops reading
the socket when the disk falls behind (TCP pushes back on the client), so memory stays bounded.

The md5 thread is a `Hasher`.  The proxy of this process has one of its own for a body it sends
to object servers of this same process (proxy/local.py): those receive the very bytes objects the
proxy hashed, so they take its digest (`shared_md5`) instead of hashing the same bytes once per
replica.  An object server reached over the network always hashes what it received itself.

A large download reads the next pieces on worker threads while the event loop sends the current one.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import hashlib
import os
import queue
from typing import AsyncIterator

from monostack.object.storage.base import ClientDisconnect
from monostack.object.storage.diskfile import sync_range

WRITE_BEHIND = 8  # pieces written back before we wait for the oldest
READ_AHEAD = 2  # pieces of a download read ahead of the one being sent
# The ASGI scope key of the proxy's Hasher of an in-process upload's body (never set from a request
# that came over HTTP: scope keys are not headers).
SHARED_MD5 = "monostack.object.shared_md5"


class Hasher:
    """The md5 of a stream of pieces, computed on a worker thread while the event loop goes on.

    `feed` waits only when `depth` pieces are already queued; `finish` returns the hex digest;
    `digest()` waits for it from anywhere else (None when the stream was abandoned)."""

    def __init__(self, workers: concurrent.futures.Executor, depth: int = 4):
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._loop = asyncio.get_running_loop()
        self._slots = asyncio.Semaphore(depth)
        self._queue: queue.SimpleQueue[list[bytes] | None] = queue.SimpleQueue()
        self._done: asyncio.Future[str | None] = self._loop.create_future()
        self._closed = False
        self._thread = self._loop.run_in_executor(workers, self._hash_loop)

    def _hash_loop(self) -> None:
        while (pieces := self._queue.get()) is not None:
            for data in pieces:
                self._md5.update(data)
            self._loop.call_soon_threadsafe(self._slots.release)

    async def feed(self, pieces: list[bytes]) -> None:
        await self._slots.acquire()
        self._queue.put(pieces)

    async def _stop(self) -> None:
        if not self._closed:
            self._closed = True
            self._queue.put(None)
            await asyncio.gather(self._thread, return_exceptions=True)

    async def finish(self) -> str:
        await self._stop()
        digest = self._md5.hexdigest()
        if not self._done.done():
            self._done.set_result(digest)
        return digest

    async def abort(self) -> None:
        await self._stop()
        if not self._done.done():
            self._done.set_result(None)

    async def digest(self) -> str | None:
        return await asyncio.shield(self._done)


class WritePipeline:
    """Writes a large upload to `fd`; its md5 from a Hasher of its own, or `shared_md5`: the
    proxy's Hasher of these same pieces (an in-process upload, see the module's docstring)."""

    def __init__(self, fd: int, workers: concurrent.futures.Executor, chunk_size: int, *,
                 drop_cache_after: int | None = None, depth: int = 4, shared_md5: Hasher | None = None):
        self.fd = fd
        self.chunk_size = chunk_size
        self.drop_cache_after = drop_cache_after
        self.size = 0
        self._pending: list[bytes] = []
        self._pending_size = 0
        self._loop = asyncio.get_running_loop()
        self._shared_md5 = shared_md5
        self._hasher = Hasher(workers, depth) if shared_md5 is None else None
        self._write_slots = asyncio.Semaphore(depth)
        # Pieces are lists of the chunks as they came (no copy to join them): writev and md5 take them so.
        self._write_queue: queue.SimpleQueue[list[bytes] | None] = queue.SimpleQueue()
        self._error: BaseException | None = None
        self._closed = False
        self._writer = self._loop.run_in_executor(workers, self._write_loop)

    # -- worker thread ---------------------------------------------------------------------------------
    def _write_loop(self) -> None:
        offset = 0
        chunk = self.chunk_size
        while (pieces := self._write_queue.get()) is not None:
            if self._error is None:
                try:
                    length = sum(len(data) for data in pieces)
                    _write_all(self.fd, pieces, length)
                    sync_range(self.fd, offset, length, wait=False)
                    behind = offset - WRITE_BEHIND * chunk
                    if behind >= 0:
                        sync_range(self.fd, behind, chunk, wait=True)
                        if self.drop_cache_after is not None and offset > self.drop_cache_after:
                            os.posix_fadvise(self.fd, behind, chunk, os.POSIX_FADV_DONTNEED)
                    offset += length
                except BaseException as exc:  # keep draining so the event loop never waits forever
                    self._error = exc
            self._loop.call_soon_threadsafe(self._write_slots.release)

    # -- event loop side ------------------------------------------------------------------------------
    async def feed(self, data: bytes) -> None:
        if self._error is not None:
            raise self._error
        self.size += len(data)
        self._pending.append(data)
        self._pending_size += len(data)
        if self._pending_size >= self.chunk_size:
            await self._flush()

    async def _flush(self) -> None:
        if not self._pending:
            return
        # One piece: a thread releases the GIL once per piece, so fewer, larger pieces leave the event
        # loop more of it than saving this copy would (the proxy of this process sends whole pieces).
        pieces = self._pending if len(self._pending) == 1 else [b"".join(self._pending)]
        self._pending = []
        self._pending_size = 0
        if self._hasher is not None:
            await self._hasher.feed(pieces)
        await self._write_slots.acquire()
        self._write_queue.put(pieces)

    async def finish(self) -> str:
        """Everything written (not yet fsynced); the md5 of it."""
        await self._flush()
        await self._stop()
        if self._error is not None:
            raise self._error
        if self._hasher is not None:
            return await self._hasher.finish()
        digest = await self._shared_md5.digest()  # type: ignore[union-attr]
        if digest is None:  # the proxy abandoned the body: this upload is not whole
            raise ClientDisconnect()
        return digest

    async def _stop(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._write_queue.put(None)
        await asyncio.gather(self._writer, return_exceptions=True)

    async def abort(self) -> None:
        self._pending = []
        await self._stop()
        if self._hasher is not None:
            await self._hasher.abort()


def _write_all(fd: int, pieces: list[bytes], length: int) -> None:
    written = os.writev(fd, pieces)
    while written < length:  # a short write: carry on from where it stopped
        rest = memoryview(b"".join(pieces))[written:]
        while rest:
            rest = rest[os.write(fd, rest):]
        written = length


async def read_chunks(fd: int, start: int, stop: int, workers: concurrent.futures.Executor,
                      chunk_size: int, close: bool = True, drop_behind: bool = False) -> AsyncIterator[bytes]:
    """Bytes [start, stop) of an open file, the next pieces (READ_AHEAD of them) read on worker
    threads while the current one is sent.  With `drop_behind` (a large object, as Swift does for
    those) each piece leaves the page cache once read: a download streams through a few megabytes
    of page cache that the next pieces reuse, instead of filling (and pushing hotter objects out
    of) as much memory as the object is large."""
    loop = asyncio.get_running_loop()

    def read(offset: int, length: int) -> bytes:
        parts = []
        first = offset
        while length > 0:
            data = os.pread(fd, length, offset)
            if not data:
                raise EOFError("the file is shorter than its metadata says")
            parts.append(data)
            offset += len(data)
            length -= len(data)
        if drop_behind:
            os.posix_fadvise(fd, first, offset - first, os.POSIX_FADV_DONTNEED)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    position = start
    ahead: collections.deque[asyncio.Future] = collections.deque()

    def read_more() -> None:
        nonlocal position
        while position < stop and len(ahead) < READ_AHEAD:
            length = min(chunk_size, stop - position)
            ahead.append(loop.run_in_executor(workers, read, position, length))
            position += length

    try:
        read_more()
        while ahead:
            data = await ahead[0]
            ahead.popleft()
            read_more()
            yield data
    finally:
        for future in ahead:
            try:
                await future
            except Exception:
                pass
        if close:
            os.close(fd)


class FileBody:
    """Bytes [start, stop) of an open file as an answer's body: read in pieces (`read_chunks`) when
    iterated, or sent by whoever can hand the file to the kernel (`span`, the zero-copy send of
    common/zerocopy.py: the proxy of this process, or this server's own HTTP front).  It owns the
    file: `aclose` closes it, whether or not it was iterated (an async generator never started
    would not run its cleanup)."""

    def __init__(self, fd: int, start: int, stop: int, workers: concurrent.futures.Executor, chunk_size: int,
                 drop_behind: bool = False):
        self.fd = fd
        self.span = (start, stop)
        self.drop_behind = drop_behind
        self._workers = workers
        self._chunk_size = chunk_size
        self._chunks: AsyncIterator[bytes] | None = None

    def __aiter__(self) -> AsyncIterator[bytes]:
        if self._chunks is None:
            self._chunks = read_chunks(self.fd, *self.span, self._workers, self._chunk_size, close=False,
                                       drop_behind=self.drop_behind)
        return self._chunks

    def sent(self) -> None:
        """After a zero-copy send: what read_chunks' drop_behind would have done."""
        if self.drop_behind:
            os.posix_fadvise(self.fd, self.span[0], self.span[1] - self.span[0], os.POSIX_FADV_DONTNEED)

    async def aclose(self) -> None:
        chunks, self._chunks = self._chunks, None
        if chunks is not None:
            await chunks.aclose()  # type: ignore[attr-defined]
        if self.fd >= 0:
            fd, self.fd = self.fd, -1
            os.close(fd)
