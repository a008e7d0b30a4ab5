"""The unmodified `openstack volume ...` CLI against a started cloud running Block Storage on the
real file driver (qcow2 files made with qemu-img), the Image service and Identity; then a restart
repairs what the kill left."""

from __future__ import annotations

import json
import pathlib
import shutil
import subprocess
import sys
import time
from typing import Any, Iterator

import pytest

from tests.conftest import RunningCloud, own_cloud, start_cloud, stop_cloud

OPENSTACK = str(pathlib.Path(sys.executable).parent / "openstack")
SERVICES = "identity,image,volume"

pytestmark = pytest.mark.skipif(shutil.which("qemu-img") is None, reason="qemu-img missing")


@pytest.fixture(scope="module")
def volume_cloud(tmp_path_factory: pytest.TempPathFactory, db_backend: str) -> Iterator[RunningCloud]:
    yield from own_cloud(tmp_path_factory, db_backend, prefix="volume-cloud",
                         extra_env={"MONOSTACK_DEFAULT__SERVICES": SERVICES, "MONOSTACK_VOLUME__DRIVER": "file"})


def cli(cloud: RunningCloud, *args: str, cloud_name: str = "monostack", check: bool = True) -> Any:
    result = subprocess.run([OPENSTACK, "--os-cloud", cloud_name, *args], env=cloud.env(), capture_output=True,
                            text=True, timeout=120)
    if check:
        assert result.returncode == 0, f"openstack {' '.join(args)}: {result.stderr}"
    if "-f" in args and "json" in args and result.returncode == 0:
        return json.loads(result.stdout)
    return result


