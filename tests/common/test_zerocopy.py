"""The zero-copy send extension (common/zerocopy.py) on a real uvicorn server."""

from __future__ import annotations

import asyncio
import os
import socket

import httpx
import pytest
import uvicorn

from monostack.common import zerocopy


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def data_file(tmp_path):
    path = tmp_path / "data.bin"
    path.write_bytes(os.urandom(3 << 20) + b"tail")
    return path


def _app(path, seen):
    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        seen.append(zerocopy.offers(scope))
        start, stop = 1000, os.path.getsize(path) - 2  # a span inside the file
        headers = [(b"content-length", str(stop - start).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        fd = os.open(path, os.O_RDONLY)
        try:
            if zerocopy.offers(scope):
                await send({"type": zerocopy.EXTENSION, "file": fd, "offset": start, "count": stop - start,
                            "more_body": False})
            else:
                await send({"type": "http.response.body", "body": os.pread(fd, stop - start, start)})
        finally:
            os.close(fd)
    return app


async def _serve(app):
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(zerocopy.ZeroCopy(app), host="127.0.0.1", port=port,
                                           log_config=None, access_log=False, lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    return server, task, port


async def test_a_span_of_the_file_reaches_the_client_and_the_connection_is_reused(data_file):
    seen: list[bool] = []
    server, task, port = await _serve(_app(data_file, seen))
    try:
        expected = data_file.read_bytes()[1000:-2]
        async with httpx.AsyncClient() as client:
            for _ in range(3):  # keep-alive: the bookkeeping after a zero-copy send is right
                resp = await client.get(f"http://127.0.0.1:{port}/")
                assert resp.status_code == 200
                assert resp.content == expected
        assert seen == [True, True, True]
    finally:
        server.should_exit = True
        await task


async def test_a_client_that_goes_away_does_not_hurt_the_server(data_file):
    seen: list[bool] = []
    server, task, port = await _serve(_app(data_file, seen))
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
        await writer.drain()
        await reader.read(1000)  # then leave without reading the rest
        writer.transport.abort()
        await asyncio.sleep(0.2)
        async with httpx.AsyncClient() as client:  # the server still answers others
            resp = await client.get(f"http://127.0.0.1:{port}/")
            assert resp.content == data_file.read_bytes()[1000:-2]
    finally:
        server.should_exit = True
        await task


async def test_without_uvicorn_the_extension_is_not_offered(data_file):
    seen: list[bool] = []
    transport = httpx.ASGITransport(app=zerocopy.ZeroCopy(_app(data_file, seen)))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        resp = await client.get("/")
    assert seen == [False]
    assert resp.content == data_file.read_bytes()[1000:-2]


async def test_a_file_span_response_with_and_without_the_extension(data_file):
    async def app(scope, receive, send):
        await zerocopy.FileSpanResponse(str(data_file), 5, 2 << 20, status_code=206,
                                        headers={"Content-Type": "application/octet-stream"})(scope, receive, send)

    expected = data_file.read_bytes()[5:5 + (2 << 20)]
    server, task, port = await _serve(app)
    try:
        async with httpx.AsyncClient() as client:
            resp = await client.get(f"http://127.0.0.1:{port}/")
            assert resp.status_code == 206 and resp.content == expected
            assert resp.headers["content-length"] == str(2 << 20)
    finally:
        server.should_exit = True
        await task
    transport = httpx.ASGITransport(app=zerocopy.ZeroCopy(app))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        resp = await client.get("/")
    assert resp.content == expected
