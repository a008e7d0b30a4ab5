"""Moving large objects between the network and the disk at the disk's speed.

A large upload is cut into `chunk_size` pieces that two worker threads consume at the same time:
one computes the md5 (the ETag), the other writes, starting the write-back of each piece at once
and waiting for pieces well behind, so the disk is busy from the first megabyte and the final
fsync has little left to do.  At most `depth` pieces are in flight: the event loop stops reading
the socket when the disk falls behind (TCP pushes back on the client), so memory stays bounded.

A large download reads the next piece on a worker thread while the event loop sends the current one.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import os
import queue
from typing import AsyncIterator

from monostack.object.storage.diskfile import sync_range

WRITE_BEHIND = 8  # pieces written back before we wait for the oldest


class WritePipeline:
    def __init__(self, fd: int, workers: concurrent.futures.Executor, chunk_size: int, *,
                 drop_cache_after: int | None = None, depth: int = 4):
        self.fd = fd
        self.chunk_size = chunk_size
        self.drop_cache_after = drop_cache_after
        self.size = 0
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._pending: list[bytes] = []
        self._pending_size = 0
        self._loop = asyncio.get_running_loop()
        self._hash_slots = asyncio.Semaphore(depth)
        self._write_slots = asyncio.Semaphore(depth)
        # Pieces are lists of the chunks as they came (no copy to join them): writev and md5 take them so.
        self._hash_queue: queue.SimpleQueue[list[bytes] | None] = queue.SimpleQueue()
        self._write_queue: queue.SimpleQueue[list[bytes] | None] = queue.SimpleQueue()
        self._error: BaseException | None = None
        self._closed = False
        self._hasher = self._loop.run_in_executor(workers, self._hash_loop)
        self._writer = self._loop.run_in_executor(workers, self._write_loop)

    # -- worker threads --------------------------------------------------------------------------------
    def _hash_loop(self) -> None:
        while (pieces := self._hash_queue.get()) is not None:
            for data in pieces:
                self._md5.update(data)
            self._loop.call_soon_threadsafe(self._hash_slots.release)

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
        # loop more of it than saving this copy would.
        pieces = self._pending if len(self._pending) == 1 else [b"".join(self._pending)]
        self._pending = []
        self._pending_size = 0
        await self._hash_slots.acquire()
        await self._write_slots.acquire()
        self._hash_queue.put(pieces)
        self._write_queue.put(pieces)

    async def finish(self) -> str:
        """Everything written (not yet fsynced); the md5 of it."""
        await self._flush()
        await self._stop()
        if self._error is not None:
            raise self._error
        return self._md5.hexdigest()

    async def _stop(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._hash_queue.put(None)
        self._write_queue.put(None)
        await asyncio.gather(self._hasher, self._writer, return_exceptions=True)

    async def abort(self) -> None:
        self._pending = []
        await self._stop()


def _write_all(fd: int, pieces: list[bytes], length: int) -> None:
    written = os.writev(fd, pieces)
    while written < length:  # a short write: carry on from where it stopped
        rest = memoryview(b"".join(pieces))[written:]
        while rest:
            rest = rest[os.write(fd, rest):]
        written = length


async def read_chunks(fd: int, start: int, stop: int, workers: concurrent.futures.Executor,
                      chunk_size: int, close: bool = True) -> AsyncIterator[bytes]:
    """Bytes [start, stop) of an open file, the next piece read while the current one is sent."""
    loop = asyncio.get_running_loop()

    def read(offset: int, length: int) -> bytes:
        parts = []
        while length > 0:
            data = os.pread(fd, length, offset)
            if not data:
                raise EOFError("the file is shorter than its metadata says")
            parts.append(data)
            offset += len(data)
            length -= len(data)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    position = start
    ahead: asyncio.Future | None = None
    try:
        if position < stop:
            length = min(chunk_size, stop - position)
            ahead = loop.run_in_executor(workers, read, position, length)
            position += length
        while ahead is not None:
            data = await ahead
            ahead = None
            if position < stop:
                length = min(chunk_size, stop - position)
                ahead = loop.run_in_executor(workers, read, position, length)
                position += length
            yield data
    finally:
        if ahead is not None:
            try:
                await ahead
            except Exception:
                pass
        if close:
            os.close(fd)
