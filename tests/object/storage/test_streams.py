"""Large uploads to the disk, hashed here or by the sender; downloads that leave no cache behind."""

from __future__ import annotations

import concurrent.futures
import hashlib
import os
import pathlib

import pytest

from monostack.object.storage.streams import Hasher, WritePipeline

pytestmark = pytest.mark.asyncio

MIB = 1 << 20


@pytest.fixture
def workers():
    pool = concurrent.futures.ThreadPoolExecutor(4)
    yield pool
    pool.shutdown()


async def _write(path: pathlib.Path, pieces: list[bytes], workers, **kwargs) -> tuple[str, int]:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        pipeline = WritePipeline(fd, workers, MIB, drop_cache_after=0, **kwargs)
        for piece in pieces:
            await pipeline.feed(piece)
        etag = await pipeline.finish()
        os.ftruncate(fd, pipeline.size)  # as DiskFile.commit does
        os.fsync(fd)
        return etag, pipeline.size
    finally:
        os.close(fd)


async def test_pieces_of_any_size_arrive_whole(tmp_path: pathlib.Path, workers) -> None:
    # Sizes that are not multiples of a block, a piece larger than a chunk, tiny ones.
    pieces = [os.urandom(n) for n in (MIB + 123, 77, 3 * MIB, 4096, 1, MIB - 1, 65536)]
    data = b"".join(pieces)
    path = tmp_path / "object"
    etag, size = await _write(path, pieces, workers)
    assert size == len(data) and etag == hashlib.md5(data).hexdigest()
    assert path.read_bytes() == data


async def test_a_shared_hasher_stands_for_the_pipelines_own(tmp_path: pathlib.Path, workers) -> None:
    pieces = [os.urandom(MIB) for _ in range(3)]
    hasher = Hasher(workers)
    for piece in pieces:
        await hasher.feed([piece])
    await hasher.finish()
    etag, _ = await _write(tmp_path / "object", pieces, workers, shared_md5=hasher)
    assert etag == hashlib.md5(b"".join(pieces)).hexdigest()


async def test_a_download_with_drop_behind_leaves_no_cache(tmp_path: pathlib.Path, workers) -> None:
    """A large object's download (drop_behind, as Swift's keep_cache policy) streams through the page
    cache without leaving the object in it; a small one's stays cached."""
    import ctypes
    import mmap

    from monostack.object.storage.streams import read_chunks

    def cached(path: pathlib.Path) -> int:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.mmap.restype = ctypes.c_void_p
        libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                              ctypes.c_long]
        libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p]
        libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
        size = path.stat().st_size
        vec = (ctypes.c_ubyte * (-(-size // mmap.PAGESIZE)))()
        fd = os.open(path, os.O_RDONLY)
        try:
            address = libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
            assert libc.mincore(address, size, vec) == 0
            libc.munmap(address, size)
        finally:
            os.close(fd)
        return sum(v & 1 for v in vec)

    data = os.urandom(6 * MIB)
    for name, drop in (("large", True), ("small", False)):
        path = tmp_path / name
        path.write_bytes(data)
        fd = os.open(path, os.O_RDONLY)
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        got = b"".join([chunk async for chunk in read_chunks(fd, 0, len(data), workers, MIB, drop_behind=drop)])
        assert got == data
        if drop:
            assert cached(path) <= 256  # (readahead of the last piece may still be in flight)
        else:
            assert cached(path) == len(data) // mmap.PAGESIZE
