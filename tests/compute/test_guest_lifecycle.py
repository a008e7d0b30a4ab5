"""Real guests through the real CLI: `openstack server create --wait` boots a
QEMU guest that reads its key from the config drive, and every action changes
the guest as it should (checked on the QEMU process: its QMP status, its pid,
its console), snapshots boot, five servers come and go cleanly."""

from __future__ import annotations

import asyncio
import base64
import json
import pathlib
import subprocess
import time
from typing import Iterator

import pytest

from tests.compute.conftest import SERVICES, Nova
from tests.conftest import RunningCloud
from tests.guests import cli, guest_cloud

pytestmark = pytest.mark.qemu


@pytest.fixture(scope="module")
def qemu_cloud(tmp_path_factory: pytest.TempPathFactory, db_backend: str) -> Iterator[RunningCloud]:
    yield from guest_cloud(tmp_path_factory, db_backend, "qemu", services=SERVICES)


@pytest.fixture(scope="module")
def guest_image(qemu_cloud: RunningCloud) -> str:
    nova = Nova(qemu_cloud)
    deadline = time.monotonic() + 900  # a machine without the cached guest image builds it first
    while True:
        images = nova.image_http.get("/images", params={"name": "monostack-guest"}).json()["images"]
        if images and images[0]["status"] == "active":
            return images[0]["id"]
        assert time.monotonic() < deadline, "the guest image was never registered"
        time.sleep(2)


def instance_dir(cloud: RunningCloud, server_id: str) -> pathlib.Path:
    return cloud.data_dir / "compute" / "instances" / server_id


