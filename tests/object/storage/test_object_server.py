"""The object server speaks Swift's backend protocol."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import time
from typing import Any

import pytest

from tests.object.storage.conftest import Backend

pytestmark = pytest.mark.asyncio

A, C = "AUTH_test", "cont"


async def raw_request(port: int, data: bytes, close_early: bool = False) -> int | None:
    """Send bytes as they are; the status of the answer (None when the server gave none)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    await writer.drain()
    if close_early:
        writer.close()
        return None
    line = await asyncio.wait_for(reader.readline(), 10)
    writer.close()
    return int(line.split()[1]) if line else None


def headers(ts: str, **extra: str) -> dict[str, str]:
    return {"X-Timestamp": ts, "Content-Type": "text/plain", **extra}


async def put(backend: Backend, obj: str, data: bytes, ts: str | None = None, **extra: str) -> Any:
    return await backend.request("object", "PUT", f"/d1/0/{A}/{C}/{obj}", headers(ts or backend.ts(), **extra), data)


async def test_put_get_head_delete(backend: Backend) -> None:
    ts = backend.ts()
    response = await put(backend, "o", b"hello world", ts, **{"X-Object-Meta-Color": "blue",
                                                               "Content-Disposition": "inline",
                                                               "X-Object-Sysmeta-Secret": "s", "X-Other": "dropped"})
    assert response.status_code == 201
    assert response.headers["etag"] == hashlib.md5(b"hello world").hexdigest()
    response = await backend.request("object", "GET", f"/d1/0/{A}/{C}/o")
    assert response.status_code == 200 and response.content == b"hello world"
    assert response.headers["content-type"] == "text/plain"
    assert response.headers["x-object-meta-color"] == "blue"
    assert response.headers["content-disposition"] == "inline"
    assert response.headers["x-object-sysmeta-secret"] == "s"
    assert "x-other" not in response.headers
    assert response.headers["x-timestamp"] == ts
    assert response.headers["x-backend-timestamp"] == ts
    assert response.headers["content-length"] == "11"
    assert response.headers["last-modified"]
    head = await backend.request("object", "HEAD", f"/d1/0/{A}/{C}/o")
    assert head.status_code == 200 and head.content == b"" and head.headers["content-length"] == "11"
    assert head.headers["etag"] == response.headers["etag"]
    delete_ts = backend.ts()
    response = await backend.request("object", "DELETE", f"/d1/0/{A}/{C}/o", {"X-Timestamp": delete_ts})
    assert response.status_code == 204
    response = await backend.request("object", "GET", f"/d1/0/{A}/{C}/o")
    assert response.status_code == 404
    assert response.headers["x-backend-timestamp"] == delete_ts  # a tombstone
    # on disk: one tombstone, no data
    hashdir = _hashdir(backend, "o")
    assert [name.endswith(".ts") for name in os.listdir(hashdir)] == [True]


def _hashdir(backend: Backend, obj: str, device: str = "d1", part: int = 0) -> str:
    name_hash = backend.node.hash_path.hexdigest(A, C, obj)
    return os.path.join(backend.node.devices_dir, device, "objects", str(part), name_hash[-3:], name_hash)


async def test_metadata_in_xattrs_and_file_layout(backend: Backend) -> None:
    ts = backend.ts()
    await put(backend, "layout", b"data", ts, **{"X-Object-Meta-A": "1"})
    hashdir = _hashdir(backend, "layout")
    assert os.listdir(hashdir) == [f"{ts}.data"]
    metadata = json.loads(os.getxattr(os.path.join(hashdir, f"{ts}.data"), "user.swift.metadata"))
    assert metadata["name"] == f"/{A}/{C}/layout"
    assert metadata["ETag"] == hashlib.md5(b"data").hexdigest() and metadata["Content-Length"] == "4"
    assert metadata["X-Object-Meta-A"] == "1"


