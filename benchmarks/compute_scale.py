#!/usr/bin/env python3
"""Compute at scale: 1,000 servers through the API (fake driver), and the scheduler over 1,000 hosts.

(a) api  `monostack up` (identity,image,placement,compute) with MONOSTACK_COMPUTE__DRIVER=fake
         (the explicit scale double: the whole control plane - API, quotas, conductor,
         scheduler, Placement claims over HTTP, the agent with its config drives - but no QEMU).
         The admin project's quotas are lifted (PUT os-quota-sets: instances, cores, ram = -1)
         and the CPU allocation ratio raised (env MONOSTACK_COMPUTE__CPU_ALLOCATION_RATIO) so
         that the one fake host (64 vCPUs, 256 GiB, 4 TiB: FakeDriver's built-in size, see the
         README) takes them all.  For each mode:
           single  N servers, one POST /servers each, --concurrency requests in flight
           batch   POST /servers with min_count = max_count = --batch, --batch-concurrency in flight
         then wait until all are ACTIVE (GET /servers?status=ACTIVE, once a second), then
         DELETE them all (--concurrency in flight) and wait until none is listed and the
         project's Placement usage is back to zero.  Reported: total times, servers/s, p50/p99
         latency of the create and delete calls, create-to-ACTIVE per server (from its
         launched_at), the cloud's CPU per server, the list latency with N servers.
(b) scheduler  in-process, no cloud: a Compute and a Placement database (SQLite in a temp dir,
         or --db URL), the Placement API app behind httpx's ASGI transport (tokens checked by a
         benchmark-local double), HOSTS compute hosts registered as agents do
         (HostManager.report, then ComputeAgent.update_resources with a FakeDriver of a given
         size: compute node row, resource provider, inventories, traits), one existing
         allocation per host so usage differs, then K decisions of Scheduler.select_and_claim
         (each a new server of flavor m1.small): time per decision p50/p99, and inside it the
         GET /allocation_candidates call, the join with the database (_host_states) and the
         claim (PUT /allocations).

    .venv/bin/python benchmarks/compute_scale.py [--part api|scheduler|all] [--servers 1000] [--hosts 1000]
        [--decisions 200] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pathlib
import random
import shutil
import sys
import tempfile
import time
import uuid as uuidlib
from typing import Any

import httpx

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import _compute_cloud as cc  # noqa: E402
import _procs  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

COMPUTE = "/compute/v2.1"


# ==================================================================== (a) the API with the fake driver


class ApiScale:
    def __init__(self, cloud: cc.Cloud, args: argparse.Namespace, image_id: str, flavor_id: str):
        self.cloud, self.args, self.image_id, self.flavor_id = cloud, args, image_id, flavor_id
        self.headers = {"X-Auth-Token": cloud.token, "Content-Type": "application/json"}

    def client(self) -> httpx.AsyncClient:
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
        return httpx.AsyncClient(base_url=self.cloud.url, headers=self.headers, timeout=600, limits=limits)

    async def _timed_requests(self, jobs: list[tuple[str, str, dict | None, int]], concurrency: int
                              ) -> tuple[list[float], list[tuple[int, httpx.Response]], list[str]]:
        """Run (method, path, json, expected status) jobs, concurrency at a time: the latencies, the
        (job index, response) of the calls answered as expected, and what went wrong with the others."""
        latencies: list[float] = []
        answered: list[tuple[int, httpx.Response]] = []
        errors: list[str] = []
        queue = list(reversed(range(len(jobs))))

        async def worker(http: httpx.AsyncClient) -> None:
            while queue:
                index = queue.pop()
                method, path, body, expect = jobs[index]
                t0 = time.perf_counter()
                try:
                    response = await http.request(method, path, json=body)
                except httpx.HTTPError as err:
                    errors.append(f"{method} {path}: {type(err).__name__}: {err}")
                    continue
                latencies.append(time.perf_counter() - t0)
                if response.status_code != expect:
                    errors.append(f"{method} {path}: {response.status_code} {response.text[:300]} "
                                  f"(request id {response.headers.get('x-openstack-request-id')})")
                else:
                    answered.append((index, response))

        async with self.client() as http:
            await asyncio.gather(*(worker(http) for _ in range(concurrency)))
        return latencies, answered, errors

    def log_errors(self, limit: int = 80) -> list[str]:
        """The cloud log's ERROR lines and tracebacks (the first `limit` lines of them)."""
        lines, keep = [], False
        try:
            text = (self.cloud.workdir / "monostack.log").read_text(errors="replace").splitlines()
        except OSError:
            return []
        for line in text:
            if " ERROR " in line or "Traceback" in line:
                keep = True
            elif line[:4].isdigit():  # a new log record
                keep = False
            if keep:
                lines.append(line[:400])
            if len(lines) >= limit:
                break
        return lines

    def _list(self, **params: Any) -> tuple[list[dict[str, Any]], float]:
        """Every server of the project matching params (following the markers); and the first call's seconds."""
        servers: list[dict[str, Any]] = []
        first = None
        query = dict(params, limit=1000)
        while True:
            t0 = time.perf_counter()
            page = self.cloud.call("GET", f"{COMPUTE}/servers", params=query).json()
            first = first if first is not None else time.perf_counter() - t0
            servers += page["servers"]
            if len(page["servers"]) < 1000:
                return servers, first
            query["marker"] = page["servers"][-1]["id"]

    def _detail(self) -> list[dict[str, Any]]:
        servers: list[dict[str, Any]] = []
        query: dict[str, Any] = {"limit": 1000}
        while True:
            page = self.cloud.call("GET", f"{COMPUTE}/servers/detail", params=query).json()["servers"]
            servers += page
            if len(page) < 1000:
                return servers
            query["marker"] = page[-1]["id"]

    def wait_all(self, want: int, status: str | None, timeout: float) -> dict[str, Any]:
        """Poll until `want` servers have `status` (None: until at most `want` servers are listed).

        Gives up (done False, with the servers' states) when the count has not moved for --stall
        seconds, or after timeout: a server stuck in BUILD must not hang the benchmark.
        """
        start = time.monotonic()
        list_seconds: list[float] = []
        last, moved = None, start
        while True:
            params = {"status": status} if status else {}
            servers, took = self._list(**params)
            list_seconds.append(took)
            out = {"polls": len(list_seconds), "list_latency_s": cc.summary(list_seconds), "done": True}
            if (len(servers) >= want) if status else (len(servers) <= want):
                return out
            now = time.monotonic()
            if len(servers) != last:
                last, moved = len(servers), now
            if now - moved > self.args.stall or now - start > timeout:
                out.update(done=False, reached=len(servers), wanted=want, states=self.states(),
                           last_progress_s=moved - start)
                cc.say(f"giving up: {len(servers)} servers {status or 'listed'}, want {want}; "
                       f"no progress for {now - moved:.0f}s; states {out['states']}")
                return out
            time.sleep(self.args.poll)

    def states(self) -> dict[str, int]:
        """How many of the project's servers are in each status/task_state."""
        counts: dict[str, int] = {}
        for server in self._detail():
            key = f"{server['status']}/{server.get('OS-EXT-STS:task_state')}"
            counts[key] = counts.get(key, 0) + 1
        return counts

    def run_mode(self, mode: str) -> dict[str, Any]:
        args, cloud = self.args, self.cloud
        n = args.servers
        if mode == "single":
            jobs = [("POST", f"{COMPUTE}/servers", {"server": {"name": f"scale-s{i}", "imageRef": self.image_id,
                                                                 "flavorRef": self.flavor_id}}, 202)
                    for i in range(n)]
            concurrency = args.concurrency
        else:
            sizes = [args.batch] * (n // args.batch) + ([n % args.batch] if n % args.batch else [])
            jobs = [("POST", f"{COMPUTE}/servers", {"server": {
                "name": f"scale-b{i}", "imageRef": self.image_id, "flavorRef": self.flavor_id,
                "min_count": size, "max_count": size}}, 202) for i, size in enumerate(sizes)]
            concurrency = args.batch_concurrency
        out: dict[str, Any] = {"mode": mode, "requests": len(jobs), "concurrency": concurrency}
        if mode == "batch":
            out["batch"] = args.batch
        cc.say(f"{mode}: creating {n} servers ({len(jobs)} requests, {concurrency} in flight)")
        load = cc.LoadMeter()
        cpu0, client0 = _procs.tree_cpu_seconds([cloud.pid]), time.process_time()
        wall0 = time.time()
        t0 = time.monotonic()
        latencies, answered, errors = asyncio.run(self._timed_requests(jobs, concurrency))
        t_accepted = time.monotonic() - t0
        if errors:  # reported, and the run goes on with the servers that were accepted
            cc.say(f"{mode}: {len(errors)} create calls FAILED, e.g. {errors[0]}")
            out["create_errors"] = {"count": len(errors), "samples": errors[:5], "cloud_log": self.log_errors()}
            n = sum(jobs[i][2]["server"].get("max_count", 1) for i, _ in answered)
        cc.say(f"{mode}: all {len(jobs)} create calls answered in {t_accepted:.1f}s; waiting for {n} ACTIVE")
        waited = self.wait_all(n, "ACTIVE", args.timeout)
        t_active = time.monotonic() - t0
        if not waited["done"]:
            out["create_incomplete"] = {k: waited[k] for k in ("reached", "wanted", "states")}
            out["create_incomplete"]["cloud_log"] = self.log_errors()
            # the time the last server that made it turned ACTIVE (not the time spent waiting for the rest)
            t_active = t_accepted + waited["last_progress_s"]
        cpu_create = _procs.tree_cpu_seconds([cloud.pid]) - cpu0
        client_create = time.process_time() - client0
        out["servers"] = n
        out["create"] = {
            "all_calls_answered_s": t_accepted, "all_active_s": t_active,
            "servers_per_s_to_active": None if "create_incomplete" in out else n / t_active, "call_latency_ms": cc.summary(latencies, 1e3),
            "active_polls": waited["polls"], "active_poll_list_latency_ms": {
                k: v * 1e3 if k != "n" else v for k, v in waited["list_latency_s"].items()},
            "cloud_cpu_s": cpu_create, "cloud_cpu_ms_per_server": cpu_create / n * 1e3,
            "client_cpu_s": client_create, "load": load.done()}
        cc.say(f"{mode}: {waited.get('reached', n)} of {n} ACTIVE after {t_active:.1f}s, call p50 "
               f"{out['create']['call_latency_ms']['p50']:.0f} ms p99 {out['create']['call_latency_ms']['p99']:.0f} ms")

        # per server: create call sent -> launched_at (what the agent wrote with ACTIVE)
        t_list = time.perf_counter()
        detail = self._detail()
        out["list_detail_s"] = time.perf_counter() - t_list
        _, out["list_brief_s"] = self._list()
        to_active = []
        for server in detail:
            launched = _parse(server.get("OS-SRV-USG:launched_at"))
            if launched is not None:
                to_active.append(launched - wall0)
        out["create"]["launched_at_after_start_s"] = cc.summary(to_active)
        hosts = {s.get("OS-EXT-SRV-ATTR:host") for s in detail}
        out["hosts_used"] = sorted(h for h in hosts if h)

        ids = [s["id"] for s in detail]
        cc.say(f"{mode}: deleting {len(ids)} servers ({args.concurrency} in flight)")
        load = cc.LoadMeter()
        cpu0, client0 = _procs.tree_cpu_seconds([cloud.pid]), time.process_time()
        t0 = time.monotonic()
        latencies, _, errors = asyncio.run(self._timed_requests(
            [("DELETE", f"{COMPUTE}/servers/{i}", None, 204) for i in ids], args.concurrency))
        t_accepted = time.monotonic() - t0
        if errors:
            cc.say(f"{mode}: {len(errors)} delete calls FAILED, e.g. {errors[0]}")
            out["delete_errors"] = {"count": len(errors), "samples": errors[:5], "cloud_log": self.log_errors()}
        gone = self.wait_all(len(errors), None, args.timeout)
        t_gone = time.monotonic() - t0
        if not gone["done"]:
            out["delete_incomplete"] = {k: gone[k] for k in ("reached", "wanted", "states")}
            t_gone = t_accepted + gone["last_progress_s"]
        usage = self.placement_usage()
        while any(usage.values()) and time.monotonic() - t0 < args.timeout:
            time.sleep(0.2)
            usage = self.placement_usage()
        t_usage = time.monotonic() - t0
        cpu_delete = _procs.tree_cpu_seconds([cloud.pid]) - cpu0
        out["delete"] = {
            "all_calls_answered_s": t_accepted, "all_gone_s": t_gone, "placement_usage_zero_s": t_usage,
            "placement_usage_after": usage, "servers_per_s_to_gone": len(ids) / t_gone,
            "call_latency_ms": cc.summary(latencies, 1e3), "cloud_cpu_s": cpu_delete,
            "cloud_cpu_ms_per_server": cpu_delete / max(len(ids), 1) * 1e3,
            "client_cpu_s": time.process_time() - client0, "load": load.done()}
        cc.say(f"{mode}: all gone after {t_gone:.1f}s ({len(ids) / t_gone:.1f} servers/s), call p50 "
               f"{out['delete']['call_latency_ms']['p50']:.0f} ms p99 {out['delete']['call_latency_ms']['p99']:.0f} ms;"
               f" placement usage {usage}")
        return out

    def placement_usage(self) -> dict[str, int]:
        return self.cloud.call("GET", "/placement/usages", params={"project_id": self.cloud.project_id},
                               headers={"OpenStack-API-Version": "placement 1.9"}).json()["usages"]


def _parse(value: str | None) -> float | None:
    if not value:
        return None
    import datetime
    dt = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return (dt if dt.tzinfo else dt.replace(tzinfo=datetime.timezone.utc)).timestamp()


def part_api(args: argparse.Namespace, workdir: pathlib.Path) -> dict[str, Any]:
    env = {"MONOSTACK_DEFAULT__SERVICES": "identity,image,placement,compute", "MONOSTACK_COMPUTE__DRIVER": "fake",
           "MONOSTACK_IMAGE__GUEST_IMAGES": "false",
           "MONOSTACK_COMPUTE__CPU_ALLOCATION_RATIO": str(args.cpu_allocation_ratio),
           "MONOSTACK_COMPUTE__RAM_ALLOCATION_RATIO": str(args.ram_allocation_ratio),
           "MONOSTACK_DEFAULT__LOG_LEVEL": args.log_level}
    if args.db:
        env["MONOSTACK_DATABASE__CONNECTION"] = args.db
    cloud = cc.Cloud(workdir / "api", env)
    out: dict[str, Any] = {"env": env}
    try:
        cc.say(f"starting monostack up (fake driver) in {cloud.workdir}")
        out["cloud_start_s"] = cloud.start()
        # a 1 MiB raw image: the agent caches it once; the fake driver never reads it
        image = cloud.call("POST", "/image/v2/images", 201, json={
            "name": "scale-image", "disk_format": "raw", "container_format": "bare"}).json()
        cloud.call("PUT", f"/image/v2/images/{image['id']}/file", 204, content=b"\0" * (1 << 20),
                   headers={"Content-Type": "application/octet-stream"})
        flavor = cloud.flavor_id(args.flavor)
        quota = cloud.call("PUT", f"{COMPUTE}/os-quota-sets/{cloud.project_id}", json={"quota_set": {
            "instances": -1, "cores": -1, "ram": -1}}).json()["quota_set"]
        hypervisors = cloud.call("GET", f"{COMPUTE}/os-hypervisors/detail").json()["hypervisors"]
        providers = cloud.call("GET", "/placement/resource_providers",
                               headers={"OpenStack-API-Version": "placement 1.14"}).json()["resource_providers"]
        inventories = {p["name"]: cloud.call("GET", f"/placement/resource_providers/{p['uuid']}/inventories",
                                             headers={"OpenStack-API-Version": "placement 1.14"}).json()["inventories"]
                       for p in providers}
        out["setup"] = {"flavor": {k: flavor[k] for k in ("id", "name", "vcpus", "ram", "disk")},
                        "quota_set": {k: quota.get(k) for k in ("instances", "cores", "ram")},
                        "hypervisors": [{k: h.get(k) for k in ("hypervisor_hostname", "vcpus", "memory_mb",
                                                                "local_gb")} for h in hypervisors],
                        "placement_inventories": inventories}
        scale = ApiScale(cloud, args, image["id"], flavor["id"])
        out["modes"] = {}
        for mode in args.modes.split(","):
            try:
                out["modes"][mode] = scale.run_mode(mode)
            except Exception as err:  # the other mode still runs; the failure is in the results
                cc.say(f"{mode}: FAILED: {type(err).__name__}: {err}")
                out["modes"][mode] = {"mode": mode, "failed": f"{type(err).__name__}: {err}",
                                      "cloud_log": scale.log_errors()}
    finally:
        cloud.stop()
    return out


# ==================================================================== (b) the scheduler over many hosts


class BenchValidator:
    """The benchmark's token double for the in-process Placement API: one token, an admin."""

    TOKEN = "bench-admin"

    async def authenticate(self, token: str, ctx: Any) -> None:
        from monostack.common import errors

        if token != self.TOKEN:
            raise errors.Unauthorized("The request you have made requires authentication.")
        ctx.user_id, ctx.project_id, ctx.roles = "bench-user", "bench-project", ["admin", "member", "reader"]
        ctx.auth_token = token


class TimedPlacement:
    """The scheduler's Placement client, timing allocation_candidates and claim."""

    def __init__(self, client: Any):
        self.client = client
        self.candidates: list[float] = []
        self.candidate_counts: list[int] = []
        self.claims: list[float] = []

    async def allocation_candidates(self, *a: Any, **kw: Any) -> dict[str, Any]:
        t0 = time.perf_counter()
        result = await self.client.allocation_candidates(*a, **kw)
        self.candidates.append(time.perf_counter() - t0)
        self.candidate_counts.append(len(result.get("allocation_requests", [])))
        return result

    async def claim(self, *a: Any, **kw: Any) -> bool:
        t0 = time.perf_counter()
        try:
            return await self.client.claim(*a, **kw)
        finally:
            self.claims.append(time.perf_counter() - t0)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)


