"""What the Compute benchmarks share: a `monostack up` with chosen services and
environment, its admin token and API clients, QEMU clean-up, percentiles and
a note of the machine's load.

The cloud runs in its own session with PR_SET_PDEATHSIG (benchmarks/_procs.py),
so it dies with the benchmark.  QEMU guests do not: they daemonize (a guest
outlives the cloud by design), so `kill_qemus(marker)` kills every
qemu-system process whose command line names the benchmark's directory; the
benchmarks call it at the end and from an atexit hook.
"""

from __future__ import annotations

import atexit
import math
import os
import pathlib
import platform
import signal
import statistics
import sys
import time
from typing import Any

import httpx
import yaml

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import _procs  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parent.parent
MONOSTACK = REPO / ".venv" / "bin" / "monostack"


def say(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


# -------------------------------------------------------------------- numbers


def pct(values: list[float], p: float) -> float | None:
    """The p-th percentile (nearest rank on the sorted values); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1))
    return ordered[rank]


def summary(values: list[float], scale: float = 1.0) -> dict[str, Any]:
    """n, p50, p99, mean, min, max of values (times scale: 1e3 for seconds -> ms)."""
    if not values:
        return {"n": 0}
    return {"n": len(values), "p50": pct(values, 50) * scale, "p99": pct(values, 99) * scale,
            "mean": statistics.fmean(values) * scale, "min": min(values) * scale, "max": max(values) * scale}


def machine_info() -> dict[str, Any]:
    model, mem = "", 0
    try:
        model = next((line.split(":", 1)[1].strip() for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines()
                      if line.startswith("model name")), "")
        mem = next((int(line.split()[1]) // 1024 for line in pathlib.Path("/proc/meminfo").read_text().splitlines()
                    if line.startswith("MemTotal:")), 0)
    except OSError:
        pass
    return {"cpus": os.cpu_count(), "cpu_model": model, "memory_mib": mem, "python": platform.python_version(),
            "kernel": platform.release()}


class LoadMeter:
    """Load average at start and end and the machine's busy cores in between (/proc/stat)."""

    def __init__(self) -> None:
        self.load_start = os.getloadavg()
        self.busy0 = _procs.machine_cpu()[0]
        self.t0 = time.monotonic()

    def done(self) -> dict[str, Any]:
        wall = max(time.monotonic() - self.t0, 1e-9)
        return {"loadavg_start": [round(x, 2) for x in self.load_start],
                "loadavg_end": [round(x, 2) for x in os.getloadavg()],
                "machine_busy_cores": round((_procs.machine_cpu()[0] - self.busy0) / wall, 2)}


# -------------------------------------------------------------------- QEMU


def qemu_pids(marker: str) -> list[int]:
    """Live qemu-system processes whose command line contains marker."""
    needle = marker.encode()
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/cmdline", "rb") as f:
                cmdline = f.read()
        except OSError:
            continue
        if b"qemu-system" in cmdline and needle in cmdline and _procs._stat(int(entry.name)):
            found.append(int(entry.name))
    return found


def kill_qemus(marker: str, wait: float = 10.0) -> int:
    """SIGKILL every QEMU naming marker; returns how many were still alive."""
    pids = qemu_pids(marker)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    end = time.monotonic() + wait
    while time.monotonic() < end and qemu_pids(marker):
        time.sleep(0.05)
    return len(pids)


# -------------------------------------------------------------------- the cloud


class Cloud:
    """`monostack up --data-dir WORKDIR/data` on a free port with extra environment."""

    def __init__(self, workdir: pathlib.Path, env: dict[str, str]):
        self.workdir = workdir
        self.data_dir = workdir / "data"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.port = _procs.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = dict(os.environ, **env)
        self.proc: _procs.Proc | None = None
        self.token = ""
        self.project_id = ""
        self.user_id = ""
        self.http: httpx.Client | None = None

    def start(self, timeout: float = 300.0) -> float:
        if not MONOSTACK.exists():
            raise RuntimeError(f"{MONOSTACK} not found (make install)")
        self.proc = _procs.spawn("monostack", [str(MONOSTACK), "up", "--data-dir", str(self.data_dir),
                                               "--bind", f"127.0.0.1:{self.port}"],
                                 env=self.env, cwd=self.workdir, log_path=self.workdir / "monostack.log")
        clouds = self.data_dir / "clouds.yaml"
        end = self.proc.t_spawn + timeout
        while not (clouds.exists() and _procs.http_status(f"{self.url}/identity/v3", 1.0) == 200):
            if not self.proc.alive():
                raise RuntimeError(f"monostack up exited ({self.proc.popen.returncode}):\n{self.proc.log_tail(30)}")
            if time.monotonic() > end:
                raise TimeoutError(f"monostack up not ready in {timeout:.0f}s:\n{self.proc.log_tail(30)}")
            time.sleep(0.1)
        took = time.monotonic() - self.proc.t_spawn
        auth = yaml.safe_load(clouds.read_text())["clouds"]["monostack-admin"]["auth"]
        body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": auth["username"], "domain": {"id": auth.get("user_domain_id", "default")},
            "password": str(auth["password"])}}},
            "scope": {"project": {"name": auth["project_name"],
                                  "domain": {"id": auth.get("project_domain_id", "default")}}}}}
        response = httpx.post(f"{self.url}/identity/v3/auth/tokens", json=body, timeout=60)
        response.raise_for_status()
        self.token = response.headers["x-subject-token"]
        token = response.json()["token"]
        self.project_id, self.user_id = token["project"]["id"], token["user"]["id"]
        self.http = httpx.Client(base_url=self.url, timeout=120, headers={"X-Auth-Token": self.token})
        return took

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def call(self, method: str, path: str, expect: int | tuple[int, ...] = (200,), **kw: Any) -> httpx.Response:
        """A request to path (under the cloud's root); raises with the body when the status is not expected."""
        assert self.http is not None
        response = self.http.request(method, path, **kw)
        wanted = (expect,) if isinstance(expect, int) else expect
        if response.status_code not in wanted:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text[:800]}")
        return response

    def find_image(self, name: str, timeout: float = 600.0) -> dict[str, Any]:
        """The active image called name (guest images register in the background after start-up)."""
        end = time.monotonic() + timeout
        while True:
            images = self.call("GET", "/image/v2/images", params={"name": name}).json()["images"]
            active = [i for i in images if i["status"] == "active"]
            if active:
                return active[0]
            if time.monotonic() > end:
                raise TimeoutError(f"no active image {name!r} after {timeout:.0f}s "
                                   f"(is MONOSTACK_GUEST_CACHE set and the guest image built?)")
            time.sleep(0.5)

    def flavor_id(self, ref: str) -> dict[str, Any]:
        """A flavor by id or name."""
        for flavor in self.call("GET", "/compute/v2.1/flavors/detail").json()["flavors"]:
            if ref in (flavor["id"], flavor["name"]):
                return flavor
        raise RuntimeError(f"no flavor {ref!r}")

    def stop(self) -> None:
        if self.http is not None:
            self.http.close()
            self.http = None
        if self.proc is not None:
            self.proc.stop(timeout=20)
            self.proc = None


def at_exit_kill_qemus(marker: str) -> None:
    """Kill QEMUs naming marker when the benchmark exits, however it exits (but SIGKILL)."""
    atexit.register(kill_qemus, marker, 5.0)
