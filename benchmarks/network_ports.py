#!/usr/bin/env python3
"""Port create/delete/list through the Networking API against upstream Neutron's ~0.4 s per port.

One run starts `monostack up` (services identity,network; the Networking agent off:
MONOSTACK_NETWORK__RUN_AGENT=false, so no bridge, namespace or dnsmasq is touched on the
host -- the API and its database only) on a free port in a temp data dir, takes the admin's
token (clouds.yaml, cloud monostack-admin) and the network endpoint from the token's catalog,
lifts the project's port quota, creates one network with a /22 subnet, then:

    sequential    create N ports one after the other (POST /v2.0/ports, 201), GET /v2.0/ports
                  once (all N listed, one request, timed), delete them one after the other
                  (DELETE /v2.0/ports/{id}, 204)
    concurrent    the same with C requests in flight (one keep-alive connection per worker)

Reported per phase: ops/s, mean ms per op (wall time / N) and the p50/p99 latency of the
calls, next to the reference of 0.4 s per port operation of upstream Neutron (the goal: 20x
faster, <= 20 ms per op).  The load average goes into the results: the machine is shared.

    .venv/bin/python benchmarks/network_ports.py [--ports 1000] [--concurrency 8] [--json FILE]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import pathlib
import shutil
import sys
import tempfile
import threading
import time
from typing import Any

import httpx

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import _compute_cloud as cc  # noqa: E402
import _procs  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parent.parent
NEUTRON_S_PER_OP = 0.4  # the reference figure for upstream Neutron
GOAL_FACTOR = 20


def network_endpoint(cloud: cc.Cloud) -> str:
    """The public URL of the network service in the token's catalog."""
    catalog = cloud.call("GET", "/identity/v3/auth/catalog").json()["catalog"]
    for service in catalog:
        if service["type"] == "network":
            for endpoint in service["endpoints"]:
                if endpoint["interface"] == "public":
                    return endpoint["url"].rstrip("/")
    raise RuntimeError(f"no public network endpoint in the catalog: {catalog}")


class Ports:
    """The ports phases over one network, with per-thread keep-alive clients."""

    def __init__(self, base: str, token: str, network_id: str, subnet_id: str):
        self.base, self.token = base, token
        self.network_id, self.subnet_id = network_id, subnet_id
        self.local = threading.local()
        self.clients: list[httpx.Client] = []
        self.lock = threading.Lock()

    def client(self) -> httpx.Client:
        client = getattr(self.local, "client", None)
        if client is None:
            client = httpx.Client(base_url=self.base, timeout=120, headers={"X-Auth-Token": self.token})
            self.local.client = client
            with self.lock:
                self.clients.append(client)
        return client

    def create(self, i: int) -> tuple[str, float]:
        body = {"port": {"network_id": self.network_id, "name": f"bench-port-{i}",
                         "fixed_ips": [{"subnet_id": self.subnet_id}]}}
        t0 = time.perf_counter()
        response = self.client().post("/v2.0/ports", json=body)
        took = time.perf_counter() - t0
        if response.status_code != 201:
            raise RuntimeError(f"POST /v2.0/ports: {response.status_code} {response.text[:500]}")
        return response.json()["port"]["id"], took

    def delete(self, port_id: str) -> float:
        t0 = time.perf_counter()
        response = self.client().delete(f"/v2.0/ports/{port_id}")
        took = time.perf_counter() - t0
        if response.status_code != 204:
            raise RuntimeError(f"DELETE /v2.0/ports/{port_id}: {response.status_code} {response.text[:500]}")
        return took

    def list(self, expected: int) -> float:
        t0 = time.perf_counter()
        response = self.client().get("/v2.0/ports", params={"network_id": self.network_id,
                                                            "device_owner": ""})
        took = time.perf_counter() - t0
        if response.status_code != 200:
            raise RuntimeError(f"GET /v2.0/ports: {response.status_code} {response.text[:500]}")
        got = len(response.json()["ports"])
        if got != expected:
            raise RuntimeError(f"GET /v2.0/ports listed {got} ports, expected {expected}")
        return took

    def close(self) -> None:
        for client in self.clients:
            client.close()


def phase(name: str, n: int, wall: float, latencies: list[float], cpu_s: float) -> dict[str, Any]:
    return {"op": name, "n": n, "wall_s": wall, "ops_per_s": n / wall, "ms_per_op": wall / n * 1e3,
            "latency_ms": cc.summary(latencies, 1e3), "cloud_cpu_ms_per_op": cpu_s / n * 1e3,
            "vs_neutron": NEUTRON_S_PER_OP / (wall / n)}


def run_mode(ports: Ports, cloud: cc.Cloud, n: int, concurrency: int) -> dict[str, Any]:
    """Create n ports, list them once, delete them, with `concurrency` calls in flight."""
    out: dict[str, Any] = {"concurrency": concurrency, "load": cc.LoadMeter()}
    with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
        cpu0, t0 = _procs.tree_cpu_seconds([cloud.pid]), time.perf_counter()
        created = list(pool.map(ports.create, range(n)))
        wall, cpu = time.perf_counter() - t0, _procs.tree_cpu_seconds([cloud.pid]) - cpu0
        out["create"] = phase("create", n, wall, [t for _, t in created], cpu)
        out["list_ms"] = [ports.list(n) * 1e3 for _ in range(3)]
        cpu0, t0 = _procs.tree_cpu_seconds([cloud.pid]), time.perf_counter()
        deleted = list(pool.map(ports.delete, [port_id for port_id, _ in created]))
        wall, cpu = time.perf_counter() - t0, _procs.tree_cpu_seconds([cloud.pid]) - cpu0
        out["delete"] = phase("delete", n, wall, deleted, cpu)
    out["load"] = out["load"].done()
    return out


