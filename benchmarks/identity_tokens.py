"""Identity token benchmark: Monostack vs real Keystone, side by side in one run.

Targets (identical client code for each):
  keystone            Keystone from PyPI (own venv), SQLite, Fernet, gunicorn with
                      2 sync workers, fresh-install defaults (no cache)
  keystone+memcached  the same install restarted with [cache] enabled against a
                      memcached we start on a loopback port
  monostack           `monostack up` on a temp data dir

Operations measured per target (each for --duration seconds after --warmup):
  issue     POST /v3/auth/tokens, password method, project-scoped
  validate  GET /v3/auth/tokens, X-Auth-Token=admin, X-Subject-Token=user token
  rescope   POST /v3/auth/tokens, token method, unscoped token -> project scope

Reported: req/s, server CPU ms/req (utime+stime of the server process tree from
/proc, memcached included for that variant), client CPU, latency, the CPU of
one bcrypt cost-12 check measured in this process, ratios Monostack/Keystone,
and Monostack restart-to-ready time on an existing data dir.

    .venv/bin/python benchmarks/identity_tokens.py [--only keystone] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import statistics
import subprocess
import sys
import time
import traceback
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _loadgen  # noqa: E402
import _procs  # noqa: E402
import keystone_ref  # noqa: E402
import monostack_target  # noqa: E402

OPS = ("issue", "validate", "rescope")
BCRYPT_COST = 12


def say(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------- bcrypt


def measure_bcrypt(samples: int = 5) -> dict:
    """CPU seconds of one bcrypt cost-12 check (checkpw), in this process."""
    import bcrypt

    pw = b"bench-" + secrets.token_urlsafe(12).encode()
    c0 = time.process_time()
    hashed = bcrypt.hashpw(pw, bcrypt.gensalt(BCRYPT_COST))
    hash_cpu = time.process_time() - c0
    checks = []
    for _ in range(samples):
        c0 = time.process_time()
        assert bcrypt.checkpw(pw, hashed)
        checks.append(time.process_time() - c0)
    return {"cost": BCRYPT_COST, "bcrypt_version": bcrypt.__version__,
            "hashpw_cpu_ms": hash_cpu * 1e3,
            "checkpw_cpu_ms_samples": [c * 1e3 for c in checks],
            "checkpw_cpu_ms": statistics.median(checks) * 1e3}


# --------------------------------------------------------------- API client


class Api:
    """Tiny Keystone v3 client over the load generator's connection code."""

    def __init__(self, identity_url: str):
        u = urlsplit(identity_url)
        self.host, self.port = u.hostname or "127.0.0.1", u.port or 80
        self.hostport = f"{self.host}:{self.port}"
        self.prefix = u.path.rstrip("/")  # e.g. /v3 or /identity/v3

    def req(self, method: str, path: str, *, token: str | None = None, body=None,
            headers: dict | None = None) -> bytes:
        h = dict(headers or {})
        if token:
            h["X-Auth-Token"] = token
        return _loadgen.build_request(method, self.hostport, self.prefix + path, h, body)

    def call(self, method: str, path: str, expect: int, **kw) -> _loadgen.Response:
        r = _loadgen.one(self.host, self.port, self.req(method, path, **kw))
        if r.status != expect:
            raise RuntimeError(f"{method} {self.prefix}{path}: expected {expect}, got {r.status}: "
                               f"{r.body[:500]!r}")
        return r


def password_auth(user: str, password: str, project: str | None, domain: str = "default") -> dict:
    auth: dict = {"identity": {"methods": ["password"], "password": {
        "user": {"name": user, "domain": {"id": domain}, "password": password}}}}
    if project is not None:
        auth["scope"] = {"project": {"name": project, "domain": {"id": domain}}}
    return {"auth": auth}


def token_auth(token: str, project_id: str) -> dict:
    return {"auth": {"identity": {"methods": ["token"], "token": {"id": token}},
                     "scope": {"project": {"id": project_id}}}}