async def scheduler_bench(args: argparse.Namespace, workdir: pathlib.Path) -> dict[str, Any]:
    from monostack.common.config import Config
    from monostack.common.db import Database, ensure_database
    from monostack.common.migrate import upgrade
    from monostack.compute.agent import ComputeAgent
    from monostack.compute.drivers.base import HostResources
    from monostack.compute.drivers.fake import FakeDriver
    from monostack.compute.scheduler.host_state import RequestSpec
    from monostack.compute.scheduler.manager import Scheduler
    from monostack.compute.service import ComputeService
    from monostack.placement import api as placement_api
    from monostack.placement.client import PlacementClient
    from monostack.placement.service import PlacementService

    data = workdir / "sched"
    data.mkdir(parents=True)
    url = args.db or f"sqlite:///{data}/bench.sqlite"
    # Hosts report once, at registration; no heartbeats are simulated, so a long service_down_time
    # keeps them up (ComputeFilter) for the whole run.
    conf = Config(data, environ={}, overrides={"database": {"connection": url}, "compute": {
        "cpu_allocation_ratio": 16.0, "ram_allocation_ratio": 1.5, "disk_allocation_ratio": 1.0,
        "service_down_time": 86400}})
    ensure_database(url)
    db = Database(url, pool_size=conf.database.pool_size, busy_timeout=conf.database.busy_timeout)
    upgrade(db, "compute")
    upgrade(db, "placement")
    svc = ComputeService(conf, db)
    placement_svc = PlacementService(conf, db)
    placement_svc.prepare()
    _app, asgi = placement_api.build(placement_svc, BenchValidator(), max_body_size=1 << 20)

    async def token() -> str:
        return BenchValidator.TOKEN

    client = PlacementClient("http://placement", token, transport=httpx.ASGITransport(app=asgi))
    rng = random.Random(42)
    out: dict[str, Any] = {"hosts": args.hosts, "database": url.split(":", 1)[0], "aggregates": args.aggregates}

    # -- hosts, registered the way agents register themselves
    cc.say(f"scheduler: registering {args.hosts} hosts (service row, compute node, resource provider, "
           f"inventories, traits)")
    t0 = time.monotonic()
    sem = asyncio.Semaphore(8)
    sizes = [(32, 128), (48, 192), (64, 256)]

    async def register(i: int) -> str:
        host = f"bench-host-{i:04d}"
        vcpus, mem_gib = sizes[i % len(sizes)]
        driver = FakeDriver(data / "state", resources=HostResources(
            hostname=f"{host}.example", vcpus=vcpus, memory_mb=mem_gib * 1024, disk_gb=rng.choice((1000, 2000, 4000)),
            hypervisor_type="QEMU", hypervisor_version=8002001, accelerator="tcg"))
        agent = ComputeAgent(svc, driver, host=host, placement=client, images=None, network=None, bus=None)
        async with sem:
            await asyncio.to_thread(svc.hosts.report, host, "nova-compute", "compute")
            await agent.update_resources()
        return agent.node_uuid

    nodes = await asyncio.gather(*(register(i) for i in range(args.hosts)))
    out["register_hosts_s"] = time.monotonic() - t0
    cc.say(f"scheduler: {args.hosts} hosts registered in {out['register_hosts_s']:.1f}s; one allocation on each")
    t0 = time.monotonic()

    async def preallocate(rp: str) -> None:
        async with sem:
            await client.put_allocations(str(uuidlib.uuid4()), {rp: {"resources": {
                "VCPU": rng.randint(1, 32), "MEMORY_MB": rng.randint(1, 64) * 1024, "DISK_GB": rng.randint(1, 500)}}},
                "other-project", "other-user", None)

    await asyncio.gather(*(preallocate(rp) for rp in nodes))
    out["preallocate_s"] = time.monotonic() - t0
    if args.aggregates:
        # zone aggregates: args.aggregates zones, the hosts spread over them
        for z in range(args.aggregates):
            agg = svc.aggregates.create(f"bench-az{z}", f"az{z}")
            for i in range(z, args.hosts, args.aggregates):
                svc.aggregates.add_host(agg["id"], f"bench-host-{i:04d}")

    # -- decisions
    timed = TimedPlacement(client)
    scheduler = Scheduler(svc, timed)
    host_states: list[float] = []
    original = scheduler._host_states

    def timed_host_states(candidates: dict[str, Any], spec: Any) -> Any:
        t = time.perf_counter()
        try:
            return original(candidates, spec)
        finally:
            host_states.append(time.perf_counter() - t)

    scheduler._host_states = timed_host_states  # type: ignore[method-assign]
    flavor = {"id": "2", "name": "m1.small", "vcpus": 1, "ram": 2048, "disk": 20, "ephemeral": 0, "swap": 0,
              "extra_specs": {}}
    decisions: list[float] = []
    chosen: dict[str, int] = {}
    errors: list[str] = []

    async def decide() -> None:
        spec = RequestSpec(instance_uuid=str(uuidlib.uuid4()), project_id="bench-project", user_id="bench-user",
                           flavor=flavor, image=None, availability_zone=None, requested_host=None, group=None)
        t = time.perf_counter()
        try:
            host = await scheduler.select_and_claim(spec)
        except Exception as err:
            errors.append(f"{type(err).__name__}: {err}")
            return
        decisions.append(time.perf_counter() - t)
        chosen[host.host] = chosen.get(host.host, 0) + 1

    for _ in range(args.warmup_decisions):
        await decide()
    for lst in (decisions, host_states, timed.candidates, timed.claims, timed.candidate_counts):
        lst.clear()
    chosen.clear()
    cc.say(f"scheduler: {args.decisions} decisions, {args.sched_concurrency} at a time")
    load = cc.LoadMeter()
    cpu0 = time.process_time()
    t0 = time.monotonic()
    pending = args.decisions

    async def worker() -> None:
        nonlocal pending
        while pending > 0:
            pending -= 1
            await decide()

    await asyncio.gather(*(worker() for _ in range(args.sched_concurrency)))
    wall = time.monotonic() - t0
    cpu = time.process_time() - cpu0
    out.update({
        "decisions": len(decisions), "errors": errors[:5], "error_count": len(errors),
        "concurrency": args.sched_concurrency, "wall_s": wall, "decisions_per_s": len(decisions) / wall,
        "process_cpu_ms_per_decision": cpu / max(len(decisions), 1) * 1e3,
        "decision_ms": cc.summary(decisions, 1e3),
        "allocation_candidates_ms": cc.summary(timed.candidates, 1e3),
        "candidates_returned": cc.summary([float(c) for c in timed.candidate_counts]),
        "host_states_ms": cc.summary(host_states, 1e3),
        "claim_ms": cc.summary(timed.claims, 1e3),
        "distinct_hosts_chosen": len(chosen), "max_decisions_on_one_host": max(chosen.values(), default=0),
        "load": load.done()})
    await client.close()
    db.dispose()
    return out


