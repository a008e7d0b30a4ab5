"""Process helpers for the benchmarks: spawn, CPU accounting, teardown.

Everything a benchmark starts goes through `spawn()`: the child gets its own
session (so the whole group can be signalled) and PR_SET_PDEATHSIG=SIGKILL
(so it dies with the benchmark even if the benchmark is SIGKILLed).  Every
spawned process is remembered and `stop()`ped by an atexit hook and by the
SIGTERM/SIGINT/SIGHUP handlers installed by `install_signal_handlers()`.

CPU per request is read from /proc/<pid>/stat: utime+stime+cutime+cstime of a
server's root process and all its live descendants (cutime/cstime cover
children that exited and were reaped during the run).
"""

from __future__ import annotations

import atexit
import ctypes
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from typing import Iterable, Sequence

CLK_TCK = os.sysconf("SC_CLK_TCK")
_PR_SET_PDEATHSIG = 1

_live: list["Proc"] = []


def _pdeathsig() -> None:  # runs in the child between fork and exec
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except Exception:
        pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Proc:
    """A spawned server process (leader of its own process group)."""

    def __init__(self, name: str, argv: Sequence[str], *, env=None, cwd=None, log_path=None):
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self._log = open(log_path, "ab") if log_path else subprocess.DEVNULL
        self.t_spawn = time.monotonic()
        self.popen = subprocess.Popen(
            self.argv,
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_pdeathsig,
        )
        self.pid = self.popen.pid
        _live.append(self)

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, n: int = 15) -> str:
        if not self.log_path:
            return ""
        try:
            with open(self.log_path, "rb") as f:
                lines = f.read().decode(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(lines[-n:])

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM the group, then SIGKILL the group and any stray descendant."""
        if self in _live:
            _live.remove(self)
        tree = descendants(self.pid)
        if self.alive():
            try:
                os.killpg(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        for pid in tree:  # children that moved to another group/session
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        try:
            self.popen.wait(5)
        except subprocess.TimeoutExpired:
            pass
        if self._log is not subprocess.DEVNULL:
            self._log.close()


def spawn(name: str, argv: Sequence[str], **kw) -> Proc:
    return Proc(name, argv, **kw)


def stop_all() -> None:
    for p in list(reversed(_live)):
        try:
            p.stop(timeout=5)
        except Exception as e:  # pragma: no cover - best effort at exit
            print(f"warning: stopping {p.name} failed: {e}", file=sys.stderr)


def install_signal_handlers() -> None:
    atexit.register(stop_all)

    def _handler(signum, frame):
        stop_all()
        raise SystemExit(128 + signum)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, _handler)


# ---------------------------------------------------------------- /proc


def _stat(pid: int) -> tuple[int, int, int] | None:
    """(ppid, cpu_ticks incl. reaped children, starttime) or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    rest = data[data.rindex(b")") + 2 :].split()
    ppid = int(rest[1])
    ticks = int(rest[11]) + int(rest[12]) + int(rest[13]) + int(rest[14])
    return ppid, ticks, int(rest[19])


def _all_ppids() -> dict[int, int]:
    out: dict[int, int] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = _stat(int(name))
            if st:
                out[int(name)] = st[0]
    return out


def descendants(root: int) -> list[int]:
    """Live descendants of `root` (not including root)."""
    children: dict[int, list[int]] = {}
    for pid, ppid in _all_ppids().items():
        children.setdefault(ppid, []).append(pid)
    out, todo = [], [root]
    while todo:
        for c in children.get(todo.pop(), ()):
            out.append(c)
            todo.append(c)
    return out


def tree_cpu_seconds(roots: Iterable[int]) -> float:
    """CPU seconds (user+system) used so far by `roots` and their descendants."""
    ticks = 0
    seen: set[int] = set()
    for root in roots:
        for pid in [root, *descendants(root)]:
            if pid in seen:
                continue
            seen.add(pid)
            st = _stat(pid)
            if st:
                ticks += st[1]
    return ticks / CLK_TCK


def machine_cpu() -> tuple[float, float]:
    """(busy CPU seconds, steal seconds) of the whole machine so far, from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal guest guest_nice
    busy = v[0] + v[1] + v[2] + v[5] + v[6]
    return busy / CLK_TCK, (v[7] if len(v) > 7 else 0) / CLK_TCK


def tree_pids(roots: Iterable[int]) -> list[int]:
    out: list[int] = []
    for r in roots:
        out.extend([r, *descendants(r)])
    return out


# ---------------------------------------------------------------- readiness


def http_status(url: str, timeout: float = 2.0) -> int | None:
    """GET url (http://127.0.0.1:port/path) and return the status, or None."""
    assert url.startswith("http://")
    hostport, _, path = url[len("http://") :].partition("/")
    host, _, port = hostport.partition(":")
    conn = http.client.HTTPConnection(host, int(port or 80), timeout=timeout)
    try:
        conn.request("GET", "/" + path)
        resp = conn.getresponse()
        resp.read()
        return resp.status
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


def wait_http_ok(url: str, timeout: float, proc: Proc | None = None, interval: float = 0.05) -> float:
    """Poll until GET url answers 200; return seconds waited.  Raises on timeout/exit."""
    t0 = time.monotonic()
    deadline = t0 + timeout
    while time.monotonic() < deadline:
        if proc is not None and not proc.alive():
            raise RuntimeError(
                f"{proc.name} exited with {proc.popen.returncode} before answering {url}\n"
                f"--- log tail ---\n{proc.log_tail()}"
            )
        if http_status(url) == 200:
            return time.monotonic() - t0
        time.sleep(interval)
    tail = proc.log_tail() if proc else ""
    raise TimeoutError(f"{url} did not answer 200 within {timeout:.0f}s\n--- log tail ---\n{tail}")
