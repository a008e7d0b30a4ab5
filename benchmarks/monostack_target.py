"""Monostack as a benchmark target: `monostack up` in a temp data dir.

`monostack up --data-dir DIR --bind 127.0.0.1:PORT` writes DIR/clouds.yaml
(cloud `monostack-admin`) once every service answers; its Identity API is at
http://127.0.0.1:PORT/identity/v3.  Readiness here means: DIR/clouds.yaml
exists AND GET /identity/v3 answers 200.
"""

from __future__ import annotations

import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _procs  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
DEFAULT_BIN = REPO / ".venv" / "bin" / "monostack"
CLOUD = "monostack-admin"


class MonostackTarget:
    name = "monostack"

    def __init__(self, binary: Path | str = DEFAULT_BIN, workdir: Path | None = None):
        self.binary = str(binary)
        self._own_dir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="bench-monostack-"))
        self.data_dir = self.workdir / "data"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.port = _procs.free_port()
        self.proc: _procs.Proc | None = None
        self.admin: dict[str, str] = {}
        self.identity_url = f"http://127.0.0.1:{self.port}/identity/v3"

    @property
    def clouds_yaml(self) -> Path:
        return self.data_dir / "clouds.yaml"

    @property
    def server_pids(self) -> list[int]:
        return [self.proc.pid] if self.proc else []

    def _spawn(self) -> _procs.Proc:
        if not Path(self.binary).exists():
            raise RuntimeError(f"{self.binary} not found (pip install -e . into .venv)")
        argv = [self.binary, "up", "--data-dir", str(self.data_dir),
                "--bind", f"127.0.0.1:{self.port}"]
        return _procs.spawn("monostack", argv, cwd=self.workdir,
                            log_path=self.workdir / "monostack.log")

    def _wait_ready(self, timeout: float, interval: float) -> float:
        assert self.proc is not None
        t0 = self.proc.t_spawn
        deadline = t0 + timeout
        while time.monotonic() < deadline:
            if not self.proc.alive():
                raise RuntimeError(
                    f"`monostack up` exited with {self.proc.popen.returncode} before it was ready"
                    f"\n--- log tail ---\n{self.proc.log_tail()}")
            if self.clouds_yaml.exists() and _procs.http_status(self.identity_url, 1.0) == 200:
                return time.monotonic() - t0
            time.sleep(interval)
        raise TimeoutError(f"`monostack up` not ready within {timeout:.0f}s (clouds.yaml exists: "
                           f"{self.clouds_yaml.exists()})\n--- log tail ---\n{self.proc.log_tail()}")

    def _read_clouds(self) -> None:
        import yaml

        doc = yaml.safe_load(self.clouds_yaml.read_text())
        auth = doc["clouds"][CLOUD]["auth"]
        url = auth["auth_url"].rstrip("/")
        self.identity_url = url if url.endswith("/v3") else url + "/v3"
        self.admin = {
            "username": auth["username"],
            "password": str(auth["password"]),
            "project_name": auth.get("project_name", "admin"),
            "user_domain_id": auth.get("user_domain_id", "default"),
            "project_domain_id": auth.get("project_domain_id", "default"),
        }

    def start(self, timeout: float = 120.0) -> float:
        """First start on a fresh data dir; returns seconds until ready."""
        assert self.proc is None
        self.proc = self._spawn()
        took = self._wait_ready(timeout, 0.05)
        self._read_clouds()
        return took

    def restart_to_ready(self, timeout: float = 60.0) -> float:
        """Stop, remove clouds.yaml, `monostack up` again on the same data dir; time to ready."""
        self.stop()
        try:
            self.clouds_yaml.unlink()
        except FileNotFoundError:
            pass
        self.proc = self._spawn()
        took = self._wait_ready(timeout, 0.005)
        self._read_clouds()
        return took

    def restarts(self, n: int) -> dict:
        times = [self.restart_to_ready() for _ in range(n)]
        return {"runs_s": times, "median_s": statistics.median(times), "min_s": min(times),
                "max_s": max(times)}

    def stop(self) -> None:
        if self.proc:
            self.proc.stop(timeout=15)
            self.proc = None

    def cleanup(self, keep: bool = False) -> None:
        self.stop()
        if self._own_dir and not keep:
            shutil.rmtree(self.workdir, ignore_errors=True)
