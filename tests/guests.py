"""What the tests with real guests share: a cloud of their own (without Networking each guest
has a QEMU user-mode NIC whose SSH port is forwarded to the host), the real `openstack` CLI,
a registered key, and commands run in a guest over that SSH port."""

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

OPENSTACK = str(pathlib.Path(sys.executable).parent / "openstack")
VOLUME_SERVICES = "identity,image,placement,compute,volume"
Guest = tuple[str, pathlib.Path]  # a server's id and the private key it took


def guest_cloud(tmp_path_factory: pytest.TempPathFactory, db_backend: str, name: str,
                services: str = VOLUME_SERVICES) -> Iterator[RunningCloud]:
    """A module's cloud with the guest image; its guests are killed when it ends."""
    env = {"MONOSTACK_DEFAULT__SERVICES": services, "MONOSTACK_IMAGE__GUEST_IMAGES": "true",
           "MONOSTACK_COMPUTE__HEARTBEAT_INTERVAL": "2"}
    running = None
    try:
        for running in own_cloud(tmp_path_factory, db_backend, name, extra_env=env):
            yield running
    finally:
        if running is not None:
            kill_guests(running.data_dir)


def cli(cloud: RunningCloud, *args: str, check: bool = True, user: str = "monostack-admin") -> Any:
    """`openstack ARGS` as `user` (a clouds.yaml entry; the cloud's admin by default): the parsed
    answer with `-f json`, else the process."""
    env = dict(os.environ, OS_CLIENT_CONFIG_FILE=str(cloud.clouds_yaml), OS_CLOUD=user)
    done = subprocess.run([OPENSTACK, *args], env=env, capture_output=True, text=True, timeout=600)
    if check:
        assert done.returncode == 0, f"openstack {' '.join(args)}: {done.stderr}"
    if "-f" in args and "json" in args and done.returncode == 0:
        return json.loads(done.stdout)
    return done


def register_key(cloud: RunningCloud, tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """Keypair "k" from a new key; returns once the guest image is active."""
    key = tmp_path_factory.mktemp("ssh") / "id"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    cli(cloud, "keypair", "create", "--public-key", f"{key}.pub", "k")
    wait_guest_image(cloud)
    return key


def wait_guest_image(cloud: RunningCloud) -> None:
    """Until the guest image is active (a machine without the cached image builds it first)."""
    deadline = time.monotonic() + 900
    while "active" not in cli(cloud, "image", "show", "monostack-guest", "-f", "value", "-c", "status",
                              check=False).stdout:
        assert time.monotonic() < deadline, "the guest image was never registered"
        time.sleep(2)


def boot(cloud: RunningCloud, key: pathlib.Path, name: str, image: str = "monostack-guest") -> Guest:
    server = cli(cloud, "server", "create", "--image", image, "--flavor", "m1.nano", "--key-name", "k", "--wait",
                 name, "-f", "json")
    assert server["status"] == "ACTIVE", server
    return server["id"], key


def ssh_port(cloud: RunningCloud, server_id: str) -> int:
    text = pathlib.Path(glob.glob(str(cloud.data_dir / "compute" / "instances" / server_id / "guest.json"))[0]
                        ).read_text()
    return int(re.search(r"tcp:127\.0\.0\.1:(\d+)-:22", text).group(1))


def run(cloud: RunningCloud, guest: Guest, command: str, timeout: float = 180) -> str:
    """The command's output in the guest (as root over SSH), retried until SSH answers."""
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


def wait_guest(cloud: RunningCloud, guest: Guest, command: str, want: str = "", timeout: float = 30) -> str:
    """The command's output once it is not empty (and holds `want`)."""
    deadline = time.monotonic() + timeout
    while True:
        out = run(cloud, guest, command)
        if out.strip() and want in out:
            return out
        assert time.monotonic() < deadline, f"the guest never showed {want or 'anything'} for: {command}"
        time.sleep(1)