# ==================================================================== report


def print_report(results: dict[str, Any]) -> None:
    print(f"\nCompute scale benchmark; machine: {results['machine']['cpus']} CPUs, {results['machine']['cpu_model']}; "
          f"load average at start {results['loadavg_at_start'][0]:.2f}, at end {results['loadavg_at_end'][0]:.2f}")
    api = results.get("api")
    if api:
        print(f"\n(a) API, fake driver, flavor {api['setup']['flavor']['name']}")
        print(f"{'mode':<7} {'op':<7} {'servers':>7} {'calls':>6} {'conc':>5} {'calls done s':>12} {'all done s':>10} "
              f"{'servers/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'cloud CPU ms/srv':>16} {'busy cores':>10}")
        for mode, m in api.get("modes", {}).items():
            if "failed" in m:
                print(f"{mode:<7} FAILED: {m['failed']}")
                continue
            for op, key, n in (("create", "all_active_s", m["servers"]), ("delete", "all_gone_s", m["servers"])):
                r = m[op]
                print(f"{mode:<7} {op:<7} {n:>7} {m['requests'] if op == 'create' else n:>6} "
                      f"{m['concurrency'] if op == 'create' else results['config']['concurrency']:>5} "
                      f"{r['all_calls_answered_s']:>12.1f} {r[key]:>10.1f} "
                      f"{'-' if f'{op}_incomplete' in m else format(n / r[key], '.1f'):>9} "
                      f"{r['call_latency_ms']['p50']:>8.0f} {r['call_latency_ms']['p99']:>8.0f} "
                      f"{r['cloud_cpu_ms_per_server']:>16.1f} {r['load']['machine_busy_cores']:>10.2f}")
            for what in ("create_errors", "delete_errors"):
                if what in m:
                    print(f"        {what}: {m[what]['count']} calls failed, e.g. {m[what]['samples'][0][:200]}")
            for what in ("create_incomplete", "delete_incomplete"):
                if what in m:
                    print(f"        {what}: gave up at {m[what]['reached']} of {m[what]['wanted']}; "
                          f"states {m[what]['states']}")
            la = m["create"]["launched_at_after_start_s"]
            print(f"        ACTIVE (launched_at) after the first call: p50 {la.get('p50', 0):.1f} s, "
                  f"last {la.get('max', 0):.1f} s; GET /servers/detail with {m['servers']} servers "
                  f"{m['list_detail_s'] * 1e3:.0f} ms, /servers {m['list_brief_s'] * 1e3:.0f} ms")
    sched = results.get("scheduler")
    if sched:
        print(f"\n(b) scheduler, {sched['hosts']} hosts ({sched['database']}, in-process Placement over ASGI), "
              f"{sched['decisions']} decisions, concurrency {sched['concurrency']}")
        print(f"  hosts registered in {sched['register_hosts_s']:.1f} s")
        for key, label in (("decision_ms", "select_and_claim"), ("allocation_candidates_ms", "  allocation candidates"),
                           ("host_states_ms", "  join with the database"), ("claim_ms", "  claim")):
            s = sched[key]
            if s.get("n"):
                print(f"  {label:<26} p50 {s['p50']:8.1f} ms  p99 {s['p99']:8.1f} ms  mean {s['mean']:8.1f} ms")
        print(f"  {sched['decisions_per_s']:.2f} decisions/s, {sched['process_cpu_ms_per_decision']:.0f} ms CPU "
              f"each; {sched['candidates_returned'].get('p50', 0):.0f} candidates returned; "
              f"{sched['distinct_hosts_chosen']} distinct hosts chosen; errors {sched['error_count']}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--part", choices=("api", "scheduler", "all"), default="all")
    ap.add_argument("--servers", type=int, default=1000)
    ap.add_argument("--modes", default="single,batch", help="single and/or batch (comma-separated)")
    ap.add_argument("--concurrency", type=int, default=8, help="create (single) and delete calls in flight")
    ap.add_argument("--batch", type=int, default=50, help="servers per POST in batch mode (min_count = max_count)")
    ap.add_argument("--batch-concurrency", type=int, default=2, help="batch POSTs in flight")
    ap.add_argument("--flavor", default="m1.nano")
    ap.add_argument("--cpu-allocation-ratio", type=float, default=64.0)
    ap.add_argument("--ram-allocation-ratio", type=float, default=1.5)
    ap.add_argument("--poll", type=float, default=1.0, help="seconds between list polls while waiting")
    ap.add_argument("--timeout", type=float, default=1800.0, help="seconds a phase may take")
    ap.add_argument("--stall", type=float, default=120.0,
                    help="give up waiting when the ACTIVE (or listed) count has not moved for this long")
    ap.add_argument("--log-level", default="INFO", help="the cloud's log level (INFO, its default)")
    ap.add_argument("--hosts", type=int, default=1000)
    ap.add_argument("--decisions", type=int, default=200)
    ap.add_argument("--warmup-decisions", type=int, default=3)
    ap.add_argument("--sched-concurrency", type=int, default=1, help="scheduling decisions in flight")
    ap.add_argument("--aggregates", type=int, default=0,
                    help="availability-zone aggregates the hosts are spread over (scheduler part)")
    ap.add_argument("--db", default="", help="database URL instead of SQLite in the work dir")
    ap.add_argument("--dir", default=None, help="parent of the work directory")
    ap.add_argument("--json", default=None, help="write the results here (e.g. benchmarks/results-compute-scale.json)")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args(argv)

    _procs.install_signal_handlers()
    workdir = pathlib.Path(tempfile.mkdtemp(prefix="bcs-", dir=args.dir)).resolve()
    results: dict[str, Any] = {"benchmark": "compute_scale", "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                               "machine": cc.machine_info(), "loadavg_at_start": list(os.getloadavg()),
                               "config": {k: v for k, v in vars(args).items() if k not in ("json", "dir", "keep")}}
    t0 = time.monotonic()
    try:
        if args.part in ("api", "all"):
            results["api"] = part_api(args, workdir)
        if args.part in ("scheduler", "all"):
            results["scheduler"] = asyncio.run(scheduler_bench(args, workdir))
    finally:
        if args.keep:
            cc.say(f"work directory kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    results["loadavg_at_end"] = list(os.getloadavg())
    results["total_s"] = time.monotonic() - t0
    print_report(results)
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(results, indent=2, default=str) + "\n")
        cc.say(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