def run(args: argparse.Namespace, workdir: pathlib.Path) -> dict[str, Any]:
    env = {"MONOSTACK_DEFAULT__SERVICES": "identity,network", "MONOSTACK_NETWORK__RUN_AGENT": "false",
           "MONOSTACK_DEFAULT__LOG_LEVEL": args.log_level}
    cloud = cc.Cloud(workdir, env)
    results: dict[str, Any] = {"benchmark": "network_ports", "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                               "machine": cc.machine_info(), "loadavg_at_start": list(os.getloadavg()),
                               "config": {"ports": args.ports, "concurrency": args.concurrency,
                                          "cidr": args.cidr, "env": env},
                               "reference": {"neutron_s_per_op": NEUTRON_S_PER_OP,
                                             "goal_ms_per_op": NEUTRON_S_PER_OP / GOAL_FACTOR * 1e3}}
    try:
        cc.say(f"starting monostack up in {workdir}")
        results["cloud_start_s"] = cloud.start()
        base = network_endpoint(cloud)
        results["network_endpoint"] = base
        net = httpx.Client(base_url=base, timeout=60, headers={"X-Auth-Token": cloud.token})
        # Neutron's default port quota is 50 per project: lift it for the run.
        response = net.put(f"/v2.0/quotas/{cloud.project_id}", json={"quota": {"port": -1}})
        results["quota_update_status"] = response.status_code
        if response.status_code != 200:
            raise RuntimeError(f"PUT /v2.0/quotas: {response.status_code} {response.text[:500]}")
        response = net.post("/v2.0/networks", json={"network": {"name": "bench-ports"}})
        if response.status_code != 201:
            raise RuntimeError(f"POST /v2.0/networks: {response.status_code} {response.text[:500]}")
        network_id = response.json()["network"]["id"]
        response = net.post("/v2.0/subnets", json={"subnet": {"network_id": network_id, "ip_version": 4,
                                                               "cidr": args.cidr, "name": "bench-ports"}})
        if response.status_code != 201:
            raise RuntimeError(f"POST /v2.0/subnets: {response.status_code} {response.text[:500]}")
        subnet_id = response.json()["subnet"]["id"]
        # Ports already on the network (a DHCP port, if the service makes one without an agent).
        existing = len(net.get("/v2.0/ports", params={"network_id": network_id}).json()["ports"])
        results["ports_on_network_before"] = existing
        ports = Ports(base, cloud.token, network_id, subnet_id)
        try:
            for mode, concurrency in (("sequential", 1), ("concurrent", args.concurrency)):
                cc.say(f"{mode}: {args.ports} ports, {concurrency} in flight")
                results[mode] = run_mode(ports, cloud, args.ports, concurrency)
        finally:
            ports.close()
            net.close()
    finally:
        cloud.stop()
    results["loadavg_at_end"] = list(os.getloadavg())
    goal = results["reference"]["goal_ms_per_op"]
    results["goals"] = {f"{mode} {op} <= {goal:.0f} ms/op": results[mode][op]["ms_per_op"] <= goal
                        for mode in ("sequential", "concurrent") for op in ("create", "delete")}
    return results


def report(results: dict[str, Any]) -> None:
    cfg = results["config"]
    print(f"\nnetwork ports: {cfg['ports']} ports on one {cfg['cidr']} network, Networking API only "
          f"(agent off); load average at start {results['loadavg_at_start'][0]:.2f}")
    print(f"{'mode':<12} {'op':<7} {'ops/s':>8} {'ms/op':>8} {'p50 ms':>8} {'p99 ms':>8} {'cloud CPU ms/op':>16} "
          f"{'vs Neutron 0.4 s':>17}")
    for mode in ("sequential", "concurrent"):
        for op in ("create", "delete"):
            p = results[mode][op]
            print(f"{mode + ('' if mode == 'sequential' else ' x' + str(results[mode]['concurrency'])):<12} "
                  f"{op:<7} {p['ops_per_s']:8.1f} {p['ms_per_op']:8.2f} {p['latency_ms']['p50']:8.2f} "
                  f"{p['latency_ms']['p99']:8.2f} {p['cloud_cpu_ms_per_op']:16.2f} {p['vs_neutron']:16.0f}x")
    for mode in ("sequential", "concurrent"):
        print(f"list of {cfg['ports']} ports (one GET, after the {mode} creates): "
              + ", ".join(f"{ms:.0f}" for ms in results[mode]["list_ms"]) + " ms")
    for goal, ok in results["goals"].items():
        print(f"  goal {goal}: {'PASS' if ok else 'FAIL'}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ports", type=int, default=1000)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--cidr", default="10.120.0.0/22")
    ap.add_argument("--log-level", default="WARNING")
    ap.add_argument("--json", default=None, help="also write the results to this file")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (data dir, cloud log)")
    args = ap.parse_args()
    base = REPO / "data"
    base.mkdir(parents=True, exist_ok=True)
    workdir = pathlib.Path(tempfile.mkdtemp(prefix="bench-network-ports-", dir=base))
    try:
        results = run(args, workdir)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    report(results)
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
