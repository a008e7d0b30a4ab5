"""A TCP port of this namespace offered inside another network namespace: what lets processes
in a test's "host" namespace reach the test's RabbitMQ at 127.0.0.1 (which takes the guest
user only from loopback), as a real host reaches its cloud's broker over the management network.

The listening socket is made by a thread that enters the other namespace (setns affects only
the calling thread) and comes back; connections it accepts are joined to the local port by
threads in this namespace."""

from __future__ import annotations

import contextlib
import ctypes
import os
import socket
import threading
from typing import Iterator

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def _listener_in(netns: str, port: int) -> socket.socket:
    made: list[socket.socket | BaseException] = []

    def make() -> None:
        home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        target = os.open(f"/run/netns/{netns}", os.O_RDONLY)
        try:
            _setns(target)
            try:
                sock = socket.create_server(("127.0.0.1", port), reuse_port=False)
                made.append(sock)
            finally:
                _setns(home)
        except BaseException as exc:  # handed to the caller
            made.append(exc)
        finally:
            os.close(home)
            os.close(target)

    thread = threading.Thread(target=make)
    thread.start()
    thread.join()
    if isinstance(made[0], BaseException):
        raise made[0]
    return made[0]


def _pipe(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)


@contextlib.contextmanager
def forward_into(netns: str, port: int) -> Iterator[None]:
    """127.0.0.1:`port` inside `netns` leads to 127.0.0.1:`port` here, until the block ends."""
    listener = _listener_in(netns, port)
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                inside, _ = listener.accept()
            except OSError:
                return
            try:
                outside = socket.create_connection(("127.0.0.1", port), timeout=5)
                outside.settimeout(None)
            except OSError:
                inside.close()
                continue
            for a, b in ((inside, outside), (outside, inside)):
                threading.Thread(target=_pipe, args=(a, b), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        with contextlib.suppress(OSError):
            listener.shutdown(socket.SHUT_RDWR)
        listener.close()
        thread.join(5)
