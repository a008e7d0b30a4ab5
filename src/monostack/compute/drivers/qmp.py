"""A QMP session with one guest's QEMU, over its monitor socket (qemu.qmp).

One short session per driver operation: QEMU serves one monitor client at a
time, and the driver serialises operations per guest, so nothing needs to
stay connected (and nothing is lost when this process restarts).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pathlib
import socket
import struct
from typing import Any, AsyncIterator, Iterator

from qemu.qmp import EventListener, ExecuteError, QMPClient, QMPError

from monostack.compute.drivers import unixsock
from monostack.compute.drivers.base import DriverError


class QMPUnavailable(DriverError):
    """No QEMU answers on the socket (not running, or exiting)."""


class QMPCommandError(DriverError):
    def __init__(self, command: str, error_class: str, desc: str):
        super().__init__(f"QEMU refused {command}: {desc}")
        self.command = command
        self.error_class = error_class
        self.desc = desc


class Session:
    def __init__(self, client: QMPClient, timeout: float):
        self.client = client
        self.timeout = timeout

    async def execute(self, command: str, arguments: dict[str, Any] | None = None,
                      timeout: float | None = None) -> Any:
        try:
            return await asyncio.wait_for(self.client.execute(command, arguments),
                                          timeout if timeout is not None else self.timeout)
        except ExecuteError as err:
            raise QMPCommandError(command, err.error_class, str(err)) from None
        except asyncio.TimeoutError:
            raise DriverError(f"QEMU did not answer {command} within {self.timeout:.0f}s") from None
        except (QMPError, OSError, EOFError) as err:
            raise QMPUnavailable(f"QEMU went away during {command}: {err}") from None

    async def execute_all(self, commands: list[tuple[str, dict[str, Any] | None]]) -> list[Any]:
        """Commands sent back to back, then every answer awaited: one wait for all instead of a
        round trip each.  QEMU runs a monitor's commands in the order they arrive, and qemu.qmp
        sends them in the order they are issued (each execute queues its message before it first
        waits), so a command may rely on the ones before it.  Every answer is awaited, then the
        first refusal raises (the commands after it were run too, and most failed with it)."""
        results = await asyncio.gather(*(self.execute(c, a) for c, a in commands), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return results

    async def send_fd(self, fd: int, name: str) -> None:
        """Hand QEMU an open file (SCM_RIGHTS) under name, for a later fd:<name> URI."""
        try:
            _send_fd(self.client, fd)
        except (QMPError, OSError) as err:
            raise QMPUnavailable(f"cannot pass a file to QEMU: {err}") from None
        await self.execute("getfd", {"fdname": name})

    @contextlib.contextmanager
    def listener(self, *names: str) -> Iterator[EventListener]:
        """Events named `names` seen while the block runs (register before the command that causes them)."""
        with self.client.listener(names) as listener:
            yield listener

    async def wait_event(self, listener: EventListener, timeout: float,
                         match: Any = None) -> dict[str, Any] | None:
        """The first event from listener for which match(event) holds (None after timeout)."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while True:
            left = end - loop.time()
            if left <= 0:
                return None
            try:
                event = await asyncio.wait_for(listener.get(), left)
            except asyncio.TimeoutError:
                return None
            if match is None or match(event):
                return dict(event)


@contextlib.asynccontextmanager
async def session(socket_path: pathlib.Path, timeout: float = 30.0) -> AsyncIterator[Session]:
    client = QMPClient(socket_path.parent.name)
    sock = None
    try:
        sock = await asyncio.wait_for(unixsock.connect(socket_path), timeout)
        await asyncio.wait_for(client.connect(sock), timeout)
    except (OSError, QMPError, EOFError, asyncio.TimeoutError) as err:
        with contextlib.suppress(Exception):
            await client.disconnect()
        if sock is not None:
            sock.close()
        raise QMPUnavailable(f"no QEMU monitor at {socket_path}: {err}") from None
    try:
        yield Session(client, timeout)
    finally:
        with contextlib.suppress(Exception):
            await client.disconnect()


def _send_fd(client: QMPClient, fd: int) -> None:
    """SCM_RIGHTS over the QMP socket.  qemu.qmp's send_fd_scm reaches into the
    asyncio socket wrapper's private `_sock`, which uvloop (the cloud's event
    loop) does not have; a duplicate of the socket's descriptor works under both."""
    transport_socket = client._writer.transport.get_extra_info("socket")  # noqa: SLF001
    if transport_socket.family != socket.AF_UNIX:
        raise QMPError("Sending file descriptors requires a UNIX socket.")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM, fileno=os.dup(transport_socket.fileno())) as sock:
        sock.sendmsg([b" "], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack("@i", fd))])
