"""Object Storage benchmark: Monostack vs real Swift, side by side in one run.

Targets (the same client process and code for both; see _object_client.py):
  swift      Swift from PyPI (own venv .venv-swift), a single node with Swift's own defaults: proxy,
             account, container and object servers (workers = auto), 3 replicas on 3 device dirs,
             tempauth + memcached (see swift_ref.py)
  monostack  `monostack up` (identity,object) on a temp data dir: 3 replicas on 3 device dirs;
             a Keystone token of its own Identity

Measured, in alternation (swift first in odd rounds, monostack first in even ones), each in a
fresh container-less namespace of object names:
  4 KiB PUT, GET, HEAD, DELETE  ops/s at concurrency 16 (--duration s each)
  1 GiB PUT and GET             MiB/s (GET after the object's pages were dropped from the cache)
  the disk itself               sequential write (4 MiB writes, then fsync) and read (after
                                dropping its pages) of 1 GiB on the same filesystem

Goals (Monostack): every small-object rate >= 2x Swift's; 1 GiB PUT >= 90% of the disk's write
speed / 3 (every byte is written once per replica); 1 GiB GET >= 90% of the disk's read speed.

    .venv/bin/python benchmarks/object_storage.py [--rounds 2] [--duration 10] [--only monostack]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _procs  # noqa: E402
import monostack_target  # noqa: E402
import swift_ref  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
MIB = 1 << 20
SMALL_OPS = ("PUT", "GET", "HEAD", "DELETE")
TARGETS = ("swift", "monostack")
CONTAINER = "bench"
DEFAULT_JSON = Path(__file__).resolve().parent / "results-object-storage.json"


def say(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def loadavg() -> float:
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def wait_quiet(max_wait: float, threshold: float = 0.25) -> float:
    """Wait (at most max_wait s) until the machine's busy CPU over 0.5 s is below `threshold` cores."""
    deadline = time.monotonic() + max_wait
    while True:
        b0, t0 = _procs.machine_cpu()[0], time.monotonic()
        time.sleep(0.5)
        busy = (_procs.machine_cpu()[0] - b0) / (time.monotonic() - t0)
        if busy < threshold or time.monotonic() >= deadline:
            return busy


# --------------------------------------------------------------- the disk