def prepare(api: Api, admin: dict) -> dict:
    """Admin token, a fresh project + member user with a known password, an unscoped token."""
    r = api.call("POST", "/auth/tokens", 201, body={"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": admin["username"], "domain": {"id": admin["user_domain_id"]},
            "password": admin["password"]}}},
        "scope": {"project": {"name": admin["project_name"],
                              "domain": {"id": admin["project_domain_id"]}}}}})
    admin_token = r.headers["x-subject-token"]
    suffix = secrets.token_hex(4)
    project = f"bench-project-{suffix}"
    user = f"bench-user-{suffix}"
    password = "bench-" + secrets.token_urlsafe(12)
    pid = json.loads(api.call("POST", "/projects", 201, token=admin_token, body={
        "project": {"name": project, "domain_id": "default"}}).body)["project"]["id"]
    uid = json.loads(api.call("POST", "/users", 201, token=admin_token, body={
        "user": {"name": user, "domain_id": "default", "password": password}}).body)["user"]["id"]
    roles = json.loads(api.call("GET", "/roles?name=member", 200, token=admin_token).body)["roles"]
    if not roles:
        raise RuntimeError("no 'member' role on the target")
    api.call("PUT", f"/projects/{pid}/users/{uid}/roles/{roles[0]['id']}", 204, token=admin_token)
    unscoped = api.call("POST", "/auth/tokens", 201,
                        body=password_auth(user, password, None)).headers["x-subject-token"]
    return {"admin_token": admin_token, "user": user, "password": password, "project": project,
            "project_id": pid, "user_id": uid, "unscoped_token": unscoped}


# --------------------------------------------------------------- measuring


def wait_quiet(max_wait: float, threshold: float = 0.25) -> float:
    """Wait (at most max_wait s) until the machine's busy CPU over 0.5 s is < threshold cores.

    Called while our server is idle, so what is busy is someone else.  Returns
    the last busy level seen.
    """
    deadline = time.monotonic() + max_wait
    while True:
        b0, t0 = _procs.machine_cpu()[0], time.monotonic()
        time.sleep(0.5)
        busy = (_procs.machine_cpu()[0] - b0) / (time.monotonic() - t0)
        if busy < threshold or time.monotonic() >= deadline:
            return busy


def measure(api: Api, server_pids, requests: list[bytes], *, expect: int, concurrency: int,
            duration: float, warmup: float, max_requests: int, on_ok=None,
            quiet_wait: float = 0.0) -> dict:
    if quiet_wait > 0:
        busy = wait_quiet(quiet_wait)
        if busy >= 0.25:
            say(f"machine still busy ({busy:.2f} cores) after {quiet_wait:g}s; measuring anyway")
    if warmup > 0:
        _loadgen.run_load(api.host, api.port, requests, expect=expect, concurrency=concurrency,
                          duration=warmup, max_requests=max_requests)
    pids = server_pids()
    m0 = _procs.machine_cpu()
    cpu0 = _procs.tree_cpu_seconds(pids)
    res = _loadgen.run_load(api.host, api.port, requests, expect=expect, concurrency=concurrency,
                            duration=duration, max_requests=max_requests, on_ok=on_ok)
    cpu1 = _procs.tree_cpu_seconds(pids)
    m1 = _procs.machine_cpu()
    n = max(res.requests, 1)
    wall = res.wall_s or 1e-9
    # CPU burnt on this machine by anything but the server and this client
    # (other people's jobs); a high value makes the numbers less trustworthy.
    other = (m1[0] - m0[0]) - (cpu1 - cpu0) - res.client_cpu_s
    out = {
        "requests": res.requests, "ok": res.ok, "errors": res.errors,
        "concurrency": concurrency, "wall_s": res.wall_s,
        "rate_per_s": res.rate,
        "server_cpu_s": cpu1 - cpu0,
        "server_cpu_ms_per_req": (cpu1 - cpu0) / n * 1e3,
        "server_cores_used": (cpu1 - cpu0) / res.wall_s if res.wall_s else 0.0,
        "client_cpu_ms_per_req": res.client_cpu_s / n * 1e3,
        "client_core_util": res.client_cpu_s / res.wall_s if res.wall_s else 0.0,
        "connections_opened": res.connects,
        "latency_ms_p50": (res.pct(50) or 0) * 1e3,
        "latency_ms_p99": (res.pct(99) or 0) * 1e3,
        "other_load_cores": max(other, 0.0) / wall,
        "steal_cores": (m1[1] - m0[1]) / wall,
    }
    if res.error_samples:
        out["error_samples"] = res.error_samples
    return out