async def test_timestamps_order_writes(backend: Backend) -> None:
    newer, older = backend.ts(), f"{time.time() - 100:016.5f}"
    assert (await put(backend, "t", b"new", newer)).status_code == 201
    response = await put(backend, "t", b"old", older)
    assert response.status_code == 409 and response.headers["x-backend-timestamp"] == newer
    response = await put(backend, "t", b"same", newer)
    assert response.status_code == 409
    response = await backend.request("object", "DELETE", f"/d1/0/{A}/{C}/t", {"X-Timestamp": older})
    assert response.status_code == 409 and response.headers["x-backend-timestamp"] == newer
    assert (await backend.request("object", "GET", f"/d1/0/{A}/{C}/t")).content == b"new"
    # an offset orders writes of the same instant
    assert (await put(backend, "t", b"newer", newer + "_0000000000000001")).status_code == 201
    assert (await backend.request("object", "GET", f"/d1/0/{A}/{C}/t")).content == b"newer"
    # a PUT older than a tombstone is refused too
    delete_ts = backend.ts()
    await backend.request("object", "DELETE", f"/d1/0/{A}/{C}/t", {"X-Timestamp": delete_ts})
    response = await put(backend, "t", b"late", newer + "_0000000000000002")
    assert response.status_code == 409 and response.headers["x-backend-timestamp"] == delete_ts


async def test_delete_of_missing_object_leaves_a_tombstone(backend: Backend) -> None:
    ts = backend.ts()
    response = await backend.request("object", "DELETE", f"/d1/0/{A}/{C}/never", {"X-Timestamp": ts})
    assert response.status_code == 404
    response = await put(backend, "never", b"x", f"{float(ts) - 1:016.5f}")
    assert response.status_code == 409


async def test_bad_requests(backend: Backend) -> None:
    path = f"/d1/0/{A}/{C}/bad"
    ts = backend.ts()
    assert (await backend.request("object", "PUT", path, {"Content-Type": "a/b"}, b"x")).status_code == 400
    assert (await backend.request("object", "PUT", path, headers("nonsense"), b"x")).status_code == 400
    assert (await backend.request("object", "PUT", path, {"X-Timestamp": ts}, b"x")).status_code == 400  # no type
    assert (await backend.request("object", "PUT", path, headers(ts, **{"ETag": "0" * 32}), b"x")).status_code == 422
    assert (await put(backend, "bad", b"x", ts, **{"X-Object-Meta-" + "k" * 200: "v"})).status_code == 400
    assert (await put(backend, "bad", b"x", ts, **{"X-Delete-At": "1000"})).status_code == 400
    assert (await put(backend, "bad", b"x", ts, **{"X-Delete-At": "soon"})).status_code == 400
    assert (await backend.request("object", "PUT", f"/d1/0/{A}/{C}/" + "n" * 1025, headers(ts), b"x")).status_code == 400
    assert (await backend.request("object", "GET", f"/d1/0/{A}/{C}")).status_code == 400  # no object
    assert (await backend.request("object", "GET", f"/d1/x/{A}/{C}/o")).status_code == 400  # bad partition
    assert (await backend.request("object", "GET", f"/nodev/0/{A}/{C}/o")).status_code == 507
    assert (await backend.request("object", "GET", f"/d1/0/{A}/{C}/o",
                                  {"X-Backend-Storage-Policy-Index": "7"})).status_code == 503
    assert (await backend.request("object", "COPY", path)).status_code == 405
    assert (await backend.request("object", "DELETE", path)).status_code == 400  # no timestamp
    assert (await backend.request("object", "POST", path, {"X-Timestamp": "x"})).status_code == 400
    port = backend.port("object")
    # no Content-Length and not chunked
    assert await raw_request(port, f"PUT /d1/0/{A}/{C}/nolen HTTP/1.1\r\nHost: x\r\nX-Timestamp: {ts}\r\n"
                                   f"Content-Type: a/b\r\n\r\n".encode()) == 411
    assert await raw_request(port, f"PUT {path} HTTP/1.1\r\nHost: x\r\nX-Timestamp: {ts}\r\n"
                                   f"Content-Type: a/b\r\nContent-Length: 99999999999\r\n\r\n".encode()) == 413
    # not UTF-8, or a NUL
    assert await raw_request(port, b"GET /d1/0/a/c/%FF HTTP/1.1\r\nHost: x\r\n\r\n") == 412
    assert await raw_request(port, b"GET /d1/0/a/c/%00 HTTP/1.1\r\nHost: x\r\n\r\n") == 412
    assert (await backend.request("object", "GET", path)).status_code == 404  # nothing was stored


