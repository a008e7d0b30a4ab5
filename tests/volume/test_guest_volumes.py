"""Volumes in a running guest, through the real CLI: an attached volume appears as /dev/vdb,
data written to it inside the guest survives detach and re-attach, a snapshot taken while the
guest has it attached (its QEMU copies it) and a volume made from that snapshot hold the data,
an online extend is seen by the guest at once, and a server boots from a volume made from the
guest image.  SSH reaches the guest through QEMU's user-mode port forward (no Networking here)."""

from __future__ import annotations

import glob
import json
import os
import pathlib
import re
import subprocess
import sys
import time
from typing import Any, Iterator

import pytest

from tests.compute.conftest import kill_guests
from tests.conftest import RunningCloud, own_cloud

pytestmark = pytest.mark.qemu
OPENSTACK = str(pathlib.Path(sys.executable).parent / "openstack")
SERVICES = "identity,image,placement,compute,volume"


@pytest.fixture(scope="module")
def vol_cloud(tmp_path_factory: pytest.TempPathFactory, db_backend: str) -> Iterator[RunningCloud]:
    env = {"MONOSTACK_DEFAULT__SERVICES": SERVICES, "MONOSTACK_IMAGE__GUEST_IMAGES": "true",
           "MONOSTACK_COMPUTE__HEARTBEAT_INTERVAL": "2"}
    running = None
    try:
        for running in own_cloud(tmp_path_factory, db_backend, "vol", extra_env=env):
            yield running
    finally:
        if running is not None:
            kill_guests(running.data_dir)


def cli(cloud: RunningCloud, *args: str, check: bool = True) -> Any:
    env = dict(os.environ, OS_CLIENT_CONFIG_FILE=str(cloud.clouds_yaml), OS_CLOUD="monostack-admin")
    done = subprocess.run([OPENSTACK, *args], env=env, capture_output=True, text=True, timeout=600)
    if check:
        assert done.returncode == 0, f"openstack {' '.join(args)}: {done.stderr}"
    if "-f" in args and "json" in args:
        return json.loads(done.stdout)
    return done


def wait_status(cloud: RunningCloud, kind: str, name: str, status: str, timeout: float = 120) -> dict[str, Any]:
    """`kind`: "volume" or "snapshot"."""
    show = ["volume", "snapshot", "show", name] if kind == "snapshot" else ["volume", "show", name]
    deadline = time.monotonic() + timeout
    while (shown := cli(cloud, *show, "-f", "json"))["status"] != status:
        assert not shown["status"].startswith("error"), shown
        assert time.monotonic() < deadline, f"{kind} {name} is {shown['status']}, not {status}"
        time.sleep(1)
    return shown


@pytest.fixture(scope="module")
def guest(vol_cloud: RunningCloud, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, pathlib.Path]:
    key = tmp_path_factory.mktemp("ssh") / "id"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    cli(vol_cloud, "keypair", "create", "--public-key", f"{key}.pub", "k")
    deadline = time.monotonic() + 900  # a machine without the cached guest image builds it first
    while "active" not in cli(vol_cloud, "image", "show", "monostack-guest", "-f", "value", "-c", "status",
                              check=False).stdout:
        assert time.monotonic() < deadline, "the guest image was never registered"
        time.sleep(2)
    server = cli(vol_cloud, "server", "create", "--image", "monostack-guest", "--flavor", "m1.nano", "--key-name",
                 "k", "--wait", "vm1", "-f", "json")
    return server["id"], key


def ssh_port(cloud: RunningCloud, server_id: str) -> int:
    text = pathlib.Path(glob.glob(str(cloud.data_dir / "compute" / "instances" / server_id / "guest.json"))[0]
                        ).read_text()
    return int(re.search(r"tcp:127\.0\.0\.1:(\d+)-:22", text).group(1))


def run(cloud: RunningCloud, guest: tuple[str, pathlib.Path], command: str, timeout: float = 180) -> str:
    server_id, key = guest
    argv = ["ssh", "-p", str(ssh_port(cloud, server_id)), "-i", str(key), "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=5", "-o", "BatchMode=yes", "root@127.0.0.1",
            command]
    deadline = time.monotonic() + timeout
    while True:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        if done.returncode == 0:
            return done.stdout
        assert time.monotonic() < deadline, done.stderr
        time.sleep(2)