def bench_target(name: str, api: Api, admin: dict, server_pids, args) -> dict:
    ctx = prepare(api, admin)
    say(f"{name}: test user {ctx['user']} / project {ctx['project']} ready")
    ops: dict[str, dict] = {}
    common = dict(duration=args.duration, warmup=args.warmup, max_requests=args.max_requests,
                  quiet_wait=args.quiet_wait)

    # (a) issue: password, project-scoped
    issued: list[str] = []

    def keep(r: _loadgen.Response) -> None:
        if len(issued) < 64 and "x-subject-token" in r.headers:
            issued.append(r.headers["x-subject-token"])

    issue_req = [api.req("POST", "/auth/tokens",
                         body=password_auth(ctx["user"], ctx["password"], ctx["project"]))]
    say(f"{name}: issue (concurrency {args.issue_concurrency}, {args.duration:g}s)")
    ops["issue"] = measure(api, server_pids, issue_req, expect=201,
                           concurrency=args.issue_concurrency, on_ok=keep, **common)

    # (b) validate: a pool of the user's project tokens, validated with the admin token
    if not issued:
        issued.append(api.call("POST", "/auth/tokens", 201, body=password_auth(
            ctx["user"], ctx["password"], ctx["project"])).headers["x-subject-token"])
    pool = issued[: args.token_pool]
    validate_req = [api.req("GET", "/auth/tokens", token=ctx["admin_token"],
                            headers={"X-Subject-Token": t}) for t in pool]
    say(f"{name}: validate (concurrency {args.validate_concurrency}, pool of {len(pool)} tokens)")
    ops["validate"] = measure(api, server_pids, validate_req, expect=200,
                              concurrency=args.validate_concurrency, **common)
    ops["validate"]["token_pool"] = len(pool)

    # (c) rescope: unscoped token -> project scope
    rescope_req = [api.req("POST", "/auth/tokens",
                           body=token_auth(ctx["unscoped_token"], ctx["project_id"]))]
    say(f"{name}: rescope (concurrency {args.rescope_concurrency})")
    ops["rescope"] = measure(api, server_pids, rescope_req, expect=201,
                             concurrency=args.rescope_concurrency, **common)
    for op, r in ops.items():
        say(f"{name}: {op:8s} {r['rate_per_s']:9.1f}/s  server {r['server_cpu_ms_per_req']:8.2f} "
            f"ms CPU/req  errors {r['errors']}")
    return ops


# --------------------------------------------------------------- report


def fmt(v, spec=".1f", none="-"):
    return none if v is None else format(v, spec)


def ratio(a, b):
    return a / b if a is not None and b else None


def compute(results: dict, bcrypt_info: dict) -> tuple[dict, list[dict]]:
    def get(t, op, key):
        tr = results["targets"].get(t, {})
        return tr.get("ops", {}).get(op, {}).get(key) if tr.get("status") == "ok" else None

    ratios: dict = {}
    for op in OPS:
        m_rate, m_cpu = get("monostack", op, "rate_per_s"), get("monostack", op, "server_cpu_ms_per_req")
        ratios[op] = {
            "rate_vs_keystone": ratio(m_rate, get("keystone", op, "rate_per_s")),
            "rate_vs_keystone_memcached": ratio(m_rate, get("keystone+memcached", op, "rate_per_s")),
            "cpu_vs_keystone": ratio(m_cpu, get("keystone", op, "server_cpu_ms_per_req")),
            "cpu_vs_keystone_memcached": ratio(m_cpu, get("keystone+memcached", op,
                                                          "server_cpu_ms_per_req")),
        }
    hash_ms = bcrypt_info["checkpw_cpu_ms"]
    issue_vs_hash = {t: ratio(get(t, "issue", "server_cpu_ms_per_req"), hash_ms)
                     for t in results["targets"]}
    ratios["issue_cpu_vs_bcrypt_check"] = issue_vs_hash

    restart = results.get("monostack_restart", {}).get("median_s")

    def goal(name, value, ok, target):
        return {"goal": name, "value": value, "target": target,
                "pass": None if value is None else bool(ok(value))}

    goals = [
        goal("validate rate >= 10x keystone", ratios["validate"]["rate_vs_keystone"],
             lambda v: v >= 10, ">= 10"),
        goal("validate rate > keystone+memcached", ratios["validate"]["rate_vs_keystone_memcached"],
             lambda v: v > 1, "> 1"),
        goal("issue server CPU within 10% of one bcrypt-12 check",
             issue_vs_hash.get("monostack"), lambda v: v <= 1.10, "<= 1.10"),
        goal("rescope rate >= 10x keystone", ratios["rescope"]["rate_vs_keystone"],
             lambda v: v >= 10, ">= 10"),
        goal("monostack up (existing data dir) to ready < 2 s", restart, lambda v: v < 2.0, "< 2 s"),
    ]
    return ratios, goals