def wait_for(cloud: RunningCloud, kind: str, name: str, status: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        shown = cli(cloud, *kind.split(), "show", name, "-f", "json")
        if shown["status"] == status:
            return shown
        assert not shown["status"].startswith("error"), shown
        assert time.monotonic() < deadline, f"{kind} {name} stayed {shown['status']}"
        time.sleep(0.3)


def test_volume_lifecycle_with_the_cli(volume_cloud):
    c = volume_cloud
    created = cli(c, "volume", "create", "--size", "1", "--property", "k=v", "cli-v1", "-f", "json")
    assert created["size"] == 1
    wait_for(c, "volume", "cli-v1", "available")
    files = list((c.data_dir / "volume" / "file").rglob(f"*{created['id']}*"))
    assert files, "the file driver made no file"
    info = json.loads(subprocess.run(["qemu-img", "info", "-U", "--output=json", str(files[0])], capture_output=True,
                                     text=True, check=True).stdout)
    assert info["virtual-size"] == 1024 ** 3

    listed = cli(c, "volume", "list", "-f", "json")
    assert "cli-v1" in [v["Name"] for v in listed]
    cli(c, "volume", "set", "--name", "cli-v1b", "--description", "renamed", "--property", "x=y", "cli-v1")
    shown = cli(c, "volume", "show", "cli-v1b", "-f", "json")
    assert shown["properties"] == {"k": "v", "x": "y"} and shown["description"] == "renamed"
    cli(c, "volume", "unset", "--property", "x", "cli-v1b")

    cli(c, "volume", "set", "--size", "2", "cli-v1b")
    deadline = time.monotonic() + 30
    while cli(c, "volume", "show", "cli-v1b", "-f", "json")["size"] != 2:
        assert time.monotonic() < deadline
        time.sleep(0.3)
    shrink = cli(c, "volume", "set", "--size", "1", "cli-v1b", check=False)
    assert shrink.returncode != 0

    cli(c, "volume", "snapshot", "create", "--volume", "cli-v1b", "cli-s1", "-f", "json")
    wait_for(c, "volume snapshot", "cli-s1", "available")
    cli(c, "volume", "create", "--snapshot", "cli-s1", "--size", "3", "cli-v2", "-f", "json")
    wait_for(c, "volume", "cli-v2", "available")
    cli(c, "volume", "create", "--source", "cli-v2", "cli-v3", "-f", "json")
    assert wait_for(c, "volume", "cli-v3", "available")["size"] == 3

    refused = cli(c, "volume", "delete", "cli-v1b", check=False)
    assert refused.returncode != 0 and "400" in refused.stderr  # it has a snapshot
    cli(c, "volume", "snapshot", "delete", "cli-s1")
    for name in ("cli-v3", "cli-v2", "cli-v1b"):
        cli(c, "volume", "delete", name)
    deadline = time.monotonic() + 30
    while any(v["Name"].startswith("cli-v") for v in cli(c, "volume", "list", "-f", "json")):
        assert time.monotonic() < deadline
        time.sleep(0.3)


def test_image_round_trip_backup_and_transfer(volume_cloud, tmp_path):
    c = volume_cloud
    image_file = tmp_path / "tiny.qcow2"
    subprocess.run(["qemu-img", "create", "-f", "qcow2", str(image_file), "64M"], check=True, capture_output=True)
    cli(c, "image", "create", "--disk-format", "qcow2", "--container-format", "bare", "--file", str(image_file),
        "cli-tiny", "-f", "json")
    cli(c, "volume", "create", "--image", "cli-tiny", "--size", "1", "cli-img", "-f", "json")
    shown = wait_for(c, "volume", "cli-img", "available")
    assert shown["bootable"] in (True, "true") and shown["volume_image_metadata"]["image_name"] == "cli-tiny"

    cli(c, "image", "create", "--volume", "cli-img", "--disk-format", "qcow2", "cli-from-volume", "-f", "json")
    deadline = time.monotonic() + 60
    while cli(c, "image", "show", "cli-from-volume", "-f", "json")["status"] != "active":
        assert time.monotonic() < deadline
        time.sleep(0.5)
    wait_for(c, "volume", "cli-img", "available")

    cli(c, "volume", "backup", "create", "--name", "cli-b1", "cli-img", "-f", "json")
    wait_for(c, "volume backup", "cli-b1", "available")
    cli(c, "volume", "backup", "create", "--incremental", "--name", "cli-b2", "cli-img", "-f", "json")
    assert wait_for(c, "volume backup", "cli-b2", "available")["is_incremental"] in (True, "True")
    cli(c, "volume", "backup", "restore", "--force", "cli-b1", "cli-img")
    wait_for(c, "volume", "cli-img", "available")
    cli(c, "volume", "backup", "delete", "cli-b2")
    cli(c, "volume", "backup", "delete", "cli-b1")

    transfer = cli(c, "volume", "transfer", "request", "create", "cli-img", "-f", "json")
    assert transfer["auth_key"]
    cli(c, "volume", "transfer", "request", "accept", "--auth-key", transfer["auth_key"], transfer["id"],
        cloud_name="monostack-alt")
    moved = cli(c, "volume", "show", "cli-img", "-f", "json", cloud_name="monostack-alt")
    assert moved["status"] == "available"
    cli(c, "volume", "delete", "cli-img", cloud_name="monostack-alt")


def test_admin_views_with_the_cli(volume_cloud):
    c = volume_cloud
    services = cli(c, "volume", "service", "list", "-f", "json", cloud_name="monostack-admin")
    assert any(s["Binary"] == "cinder-volume" and s["State"] == "up" for s in services)
    cli(c, "volume", "type", "create", "--private", "--property", "volume_backend_name=file", "cli-gold",
        cloud_name="monostack-admin")
    types = cli(c, "volume", "type", "list", "--long", "-f", "json", cloud_name="monostack-admin")
    assert "cli-gold" in [t["Name"] for t in types]
    cli(c, "volume", "qos", "create", "--property", "read_iops_sec=5", "cli-qos", cloud_name="monostack-admin")
    cli(c, "volume", "qos", "associate", "cli-qos", "cli-gold", cloud_name="monostack-admin")
    quota = cli(c, "quota", "show", "--volume", "-f", "json", cloud_name="monostack-admin")
    limits = {row["Resource"]: row["Limit"] for row in quota} if isinstance(quota, list) else quota
    assert limits.get("volumes") == 10 and limits.get("gigabytes") == 1000
    zones = cli(c, "availability", "zone", "list", "--volume", "-f", "json", cloud_name="monostack-admin")
    assert zones and zones[0]["Zone Name"] == "nova"
    over = cli(c, "volume", "create", "--size", "5000", "too-big", check=False)
    assert over.returncode != 0 and "413" in over.stderr


def test_restart_leaves_nothing_creating(tmp_path):
    """A volume row left in 'creating' by a kill is repaired when the cloud starts again."""
    import sqlite3

    c = start_cloud(tmp_path / "restart", extra_env={"MONOSTACK_DEFAULT__SERVICES": SERVICES})
    try:
        created = cli(c, "volume", "create", "--size", "1", "r1", "-f", "json")
        wait_for(c, "volume", "r1", "available")
    finally:
        c.process.kill()  # no graceful stop: a crash
        c.process.wait()
    with sqlite3.connect(c.data_dir / "monostack.db") as db:  # what a crash mid-create leaves behind
        db.execute("UPDATE volumes SET status='creating' WHERE id=?", (created["id"],))
    c = start_cloud(c.data_dir, extra_env={"MONOSTACK_DEFAULT__SERVICES": SERVICES})
    try:
        shown = cli(c, "volume", "show", created["id"], "-f", "json")
        assert shown["status"] == "error"
    finally:
        stop_cloud(c)
