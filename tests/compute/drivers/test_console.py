"""The serial console: the bounded log (QEMU keeps appending while we cut it) and the live hub."""

from __future__ import annotations

import asyncio
import os
import pathlib

import pytest

from monostack.compute.drivers import console

MAX = 1 << 20


def qemu_like_writer(path: pathlib.Path) -> int:
    """An fd opened the way QEMU opens a chardev logfile with logappend=on."""
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)


def write_lines(fd: int, start: int, count: int) -> None:
    os.write(fd, b"".join(b"line %08d of the guest's console output\n" % i for i in range(start, start + count)))


@pytest.mark.parametrize("collapse", [True, False], ids=["collapse-range", "copy-tail"])
def test_trim_keeps_the_tail_while_the_writer_goes_on(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch,
                                                     collapse: bool) -> None:
    if not collapse:
        monkeypatch.setattr(console, "_collapse", lambda fd, length: False)
    log = tmp_path / "console.log"
    fd = qemu_like_writer(log)
    try:
        write_lines(fd, 0, 40000)  # ~1.6 MiB
        assert log.stat().st_size > MAX
        console.trim(log, MAX)
        size = log.stat().st_size
        assert MAX // 2 <= size <= MAX // 2 + 4096
        write_lines(fd, 40000, 10)  # QEMU's next write: at the (new) end, no hole before it
        data = log.read_bytes()
    finally:
        os.close(fd)
    assert b"\0" not in data
    lines = data.splitlines()
    assert lines[-1] == b"line 00040009 of the guest's console output"
    assert lines[-11] == b"line 00039999 of the guest's console output"
    numbers = [int(line.split()[1]) for line in lines[1:]]  # the first line may be cut
    assert numbers == list(range(numbers[0], 40010))


def test_trim_leaves_a_small_log_alone(tmp_path: pathlib.Path) -> None:
    log = tmp_path / "console.log"
    log.write_bytes(b"x" * 1000)
    console.trim(log, MAX)
    assert log.read_bytes() == b"x" * 1000
    console.trim(tmp_path / "missing.log", MAX)  # no log yet: nothing to do


def test_tail_lines(tmp_path: pathlib.Path) -> None:
    log = tmp_path / "console.log"
    log.write_bytes(b"one\r\ntwo\r\nthree\r\nlogin: ")
    assert console.tail(log) == "one\r\ntwo\r\nthree\r\nlogin: "
    assert console.tail(log, 2) == "three\r\nlogin: "
    assert console.tail(log, 0) == ""
    assert console.tail(tmp_path / "missing.log", 5) == ""
    log.write_bytes(b"bad \xff byte\n")
    assert console.tail(log, 1) == "bad \ufffd byte\n"


async def test_hub_fans_out_to_readers_and_forwards_writes(tmp_path: pathlib.Path) -> None:
    sock = tmp_path / "console.sock"
    received: list[bytes] = []
    connections = 0
    guest_writer: list[asyncio.StreamWriter] = []

    async def guest(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        guest_writer.append(writer)
        while data := await reader.read(100):
            received.append(data)
            writer.write(b"echo:" + data)  # a terminal echoes what is typed
            await writer.drain()

    server = await asyncio.start_unix_server(guest, path=str(sock))
    seen: list[int] = []
    hub = console.Hub(sock, on_data=lambda chunk: seen.append(len(chunk)))
    try:
        async def read_until(stream, needle: bytes) -> bytes:
            got = b""
            async for chunk in stream:
                got += chunk
                if needle in got:
                    return got
            return got

        one, two = hub.stream(), hub.stream()
        readers = [asyncio.create_task(read_until(one, b"echo:hi")),
                   asyncio.create_task(read_until(two, b"echo:hi"))]
        await asyncio.sleep(0.2)
        await hub.write(b"hi")
        results = await asyncio.wait_for(asyncio.gather(*readers), 5)
        assert all(b"echo:hi" in r for r in results)
        assert received == [b"hi"]
        assert connections == 1  # one connection whatever the number of readers
        assert sum(seen) == len(b"echo:hi")

        # the guest's QEMU goes away: every reader's stream ends
        three = hub.stream()
        ending = asyncio.create_task(read_until(three, b"never"))
        await asyncio.sleep(0.2)
        guest_writer[0].close()
        assert await asyncio.wait_for(ending, 5) == b""
        assert hub.closed
    finally:
        await hub.close()
        server.close()
        await server.wait_closed()


async def test_hub_without_a_guest(tmp_path: pathlib.Path) -> None:
    hub = console.Hub(tmp_path / "nothing.sock")
    with pytest.raises(ConnectionError):
        async for _ in hub.stream():
            pass
    with pytest.raises(ConnectionError):
        await hub.write(b"x")
