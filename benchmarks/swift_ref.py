"""Real OpenStack Swift, installed from PyPI, as the reference for the Object Storage benchmark.

Swift goes into its own venv (`.venv-swift/` at the repo root, created on first use and reused
after) and runs from a throw-away directory as a single node with Swift's own defaults:

* rings built with `swift-ring-builder` (part power 10, 3 replicas, min_part_hours 1) over three
  devices d1, d2, d3 in zones 1, 2, 3 -- the layout `monostack up` makes for itself;
* one object, one container and one account server (`workers` left at its default, `auto` = one
  worker process per CPU), each on a free 127.0.0.1 port, `mount_check = false` (the devices are
  directories, not mount points), `user` = the current user (Swift's default `swift` does not
  exist here), `swift_dir` = the temp dir (so Swift reads swift.conf and the rings from there,
  never /etc/swift);
* the proxy with the pipeline of Swift's proxy-server.conf-sample (the SAIO one: catch_errors
  gatekeeper healthcheck proxy-logging cache listing_formats container_sync bulk tempurl ratelimit
  tempauth copy container-quotas account-quotas slo dlo versioned_writes symlink proxy-logging
  proxy-server), tempauth with one `.admin` user, `account_autocreate = true` (as the SAIO; an
  account is created on its first write) and the memcache middleware pointed at a memcached we
  start on a free loopback port (tempauth keeps its tokens there, the proxy its account and
  container info: Swift is not meant to run without it).

Logging stays at Swift's defaults (INFO to syslog; without /dev/log Swift sends it by UDP to
localhost:514).  No background daemons (replicators, auditors, updaters) run: only the servers
on the request path, as `swift-init main start` would.

No Swift code is vendored: the venv is built with pip from PyPI.

    .venv/bin/python benchmarks/swift_ref.py install       # just build the venv
    .venv/bin/python benchmarks/swift_ref.py serve         # a fresh Swift until Ctrl-C
"""

from __future__ import annotations

import argparse
import getpass
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _procs  # noqa: E402
import keystone_ref  # noqa: E402  (its memcached helpers)

REPO = Path(__file__).resolve().parent.parent
VENV = Path(os.environ.get("MONOSTACK_BENCH_SWIFT_VENV", REPO / ".venv-swift"))
# Pinned for comparable numbers across runs; override with the env variable (space separated specs).
PIP_SPECS = os.environ.get("MONOSTACK_BENCH_SWIFT_SPECS", "swift==2.38.3").split()
# What pip needs to build Swift's C dependencies when no wheel fits (PyECLib links liberasurecode,
# xattr and cryptography use cffi); installed only when a first pip attempt fails.
APT_BUILD_DEPS = ["liberasurecode-dev", "libffi-dev", "libxml2-dev", "libxslt1-dev", "build-essential"]
PART_POWER, REPLICAS, MIN_PART_HOURS = 10, 3, 1
DEVICES = (("d1", 1), ("d2", 2), ("d3", 3))  # device, zone

PROXY_PIPELINE = ("catch_errors gatekeeper healthcheck proxy-logging cache listing_formats container_sync bulk "
                  "tempurl ratelimit tempauth copy container-quotas account-quotas slo dlo versioned_writes "
                  "symlink proxy-logging proxy-server")
PROXY_FILTERS = {  # filter name -> entry point (Swift's sample names)
    "catch_errors": "catch_errors", "gatekeeper": "gatekeeper", "healthcheck": "healthcheck",
    "proxy-logging": "proxy_logging", "cache": "memcache", "listing_formats": "listing_formats",
    "container_sync": "container_sync", "bulk": "bulk", "tempurl": "tempurl", "ratelimit": "ratelimit",
    "tempauth": "tempauth", "copy": "copy", "container-quotas": "container_quotas",
    "account-quotas": "account_quotas", "slo": "slo", "dlo": "dlo", "versioned_writes": "versioned_writes",
    "symlink": "symlink",
}


