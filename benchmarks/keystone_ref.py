"""Real OpenStack Keystone, installed from PyPI, as the reference for benchmarks.

Keystone goes into its own venv (`.venv-keystone/` at the repo root, created on
first use and reused after), runs from a throw-away directory with a
fresh-install configuration — SQLite database, Fernet tokens and receipts, the
default bcrypt password hashing (cost 12), no caching — and is served by
gunicorn with 2 sync worker processes on a free 127.0.0.1 port.  Optionally
the same install is restarted with `[cache]` pointing at a memcached that we
start on a loopback port ourselves.

No Keystone code is vendored: the venv is built with pip from PyPI.

Standalone use (handy when poking at Keystone by hand):

    .venv/bin/python benchmarks/keystone_ref.py install     # just build the venv
    .venv/bin/python benchmarks/keystone_ref.py serve [--memcached]
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _procs  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
VENV = Path(os.environ.get("MONOSTACK_BENCH_KEYSTONE_VENV", REPO / ".venv-keystone"))
# Pinned for comparable numbers across runs; override with the env variable
# (space separated pip requirement specs).
PIP_SPECS = os.environ.get(
    "MONOSTACK_BENCH_KEYSTONE_SPECS",
    "keystone==30.0.0 gunicorn==27.0.1 pymemcache python-memcached",
).split()
WORKERS = 2

# Keystone's config is parsed by oslo.config from sys.argv, which under
# gunicorn holds gunicorn's own options; this shim clears them first.
_WSGI_SHIM = """\
import sys
sys.argv = sys.argv[:1]
from keystone.wsgi.api import application  # noqa: E402,F401
"""


def log(msg: str) -> None:
    print(f"[keystone-ref] {msg}", file=sys.stderr, flush=True)


def _venv_ok() -> bool:
    marker = VENV / ".monostack-bench-specs"
    return (
        (VENV / "bin" / "keystone-manage").exists()
        and (VENV / "bin" / "gunicorn").exists()
        and marker.exists()
        and marker.read_text().split() == PIP_SPECS
    )


def ensure_venv() -> Path:
    """Create/refresh the Keystone venv (idempotent; quick when already done)."""
    if _venv_ok():
        return VENV
    py = shutil.which("python3.11") or sys.executable
    if not (VENV / "bin" / "python").exists():
        log(f"creating {VENV} with {py}")
        subprocess.run([py, "-m", "venv", str(VENV)], check=True)
    log(f"pip install {' '.join(PIP_SPECS)} (first run only; takes a minute or two)")
    r = subprocess.run(
        [str(VENV / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", *PIP_SPECS],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    if r.returncode != 0:
        out = "\n".join(l for l in r.stdout.splitlines() if "is ignored: it is neither" not in l)
        raise RuntimeError(f"pip install into {VENV} failed:\n{out[-3000:]}")
    (VENV / ".monostack-bench-specs").write_text(" ".join(PIP_SPECS) + "\n")
    return VENV


def versions() -> dict[str, str]:
    code = (
        "import importlib.metadata as m, json\n"
        "out = {}\n"
        "for n in ('keystone','gunicorn','bcrypt','SQLAlchemy','oslo.cache','dogpile.cache',"
        "'pymemcache','python-memcached','Flask'):\n"
        "    try: out[n] = m.version(n)\n"
        "    except Exception: pass\n"
        "import sys; out['python'] = sys.version.split()[0]\n"
        "print(json.dumps(out))\n"
    )
    import json

    r = subprocess.run([str(VENV / "bin" / "python"), "-c", code], capture_output=True, text=True)
    out = json.loads(r.stdout) if r.returncode == 0 else {}
    mc = shutil.which("memcached")
    if mc:
        r = subprocess.run([mc, "-V"], capture_output=True, text=True)
        out["memcached"] = r.stdout.strip().split()[-1] if r.returncode == 0 else "?"
    return out


# ------------------------------------------------------------------ memcached


def ensure_memcached() -> str:
    """Path of the memcached binary; apt-get installs it if missing (root only)."""
    mc = shutil.which("memcached")
    if mc:
        return mc
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise RuntimeError("memcached is not installed (apt-get install memcached)")
    log("apt-get install memcached")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "memcached"]
    if subprocess.run(cmd, env=env, capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True)
        subprocess.run(cmd, env=env, capture_output=True, check=True)
    # Debian's package may try to start a system memcached; it is not ours to
    # use (we start our own on a free port), and in containers policy-rc.d
    # usually prevents it anyway.
    mc = shutil.which("memcached")
    if not mc:
        raise RuntimeError("memcached install did not provide a memcached binary")
    return mc


class Memcached:
    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.port = _procs.free_port()
        self.proc: _procs.Proc | None = None

    def start(self) -> None:
        mc = ensure_memcached()
        argv = [mc, "-l", "127.0.0.1", "-p", str(self.port), "-U", "0", "-m", "64"]
        if os.geteuid() == 0:
            argv += ["-u", "root"]  # memcached refuses root without -u; root keeps PDEATHSIG
        self.proc = _procs.spawn("memcached", argv, log_path=self.workdir / "memcached.log")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    s.sendall(b"version\r\n")
                    if s.recv(100).startswith(b"VERSION"):
                        return
            except OSError:
                pass
            if not self.proc.alive():
                break
            time.sleep(0.05)
        raise RuntimeError(f"memcached did not start:\n{self.proc.log_tail()}")

    def stop(self) -> None:
        if self.proc:
            self.proc.stop()
            self.proc = None

    @property
    def pids(self) -> list[int]:
        return [self.proc.pid] if self.proc else []


# ------------------------------------------------------------------ keystone


class KeystoneReference:
    """One Keystone install in a temp dir; start()/stop() it any number of times."""

    def __init__(self, workdir: Path | None = None, workers: int = WORKERS,
                 memcache_backend: str = "dogpile.cache.pymemcache"):
        self._own_dir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="bench-keystone-"))
        self.workers = workers
        self.memcache_backend = memcache_backend
        self.port = _procs.free_port()
        self.admin_password = secrets.token_urlsafe(16)
        self.proc: _procs.Proc | None = None
        self.memcached: Memcached | None = None
        self.setup_seconds: float | None = None

    # URLs and credentials, in the shape the runner expects for any target
    @property
    def identity_url(self) -> str:  # the Keystone v3 root
        return f"http://127.0.0.1:{self.port}/v3"

    @property
    def admin(self) -> dict[str, str]:
        return {"username": "admin", "password": self.admin_password, "project_name": "admin",
                "user_domain_id": "default", "project_domain_id": "default"}

    @property
    def server_pids(self) -> list[int]:
        pids = [self.proc.pid] if self.proc else []
        if self.memcached:
            pids += self.memcached.pids
        return pids

    def _conf(self, memcached_port: int | None) -> str:
        d = self.workdir
        conf = f"""\