def qemu_pid(cloud: RunningCloud, server_id: str) -> int | None:
    for pid_dir in pathlib.Path("/proc").iterdir():
        if not pid_dir.name.isdigit():
            continue
        try:
            args = (pid_dir / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if args and b"qemu-system" in args[0] and server_id.encode() in args:
            return int(pid_dir.name)
    return None


def qmp_status(cloud: RunningCloud, server_id: str) -> str:
    from monostack.compute.drivers import qmp

    async def ask() -> str:
        async with qmp.session(instance_dir(cloud, server_id) / "qmp.sock") as session:
            return (await session.execute("query-status"))["status"]
    return asyncio.run(ask())


def console(cloud: RunningCloud, server_id: str) -> str:
    return cli(cloud, "console", "log", "show", server_id).stdout


def wait_console(cloud: RunningCloud, server_id: str, marker: str, timeout: float = 180, after: int = 0) -> None:
    deadline = time.monotonic() + timeout
    while marker not in console(cloud, server_id)[after:]:
        assert time.monotonic() < deadline, f"{marker!r} not on the console of {server_id}"
        time.sleep(2)


def ssh_port(cloud: RunningCloud, server_id: str) -> int:
    """The host port of the guest's user-mode NIC's SSH forward (a prelaunched guest got its NIC over
    QMP, so it is not on QEMU's command line: guest.json has the spec it runs with)."""
    spec = json.loads((instance_dir(cloud, server_id) / "guest.json").read_text())["spec"]
    forwards = {int(host): guest for nic in spec["nics"] for host, guest in nic["host_forwards"].items()}
    return next(host for host, guest in forwards.items() if guest == 22)


def ssh(cloud: RunningCloud, server_id: str, key: pathlib.Path, command: str) -> str:
    done = subprocess.run(["ssh", "-i", str(key), "-p", str(ssh_port(cloud, server_id)), "-o", "BatchMode=yes",
                           "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                           "-o", "ConnectTimeout=10", "root@127.0.0.1", command],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_cli_boot_then_every_action_changes_the_guest(qemu_cloud: RunningCloud, guest_image: str,
                                                      tmp_path: pathlib.Path) -> None:
    key = tmp_path / "key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    cli(qemu_cloud, "keypair", "create", "--public-key", f"{key}.pub", "k")
    server = cli(qemu_cloud, "server", "create", "--image", "monostack-guest", "--flavor", "m1.nano",
                 "--key-name", "k", "--wait", "vm1", "-f", "json")
    server_id = server["id"]
    assert server["status"] == "ACTIVE"
    assert qmp_status(qemu_cloud, server_id) == "running"
    wait_console(qemu_cloud, server_id, "MONOSTACK-GUEST: login prompt")
    log = console(qemu_cloud, server_id)
    assert f"instance-id {server_id}" in log and "keys installed 1" in log
    assert ssh(qemu_cloud, server_id, key, "hostname").strip() == "vm1"
    nova = Nova(qemu_cloud)
    # trigger_crash_dump (2.17): an NMI the guest's kernel reports (this guest does not panic on it).
    assert Nova(qemu_cloud).action(server_id, {"trigger_crash_dump": None}).status_code == 404
    dumped = len(console(qemu_cloud, server_id))
    assert Nova(qemu_cloud, version="2.17").action(server_id, {"trigger_crash_dump": None}).status_code == 202
    wait_console(qemu_cloud, server_id, "NMI received", timeout=60, after=dumped)
    assert ssh(qemu_cloud, server_id, key, "hostname").strip() == "vm1"

    def act(*args: str, status: str) -> None:
        cli(qemu_cloud, "server", *args, server_id)
        nova.wait(server_id, status, timeout=300)

    act("pause", status="PAUSED")
    assert qmp_status(qemu_cloud, server_id) == "paused"
    act("unpause", status="ACTIVE")
    assert qmp_status(qemu_cloud, server_id) == "running"
    pid = qemu_pid(qemu_cloud, server_id)
    cli(qemu_cloud, "server", "suspend", server_id)
    nova.wait(server_id, "SUSPENDED", timeout=300)
    assert qemu_pid(qemu_cloud, server_id) is None  # memory saved to disk, process gone
    act("resume", status="ACTIVE")
    assert qmp_status(qemu_cloud, server_id) == "running"
    assert ssh(qemu_cloud, server_id, key, "hostname").strip() == "vm1"  # the same guest, not rebooted
    act("stop", status="SHUTOFF")
    assert qemu_pid(qemu_cloud, server_id) is None
    act("start", status="ACTIVE")
    wait_console(qemu_cloud, server_id, "MONOSTACK-GUEST: login prompt")
    pid = qemu_pid(qemu_cloud, server_id)
    act("reboot", "--hard", status="ACTIVE")
    assert qemu_pid(qemu_cloud, server_id) not in (None, pid)
    act("rescue", status="RESCUE")
    assert qmp_status(qemu_cloud, server_id) == "running"
    act("unrescue", status="ACTIVE")
    cli(qemu_cloud, "server", "resize", "--flavor", "m1.micro", server_id)
    nova.wait(server_id, "VERIFY_RESIZE", timeout=300)
    cmdline = pathlib.Path(f"/proc/{qemu_pid(qemu_cloud, server_id)}/cmdline").read_bytes().split(b"\0")
    assert cmdline[cmdline.index(b"-m") + 1].startswith(b"192")
    cli(qemu_cloud, "server", "resize", "confirm", server_id)
    nova.wait(server_id, "ACTIVE", timeout=120)
    act("lock", status="ACTIVE")
    assert cli(qemu_cloud, "server", "show", server_id, "-f", "json",
               "--os-compute-api-version", "2.9")["locked"] is True
    act("unlock", status="ACTIVE")

    # A snapshot is a real image, and a server boots from it.
    image = cli(qemu_cloud, "server", "image", "create", "--name", "snap", "--wait", server_id, "-f", "json")
    snapshot = cli(qemu_cloud, "image", "show", image["id"], "-f", "json")
    assert snapshot["status"] == "active" and snapshot["disk_format"] == "qcow2"
    clone = cli(qemu_cloud, "server", "create", "--image", image["id"], "--flavor", "m1.micro",
                "--key-name", "k", "--wait", "clone", "-f", "json")
    wait_console(qemu_cloud, clone["id"], "MONOSTACK-GUEST: login prompt")
    assert ssh(qemu_cloud, clone["id"], key, "hostname").strip() == "clone"

    # Stable device rescue (the rescue image names hw_rescue_device/hw_rescue_bus): the server's
    # own disk stays where it was, and the rescue disk comes on a SCSI controller and boots.
    cli(qemu_cloud, "image", "set", "--property", "hw_rescue_device=disk", "--property", "hw_rescue_bus=scsi",
        image["id"])
    booted = len(console(qemu_cloud, server_id))
    act("rescue", "--image", image["id"], status="RESCUE")
    wait_console(qemu_cloud, server_id, "MONOSTACK-GUEST: login prompt", after=booted)
    disks = ssh(qemu_cloud, server_id, key, "lsblk -lbn --nodeps -o NAME,TYPE").split()
    assert {"vda", "sda"} <= set(disks), disks
    rescued = len(console(qemu_cloud, server_id))
    act("unrescue", status="ACTIVE")
    wait_console(qemu_cloud, server_id, "MONOSTACK-GUEST: login prompt", after=rescued)
    assert "sda" not in ssh(qemu_cloud, server_id, key, "lsblk -lbn --nodeps -o NAME").split()

    # Shelving snapshots the disk and frees the host; unshelving boots it again.
    act("shelve", status="SHELVED_OFFLOADED")
    assert qemu_pid(qemu_cloud, server_id) is None
    act("unshelve", status="ACTIVE")
    wait_console(qemu_cloud, server_id, "MONOSTACK-GUEST: login prompt")

    for victim in (server_id, clone["id"]):
        cli(qemu_cloud, "server", "delete", "--wait", victim)
        assert qemu_pid(qemu_cloud, victim) is None
        assert not instance_dir(qemu_cloud, victim).exists()


def test_personality_files_are_in_the_guest(qemu_cloud: RunningCloud, guest_image: str,
                                            tmp_path: pathlib.Path) -> None:
    """Files of the create (personality, to 2.56) are written by the guest from its config drive.
    (Through the API: the CLI's --file sends an open file object and fails before the request.)"""
    key = tmp_path / "key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    nova = Nova(qemu_cloud, version="2.56")
    assert nova.http.post("/os-keypairs", json={"keypair": {
        "name": "personal", "public_key": key.with_suffix(".pub").read_text()}}).status_code == 201
    response = nova.create(guest_image, "42", name="personal", key_name="personal", networks="auto", personality=[
        {"path": "/etc/motd.d/monostack", "contents": base64.b64encode(b"injected by personality\n").decode()},
        {"path": "root/relative.txt", "contents": base64.b64encode(b"relative").decode()}])
    assert response.status_code == 202, response.text
    server_id = response.json()["server"]["id"]
    nova.wait(server_id, "ACTIVE")
    wait_console(qemu_cloud, server_id, "MONOSTACK-GUEST: login prompt")
    assert "MONOSTACK-GUEST: files injected 2" in console(qemu_cloud, server_id)
    assert ssh(qemu_cloud, server_id, key, "cat /etc/motd.d/monostack /root/relative.txt") == \
        "injected by personality\nrelative"
    assert nova.http.delete(f"/servers/{server_id}").status_code == 204
    nova.wait(server_id, "DELETED", timeout=120)


def test_serial_console_over_websocket(qemu_cloud: RunningCloud, guest_image: str) -> None:
    import websockets.sync.client

    nova = Nova(qemu_cloud, version="2.6")
    server_id = nova.create(guest_image, "42", name="serial").json()["server"]["id"]
    nova.wait(server_id, "ACTIVE")
    wait_console(qemu_cloud, server_id, "MONOSTACK-GUEST: login prompt")
    response = nova.http.post(f"/servers/{server_id}/remote-consoles", json={
        "remote_console": {"protocol": "serial", "type": "serial"}})
    assert response.status_code == 200, response.text
    url = response.json()["remote_console"]["url"]
    with websockets.sync.client.connect(url, subprotocols=["binary"]) as ws:
        ws.send(b"\r")
        seen = b""
        deadline = time.monotonic() + 30
        while b"login:" not in seen:
            assert time.monotonic() < deadline, seen[-500:]
            seen += ws.recv(timeout=30)
    with pytest.raises(Exception):
        with websockets.sync.client.connect(url.split("token=")[0] + "token=forged") as ws:
            ws.recv(timeout=5)
    nova.http.delete(f"/servers/{server_id}")
    nova.wait(server_id, "DELETED")


def test_five_servers_created_and_deleted_cleanly(qemu_cloud: RunningCloud, guest_image: str) -> None:
    nova = Nova(qemu_cloud)
    response = nova.create(guest_image, "42", name="five", min_count=5, max_count=5, return_reservation_id=True)
    assert response.status_code == 202
    servers = nova.http.get("/servers", params={"reservation_id": response.json()["reservation_id"]}).json()
    ids = [s["id"] for s in servers["servers"]]
    assert len(ids) == 5
    for server_id in ids:
        nova.wait(server_id, "ACTIVE", timeout=300)
        assert qemu_pid(qemu_cloud, server_id) is not None
    for server_id in ids:
        assert nova.http.delete(f"/servers/{server_id}").status_code == 204
    for server_id in ids:
        nova.wait(server_id, "DELETED", timeout=120)
        assert qemu_pid(qemu_cloud, server_id) is None and not instance_dir(qemu_cloud, server_id).exists()
    usages = nova.http.get("/os-hypervisors/detail").json()["hypervisors"][0]
    assert usages["running_vms"] == 0


def test_anti_affinity_on_one_host_refuses_the_second_server(qemu_cloud: RunningCloud, guest_image: str) -> None:
    group = cli(qemu_cloud, "server", "group", "create", "--policy", "anti-affinity", "apart", "-f", "json")
    first = cli(qemu_cloud, "server", "create", "--image", "monostack-guest", "--flavor", "m1.nano",
                "--hint", f"group={group['id']}", "--wait", "apart-1", "-f", "json")
    assert first["status"] == "ACTIVE"
    second = cli(qemu_cloud, "server", "create", "--image", "monostack-guest", "--flavor", "m1.nano",
                 "--hint", f"group={group['id']}", "--wait", "apart-2", check=False)
    assert second.returncode != 0  # --wait reports the build's failure
    shown = cli(qemu_cloud, "server", "show", "apart-2", "-f", "json")
    assert shown["status"] == "ERROR"
    assert "No valid host was found" in shown["fault"]["message"]
    assert qemu_pid(qemu_cloud, shown["id"]) is None
    for name in ("apart-1", "apart-2"):
        cli(qemu_cloud, "server", "delete", "--wait", name)