def wait_guest(cloud: RunningCloud, guest: tuple[str, pathlib.Path], check: str, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while True:
        out = run(cloud, guest, check)
        if out.strip():
            return out
        assert time.monotonic() < deadline, f"the guest never saw: {check}"
        time.sleep(1)


def test_data_in_a_volume_survives_detach_snapshot_and_clone(vol_cloud: RunningCloud,
                                                             guest: tuple[str, pathlib.Path]) -> None:
    cli(vol_cloud, "volume", "create", "--size", "1", "v1")
    wait_status(vol_cloud, "volume", "v1", "available")
    cli(vol_cloud, "server", "add", "volume", "vm1", "v1")
    shown = wait_status(vol_cloud, "volume", "v1", "in-use")
    assert shown["attachments"][0]["device"] == "/dev/vdb"
    assert wait_guest(vol_cloud, guest, "cat /sys/block/vdb/size 2>/dev/null").strip() == str(2 * 1024 * 1024)
    run(vol_cloud, guest, "echo first-write | dd of=/dev/vdb bs=512 count=1 conv=sync && sync")

    cli(vol_cloud, "server", "remove", "volume", "vm1", "v1")
    wait_status(vol_cloud, "volume", "v1", "available")
    assert "vdb" not in run(vol_cloud, guest, "ls /sys/block")
    cli(vol_cloud, "server", "add", "volume", "vm1", "v1")
    wait_status(vol_cloud, "volume", "v1", "in-use")
    assert "first-write" in wait_guest(vol_cloud, guest, "dd if=/dev/vdb bs=512 count=1 2>/dev/null | tr -d '\\0'")

    # In use: the guest's QEMU copies the volume point-in-time (3.66: no force needed).
    run(vol_cloud, guest, "echo second-write | dd of=/dev/vdb bs=512 seek=1 count=1 conv=sync && sync")
    cli(vol_cloud, "--os-volume-api-version", "3.66", "volume", "snapshot", "create", "--volume", "v1", "s1")
    wait_status(vol_cloud, "snapshot", "s1", "available")
    cli(vol_cloud, "volume", "create", "--snapshot", "s1", "--size", "1", "v2")
    wait_status(vol_cloud, "volume", "v2", "available")
    cli(vol_cloud, "server", "add", "volume", "vm1", "v2")
    wait_status(vol_cloud, "volume", "v2", "in-use")
    text = wait_guest(vol_cloud, guest, "dd if=/dev/vdc bs=512 count=2 2>/dev/null | tr -d '\\0'")
    assert "first-write" in text and "second-write" in text

    # Online extend: the guest sees the new size without a detach.
    cli(vol_cloud, "--os-volume-api-version", "3.42", "volume", "set", "--size", "2", "v2")
    shown = wait_status(vol_cloud, "volume", "v2", "in-use")
    assert shown["size"] == 2
    deadline = time.monotonic() + 30
    while run(vol_cloud, guest, "cat /sys/block/vdc/size").strip() != str(4 * 1024 * 1024):
        assert time.monotonic() < deadline, "the guest never saw the extended size"
        time.sleep(1)


def test_a_server_boots_from_a_volume_made_from_the_image(vol_cloud: RunningCloud,
                                                          guest: tuple[str, pathlib.Path]) -> None:
    server = cli(vol_cloud, "server", "create", "--image", "monostack-guest", "--boot-from-volume", "1",
                 "--flavor", "m1.nano", "--key-name", "k", "--wait", "bfv1", "-f", "json")
    assert server["status"] == "ACTIVE"
    volumes = {v["Name"]: v for v in cli(vol_cloud, "volume", "list", "-f", "json")}
    assert volumes["bfv1-volume"]["Status"] == "in-use"
    deadline = time.monotonic() + 180
    while "MONOSTACK-GUEST: login prompt" not in cli(vol_cloud, "console", "log", "show", "bfv1").stdout:
        assert time.monotonic() < deadline, "the server booted from a volume never reached its login prompt"
        time.sleep(2)
    cli(vol_cloud, "server", "delete", "--wait", "bfv1")
    wait_status(vol_cloud, "volume", "bfv1-volume", "available")  # kept: not delete_on_termination
