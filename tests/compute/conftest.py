"""Compute test clouds: identity, image, placement and compute in one process.

`compute_cloud` (module scope) runs the fake driver: the whole control plane
(API, conductor, scheduler, Placement claims, agent) without guests.
`qemu_cloud` runs the real QEMU driver with the guest images registered; on
teardown every QEMU process started under its data directory is killed
(guests outlive the cloud process by design, as under Nova).
"""

from __future__ import annotations

import os
import pathlib
import signal
import time
from typing import Any, Iterator

import httpx
import pytest

from tests.conftest import RunningCloud, own_cloud

SERVICES = "identity,image,placement,compute"


def kill_guests(data_dir: pathlib.Path) -> None:
    """Kill every process whose command line names the data dir (QEMU guests of that cloud)."""
    marker = str(data_dir).encode()
    for pid_dir in pathlib.Path("/proc").iterdir():
        if not pid_dir.name.isdigit() or int(pid_dir.name) == os.getpid():
            continue
        try:
            cmdline = (pid_dir / "cmdline").read_bytes()
        except OSError:
            continue
        if marker in cmdline and b"qemu-system" in cmdline:
            try:
                os.kill(int(pid_dir.name), signal.SIGKILL)
            except ProcessLookupError:
                pass


@pytest.fixture(scope="module")
def compute_cloud(tmp_path_factory: pytest.TempPathFactory, db_backend: str) -> Iterator[RunningCloud]:
    yield from own_cloud(tmp_path_factory, db_backend, "compute", extra_env={
        "MONOSTACK_DEFAULT__SERVICES": SERVICES, "MONOSTACK_COMPUTE__DRIVER": "fake",
        "MONOSTACK_COMPUTE__HEARTBEAT_INTERVAL": "2"})


class Nova:
    """A small Compute API client for tests (token of one of the cloud's users)."""

    def __init__(self, cloud: RunningCloud, user: str = "monostack-admin", version: str = "2.1"):
        self.cloud = cloud
        self.token = cloud.token(user)
        self.http = httpx.Client(base_url=f"{cloud.url}/compute/v2.1", timeout=60, headers={
            "X-Auth-Token": self.token, "OpenStack-API-Version": f"compute {version}"})
        self.image_http = httpx.Client(base_url=f"{cloud.url}/image/v2", timeout=60,
                                       headers={"X-Auth-Token": self.token})

    def image(self, data: bytes = b"\0" * 1024 * 1024, **fields: Any) -> str:
        body = {"name": "test-image", "disk_format": "raw", "container_format": "bare", **fields}
        image = self.image_http.post("/images", json=body).json()
        response = self.image_http.put(f"/images/{image['id']}/file", content=data,
                                       headers={"Content-Type": "application/octet-stream"})
        assert response.status_code == 204, response.text
        return image["id"]

    def create(self, image_ref: str, flavor: str = "42", **fields: Any) -> httpx.Response:
        body = {"server": {"name": fields.pop("name", "vm"), "imageRef": image_ref, "flavorRef": flavor, **fields}}
        hints = body["server"].pop("hints", None)
        if hints:
            body["os:scheduler_hints"] = hints
        return self.http.post("/servers", json=body)

    def server(self, server_id: str) -> dict[str, Any]:
        response = self.http.get(f"/servers/{server_id}")
        assert response.status_code == 200, response.text
        return response.json()["server"]

    def wait(self, server_id: str, *statuses: str, timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            response = self.http.get(f"/servers/{server_id}")
            if response.status_code == 404 and "DELETED" in statuses:
                return {"status": "DELETED"}
            server = response.json()["server"]
            if server["status"] in statuses and server["OS-EXT-STS:task_state"] is None:
                return server
            if time.monotonic() > deadline:
                raise AssertionError(f"server {server_id} is {server['status']}/"
                                     f"{server['OS-EXT-STS:task_state']}, not {statuses}: {server.get('fault')}")
            time.sleep(0.1)

    def action(self, server_id: str, body: dict[str, Any]) -> httpx.Response:
        return self.http.post(f"/servers/{server_id}/action", json=body)