def drop_cache(path: Path) -> None:
    """Write back and drop a file's pages, so the next read comes from the disk (no root needed)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def _timed_read(path: Path, block: int) -> float:
    """Seconds to read the file from the disk (its pages dropped first)."""
    drop_cache(path)
    started = time.perf_counter()
    fd = os.open(path, os.O_RDONLY)
    try:
        while os.read(fd, block):
            pass
    finally:
        os.close(fd)
    return time.perf_counter() - started


def raw_disk(directory: Path, size: int, pattern: bytes) -> dict:
    """What the disk under the servers' data does by itself, with one file in `directory`:

    write   4 MiB write()s through the page cache, then fsync, timed together (the goal's reference)
    read    the file read back in 4 MiB read()s after its pages were dropped, twice: the better of
            the two (see big_ops)
    write_direct   the same writes with O_DIRECT from a page-aligned buffer, then fsync (for
            reference: Monostack writes large objects so)."""
    import mmap

    path = directory / "raw-disk-test"
    view = memoryview(pattern)
    block = 4 * MIB

    def write(direct: bool) -> float:
        aligned = mmap.mmap(-1, block) if direct else None
        started = time.perf_counter()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | (os.O_DIRECT if direct else 0), 0o600)
        try:
            written = 0
            while written < size:
                n = min(block, size - written)
                start = written % len(pattern)
                if start + n > len(pattern):
                    start = 0
                if aligned is not None:
                    aligned[:n] = view[start:start + n]
                    os.write(fd, aligned)
                else:
                    os.write(fd, view[start:start + n])
                written += n
            os.fsync(fd)
        finally:
            os.close(fd)
            if aligned is not None:
                aligned.close()
        return time.perf_counter() - started

    out: dict = {"bytes": size}
    try:
        out["write_direct_mib_s"] = size / MIB / write(True)
    except OSError:  # no O_DIRECT on this filesystem
        out["write_direct_mib_s"] = None
    out["write_mib_s"] = size / MIB / write(False)
    out["reads_mib_s"] = [size / MIB / _timed_read(path, block) for _ in range(2)]
    out["read_mib_s"] = max(out["reads_mib_s"])
    path.unlink()
    return out


def big_files(roots: list[Path], size: int) -> list[Path]:
    """The files under `roots` of at least `size` bytes (the replicas of the big object)."""
    out = []
    for root in roots:
        for dirpath, _dirs, files in os.walk(root):
            for name in files:
                path = Path(dirpath) / name
                try:
                    if path.stat().st_size >= size:
                        out.append(path)
                except FileNotFoundError:
                    pass
    return out


# --------------------------------------------------------------- targets


def _http(url: str, method: str, path: str, headers: dict, body: bytes | None = None) -> tuple[int, dict, bytes]:
    u = urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
    try:
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
    finally:
        conn.close()


class Target:
    """What the runner needs of a target: where its account is, a token, its processes, its disks."""

    name = ""
    storage_url = ""  # http://127.0.0.1:PORT/.../AUTH_x
    headers: dict[str, str] = {}

    def server_pids(self) -> list[int]:
        raise NotImplementedError

    def device_dirs(self) -> list[Path]:
        raise NotImplementedError

    @property
    def hostport(self) -> tuple[str, int]:
        u = urlsplit(self.storage_url)
        return u.hostname or "127.0.0.1", u.port or 80

    @property
    def account_path(self) -> str:
        return urlsplit(self.storage_url).path.rstrip("/")

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, dict, bytes]:
        return _http(self.storage_url, method, self.account_path + path, dict(self.headers), body)


class SwiftTarget(Target):
    name = "swift"

    def __init__(self, base: Path):
        self.ref = swift_ref.SwiftReference(Path(tempfile.mkdtemp(prefix="swift-", dir=base)))

    def start(self) -> float:
        swift_ref.ensure_venv()
        self.ref.setup()
        took = self.ref.start()
        token, self.storage_url = self.ref.token()
        self.headers = {"X-Auth-Token": token}
        return took

    def server_pids(self) -> list[int]:
        return self.ref.server_pids

    def device_dirs(self) -> list[Path]:
        return self.ref.device_dirs()

    def stop(self, keep: bool) -> None:
        self.ref.stop()
        if not keep:
            import shutil
            shutil.rmtree(self.ref.workdir, ignore_errors=True)


class MonostackObjectTarget(Target):
    name = "monostack"

    def __init__(self, base: Path, binary: str):
        self.ms = monostack_target.MonostackTarget(binary, Path(tempfile.mkdtemp(prefix="monostack-", dir=base)))

    def start(self) -> float:
        # `monostack up` reads its options from the environment it inherits.
        os.environ.update({
            "MONOSTACK_DEFAULT__SERVICES": "identity,object",
            "MONOSTACK_OBJECT__OBJECT_PORT": str(_procs.free_port()),
            "MONOSTACK_OBJECT__CONTAINER_PORT": str(_procs.free_port()),
            "MONOSTACK_OBJECT__ACCOUNT_PORT": str(_procs.free_port()),
            # Only the servers on the request path, as for Swift (no replicator/auditor/updater
            # passes, no expirer) -- these would otherwise start in the middle of a measurement.
            "MONOSTACK_OBJECT__DAEMONS": "false",
            "MONOSTACK_OBJECT__EXPIRER": "false",
        })
        took = self.ms.start()
        admin = self.ms.admin
        body = json.dumps({"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": admin["username"], "domain": {"id": admin["user_domain_id"]},
                "password": admin["password"]}}},
            "scope": {"project": {"name": admin["project_name"], "domain": {"id": admin["project_domain_id"]}}}}})
        status, headers, data = _http(self.ms.identity_url, "POST", urlsplit(self.ms.identity_url).path +
                                      "/auth/tokens", {"Content-Type": "application/json"}, body.encode())
        if status != 201:
            raise RuntimeError(f"token: {status} {data[:300]!r}")
        self.headers = {"X-Auth-Token": headers["x-subject-token"]}
        catalog = json.loads(data)["token"]["catalog"]
        self.storage_url = next(e["url"] for s in catalog if s["type"] == "object-store"
                                for e in s["endpoints"] if e["interface"] == "public")
        return took

    def server_pids(self) -> list[int]:
        return self.ms.server_pids

    def device_dirs(self) -> list[Path]:
        return sorted((self.ms.data_dir / "object" / "devices").iterdir())

    def stop(self, keep: bool) -> None:
        self.ms.cleanup(keep=keep)


# --------------------------------------------------------------- measuring


class Client:
    """The load client process: one job in, one result out."""

    def __init__(self, python: str):
        self.proc = subprocess.Popen([python, str(Path(__file__).resolve().parent / "_object_client.py")],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                     start_new_session=True, preexec_fn=_procs._pdeathsig)

    def run(self, job: dict) -> dict:
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(json.dumps(job) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the client process exited ({self.proc.wait()})")
        return json.loads(line)

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def measured(client: Client, target: Target, job: dict, quiet_wait: float) -> dict:
    """A client job with the servers' CPU, the machine's other load and the load average around it."""
    if quiet_wait > 0:
        busy = wait_quiet(quiet_wait)
        if busy >= 0.25:
            say(f"machine still busy ({busy:.2f} cores) after {quiet_wait:g}s; measuring anyway")
    pids = target.server_pids()
    load0, m0, cpu0, t0 = loadavg(), _procs.machine_cpu(), _procs.tree_cpu_seconds(pids), time.monotonic()
    result = client.run(job)
    wall = time.monotonic() - t0
    cpu1, m1, load1 = _procs.tree_cpu_seconds(pids), _procs.machine_cpu(), loadavg()
    if "failed" in result:
        raise RuntimeError(f"{job['kind']} {job.get('op', '')}: {result['failed']}")
    server = cpu1 - cpu0
    other = (m1[0] - m0[0]) - server - result.get("client_cpu_s", 0.0)
    result.update({"server_cpu_s": server, "server_cores_used": server / wall,
                   "client_core_util": result.get("client_cpu_s", 0.0) / wall,
                   "other_load_cores": max(other, 0.0) / wall, "loadavg_1m": [load0, load1]})
    ops = result.get("ok")
    if ops:
        result["server_cpu_ms_per_op"] = server / ops * 1e3
    return result


_last_delete = [0.0]  # when the last small-object DELETE phase (of any target) ended


def settle(seconds: float) -> None:
    """Wait until `seconds` have passed since the last DELETE phase.

    On a filesystem without a journal (as this machine's ext4 root is), the inode allocator skips
    inodes freed in the last minute, scanning past each of them on every file or directory it
    creates: right after one target deleted thousands of objects, the next one would pay for it in
    every PUT.  Waiting the same time before every PUT phase keeps the targets on equal terms."""
    wait = _last_delete[0] + seconds - time.monotonic()
    if wait > 0:
        say(f"letting the filesystem settle for {wait:.0f} s after the last DELETE phase (--settle)")
        time.sleep(wait)


def small_ops(client: Client, target: Target, args, tag: str) -> dict:
    host, port = target.hostport
    base = {"kind": "small", "host": host, "port": port, "path": f"{target.account_path}/{CONTAINER}",
            "headers": target.headers, "size": args.object_size, "concurrency": args.concurrency}
    # Warm-up (not counted): connections, the proxies' account/container info, the token caches.
    warm = dict(base, prefix=f"warm-{tag}-", count=64, duration=60)
    for op in SMALL_OPS:
        client.run(dict(warm, op=op))
    out: dict[str, dict] = {}
    stored = 0
    for op in SMALL_OPS:
        count = 10_000_000 if op == "PUT" else stored
        if count == 0:
            raise RuntimeError(f"{target.name}: no object was stored, nothing to {op}")
        if op == "PUT":
            settle(args.settle)
        r = measured(client, target, dict(base, op=op, prefix=f"{tag}-", count=count, duration=args.duration),
                     args.quiet_wait)
        if op == "DELETE":
            _last_delete[0] = time.monotonic()
        if op == "PUT":
            stored = r["attempted"]
        out[op] = r
        say(f"{target.name}: 4 KiB {op:6s} {r['rate_per_s']:8.1f}/s  server {r.get('server_cpu_ms_per_op', 0):6.2f} "
            f"ms CPU/op  errors {r['errors']}  other load {r['other_load_cores']:.2f}")
    return out


def big_ops(client: Client, target: Target, args, tag: str, pattern: bytes) -> dict:
    """The disk by itself, then the target's big PUT and GET right after it: the disk's speed drifts
    (a virtual disk on a shared host), so each target is set against a measurement of its own moment."""
    host, port = target.hostport
    size = args.big_mib * MIB
    disk = raw_disk(args.base, size, pattern)
    say(f"disk before {target.name}'s big object: write+fsync {disk['write_mib_s']:.0f} MiB/s "
        f"(O_DIRECT {fmt(disk['write_direct_mib_s'], '.0f')}), read {disk['read_mib_s']:.0f} MiB/s "
        f"(best of {', '.join(f'{v:.0f}' for v in disk['reads_mib_s'])})")
    path = f"{target.account_path}/{CONTAINER}/big-{tag}"
    job = {"host": host, "port": port, "path": path, "headers": target.headers}
    put = measured(client, target, dict(job, kind="big_put", size=size), args.quiet_wait)
    if put["status"] != 201:
        raise RuntimeError(f"{target.name}: 1 GiB PUT answered {put['status']}")
    replicas = big_files(target.device_dirs(), size)
    # Two cold GETs (every replica's pages dropped before each), the better one compared, as the
    # disk's own read is: on this VM the same read of the same file runs at 700 MiB/s one time and
    # 3 GiB/s the next (the host's caches; the first read into page-cache pages that have not been
    # used for a while also pays the host's faulting them in), and such noise only ever slows down.
    gets = []
    for _ in range(2):
        for path_ in replicas:
            drop_cache(path_)
        get = measured(client, target, dict(job, kind="big_get"), args.quiet_wait)
        if get["status"] != 200 or get["bytes"] != size:
            raise RuntimeError(f"{target.name}: big GET answered {get['status']} with {get['bytes']} bytes")
        gets.append(get)
    get = max(gets, key=lambda g: g["mib_per_s"])
    status, _, _ = target.request("DELETE", f"/{CONTAINER}/big-{tag}")
    tried = ", ".join(f"{g['mib_per_s']:.1f}" for g in gets)
    say(f"{target.name}: {args.big_mib} MiB PUT {put['mib_per_s']:7.1f} MiB/s  GET {get['mib_per_s']:7.1f} MiB/s "
        f"(best of {tried})  ({len(replicas)} replicas on disk; DELETE {status})")
    return {"put": put, "get": get, "gets": gets, "replica_files": len(replicas), "disk": disk,
            "put_vs_disk_write_per_replica": put["mib_per_s"] / (disk["write_mib_s"] / swift_ref.REPLICAS),
            "get_vs_disk_read": get["mib_per_s"] / disk["read_mib_s"]}


# --------------------------------------------------------------- report


def median(values: list[float]) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def summarize(results: dict, args) -> None:
    rounds = results["rounds"]
    summary: dict = {"disk": {}, "targets": {}}
    disks = [r[t]["big"]["disk"] for r in rounds for t in results["targets"] if "big" in r.get(t, {})]
    summary["disk"] = {k: median([d.get(k) for d in disks]) for k in ("write_mib_s", "write_direct_mib_s", "read_mib_s")}
    summary["disk"]["samples"] = len(disks)
    for t in results["targets"]:
        s: dict = {}
        for op in SMALL_OPS:
            rs = [r[t]["small"][op] for r in rounds if t in r and "small" in r[t]]
            if rs:
                s[op] = {"rate_per_s": median([x["rate_per_s"] for x in rs]),
                         "server_cpu_ms_per_op": median([x.get("server_cpu_ms_per_op") for x in rs]),
                         "rates": [x["rate_per_s"] for x in rs]}
        for op, vs in (("put", "put_vs_disk_write_per_replica"), ("get", "get_vs_disk_read")):
            bigs = [r[t]["big"] for r in rounds if t in r and "big" in r[t]]
            if bigs:
                s[f"big_{op}"] = {"mib_per_s": median([b[op]["mib_per_s"] for b in bigs]),
                                  "server_cpu_s": median([b[op]["server_cpu_s"] for b in bigs]),
                                  "values": [b[op]["mib_per_s"] for b in bigs],
                                  "vs_disk": median([b[vs] for b in bigs]), "vs_disk_values": [b[vs] for b in bigs]}
        summary["targets"][t] = s
    ratios: dict = {}
    ms, sw = summary["targets"].get("monostack", {}), summary["targets"].get("swift", {})
    for op in SMALL_OPS:
        if op in ms and op in sw and sw[op]["rate_per_s"]:
            ratios[op] = ms[op]["rate_per_s"] / sw[op]["rate_per_s"]
    for op in ("big_put", "big_get"):
        if op in ms and op in sw and sw[op]["mib_per_s"]:
            ratios[op] = ms[op]["mib_per_s"] / sw[op]["mib_per_s"]
    disk = summary["disk"]
    replicas = swift_ref.REPLICAS
    goals = []
    for op in SMALL_OPS:
        v = ratios.get(op)
        goals.append({"goal": f"4 KiB {op} rate >= 2x Swift", "value": v, "target": ">= 2.00",
                      "pass": None if v is None else v >= 2.0})
    # Each big PUT/GET against the disk measured just before it (median over the rounds).
    if "big_put" in ms:
        v = ms["big_put"]["vs_disk"]
        goals.append({"goal": f"{args.big_mib} MiB PUT >= 90% of disk write / {replicas}", "value": v, "target": ">= 0.90",
                      "pass": v >= 0.9})
    if "big_get" in ms:
        v = ms["big_get"]["vs_disk"]
        goals.append({"goal": f"{args.big_mib} MiB GET >= 90% of disk read", "value": v, "target": ">= 0.90", "pass": v >= 0.9})
    del disk
    results["summary"], results["ratios"], results["goals"] = summary, ratios, goals


def fmt(v, spec=".1f") -> str:
    return "-" if v is None else format(v, spec)


def print_report(results: dict) -> None:
    s = results["summary"]
    print("\nObject Storage benchmark (medians of %d rounds)" % len(results["rounds"]))
    m = results["machine"]
    print(f"machine: {m['cpus']} CPUs, {m['cpu_model']}; load average 1/5/15 min at start "
          f"{' '.join(fmt(x, '.2f') for x in m['loadavg_start'])}, at end "
          f"{' '.join(fmt(x, '.2f') for x in m.get('loadavg_end', []))}")
    sv = results["versions"].get("swift_venv", {})
    if sv:
        print(f"swift {sv.get('swift')} (eventlet {sv.get('eventlet')}, workers = auto), memcached "
              f"{sv.get('memcached', '-')}; monostack {results['versions'].get('monostack', '?')}")
    c = results["config"]
    print(f"{c['object_size']} B objects at concurrency {c['concurrency']}, {c['duration_s']:g} s per op; "
          f"big object {c['big_mib']} MiB\n")
    hdr = f"{'op':<10} {'swift':>12} {'monostack':>12} {'ratio':>7}   {'srv CPU ms/op swift':>20} {'monostack':>10}"
    print(hdr)
    print("-" * len(hdr))
    sw, ms = s["targets"].get("swift", {}), s["targets"].get("monostack", {})
    for op in SMALL_OPS:
        a, b = sw.get(op, {}), ms.get(op, {})
        print(f"{'4K ' + op:<10} {fmt(a.get('rate_per_s')):>10}/s {fmt(b.get('rate_per_s')):>10}/s "
              f"{fmt(results['ratios'].get(op), '.2f'):>7}   {fmt(a.get('server_cpu_ms_per_op'), '.2f'):>20} "
              f"{fmt(b.get('server_cpu_ms_per_op'), '.2f'):>10}")
    for op in ("big_put", "big_get"):
        a, b = sw.get(op, {}), ms.get(op, {})
        label = f"{results['config']['big_mib']}M " + op[4:].upper()
        print(f"{label:<10} {fmt(a.get('mib_per_s')):>7} MiB/s {fmt(b.get('mib_per_s')):>7} MiB/s "
              f"{fmt(results['ratios'].get(op), '.2f'):>6}   {'(server CPU s)':>20} "
              f"{fmt(a.get('server_cpu_s'), '.1f'):>4} / {fmt(b.get('server_cpu_s'), '.1f')}")
    d = s["disk"]
    print(f"\ndisk (same filesystem, measured before each big PUT; median of {d.get('samples', 0)}): "
          f"sequential write+fsync {fmt(d.get('write_mib_s'))} MiB/s "
          f"(/ {swift_ref.REPLICAS} replicas = {fmt((d.get('write_mib_s') or 0) / swift_ref.REPLICAS)}), "
          f"read {fmt(d.get('read_mib_s'))} MiB/s (best of two cold reads); "
          f"O_DIRECT write+fsync {fmt(d.get('write_direct_mib_s'))} MiB/s")
    for t in results["targets"]:
        x = s["targets"].get(t, {})
        if "big_put" in x:
            print(f"  {t}: PUT / (disk write / {swift_ref.REPLICAS}) = {fmt(x['big_put']['vs_disk'], '.2f')} "
                  f"({', '.join(fmt(v, '.2f') for v in x['big_put']['vs_disk_values'])}); "
                  f"GET / disk read = {fmt(x['big_get']['vs_disk'], '.2f')} "
                  f"({', '.join(fmt(v, '.2f') for v in x['big_get']['vs_disk_values'])})")
    print("\nper round (ops/s or MiB/s; other load = cores used meanwhile by anything else; load avg 1 min):")
    for i, r in enumerate(results["rounds"], 1):
        line = [f"  round {i}:"]
        for t in results["targets"]:
            if t not in r:
                continue
            parts = [f"{op} {r[t]['small'][op]['rate_per_s']:.0f} ({r[t]['small'][op]['other_load_cores']:.2f}, "
                     f"{r[t]['small'][op]['loadavg_1m'][1]:.1f})" for op in SMALL_OPS if op in r[t].get("small", {})]
            if "big" in r[t]:
                b = r[t]["big"]
                parts.append(f"disk w {b['disk']['write_mib_s']:.0f} r {b['disk']['read_mib_s']:.0f}, "
                             f"bigPUT {b['put']['mib_per_s']:.0f} bigGET {b['get']['mib_per_s']:.0f}")
            line.append(f"| {t}: " + ", ".join(parts))
        print(" ".join(line))
    print("\nGoals (Monostack):")
    for g in results["goals"]:
        state = "n/a " if g["pass"] is None else ("PASS" if g["pass"] else "FAIL")
        print(f"  [{state}] {g['goal']}: {fmt(g['value'], '.2f')} (target {g['target']})")
    busy = [(t, op, x["other_load_cores"]) for r in results["rounds"] for t in results["targets"] if t in r
            for op, x in r[t].get("small", {}).items() if x["other_load_cores"] > 0.25]
    if busy:
        print(f"  note: {len(busy)} measurements ran while other processes used > 0.25 cores "
              f"(max {max(b[2] for b in busy):.2f}); their rates are disturbed")
    sys.stdout.flush()


# --------------------------------------------------------------- main


def machine_info() -> dict:
    model = "?"
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    with open("/proc/loadavg") as f:
        load = [float(x) for x in f.read().split()[:3]]
    return {"cpus": os.cpu_count(), "cpu_model": model, "python": platform.python_version(),
            "platform": platform.platform(), "loadavg_start": load}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", choices=("all", "swift", "monostack"), default="all")
    ap.add_argument("--rounds", type=int, default=2, help="alternating rounds (medians are reported)")
    ap.add_argument("--duration", type=float, default=10.0, help="seconds per small-object op")
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--object-size", type=int, default=4096)
    ap.add_argument("--big-mib", type=int, default=1024, help="size of the big object and of the disk test")
    ap.add_argument("--no-big", action="store_true", help="skip the big object and the disk test")
    ap.add_argument("--no-small", action="store_true", help="skip the small-object ops")
    ap.add_argument("--dir", default=None, help="where the servers' data and the disk test go "
                                                "(default: a temporary directory under data/)")
    ap.add_argument("--settle", type=float, default=60.0, metavar="S",
                    help="seconds between a DELETE phase and the next PUT phase (see settle())")
    ap.add_argument("--quiet-wait", type=float, default=0.0, metavar="S",
                    help="before each measurement wait up to S s for the machine to be idle (< 0.25 cores busy)")
    ap.add_argument("--monostack-bin", default=str(monostack_target.DEFAULT_BIN))
    ap.add_argument("--json", default=str(DEFAULT_JSON), help="where the results go (JSON)")
    ap.add_argument("--keep", action="store_true", help="keep the temp dirs (logs, data)")
    ap.add_argument("--check-goals", action="store_true", help="exit 3 when a goal fails")
    args = ap.parse_args(argv)

    _procs.install_signal_handlers()
    base_parent = Path(args.dir) if args.dir else REPO / "data"
    base_parent.mkdir(parents=True, exist_ok=True)
    base = Path(tempfile.mkdtemp(prefix="bench-object-", dir=base_parent))
    args.base = base  # where the disk test writes (the servers' data is below it too)
    names = [t for t in TARGETS if args.only in ("all", t)]
    results: dict = {"benchmark": "object_storage", "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                     "machine": machine_info(), "directory": str(base),
                     "config": {"rounds": args.rounds, "duration_s": args.duration, "concurrency": args.concurrency,
                                "object_size": args.object_size, "big_mib": args.big_mib,
                                "quiet_wait_s": args.quiet_wait, "settle_s": args.settle,
                                "replicas": swift_ref.REPLICAS,
                                "swift_auth": "tempauth (tokens in memcached)",
                                "monostack_auth": "Keystone token of its own Identity"},
                     "versions": {}, "targets": {}, "rounds": []}
    targets: dict[str, Target] = {}
    client = Client(sys.executable)
    failed = False
    t_start = time.monotonic()
    try:
        for name in names:
            try:
                if name == "swift":
                    results["versions"]["swift_venv"] = swift_ref.versions() if swift_ref._venv_ok() else {}
                    target: Target = SwiftTarget(base)
                else:
                    r = subprocess.run([args.monostack_bin, "version"], capture_output=True, text=True, timeout=30)
                    results["versions"]["monostack"] = r.stdout.strip() if r.returncode == 0 else "?"
                    target = MonostackObjectTarget(base, args.monostack_bin)
                say(f"starting {name} in {base}")
                took = target.start()
                if name == "swift" and not results["versions"]["swift_venv"]:
                    results["versions"]["swift_venv"] = swift_ref.versions()
                status, _, body = target.request("PUT", f"/{CONTAINER}")
                if status not in (201, 202):
                    raise RuntimeError(f"container PUT answered {status}: {body[:200]!r}")
                targets[name] = target
                results["targets"][name] = {"status": "ok", "start_s": took, "storage_url": target.storage_url}
            except Exception as exc:
                failed = True
                say(f"{name} could not start:\n{traceback.format_exc()}")
                results["targets"][name] = {"status": "unavailable", "error": f"{type(exc).__name__}: {exc}"}
        pattern = os.urandom(64 * MIB)
        for round_no in range(args.rounds):
            order = list(targets) if round_no % 2 == 0 else list(reversed(list(targets)))
            rr: dict = {"order": order}
            say(f"round {round_no + 1}: {' then '.join(order)}")
            for name in order:
                target = targets[name]
                tr: dict = {}
                tag = f"r{round_no + 1}"
                try:
                    if not args.no_small:
                        tr["small"] = small_ops(client, target, args, tag)
                    if not args.no_big:
                        tr["big"] = big_ops(client, target, args, tag, pattern)
                except Exception as exc:
                    failed = True
                    say(f"{name} failed in round {round_no + 1}:\n{traceback.format_exc()}")
                    tr["error"] = f"{type(exc).__name__}: {exc}"
                rr[name] = tr
            results["rounds"].append(rr)
    finally:
        client.close()
        for target in targets.values():
            target.stop(args.keep)
        if not args.keep:
            import shutil
            shutil.rmtree(base, ignore_errors=True)
    results["machine"]["loadavg_end"] = [float(x) for x in open("/proc/loadavg").read().split()[:3]]
    results["total_s"] = time.monotonic() - t_start
    ok_rounds = [r for r in results["rounds"] if all("error" not in r.get(t, {}) for t in targets)]
    results["rounds"] = ok_rounds or results["rounds"]
    summarize(results, args)
    print_report(results)
    print(f"\ntotal benchmark time {results['total_s']:.0f} s")
    Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    say(f"wrote {args.json}")
    if failed:
        return 1
    if args.check_goals and any(g["pass"] is False for g in results["goals"]):
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
