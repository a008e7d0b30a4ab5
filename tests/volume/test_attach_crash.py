"""Kill the cloud with SIGKILL while 5 volumes attach to one running server at once, start it
again: within a minute no volume stays attaching, reserved or detaching, every volume is
either in-use with exactly one attachment (in Block Storage, in Compute and in the guest's
QEMU) or available with none, and the guest sees each in-use volume once.  Then a detach
that died after the guest let go of the disk and before Block Storage heard of it: after the
restart the volume is in-use and the guest has the disk again."""

from __future__ import annotations

import asyncio
import concurrent.futures
import pathlib
import signal
import subprocess
import time
from typing import Any

import httpx
import pytest

from monostack.compute.drivers import qemu_cmd
from tests.compute.conftest import kill_guests
from tests.conftest import RunningCloud, start_cloud, stop_cloud
from tests.volume.test_guest_volumes import cli, run, wait_status

pytestmark = pytest.mark.qemu
ENV = {"MONOSTACK_DEFAULT__SERVICES": "identity,image,placement,compute,volume",
       "MONOSTACK_COMPUTE__HEARTBEAT_INTERVAL": "2"}
SETTLED = ("available", "in-use")


class Clients:
    def __init__(self, cloud: RunningCloud):
        token = cloud.token()
        self.nova = httpx.Client(base_url=f"{cloud.url}/compute/v2.1", timeout=120, headers={
            "X-Auth-Token": token, "OpenStack-API-Version": "compute 2.79"})
        self.cinder = httpx.Client(base_url=f"{cloud.url}/volume/v3", timeout=60, headers={
            "X-Auth-Token": token, "OpenStack-API-Version": "volume 3.44"})

    def volumes(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        return {v: self.cinder.get(f"/volumes/{v}").json()["volume"] for v in ids}


def qmp(cloud: RunningCloud, server_id: str, command: str, arguments: dict[str, Any] | None = None) -> Any:
    from monostack.compute.drivers import qmp as qmp_client

    async def ask() -> Any:
        async with qmp_client.session(cloud.data_dir / "compute" / "instances" / server_id / "qmp.sock") as session:
            return await session.execute(command, arguments)
    return asyncio.run(ask())


def qemu_volume_nodes(cloud: RunningCloud, server_id: str, volume_ids: list[str]) -> dict[str, int]:
    """How many of the guest's block devices have each volume's file under them (QMP query-block)."""
    devices = qmp(cloud, server_id, "query-block")
    counts = dict.fromkeys(volume_ids, 0)
    for device in devices:
        text = repr(device.get("inserted") or {})
        for volume_id in volume_ids:
            if volume_id in text:
                counts[volume_id] += 1
    return counts


def test_sigkill_during_five_concurrent_attaches(tmp_path: pathlib.Path, tmp_path_factory: pytest.TempPathFactory
                                                 ) -> None:
    data_dir = tmp_path / "cloud"
    cloud = start_cloud(data_dir, extra_env=ENV, guest_images=True, timeout=600)
    try:
        key = tmp_path_factory.mktemp("ssh") / "id"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
        cli(cloud, "keypair", "create", "--public-key", f"{key}.pub", "k")
        deadline = time.monotonic() + 900
        while "active" not in cli(cloud, "image", "show", "monostack-guest", "-f", "value", "-c", "status",
                                  check=False).stdout:
            assert time.monotonic() < deadline, "the guest image was never registered"
            time.sleep(2)
        server_id = cli(cloud, "server", "create", "--image", "monostack-guest", "--flavor", "m1.nano",
                        "--key-name", "k", "--wait", "vm", "-f", "json")["id"]
        guest = (server_id, key)
        run(cloud, guest, "true")  # booted and answering: the guest will see hot-plugged disks
        volume_ids = [cli(cloud, "volume", "create", "--size", "1", f"v{i}", "-f", "json")["id"] for i in range(5)]
        for volume_id in volume_ids:
            wait_status(cloud, "volume", volume_id, "available")

        clients = Clients(cloud)

        def attach(volume_id: str) -> int:
            try:
                return clients.nova.post(f"/servers/{server_id}/os-volume_attachments",
                                         json={"volumeAttachment": {"volumeId": volume_id}}).status_code
            except httpx.HTTPError:
                return -1  # the cloud died under the request: what is checked is what it left
        pool = concurrent.futures.ThreadPoolExecutor(5)
        answers = [pool.submit(attach, v) for v in volume_ids]
        # Kill once some attaches finished and the others are reserved or on their way (the agent
        # attaches one volume of a server at a time).
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            statuses = [v["status"] for v in clients.volumes(volume_ids).values()]
            if 2 <= statuses.count("in-use") < len(statuses):
                break
            time.sleep(0.02)
        cloud.process.send_signal(signal.SIGKILL)
        cloud.process.wait()
        pool.shutdown(wait=True)
        assert all(a.result() in (-1, 200) for a in answers), [a.result() for a in answers]

        cloud = start_cloud(data_dir, extra_env=ENV, timeout=120)
        clients = Clients(cloud)
        deadline = time.monotonic() + 90
        while True:
            volumes = clients.volumes(volume_ids)
            if all(v["status"] in SETTLED for v in volumes.values()):
                break
            assert time.monotonic() < deadline, {k: v["status"] for k, v in volumes.items()}
            time.sleep(1)
        in_use = {k for k, v in volumes.items() if v["status"] == "in-use"}
        for volume_id, volume in volumes.items():
            attachments = volume["attachments"]
            if volume_id in in_use:
                assert [a["server_id"] for a in attachments] == [server_id], volume
            else:
                assert attachments == [], volume
            records = clients.cinder.get("/attachments", params={"volume_id": volume_id}).json()["attachments"]
            assert len(records) == (1 if volume_id in in_use else 0), (volume_id, records)
        nova_attached = [a["volumeId"] for a in clients.nova.get(
            f"/servers/{server_id}/os-volume_attachments").json()["volumeAttachments"]]
        assert sorted(v for v in nova_attached if v in volume_ids) == sorted(in_use)
        assert qemu_volume_nodes(cloud, server_id, volume_ids) == {v: int(v in in_use) for v in volume_ids}
        # The guest sees its root disk and each in-use volume once (the disk watcher's view).
        disks = run(cloud, guest, "ls /sys/block | grep -c '^vd'").strip()
        assert int(disks) == 1 + len(in_use), disks

        # A detach that died half-way: QEMU let go of the disk, nobody else heard of it.
        assert in_use, "the kill came before any attach finished"
        lost = sorted(in_use)[0]
        cloud.process.send_signal(signal.SIGKILL)
        cloud.process.wait()
        qmp(cloud, server_id, "device_del", {"id": qemu_cmd.volume_device_id(lost)})
        deadline = time.monotonic() + 60
        while qemu_volume_nodes(cloud, server_id, [lost])[lost]:
            assert time.monotonic() < deadline, f"the guest never let go of volume {lost}"
            time.sleep(0.5)
        try:
            qmp(cloud, server_id, "blockdev-del", {"node-name": qemu_cmd.volume_node(lost)})
        except Exception:  # noqa: BLE001  (already gone with its device)
            pass
        assert int(run(cloud, guest, "ls /sys/block | grep -c '^vd'").strip()) == len(in_use)
        cloud = start_cloud(data_dir, extra_env=ENV, timeout=120)
        clients = Clients(cloud)
        deadline = time.monotonic() + 60
        while qemu_volume_nodes(cloud, server_id, [lost])[lost] != 1:
            assert time.monotonic() < deadline, "the volume whose detach was interrupted was not plugged in again"
            time.sleep(0.5)
        assert clients.volumes([lost])[lost]["status"] == "in-use"
        deadline = time.monotonic() + 30
        while int(run(cloud, guest, "ls /sys/block | grep -c '^vd'").strip()) != 1 + len(in_use):
            assert time.monotonic() < deadline, "the guest did not see the volume again"
            time.sleep(1)

        # And what is left works: the rest attach, all detach.
        for volume_id in volume_ids:
            if volume_id not in in_use:
                cli(cloud, "server", "add", "volume", server_id, volume_id)
                wait_status(cloud, "volume", volume_id, "in-use")
        for volume_id in volume_ids:
            cli(cloud, "server", "remove", "volume", server_id, volume_id)
        for volume_id in volume_ids:
            wait_status(cloud, "volume", volume_id, "available")
        assert qemu_volume_nodes(cloud, server_id, volume_ids) == dict.fromkeys(volume_ids, 0)
    finally:
        if cloud.process.poll() is None:
            stop_cloud(cloud)
        kill_guests(data_dir)
