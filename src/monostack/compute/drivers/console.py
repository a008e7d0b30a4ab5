"""A guest's serial console: a bounded log, and a live two-way stream.

QEMU's serial port goes to a chardev socket in the instance directory
(`console.sock`, server, nobody needs to be connected) whose `logfile`
records everything the guest prints, whether or not a client is connected
(`console.log`, opened by QEMU with O_APPEND). QEMU never bounds that file,
so the driver cuts it back (`trim`): past `max_bytes` only the last half is
kept. With O_APPEND, QEMU's next write lands at the new end whatever we did
to the start. The cut is FALLOC_FL_COLLAPSE_RANGE (atomic, nothing QEMU
writes meanwhile is lost) where the filesystem has it, else a copy of the
tail (a line written during the copy may be lost: rare and only cosmetic).

The live console (`Hub`) is one connection to console.sock per guest (QEMU
serves one client at a time) shared by any number of readers; writers send
keystrokes through it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import errno
import logging
import os
import pathlib
import threading
from typing import AsyncIterator

from monostack.compute.drivers import unixsock

LOG = logging.getLogger(__name__)

FALLOC_FL_COLLAPSE_RANGE = 0x08
_TRIM_LOCK = threading.Lock()
_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_longlong, ctypes.c_longlong]


def _collapse(fd: int, length: int) -> bool:
    if _libc.fallocate(fd, FALLOC_FL_COLLAPSE_RANGE, 0, length) == 0:
        return True
    err = ctypes.get_errno()
    if err not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS, errno.EPERM):
        raise OSError(err, os.strerror(err))
    return False


def trim(path: pathlib.Path, max_bytes: int) -> None:
    """Cut the log back to (about) its last max_bytes/2 when it is larger than max_bytes (blocking)."""
    keep = max_bytes // 2
    with _TRIM_LOCK:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        except FileNotFoundError:
            return
        try:
            st = os.fstat(fd)
            if st.st_size <= max_bytes:
                return
            block = st.st_blksize or 4096
            drop = (st.st_size - keep) // block * block
            if drop > 0 and _collapse(fd, drop):
                return
            size = os.fstat(fd).st_size
            tail = os.pread(fd, keep, size - keep)
            os.pwrite(fd, tail, 0)
            os.ftruncate(fd, len(tail))
        finally:
            os.close(fd)


def tail(path: pathlib.Path, lines: int | None = None, max_bytes: int = 1 << 20) -> str:
    """The last `lines` lines of the log (all of it when None), decoded leniently (blocking)."""
    try:
        with open(path, "rb") as f:
            size = f.seek(0, os.SEEK_END)
            f.seek(max(0, size - max_bytes))
            data = f.read()
    except FileNotFoundError:
        return ""
    text = data.decode("utf-8", errors="replace")
    if lines is None:
        return text
    if lines <= 0:
        return ""
    parts = text.splitlines(keepends=True)
    return "".join(parts[-lines:])


class Hub:
    """One live connection to a guest's console socket, fanned out to every reader."""

    QUEUE = 256  # chunks a slow reader may lag behind before it loses the oldest

    def __init__(self, socket_path: pathlib.Path, on_data=None):
        self.socket_path = socket_path
        self.on_data = on_data  # called with each chunk (the driver trims the log from it)
        self._readers: set[asyncio.Queue] = set()
        self._writer: asyncio.StreamWriter | None = None
        self._task: asyncio.Task | None = None
        self._connected = asyncio.Lock()
        self.closed = False

    async def _ensure(self) -> None:
        async with self._connected:
            if self._task is not None:
                return
            try:
                sock = await asyncio.wait_for(unixsock.connect(self.socket_path), 10)
            except (OSError, asyncio.TimeoutError) as err:
                self.closed = True
                raise ConnectionError(f"no console at {self.socket_path}: {err}") from None
            reader, self._writer = await asyncio.open_unix_connection(sock=sock)
            self._task = asyncio.create_task(self._pump(reader))

    async def _pump(self, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                chunk = await reader.read(65536)
                if not chunk:
                    break
                if self.on_data is not None:
                    self.on_data(chunk)
                for queue in list(self._readers):
                    if queue.full():
                        with contextlib.suppress(asyncio.QueueEmpty):
                            queue.get_nowait()
                    queue.put_nowait(chunk)
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            self.closed = True
            for queue in list(self._readers):
                if queue.full():
                    with contextlib.suppress(asyncio.QueueEmpty):
                        queue.get_nowait()
                queue.put_nowait(None)
            if self._writer is not None:
                self._writer.close()

    async def stream(self) -> AsyncIterator[bytes]:
        """Bytes the guest prints from now on; ends when QEMU closes the console (guest stopped)."""
        queue: asyncio.Queue = asyncio.Queue(self.QUEUE)
        self._readers.add(queue)
        try:
            await self._ensure()
            while True:
                if self.closed and queue.empty():
                    return
                chunk = await queue.get()
                if chunk is None:
                    return
                yield chunk
        finally:
            self._readers.discard(queue)

    async def write(self, data: bytes) -> None:
        await self._ensure()
        if self.closed or self._writer is None:
            raise ConnectionError("the console is closed")
        self._writer.write(data)
        await self._writer.drain()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        self.closed = True
