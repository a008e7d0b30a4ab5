"""QEMU processes that outlive this one.

QEMU is started with -daemonize: it detaches (own session, reparented away
from us) once it has set itself up, writes its pid file, and the command
returns; so a guest keeps running when the cloud process crashes or
restarts, as under Nova. Whether a pid is still our guest's QEMU is read
from /proc/<pid>/cmdline (a recycled pid is someone else's process) and
/proc/<pid>/stat (a zombie is dead: PID 1 of a container may never reap it).
"""

from __future__ import annotations

import asyncio
import os
import pathlib
import signal
import subprocess

from monostack.common import processes
from monostack.compute.drivers.base import DriverError


def cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            raw = f.read()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0")[:-1]]


def alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return False
    state = stat[stat.rfind(b")") + 2:][:1]
    return state not in (b"Z", b"X", b"")


def is_guest_qemu(pid: int, uuid: str) -> bool:
    """pid is a live QEMU started for the guest uuid."""
    argv = cmdline(pid)
    if not argv or not os.path.basename(argv[0]).startswith("qemu-system"):
        return False
    return any(a == "-uuid" and b == uuid for a, b in zip(argv, argv[1:])) and alive(pid)


def read_pidfile(pidfile: pathlib.Path) -> int | None:
    try:
        return int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return None


def find(pidfile: pathlib.Path, uuid: str) -> int | None:
    """The pid of the guest's QEMU: from its pid file, else by a look through /proc (a lost pid file)."""
    pid = read_pidfile(pidfile)
    if pid is not None and is_guest_qemu(pid, uuid):
        return pid
    return scan().get(uuid)


def scan() -> dict[str, int]:
    """uuid -> pid of every live QEMU on the host started with -uuid."""
    found: dict[str, int] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        argv = cmdline(int(entry.name))
        if not argv or not os.path.basename(argv[0]).startswith("qemu-system"):
            continue
        for a, b in zip(argv, argv[1:]):
            if a == "-uuid" and alive(int(entry.name)):
                found[b] = int(entry.name)
    return found


async def start(argv: list[str], cwd: pathlib.Path, log: pathlib.Path, timeout: float = 120) -> None:
    """Run a -daemonize QEMU; returns once it runs detached, or raises with what QEMU said."""
    with open(log, "ab") as out:
        try:
            done = await processes.run(argv, cwd=cwd, stdout=out, stderr=out, start_new_session=True,
                                       timeout=timeout)
        except OSError as err:
            raise DriverError(f"cannot run {argv[0]}: {err}") from None
        except subprocess.TimeoutExpired:
            raise DriverError(f"QEMU did not start within {timeout:.0f}s") from None
    if done.returncode != 0:
        raise DriverError(f"QEMU failed to start (exit {done.returncode}): {log_tail(log)}")


def log_tail(log: pathlib.Path, size: int = 2000) -> str:
    try:
        with open(log, "rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - size))
            return f.read().decode(errors="replace").strip()
    except OSError:
        return ""


async def wait_gone(pid: int, uuid: str, timeout: float) -> bool:
    """True once the guest's QEMU pid has exited (within timeout)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while is_guest_qemu(pid, uuid):
        if loop.time() >= end:
            return False
        await asyncio.sleep(0.1)
    return True


async def kill(pid: int, uuid: str, timeout: float = 30) -> None:
    """SIGKILL the guest's QEMU and wait until it is gone."""
    if not is_guest_qemu(pid, uuid):
        return
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    if not await wait_gone(pid, uuid, timeout):
        raise DriverError(f"QEMU {pid} did not die")