def print_report(results: dict) -> None:
    out = sys.stdout
    b = results["bcrypt"]
    print("\nIdentity token benchmark", file=out)
    print(f"machine: {results['machine']['cpus']} CPUs, {results['machine']['cpu_model']}; "
          f"duration {results['config']['duration_s']:g}s per op", file=out)
    kv = results.get("versions", {}).get("keystone_venv", {})
    if kv:
        print(f"keystone {kv.get('keystone')} on gunicorn {kv.get('gunicorn')} "
              f"({results['config']['keystone_workers']} sync workers), SQLite, Fernet, "
              f"bcrypt {kv.get('bcrypt')}, SQLAlchemy {kv.get('SQLAlchemy')}; "
              f"memcached {kv.get('memcached', '-')} via {results['config']['memcache_backend']}",
              file=out)
    if results.get("versions", {}).get("monostack"):
        print(f"monostack {results['versions']['monostack']}", file=out)
    print(f"bcrypt cost {b['cost']}: one checkpw = {b['checkpw_cpu_ms']:.1f} ms CPU "
          f"(hashpw {b['hashpw_cpu_ms']:.1f} ms)\n", file=out)

    hdr = (f"{'target':<20} {'op':<9} {'req/s':>9} {'srv CPU ms/req':>15} {'srv cores':>9} "
           f"{'cli CPU ms/req':>15} {'cli core%':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} "
           f"{'other load':>10}")
    print(hdr, file=out)
    print("-" * len(hdr), file=out)
    for t, tr in results["targets"].items():
        if tr.get("status") != "ok":
            print(f"{t:<20} {'(unavailable: ' + tr.get('error', '?').splitlines()[0][:90] + ')'}",
                  file=out)
            continue
        label = t + ("*" if tr.get("from_baseline") else "")
        for op in OPS:
            r = tr["ops"].get(op)
            if not r:
                continue
            print(f"{label:<20} {op:<9} {r['rate_per_s']:>9.1f} {r['server_cpu_ms_per_req']:>15.2f} "
                  f"{r['server_cores_used']:>9.2f} {r['client_cpu_ms_per_req']:>15.3f} "
                  f"{r['client_core_util'] * 100:>8.0f}% {r['latency_ms_p50']:>8.1f} "
                  f"{r['latency_ms_p99']:>8.1f} {r['errors']:>7} "
                  f"{r.get('other_load_cores', 0):>10.2f}", file=out)
    print("srv = the server's process tree (+ memcached for keystone+memcached); cli = this "
          "client; other load = cores used meanwhile by anything else on the machine", file=out)
    for t, tr in results["targets"].items():
        if tr.get("from_baseline"):
            print(f"* {t}: not measured in this run, from {tr['from_baseline']}", file=out)
    print(file=out)

    ratios = results["ratios"]
    print("issue server CPU / one bcrypt-12 check: " + ", ".join(
        f"{t} {fmt(v, '.2f')}x" for t, v in ratios["issue_cpu_vs_bcrypt_check"].items()), file=out)
    print(f"\n{'ratio monostack/…':<20} {'rate/keystone':>14} {'rate/ks+memc':>13} "
          f"{'CPU/keystone':>13} {'CPU/ks+memc':>12}", file=out)
    for op in OPS:
        r = ratios[op]
        print(f"{op:<20} {fmt(r['rate_vs_keystone'], '.2f'):>14} "
              f"{fmt(r['rate_vs_keystone_memcached'], '.2f'):>13} "
              f"{fmt(r['cpu_vs_keystone'], '.3f'):>13} {fmt(r['cpu_vs_keystone_memcached'], '.3f'):>12}",
              file=out)

    print(file=out)
    for t, tr in results["targets"].items():
        if tr.get("start_to_ready_s") is not None:
            print(f"{t}: start to ready on an existing data dir: {tr['start_to_ready_s']:.2f} s",
                  file=out)
    mr = results.get("monostack_restart")
    if mr:
        if "error" in mr:
            print(f"monostack restart-to-ready: failed: {mr['error'].splitlines()[0]}", file=out)
        else:
            print(f"monostack restart-to-ready (existing data dir, {len(mr['runs_s'])} runs): "
                  f"median {mr['median_s']:.2f} s, min {mr['min_s']:.2f} s, max {mr['max_s']:.2f} s",
                  file=out)

    print("\nGoals (Monostack):", file=out)
    for g in results["goals"]:
        state = "n/a " if g["pass"] is None else ("PASS" if g["pass"] else "FAIL")
        print(f"  [{state}] {g['goal']}: {fmt(g['value'], '.2f')} (target {g['target']})", file=out)
    for t, tr in results["targets"].items():
        for op, r in tr.get("ops", {}).items():
            if r.get("client_core_util", 0) > 0.8:
                print(f"  note: client used {r['client_core_util']*100:.0f}% of a core on {t}/{op};"
                      f" the client may be limiting that rate", file=out)
            if r.get("other_load_cores", 0) > 0.25:
                print(f"  note: other processes on this machine used {r['other_load_cores']:.2f} "
                      f"cores during {t}/{op}; its numbers are disturbed", file=out)
    out.flush()