[DEFAULT]
log_file = {d}/keystone.log

[database]
connection = sqlite:///{d}/keystone.db

[token]
provider = fernet

[fernet_tokens]
key_repository = {d}/fernet-keys

[fernet_receipts]
key_repository = {d}/fernet-receipts

[credential]
key_repository = {d}/credential-keys
"""
        if memcached_port is not None:
            conf += f"""
[cache]
enabled = true
backend = {self.memcache_backend}
memcache_servers = 127.0.0.1:{memcached_port}
"""
        return conf

    def _manage(self, *args: str) -> None:
        cmd = [str(VENV / "bin" / "keystone-manage"), "--config-file",
               str(self.workdir / "keystone.conf"), *args]
        r = subprocess.run(cmd, cwd=self.workdir, capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"keystone-manage {args[0]} failed ({r.returncode}):\n"
                               f"{(r.stdout + r.stderr)[-3000:]}")

    def setup(self) -> None:
        """Fresh database and keys; bootstrap the admin user/project/endpoint."""
        ensure_venv()
        t0 = time.monotonic()
        (self.workdir / "keystone.conf").write_text(self._conf(None))
        (self.workdir / "ks_wsgi.py").write_text(_WSGI_SHIM)
        import pwd, grp

        user = pwd.getpwuid(os.geteuid()).pw_name
        group = grp.getgrgid(os.getegid()).gr_name
        owner = ["--keystone-user", user, "--keystone-group", group]
        log(f"setting up in {self.workdir}: db_sync, fernet/receipt/credential keys, bootstrap")
        self._manage("db_sync")
        self._manage("fernet_setup", *owner)
        self._manage("receipt_setup", *owner)
        self._manage("credential_setup", *owner)
        self._manage("bootstrap", "--bootstrap-password", self.admin_password,
                     "--bootstrap-region-id", "RegionOne",
                     "--bootstrap-public-url", self.identity_url)
        self.setup_seconds = time.monotonic() - t0

    def start(self, memcached: bool = False, timeout: float = 60.0) -> float:
        """Start gunicorn (and memcached); return seconds from spawn to GET /v3 == 200."""
        assert self.proc is None, "already running"
        if memcached:
            self.memcached = Memcached(self.workdir)
            self.memcached.start()
        (self.workdir / "keystone.conf").write_text(
            self._conf(self.memcached.port if self.memcached else None))
        env = dict(os.environ, OS_KEYSTONE_CONFIG_FILES=str(self.workdir / "keystone.conf"))
        env.pop("PYTHONPATH", None)
        argv = [str(VENV / "bin" / "gunicorn"), "--chdir", str(self.workdir),
                "--workers", str(self.workers), "--worker-class", "sync",
                "--bind", f"127.0.0.1:{self.port}", "--timeout", "120",
                "--no-control-socket",
                "ks_wsgi:application"]
        self.proc = _procs.spawn("keystone", argv, env=env, cwd=self.workdir,
                                 log_path=self.workdir / "gunicorn.log")
        t0 = self.proc.t_spawn
        _procs.wait_http_ok(self.identity_url, timeout, self.proc, interval=0.02)
        return time.monotonic() - t0

    def stop(self) -> None:
        if self.proc:
            self.proc.stop()
            self.proc = None
        if self.memcached:
            self.memcached.stop()
            self.memcached = None

    def cleanup(self) -> None:
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("install", help="build/refresh the Keystone venv")
    s = sub.add_parser("serve", help="run a fresh Keystone until Ctrl-C")
    s.add_argument("--memcached", action="store_true")
    args = ap.parse_args()
    _procs.install_signal_handlers()
    ensure_venv()
    if args.cmd == "install":
        print(versions())
        return 0
    ks = KeystoneReference()
    try:
        ks.setup()
        ks.start(memcached=args.memcached)
        print(f"Keystone {versions().get('keystone')} at {ks.identity_url}\n"
              f"admin password: {ks.admin_password}\nworkdir: {ks.workdir}\nCtrl-C to stop",
              flush=True)
        while ks.proc and ks.proc.alive():
            time.sleep(1)
        return 1
    finally:
        ks.cleanup()


if __name__ == "__main__":
    sys.exit(main())
