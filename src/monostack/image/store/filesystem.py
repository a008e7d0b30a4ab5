"""The filesystem store: image data as files under DIR/images.

    DIR/images/<image id>            active image data
    DIR/images/staging/<image id>    data staged for a glance-direct import
    DIR/images/.tmp/<key>.<random>   a write in progress

A write goes to a temporary file that is renamed into place on commit (after
fsync), so a reader never sees a partial file and a crash leaves only a
temporary file, which `cleanup_temporary` removes at start-up.
"""

from __future__ import annotations

import os
import pathlib
import urllib.parse
import uuid
from typing import Iterator

from monostack.common import errors


class FileWriter:
    def __init__(self, final: pathlib.Path, tmp_dir: pathlib.Path, fsync: bool):
        self.final = final
        self.tmp = tmp_dir / f"{final.name}.{uuid.uuid4().hex}"
        self._fd: int | None = os.open(self.tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self._fsync = fsync

    def write(self, data: bytes) -> None:
        assert self._fd is not None
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
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


class FilesystemStore:
    id = "file"
    description = "Filesystem store"

    def __init__(self, root: str | os.PathLike, *, fsync: bool = True):
        self.root = pathlib.Path(root)
        self.staging = self.root / "staging"
        self.tmp = self.root / ".tmp"
        self.fsync = fsync
        for directory in (self.root, self.staging, self.tmp):
            directory.mkdir(parents=True, exist_ok=True)

    def writer(self, key: str, *, staging: bool = False) -> FileWriter:
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

    def size(self, location: str) -> int:
        return os.stat(self.path(location)).st_size

    def open(self, location: str, offset: int = 0, length: int | None = None,
             chunk_size: int = 4 << 20) -> Iterator[bytes]:
        """The data in chunks (a generator: the file is opened at once, so a missing one fails here)."""
        fd = os.open(self.path(location), os.O_RDONLY)

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