# --------------------------------------------------------------- main


def machine_info() -> dict:
    model = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpus": os.cpu_count(), "cpu_model": model, "python": platform.python_version(),
            "platform": platform.platform()}


def run_keystone(args, results: dict) -> bool:
    """Both reference variants on one Keystone install.  Returns True on failure."""
    failed = False
    variants = ["keystone"] + ([] if args.no_memcached else ["keystone+memcached"])
    ks = None
    try:
        try:
            keystone_ref.ensure_venv()
            results["versions"]["keystone_venv"] = keystone_ref.versions()
            ks = keystone_ref.KeystoneReference(memcache_backend=args.memcache_backend)
            ks.setup()
            results["keystone_setup_s"] = ks.setup_seconds
        except Exception as e:
            for v in variants:
                results["targets"][v] = {"status": "unavailable", "error": f"setup: {e}"}
            say(f"keystone setup failed: {e}")
            return True
        for v in variants:
            tr: dict = {"status": "ok"}
            try:
                say(f"starting {v}")
                tr["start_to_ready_s"] = ks.start(memcached=(v == "keystone+memcached"))
                api = Api(ks.identity_url)
                tr["ops"] = bench_target(v, api, ks.admin, lambda: ks.server_pids, args)
            except Exception as e:
                failed = True
                tr = {"status": "unavailable", "error": f"{type(e).__name__}: {e}"}
                say(f"{v} failed:\n{traceback.format_exc()}")
            finally:
                ks.stop()
            results["targets"][v] = tr
    finally:
        if ks is not None:
            if args.keep:
                ks.stop()
                say(f"keystone workdir kept: {ks.workdir}")
            else:
                ks.cleanup()
    return failed


