"""Kill the cloud with SIGKILL while 10 servers build, start it again: within
60 s every server is ACTIVE or ERROR with a fault, no QEMU process runs
without its server, and Placement's allocations match the servers."""

from __future__ import annotations

import os
import pathlib
import signal
import time

import httpx
import pytest

from tests.compute.conftest import SERVICES, Nova, kill_guests
from tests.conftest import start_cloud, stop_cloud

pytestmark = pytest.mark.qemu


def qemu_guests(data_dir: pathlib.Path) -> set[str]:
    """uuids of the QEMU processes running under this cloud's state directory."""
    found = set()
    for pid_dir in pathlib.Path("/proc").iterdir():
        if not pid_dir.name.isdigit():
            continue
        try:
            args = (pid_dir / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if not args or b"qemu-system" not in args[0] or not any(str(data_dir).encode() in a for a in args):
            continue
        if b"-uuid" in args:
            found.add(args[args.index(b"-uuid") + 1].decode())
    return found


def test_sigkill_during_builds_leaves_nothing_stuck_or_orphaned(tmp_path: pathlib.Path) -> None:
    data_dir = tmp_path / "cloud"
    env = {"MONOSTACK_DEFAULT__SERVICES": SERVICES, "MONOSTACK_COMPUTE__HEARTBEAT_INTERVAL": "2"}
    cloud = start_cloud(data_dir, extra_env=env, guest_images=True, timeout=600)
    try:
        nova = Nova(cloud)
        deadline = time.monotonic() + 600
        while True:  # the guest image registers in the background
            images = nova.image_http.get("/images", params={"name": "monostack-guest"}).json()["images"]
            if images and images[0]["status"] == "active":
                break
            assert time.monotonic() < deadline, "the guest image never became active"
            time.sleep(1)
        response = nova.create(images[0]["id"], "42", name="crash", min_count=10, max_count=10,
                               return_reservation_id=True)
        assert response.status_code == 202, response.text
        reservation = response.json()["reservation_id"]
        # Kill once the first guests run while the others are still on their way.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            servers = nova.http.get("/servers/detail", params={"reservation_id": reservation}).json()["servers"]
            if any(s["status"] == "ACTIVE" for s in servers):
                break
            time.sleep(0.2)
        cloud.process.send_signal(signal.SIGKILL)
        cloud.process.wait()
        cloud = start_cloud(data_dir, extra_env=env, timeout=120)
        nova = Nova(cloud)
        deadline = time.monotonic() + 60
        while True:
            servers = nova.http.get("/servers/detail", params={"reservation_id": reservation}).json()["servers"]
            settled = [s for s in servers if s["status"] in ("ACTIVE", "ERROR") and
                       s["OS-EXT-STS:task_state"] is None]
            if len(settled) == 10:
                break
            assert time.monotonic() < deadline, [(s["status"], s["OS-EXT-STS:task_state"]) for s in servers]
            time.sleep(1)
        for server in servers:
            if server["status"] == "ERROR":
                assert server["fault"]["message"]
        assert any(s["status"] == "ACTIVE" for s in servers)
        active = {s["id"] for s in servers if s["status"] == "ACTIVE"}
        assert qemu_guests(data_dir) == active
        for server in servers:
            allocations = httpx.get(f"{cloud.url}/placement/allocations/{server['id']}", headers={
                "X-Auth-Token": nova.token, "OpenStack-API-Version": "placement 1.28"}).json()["allocations"]
            assert bool(allocations) == (server["id"] in active), server["id"]
        for server in servers:
            nova.http.delete(f"/servers/{server['id']}")
        for server in servers:
            nova.wait(server["id"], "DELETED", timeout=60)
        assert qemu_guests(data_dir) == set()
    finally:
        if cloud.process.poll() is None:
            stop_cloud(cloud)
        kill_guests(data_dir)
