#!/usr/bin/env python3
"""Allocation candidates latency over 1,000 compute hosts.

Starts `monostack up` (services identity,placement) on a free port with a fresh data dir
(SQLite, or --db URL for PostgreSQL/MariaDB), registers HOSTS providers the way compute
agents do (VCPU, MEMORY_MB, DISK_GB inventories, a trait on every other host, an aggregate
on every tenth), gives every host one allocation so usage is not zero, then times
GET /allocation_candidates one request at a time, for:

  - all:      a flavor every host fits (the whole answer: HOSTS candidates and summaries)
  - limit:    the same with limit=10 (what a scheduler asks for)
  - required: a required trait (half the hosts)
  - member_of: an aggregate (a tenth of the hosts)

Prints JSON: p50/p99/mean milliseconds and candidates returned for each.

    .venv/bin/python benchmarks/placement_candidates.py [--hosts 1000] [--requests 100] [--db URL] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pathlib
import statistics
import sys
import tempfile
import time
import uuid

import httpx
import yaml

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import _procs  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parent.parent
HEADERS = {"OpenStack-API-Version": "placement 1.39"}
FLAVOR = "VCPU:2,MEMORY_MB:4096,DISK_GB:20"


def start_cloud(data_dir: pathlib.Path, db: str | None) -> tuple[_procs.Proc, str]:
    port = _procs.free_port()
    env = dict(os.environ, MONOSTACK_DEFAULT__SERVICES="identity,placement", MONOSTACK_DEFAULT__LOG_LEVEL="WARNING")
    if db:
        env["MONOSTACK_DATABASE__CONNECTION"] = db
    proc = _procs.spawn("monostack", [str(REPO / ".venv/bin/monostack"), "up", "--data-dir", str(data_dir),
                                      "--bind", f"127.0.0.1:{port}"], env=env, log_path=data_dir / "up.log")
    deadline = time.monotonic() + 120
    while not (data_dir / "clouds.yaml").exists():
        if not proc.alive() or time.monotonic() > deadline:
            raise RuntimeError(f"monostack up failed: {proc.log_tail()}")
        time.sleep(0.1)
    return proc, f"http://127.0.0.1:{port}"


def admin_token(url: str, data_dir: pathlib.Path) -> str:
    auth = yaml.safe_load((data_dir / "clouds.yaml").read_text())["clouds"]["monostack-admin"]["auth"]
    scope = ({"system": {"all": True}} if auth.get("system_scope") else
             {"project": {"name": auth["project_name"], "domain": {"id": "default"}}})
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": auth["username"], "domain": {"id": "default"}, "password": auth["password"]}}}, "scope": scope}}
    response = httpx.post(f"{url}/identity/v3/auth/tokens", json=body, timeout=30)
    response.raise_for_status()
    return response.headers["x-subject-token"]


async def populate(client: httpx.AsyncClient, hosts: int, aggregate: str) -> None:
    """Register the hosts as agents would, 16 at a time."""
    semaphore = asyncio.Semaphore(16)

    async def one(n: int) -> None:
        async with semaphore:
            rp = str(uuid.uuid4())
            (await client.post("/resource_providers", json={"uuid": rp, "name": f"compute-{n:05d}"})).raise_for_status()
            response = await client.put(f"/resource_providers/{rp}/inventories", json={
                "resource_provider_generation": 0, "inventories": {
                    "VCPU": {"total": 64, "allocation_ratio": 16.0, "max_unit": 64},
                    "MEMORY_MB": {"total": 262144, "reserved": 4096, "max_unit": 262144},
                    "DISK_GB": {"total": 2000, "max_unit": 2000}}})
            response.raise_for_status()
            generation = 1
            if n % 2 == 0:
                response = await client.put(f"/resource_providers/{rp}/traits", json={
                    "resource_provider_generation": generation, "traits": ["HW_CPU_X86_AVX2"]})
                response.raise_for_status()
                generation += 1
            if n % 10 == 0:
                response = await client.put(f"/resource_providers/{rp}/aggregates", json={
                    "resource_provider_generation": generation, "aggregates": [aggregate]})
                response.raise_for_status()
            response = await client.put(f"/allocations/{uuid.uuid4()}", json={
                "allocations": {rp: {"resources": {"VCPU": 4, "MEMORY_MB": 8192, "DISK_GB": 40}}},
                "project_id": "bench", "user_id": "bench", "consumer_generation": None, "consumer_type": "INSTANCE"})
            response.raise_for_status()

    await asyncio.gather(*(one(n) for n in range(hosts)))


async def measure(client: httpx.AsyncClient, params: dict[str, str], requests: int) -> dict[str, float]:
    for _ in range(3):  # warm-up
        (await client.get("/allocation_candidates", params=params)).raise_for_status()
    times = []
    returned = 0
    for _ in range(requests):
        started = time.perf_counter()
        response = await client.get("/allocation_candidates", params=params)
        times.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
        returned = len(response.json()["allocation_requests"])
    times.sort()
    return {"p50_ms": round(statistics.median(times), 2), "p99_ms": round(times[min(len(times) - 1,
                                                                                   int(len(times) * 0.99))], 2),
            "mean_ms": round(statistics.mean(times), 2), "candidates": returned, "requests": requests}


async def run(url: str, token: str, hosts: int, requests: int) -> dict:
    aggregate = str(uuid.uuid4())
    async with httpx.AsyncClient(base_url=f"{url}/placement", timeout=120,
                                 headers={"X-Auth-Token": token, **HEADERS}) as client:
        started = time.perf_counter()
        await populate(client, hosts, aggregate)
        setup = time.perf_counter() - started
        results = {
            "all": await measure(client, {"resources": FLAVOR}, requests),
            "limit": await measure(client, {"resources": FLAVOR, "limit": "10"}, requests),
            "required": await measure(client, {"resources": FLAVOR, "required": "HW_CPU_X86_AVX2"}, requests),
            "member_of": await measure(client, {"resources": FLAVOR, "member_of": aggregate}, requests),
        }
    return {"hosts": hosts, "setup_seconds": round(setup, 1), "results": results}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--db", help="SQLAlchemy URL of an empty database (default: SQLite in the data dir)")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    _procs.install_signal_handlers()
    with tempfile.TemporaryDirectory(prefix="placement-bench-") as tmp:
        data_dir = pathlib.Path(tmp)
        proc, url = start_cloud(data_dir, args.db)
        try:
            token = admin_token(url, data_dir)
            result = asyncio.run(run(url, token, args.hosts, args.requests))
        finally:
            proc.stop()
    result["database"] = "sqlite" if not args.db else args.db.split(":")[0]
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        pathlib.Path(args.json).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