def run_monostack(args, results: dict) -> bool:
    """Monostack: the three ops, then restart-to-ready.  Returns True on failure."""
    failed = False
    ms = monostack_target.MonostackTarget(args.monostack_bin)
    tr: dict = {"status": "ok"}
    try:
        try:
            r = subprocess.run([args.monostack_bin, "version"], capture_output=True, text=True,
                               timeout=30)
            if r.returncode == 0:
                results["versions"]["monostack"] = r.stdout.strip()
            say(f"starting monostack ({args.monostack_bin}) in {ms.workdir}")
            tr["first_start_s"] = ms.start()
            api = Api(ms.identity_url)
            tr["ops"] = bench_target("monostack", api, ms.admin, lambda: ms.server_pids, args)
        except Exception as e:
            failed = True
            tr = {"status": "unavailable", "error": f"{type(e).__name__}: {e}"}
            say(f"monostack failed: {e}")
        results["targets"]["monostack"] = tr
        if tr["status"] == "ok" and args.restarts > 0:
            try:
                say(f"monostack restart-to-ready x{args.restarts}")
                results["monostack_restart"] = ms.restarts(args.restarts)
            except Exception as e:
                failed = True
                results["monostack_restart"] = {"error": f"{type(e).__name__}: {e}"}
    finally:
        if args.keep:
            say(f"monostack workdir kept: {ms.workdir}")
        ms.cleanup(keep=args.keep)
    return failed


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", choices=("all", "keystone", "monostack"), default="all",
                    help="keystone = both reference variants; monostack = ours alone")
    ap.add_argument("--no-memcached", action="store_true", help="skip the keystone+memcached run")
    ap.add_argument("--duration", type=float, default=10.0, help="seconds per measurement")
    ap.add_argument("--warmup", type=float, default=1.0, help="seconds of warm-up per measurement")
    ap.add_argument("--max-requests", type=int, default=1_000_000, help="cap per measurement")
    ap.add_argument("--issue-concurrency", type=int, default=4)
    ap.add_argument("--validate-concurrency", type=int, default=8)
    ap.add_argument("--rescope-concurrency", type=int, default=8)
    ap.add_argument("--token-pool", type=int, default=16, help="distinct tokens to validate")
    ap.add_argument("--quiet-wait", type=float, default=0.0, metavar="S",
                    help="before each measurement wait up to S seconds for the machine to be idle "
                         "(< 0.25 cores busy); helps on a shared machine")
    ap.add_argument("--restarts", type=int, default=3, help="monostack restart-to-ready samples")
    ap.add_argument("--memcache-backend", default="dogpile.cache.pymemcache",
                    choices=("dogpile.cache.pymemcache", "oslo_cache.memcache_pool"))
    ap.add_argument("--monostack-bin", default=str(monostack_target.DEFAULT_BIN))
    ap.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    ap.add_argument("--baseline", metavar="FILE",
                    help="a previous --json output: Keystone numbers for targets not run now "
                         "(e.g. with --only monostack)")
    ap.add_argument("--keep", action="store_true", help="keep temp dirs (logs) for debugging")
    ap.add_argument("--check-goals", action="store_true",
                    help="exit 3 if a Monostack goal fails (not just unavailable)")
    args = ap.parse_args(argv)

    _procs.install_signal_handlers()
    t_start = time.monotonic()
    results: dict = {
        "benchmark": "identity_tokens",
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": machine_info(),
        "config": {"duration_s": args.duration, "warmup_s": args.warmup,
                   "issue_concurrency": args.issue_concurrency,
                   "validate_concurrency": args.validate_concurrency,
                   "rescope_concurrency": args.rescope_concurrency,
                   "token_pool": args.token_pool, "quiet_wait_s": args.quiet_wait,
                   "keystone_workers": keystone_ref.WORKERS,
                   "memcache_backend": args.memcache_backend,
                   "client": "asyncio" + ("+uvloop" if _loadgen.uvloop else "")},
        "versions": {},
        "targets": {},
    }
    say("measuring one bcrypt cost-12 check")
    results["bcrypt"] = measure_bcrypt()
    say(f"bcrypt-12 checkpw: {results['bcrypt']['checkpw_cpu_ms']:.1f} ms CPU")

    failed = False
    if args.only in ("all", "keystone"):
        failed |= run_keystone(args, results)
    if args.only in ("all", "monostack"):
        failed |= run_monostack(args, results)
    if args.baseline:
        base = json.loads(Path(args.baseline).read_text())
        for name in ("keystone", "keystone+memcached"):
            if name not in results["targets"] and name in base.get("targets", {}):
                results["targets"][name] = dict(base["targets"][name],
                                                from_baseline=str(args.baseline))
                say(f"{name}: numbers taken from {args.baseline} (not measured in this run)")
        if "keystone_venv" not in results["versions"]:
            results["versions"]["keystone_venv"] = base.get("versions", {}).get("keystone_venv", {})

    results["ratios"], results["goals"] = compute(results, results["bcrypt"])
    results["total_s"] = time.monotonic() - t_start
    print_report(results)
    print(f"\ntotal benchmark time {results['total_s']:.0f} s", file=sys.stdout)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
        say(f"wrote {args.json}")
    if failed:
        return 1
    if args.check_goals and any(g["pass"] is False for g in results["goals"]):
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
