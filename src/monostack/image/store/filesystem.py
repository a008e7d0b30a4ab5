"""The filesystem store: image data as files under DIR/images.

    DIR/images/<image id>            active image data
    DIR/images/staging/<image id>    data staged for a glance-direct import
    DIR/images/.tmp/<key>.<random>   a write in progress

A write goes to a temporary file that is renamed into place on commit (after
fsync), so a reader never sees a partial file and a crash leaves only a
temporary file, which `cleanup_temporary` removes at start-up.
"""

from __future__ import annotations

import collections
import concurrent.futures
import errno
import fcntl
import mmap
import os
import pathlib
import queue
import urllib.parse
import uuid
from typing import Any, Iterator

from monostack.common import errors


DIRECT_ALIGN = 4096  # O_DIRECT writes: buffer address, length and file offset multiples of this


class FileWriter:
    """Writes with O_DIRECT where the filesystem allows it: data handed over in page-aligned
    buffers of whole pages (what `Ingest` sends) goes to the disk without passing through the page
    cache, which costs next to no CPU; anything else (a short last block, unaligned bytes) switches
    the file to ordinary buffered writes for the rest.  Either way commit fsyncs."""

    def __init__(self, final: pathlib.Path, tmp_dir: pathlib.Path, fsync: bool):
        self.final = final
        self.tmp = tmp_dir / f"{final.name}.{uuid.uuid4().hex}"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
        direct = getattr(os, "O_DIRECT", 0)
        self._direct = False
        if direct:
            try:
                self._fd: int | None = os.open(self.tmp, flags | direct, 0o600)
                self._direct = True
            except OSError:  # not on this filesystem (tmpfs)
                self.tmp.unlink(missing_ok=True)
        if not self._direct:
            self._fd = os.open(self.tmp, flags, 0o600)
        self._fsync = fsync

    def _buffered(self) -> None:
        assert self._fd is not None
        fcntl.fcntl(self._fd, fcntl.F_SETFL, fcntl.fcntl(self._fd, fcntl.F_GETFL) & ~os.O_DIRECT)
        self._direct = False

    def write(self, data: bytes) -> None:
        assert self._fd is not None
        view = memoryview(data).cast("B")
        if self._direct and len(view) % DIRECT_ALIGN:
            self._buffered()
        while view:
            try:
                written = os.write(self._fd, view)
            except OSError as exc:
                if exc.errno != errno.EINVAL or not self._direct:
                    raise
                self._buffered()  # an unaligned buffer
                continue
            view = view[written:]

    def commit(self) -> str:
        assert self._fd is not None
        try:
            if self._fsync:
                os.fsync(self._fd)
        finally:
            os.close(self._fd)
            self._fd = None
        os.replace(self.tmp, self.final)
        return self.final.as_uri()

    def abort(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self.tmp.unlink(missing_ok=True)


READ_AHEAD = 4  # chunks a whole-file read has in flight


class LocalFileData:
    """Bytes [offset, offset + count) of a file of this host as an iterator of chunks, opened at
    the first read; a server that can hand the file to the kernel (common/zerocopy.py) sends
    `path`'s span itself and never reads it here."""

    def __init__(self, open_chunks: Any, path: str, offset: int, count: int):
        self._open = open_chunks
        self._chunks: Iterator[bytes] | None = None
        self.path, self.offset, self.count = path, offset, count

    def __iter__(self) -> "LocalFileData":
        return self

    def __next__(self) -> bytes:
        if self._chunks is None:
            self._chunks = self._open()
        return next(self._chunks)

    def close(self) -> None:
        closer = getattr(self._chunks, "close", None)
        if closer is not None:
            closer()


def _direct_chunks(fd: int, chunk_size: int) -> Iterator[bytes]:
    """The file's data read with O_DIRECT into page-aligned buffers, READ_AHEAD chunks at a time."""
    buffers: queue.SimpleQueue[mmap.mmap] = queue.SimpleQueue()
    for _ in range(READ_AHEAD):
        buffers.put(mmap.mmap(-1, chunk_size))

    def read(position: int) -> bytes:
        buffer = buffers.get()
        try:
            with memoryview(buffer) as view:
                return bytes(view[:os.preadv(fd, [view], position)])
        finally:
            buffers.put(buffer)

    def chunks() -> Iterator[bytes]:
        readers = concurrent.futures.ThreadPoolExecutor(READ_AHEAD, thread_name_prefix="image-read")
        pending: collections.deque[concurrent.futures.Future] = collections.deque()
        try:
            position = 0
            for _ in range(READ_AHEAD):
                pending.append(readers.submit(read, position))
                position += chunk_size
            while pending:
                data = pending.popleft().result()
                if len(data) < chunk_size:  # the end of the file
                    if data:
                        yield data
                    return
                pending.append(readers.submit(read, position))
                position += chunk_size
                yield data
        finally:
            readers.shutdown(wait=True, cancel_futures=True)
            os.close(fd)

    return chunks()


class FilesystemStore:
    kind = "file"
    local = True

    def __init__(self, root: str | os.PathLike, *, fsync: bool = True, store_id: str = "file",
                 description: str = "Filesystem store"):
        self.id = store_id
        self.description = description
        self.root = pathlib.Path(root)
        self.staging = self.root / "staging"
        self.tmp = self.root / ".tmp"
        self.fsync = fsync
        for directory in (self.root, self.staging, self.tmp):
            directory.mkdir(parents=True, exist_ok=True)

    def writer(self, key: str, *, staging: bool = False, size: int | None = None) -> FileWriter:
        if "/" in key or key.startswith("."):
            raise ValueError(f"bad key {key!r}")
        return FileWriter((self.staging if staging else self.root) / key, self.tmp, self.fsync)

    def path(self, location: str) -> str:
        parsed = urllib.parse.urlsplit(location)
        if parsed.scheme != "file":
            raise errors.BadRequest(f"the filesystem store cannot read {location}")
        path = pathlib.Path(urllib.parse.unquote(parsed.path)).resolve()
        if self.root.resolve() not in path.parents:
            raise errors.BadRequest("location outside the store")
        return str(path)

    def owns(self, location: str) -> bool:
        try:
            self.path(location)
        except errors.APIError:
            return False
        return True

    def size(self, location: str) -> int:
        return os.stat(self.path(location)).st_size

    def open(self, location: str, offset: int = 0, length: int | None = None,
             chunk_size: int = 4 << 20) -> Iterator[bytes]:
        """The data in chunks (a LocalFileData: a missing file fails here, the file is opened at the
        first read, and a server may send its span with sendfile instead).

        A whole-file read (no range) goes around the page cache (O_DIRECT, where the filesystem
        allows it) with READ_AHEAD chunks read at once by worker threads: the disk works while the
        caller sends, and no page-cache pages are filled for data read once."""
        path = self.path(location)
        size = os.stat(path).st_size  # a missing file fails here, not at the first read
        count = max(0, size - offset) if length is None else max(0, min(length, size - offset))
        return LocalFileData(lambda: self._chunks(path, offset, length, chunk_size), path, offset, count)

    def _chunks(self, path: str, offset: int, length: int | None, chunk_size: int) -> Iterator[bytes]:
        if offset == 0 and length is None and chunk_size % DIRECT_ALIGN == 0 and getattr(os, "O_DIRECT", 0):
            try:
                return _direct_chunks(os.open(path, os.O_RDONLY | os.O_DIRECT), chunk_size)
            except OSError:  # not on this filesystem (tmpfs); a missing file fails just below
                pass
        fd = os.open(path, os.O_RDONLY)
        try:  # read sequentially: a larger kernel read-ahead
            os.posix_fadvise(fd, offset, length or 0, os.POSIX_FADV_SEQUENTIAL)
        except (AttributeError, OSError):
            pass

        def chunks() -> Iterator[bytes]:
            remaining = length
            try:
                if offset:
                    os.lseek(fd, offset, os.SEEK_SET)
                while remaining is None or remaining > 0:
                    want = chunk_size if remaining is None else min(chunk_size, remaining)
                    data = os.read(fd, want)
                    if not data:
                        return
                    if remaining is not None:
                        remaining -= len(data)
                    yield data
            finally:
                os.close(fd)

        return chunks()

    def delete(self, location: str) -> None:
        try:
            pathlib.Path(self.path(location)).unlink(missing_ok=True)
        except errors.APIError:
            pass

    def staged_location(self, image_id: str) -> str:
        return (self.staging / image_id).as_uri()

    def cleanup_temporary(self) -> int:
        removed = 0
        for entry in self.tmp.iterdir():
            entry.unlink(missing_ok=True)
            removed += 1
        return removed