async def test_client_disconnect_stores_nothing(backend: Backend) -> None:
    port = backend.port("object")
    ts = backend.ts()
    for size in (100, 1 << 20):  # a small and a streamed upload, each cut in the middle
        await raw_request(port, f"PUT /d1/0/{A}/{C}/cut{size} HTTP/1.1\r\nHost: x\r\nX-Timestamp: {ts}\r\n"
                                f"Content-Type: a/b\r\nContent-Length: {size}\r\n\r\n".encode() + b"x" * (size // 2),
                          close_early=True)
    await asyncio.sleep(0.5)
    for size in (100, 1 << 20):
        assert (await backend.request("object", "GET", f"/d1/0/{A}/{C}/cut{size}")).status_code == 404
    assert os.listdir(os.path.join(backend.node.devices_dir, "d1", "tmp")) == []


@pytest.mark.parametrize("size", [1000, 3 << 20])
async def test_ranges(backend: Backend, size: int) -> None:
    data = os.urandom(size)
    await put(backend, "r", data)
    path = f"/d1/0/{A}/{C}/r"

    async def get_range(value: str) -> Any:
        return await backend.request("object", "GET", path, {"Range": value})

    response = await get_range("bytes=10-19")
    assert response.status_code == 206 and response.content == data[10:20]
    assert response.headers["content-range"] == f"bytes 10-19/{size}"
    response = await get_range("bytes=-7")
    assert response.status_code == 206 and response.content == data[-7:]
    response = await get_range(f"bytes={size - 5}-")
    assert response.content == data[-5:]
    response = await get_range(f"bytes=0-{size * 2}")
    assert response.status_code == 206 and response.content == data
    response = await get_range(f"bytes={size}-")
    assert response.status_code == 416 and response.headers["content-range"] == f"bytes */{size}"
    response = await get_range("bytes=0-1,5-9,-3")
    assert response.status_code == 206
    content_type = response.headers["content-type"]
    assert content_type.startswith("multipart/byteranges;boundary=")
    boundary = content_type.split("=", 1)[1].encode()
    parts = response.content.split(b"--" + boundary)
    assert parts[-1] == b"--"
    bodies = [part.split(b"\r\n\r\n", 1)[1][:-2] for part in parts[1:-1]]
    assert bodies == [data[0:2], data[5:10], data[-3:]]
    assert int(response.headers["content-length"]) == len(response.content)
    response = await get_range("bytes=garbage")
    assert response.status_code == 200 and response.content == data  # an invalid Range is ignored


async def test_conditional_requests(backend: Backend) -> None:
    ts = f"{time.time() - 3600:016.5f}"
    await put(backend, "cond", b"payload", ts)
    path = f"/d1/0/{A}/{C}/cond"
    etag = hashlib.md5(b"payload").hexdigest()

    async def get(**extra: str) -> int:
        return (await backend.request("object", "GET", path, extra)).status_code

    assert await get(**{"If-Match": f'"{etag}"'}) == 200
    assert await get(**{"If-Match": '"other"'}) == 412
    assert await get(**{"If-Match": "*"}) == 200
    assert await get(**{"If-None-Match": f'"{etag}"'}) == 304
    assert await get(**{"If-None-Match": '"other"'}) == 200
    assert await get(**{"If-Modified-Since": "Sun, 01 Jan 2090 00:00:00 GMT"}) == 304
    assert await get(**{"If-Modified-Since": "Sun, 01 Jan 2000 00:00:00 GMT"}) == 200
    assert await get(**{"If-Unmodified-Since": "Sun, 01 Jan 2000 00:00:00 GMT"}) == 412
    assert await get(**{"If-Unmodified-Since": "Sun, 01 Jan 2090 00:00:00 GMT"}) == 200
    assert (await backend.request("object", "HEAD", path, {"If-None-Match": etag})).status_code == 304
    assert (await backend.request("object", "GET", f"/d1/0/{A}/{C}/nothing", {"If-Match": "*"})).status_code == 412
    # create-only PUT
    assert (await put(backend, "cond", b"again", **{"If-None-Match": "*"})).status_code == 412
    assert (await put(backend, "fresh", b"new", **{"If-None-Match": "*"})).status_code == 201
    # X-Backend-Etag-Is-At: conditions against another metadata item (what SLO/encryption use)
    await put(backend, "at", b"body", **{"X-Object-Sysmeta-Real-Etag": "abc"})
    response = await backend.request("object", "GET", f"/d1/0/{A}/{C}/at",
                                     {"If-Match": "abc", "X-Backend-Etag-Is-At": "X-Object-Sysmeta-Real-Etag"})
    assert response.status_code == 200


async def test_post_replaces_metadata(backend: Backend) -> None:
    await put(backend, "p", b"x", **{"X-Object-Meta-One": "1", "X-Object-Meta-Two": "2",
                                     "X-Object-Sysmeta-Keep": "k"})
    path = f"/d1/0/{A}/{C}/p"
    post_ts = backend.ts()
    response = await backend.request("object", "POST", path, {"X-Timestamp": post_ts, "X-Object-Meta-Three": "3",
                                                              "Content-Type": "image/png"})
    assert response.status_code == 202
    response = await backend.request("object", "HEAD", path)
    assert response.headers["x-object-meta-three"] == "3"
    assert "x-object-meta-one" not in response.headers
    assert response.headers["x-object-sysmeta-keep"] == "k"
    assert response.headers["content-type"] == "image/png"
    assert response.headers["x-timestamp"] == post_ts
    assert response.headers["etag"] == hashlib.md5(b"x").hexdigest()
    old = f"{float(post_ts) - 1:016.5f}"
    assert (await backend.request("object", "POST", path, {"X-Timestamp": old})).status_code == 409
    response = await backend.request("object", "POST", f"/d1/0/{A}/{C}/missing", {"X-Timestamp": backend.ts()})
    assert response.status_code == 404
    # a later POST without a content type keeps the earlier POST's
    await backend.request("object", "POST", path, {"X-Timestamp": backend.ts(), "X-Object-Meta-Four": "4"})
    response = await backend.request("object", "HEAD", path)
    assert response.headers["content-type"] == "image/png" and "x-object-meta-three" not in response.headers


async def test_expiry(backend: Backend) -> None:
    path = f"/d1/0/{A}/{C}/exp"
    await put(backend, "exp", b"soon gone", **{"X-Delete-At": str(int(time.time()) + 2)})
    assert (await backend.request("object", "GET", path)).status_code == 200
    await asyncio.sleep(2.5)
    assert (await backend.request("object", "GET", path)).status_code == 404
    response = await backend.request("object", "GET", path, {"X-Backend-Open-Expired": "true"})
    assert response.status_code == 200 and response.content == b"soon gone"


async def test_large_object_streams_both_ways(backend: Backend) -> None:
    data = os.urandom(9 << 20)

    async def chunks() -> Any:
        for start in range(0, len(data), 300000):
            yield data[start:start + 300000]

    ts = backend.ts()
    response = await backend.request("object", "PUT", f"/d1/0/{A}/{C}/big", headers(ts),
                                     content=chunks())  # chunked: no length given
    assert response.status_code == 201 and response.headers["etag"] == hashlib.md5(data).hexdigest()
    response = await backend.request("object", "GET", f"/d1/0/{A}/{C}/big")
    assert response.status_code == 200 and response.content == data
    response = await backend.request("object", "PUT", f"/d1/0/{A}/{C}/big2", headers(backend.ts()), data)
    assert response.status_code == 201
    assert (await backend.request("object", "GET", f"/d1/0/{A}/{C}/big2")).content == data
    response = await backend.request("object", "PUT", f"/d1/0/{A}/{C}/big3",
                                     headers(backend.ts(), ETag="0" * 32), data)
    assert response.status_code == 422
    assert (await backend.request("object", "GET", f"/d1/0/{A}/{C}/big3")).status_code == 404



async def test_in_process_upload_takes_the_senders_md5(backend: Backend) -> None:
    """An upload from the proxy of this process carries the proxy's Hasher of the very pieces it
    sends (proxy/local.py): the object server stores its digest, and still refuses a body whose
    md5 is not the ETag the client gave."""
    import concurrent.futures

    from monostack.object.proxy import local
    from monostack.object.storage.streams import Hasher

    data = os.urandom(3 << 20)
    pieces = [data[start:start + (1 << 20)] for start in range(0, len(data), 1 << 20)]
    node = {"ip": "127.0.0.1", "port": backend.port("object"), "device": "d1"}
    workers = concurrent.futures.ThreadPoolExecutor(2)

    async def upload(obj: str, etag: str | None) -> Any:
        hasher = Hasher(workers)
        extra = {"Content-Length": str(len(data))} | ({"ETag": etag} if etag else {})
        sent = await local.upload(backend.node.object_server, node, 0, "PUT", f"/{A}/{C}/{obj}",
                                  headers(backend.ts(), **extra), True, 10.0, shared_md5=hasher)
        for piece in pieces:
            await hasher.feed([piece])
            sent.write(piece)
            await sent.drain()
        await hasher.finish()
        answer = await sent.response()
        await answer.read()
        return answer

    try:
        answer = await upload("shared", None)
        assert answer.status == 201 and answer.headers["etag"] == hashlib.md5(data).hexdigest()
        assert (await backend.request("object", "GET", f"/d1/0/{A}/{C}/shared")).content == data
        answer = await upload("refused", "0" * 32)
        assert answer.status == 422
        assert (await backend.request("object", "HEAD", f"/d1/0/{A}/{C}/refused")).status_code == 404
    finally:
        workers.shutdown()

async def replicate(backend: Backend, path: str) -> Any:
    return await backend.request("object", "POST", path, {"X-Backend-Replication-Verb": "REPLICATE"})


async def test_replicate_returns_suffix_hashes(backend: Backend) -> None:
    response = await replicate(backend, "/d1/0")
    assert response.status_code == 200 and response.json() == {}
    await put(backend, "h", b"x")
    hashes = (await replicate(backend, "/d1/0")).json()
    suffix = backend.node.hash_path.hexdigest(A, C, "h")[-3:]
    assert list(hashes) == [suffix]
    await put(backend, "h", b"y")
    again = (await replicate(backend, "/d1/0")).json()
    assert again[suffix] != hashes[suffix]
    assert (await replicate(backend, "/nodev/0")).status_code == 507
    response = await backend.request("object", "POST", "/d1/0", {"X-Backend-Replication-Verb": "DELETE"})
    assert response.status_code == 405


async def test_container_updates_and_async_pendings(backend: Backend) -> None:
    await backend.create_account(A)
    await backend.create_container(A, C)
    statuses = await backend.put_object(A, C, "listed", b"12345")
    assert statuses == [201, 201, 201]
    listing = await backend.request("container", "GET", backend.container_path(A, C), params={"format": "json"})
    assert [item["name"] for item in listing.json()] == ["listed"]
    # the container servers are unreachable: the updates are saved, the updater sends them later
    part, nodes = backend.node.ring("object").get_nodes(A, C, "later")
    ts = backend.ts()
    for node in nodes:
        response = await backend.request("object", "PUT", f"/{node['device']}/{part}/{A}/{C}/later", {
            "X-Timestamp": ts, "Content-Type": "a/b", "X-Container-Host": "127.0.0.1:1",
            "X-Container-Device": "d1", "X-Container-Partition": "0"}, b"abc")
        assert response.status_code == 201
    pending = []
    for device in ("d1", "d2", "d3"):
        root = os.path.join(backend.node.devices_dir, device, "async_pending")
        for dirpath, _dirs, files in os.walk(root):
            pending += [os.path.join(dirpath, name) for name in files]
    assert len(pending) == 3
    with open(pending[0]) as source:
        saved = json.load(source)
    assert saved["op"] == "PUT" and saved["obj"] == "later" and saved["headers"]["x-size"] == "3"
    listing = await backend.request("container", "GET", backend.container_path(A, C))
    assert listing.text == "listed\n"
    stats = await backend.node.update_once()
    assert stats["object"] == {"successes": 3, "failures": 0}
    assert not any(os.path.exists(path) for path in pending)
    for replica in range(3):
        listing = await backend.request("container", "GET", backend.container_path(A, C, replica))
        assert listing.text == "later\nlisted\n"


async def test_metadata_too_large_for_an_xattr_goes_to_a_sidecar(backend: Backend) -> None:
    # 90 items of 45 bytes: within Swift's limits, beyond what ext4 keeps in one xattr block
    meta = {f"X-Object-Meta-K{index:02d}": "v" * 40 for index in range(90)}
    meta.update({"Content-Disposition": "attachment; filename=" + "f" * 200,
                 "X-Object-Sysmeta-Big": "s" * 3000})
    assert (await put(backend, "wide", b"payload", **meta)).status_code == 201
    response = await backend.request("object", "GET", f"/d1/0/{A}/{C}/wide")
    assert response.status_code == 200 and response.content == b"payload"
    assert all(response.headers[key] == value for key, value in meta.items())