def log(msg: str) -> None:
    print(f"[swift-ref] {msg}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------ the venv


def _venv_ok() -> bool:
    marker = VENV / ".monostack-bench-specs"
    return ((VENV / "bin" / "swift-proxy-server").exists() and (VENV / "bin" / "swift-ring-builder").exists()
            and marker.exists() and marker.read_text().split() == PIP_SPECS)


def _pip_install() -> subprocess.CompletedProcess:
    return subprocess.run([str(VENV / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", *PIP_SPECS],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _apt_install(packages: list[str]) -> None:
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages]
    if subprocess.run(cmd, env=env, capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True)
        subprocess.run(cmd, env=env, capture_output=True, check=True)


def _check_imports() -> str | None:
    """None when Swift and its C extensions import, else the error."""
    r = subprocess.run([str(VENV / "bin" / "python"), "-c",
                        "import swift.obj.server, swift.proxy.server, pyeclib.ec_iface, xattr"],
                       capture_output=True, text=True, cwd="/")
    return None if r.returncode == 0 else (r.stderr.strip().splitlines() or ["?"])[-1]


def ensure_venv() -> Path:
    """Create/refresh the Swift venv (idempotent; quick when already done)."""
    if _venv_ok():
        return VENV
    py = shutil.which("python3.11") or sys.executable
    if not (VENV / "bin" / "python").exists():
        log(f"creating {VENV} with {py}")
        subprocess.run([py, "-m", "venv", str(VENV)], check=True)
    log(f"pip install {' '.join(PIP_SPECS)} (first run only; takes a minute)")
    r = _pip_install()
    problem = None if r.returncode == 0 else "pip failed"
    if problem is None:
        problem = _check_imports()
    if problem is not None:
        # No usable wheel for PyECLib/xattr here: the system libraries to build (or load) them.
        if os.geteuid() != 0 or not shutil.which("apt-get"):
            raise RuntimeError(f"installing Swift into {VENV} failed ({problem}); install "
                               f"{' '.join(APT_BUILD_DEPS)} and retry:\n{r.stdout[-3000:]}")
        log(f"{problem}: apt-get install {' '.join(APT_BUILD_DEPS)}, then pip again")
        _apt_install(APT_BUILD_DEPS)
        r = _pip_install()
        problem = None if r.returncode == 0 else "pip failed"
        problem = problem or _check_imports()
        if problem is not None:
            out = "\n".join(line for line in r.stdout.splitlines() if "is ignored: it is neither" not in line)
            raise RuntimeError(f"installing Swift into {VENV} failed ({problem}):\n{out[-3000:]}")
    (VENV / ".monostack-bench-specs").write_text(" ".join(PIP_SPECS) + "\n")
    return VENV


def versions() -> dict[str, str]:
    import json

    code = ("import importlib.metadata as m, json, sys\n"
            "out = {n: m.version(n) for n in ('swift', 'eventlet', 'greenlet', 'pyeclib', 'xattr', 'PasteDeploy')}\n"
            "out['python'] = sys.version.split()[0]\n"
            "print(json.dumps(out))\n")
    r = subprocess.run([str(VENV / "bin" / "python"), "-c", code], capture_output=True, text=True, cwd="/")
    out = json.loads(r.stdout) if r.returncode == 0 else {}
    mc = shutil.which("memcached")
    if mc:
        r = subprocess.run([mc, "-V"], capture_output=True, text=True)
        out["memcached"] = r.stdout.strip().split()[-1] if r.returncode == 0 else "?"
    return out


# ------------------------------------------------------------------ one Swift node


class SwiftReference:
    """A fresh single-node Swift in `workdir`: setup() once, start()/stop() any number of times."""

    SERVERS = ("account", "container", "object", "proxy")

    def __init__(self, workdir: Path | None = None):
        self._own_dir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="bench-swift-"))
        self.etc = self.workdir / "etc"
        self.devices = self.workdir / "devices"
        self.ports = {kind: _procs.free_port() for kind in self.SERVERS}
        self.user, self.account_name = "bench", "bench"
        self.password = secrets.token_urlsafe(16)
        self.procs: dict[str, _procs.Proc] = {}
        self.memcached: keystone_ref.Memcached | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.ports['proxy']}"

    @property
    def server_pids(self) -> list[int]:
        pids = [p.pid for p in self.procs.values()]
        if self.memcached:
            pids += self.memcached.pids
        return pids

    def device_dirs(self) -> list[Path]:
        return [self.devices / device for device, _zone in DEVICES]

    # -- configuration -------------------------------------------------------------------------
    def _server_conf(self, kind: str) -> str:
        return f"""\
[DEFAULT]
devices = {self.devices}
mount_check = false
bind_ip = 127.0.0.1
bind_port = {self.ports[kind]}
swift_dir = {self.etc}
user = {getpass.getuser()}

[pipeline:main]
pipeline = healthcheck recon {kind}-server

[app:{kind}-server]
use = egg:swift#{kind}

[filter:healthcheck]
use = egg:swift#healthcheck

[filter:recon]
use = egg:swift#recon
recon_cache_path = {self.workdir / "recon"}
"""

    def _proxy_conf(self, memcached_port: int) -> str:
        filters = "".join(f"\n[filter:{name}]\nuse = egg:swift#{entry}\n" for name, entry in PROXY_FILTERS.items())
        filters = filters.replace("use = egg:swift#memcache\n",
                                  f"use = egg:swift#memcache\nmemcache_servers = 127.0.0.1:{memcached_port}\n")
        filters = filters.replace("use = egg:swift#tempauth\n",
                                  f"use = egg:swift#tempauth\n"
                                  f"user_{self.account_name}_{self.user} = {self.password} .admin\n")
        return f"""\
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = {self.ports['proxy']}
swift_dir = {self.etc}
user = {getpass.getuser()}

[pipeline:main]
pipeline = {PROXY_PIPELINE}

[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true
{filters}"""

    def setup(self) -> None:
        """swift.conf, the three rings, the devices."""
        ensure_venv()
        self.etc.mkdir(parents=True, exist_ok=True)
        (self.workdir / "recon").mkdir(exist_ok=True)
        for device in self.device_dirs():
            device.mkdir(parents=True, exist_ok=True)
        (self.etc / "swift.conf").write_text(
            "[swift-hash]\n"
            f"swift_hash_path_prefix = {secrets.token_hex(8)}\n"
            f"swift_hash_path_suffix = {secrets.token_hex(8)}\n\n"
            "[storage-policy:0]\nname = Policy-0\ndefault = yes\n")
        builder = str(VENV / "bin" / "swift-ring-builder")
        for kind in ("account", "container", "object"):
            path = str(self.etc / f"{kind}.builder")
            steps = [["create", str(PART_POWER), str(REPLICAS), str(MIN_PART_HOURS)]]
            steps += [["add", f"r1z{zone}-127.0.0.1:{self.ports[kind]}/{device}", "100"] for device, zone in DEVICES]
            steps.append(["rebalance"])
            for step in steps:
                r = subprocess.run([builder, path, *step], capture_output=True, text=True, cwd=self.etc)
                if r.returncode not in (0, 1):  # 1 = warnings (e.g. a balance note)
                    raise RuntimeError(f"swift-ring-builder {kind} {' '.join(step)} failed ({r.returncode}):\n"
                                       f"{r.stdout}{r.stderr}")
            if not (self.etc / f"{kind}.ring.gz").exists():
                raise RuntimeError(f"swift-ring-builder made no {kind}.ring.gz")
        for kind in ("account", "container", "object"):
            (self.etc / f"{kind}-server.conf").write_text(self._server_conf(kind))

    # -- running ---------------------------------------------------------------------------------
    def start(self, timeout: float = 60.0) -> float:
        """memcached, the three storage servers, the proxy; seconds until all answer."""
        assert not self.procs, "already running"
        t0 = time.monotonic()
        self.memcached = keystone_ref.Memcached(self.workdir)
        self.memcached.start()
        (self.etc / "proxy-server.conf").write_text(self._proxy_conf(self.memcached.port))
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        for kind in self.SERVERS:
            argv = [str(VENV / "bin" / f"swift-{kind}-server"), str(self.etc / f"{kind}-server.conf")]
            self.procs[kind] = _procs.spawn(f"swift-{kind}-server", argv, env=env, cwd=self.workdir,
                                            log_path=self.workdir / f"{kind}-server.log")
        for kind in self.SERVERS:
            _procs.wait_http_ok(f"http://127.0.0.1:{self.ports[kind]}/healthcheck", timeout, self.procs[kind])
        return time.monotonic() - t0

    def token(self) -> tuple[str, str]:
        """(token, storage URL) from tempauth's /auth/v1.0."""
        import http.client

        conn = http.client.HTTPConnection("127.0.0.1", self.ports["proxy"], timeout=30)
        try:
            conn.request("GET", "/auth/v1.0", headers={"X-Auth-User": f"{self.account_name}:{self.user}",
                                                       "X-Auth-Key": self.password})
            resp = conn.getresponse()
            resp.read()
            if resp.status != 200:
                raise RuntimeError(f"tempauth answered {resp.status}")
            return resp.getheader("X-Auth-Token"), resp.getheader("X-Storage-Url")
        finally:
            conn.close()

    def stop(self) -> None:
        for kind in reversed(self.SERVERS):
            proc = self.procs.pop(kind, None)
            if proc is not None:
                proc.stop()
        if self.memcached:
            self.memcached.stop()
            self.memcached = None

    def cleanup(self, keep: bool = False) -> None:
        self.stop()
        if self._own_dir and not keep:
            shutil.rmtree(self.workdir, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("install", help="build/refresh the Swift venv")
    sub.add_parser("serve", help="run a fresh single-node Swift until Ctrl-C")
    args = ap.parse_args()
    _procs.install_signal_handlers()
    ensure_venv()
    if args.cmd == "install":
        print(versions())
        return 0
    swift = SwiftReference()
    try:
        swift.setup()
        swift.start()
        token, storage_url = swift.token()
        print(f"Swift {versions().get('swift')} at {swift.url}\nstorage URL: {storage_url}\ntoken: {token}\n"
              f"workdir: {swift.workdir}\nCtrl-C to stop", flush=True)
        while all(p.alive() for p in swift.procs.values()):
            time.sleep(1)
        return 1
    finally:
        swift.cleanup()


if __name__ == "__main__":
    sys.exit(main())
