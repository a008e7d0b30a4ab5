"""Volumes in running guests, through the real CLI: an attached volume appears as /dev/vdb,
a file the guest writes on a filesystem it makes there survives detach and re-attach, a
snapshot taken while the guest has it mounted (its QEMU copies it) and a volume made from that
snapshot hold the file when attached to another server, an online extend is seen by the guest
at once, a server boots from a volume made from the guest image (and is rescued beside it),
a volume-backed server rebuilt with another image (2.93) boots that image from the same volume,
that volume uploaded to an image boots a server, and backups and uploads of an attached volume
hold what the guest wrote.
SSH reaches the guests through QEMU's user-mode port forward (no Networking here)."""

from __future__ import annotations

import json
import pathlib
import time
import uuid
from typing import Any, Iterator

import httpx
import pytest

from tests.conftest import RunningCloud
from tests.guests import Guest, boot, cli, guest_cloud, register_key, run, wait_guest

pytestmark = pytest.mark.qemu


@pytest.fixture(scope="module")
def vol_cloud(tmp_path_factory: pytest.TempPathFactory, db_backend: str) -> Iterator[RunningCloud]:
    yield from guest_cloud(tmp_path_factory, db_backend, "vol")


def wait_status(cloud: RunningCloud, kind: str, name: str, status: str, timeout: float = 120) -> dict[str, Any]:
    """`kind`: "volume" or "snapshot"."""
    show = ["volume", "snapshot", "show", name] if kind == "snapshot" else ["volume", "show", name]
    deadline = time.monotonic() + timeout
    while (shown := cli(cloud, *show, "-f", "json"))["status"] != status:
        assert not shown["status"].startswith("error"), shown
        assert time.monotonic() < deadline, f"{kind} {name} is {shown['status']}, not {status}"
        time.sleep(1)
    return shown


def wait_server(cloud: RunningCloud, name: str, status: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while (shown := cli(cloud, "server", "show", name, "-f", "json"))["status"] != status:
        assert shown["status"] != "ERROR", shown
        assert time.monotonic() < deadline, f"server {name} is {shown['status']}, not {status}"
        time.sleep(1)


@pytest.fixture(scope="module")
def key(vol_cloud: RunningCloud, tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    return register_key(vol_cloud, tmp_path_factory)


@pytest.fixture(scope="module")
def guest(vol_cloud: RunningCloud, key: pathlib.Path) -> Guest:
    return boot(vol_cloud, key, "vm1")


def test_data_in_a_volume_survives_detach_snapshot_and_clone(vol_cloud: RunningCloud,
                                                             guest: Guest) -> None:
    cli(vol_cloud, "volume", "create", "--size", "1", "v1")
    wait_status(vol_cloud, "volume", "v1", "available")
    cli(vol_cloud, "server", "add", "volume", "vm1", "v1")
    shown = wait_status(vol_cloud, "volume", "v1", "in-use")
    assert shown["attachments"][0]["device"] == "/dev/vdb"
    assert wait_guest(vol_cloud, guest, "cat /sys/block/vdb/size 2>/dev/null").strip() == str(2 * 1024 * 1024)
    # A file on a filesystem the guest makes on the volume (busybox mke2fs; unmounting flushes it).
    run(vol_cloud, guest, "mke2fs -q /dev/vdb && mkdir -p /mnt/v && mount /dev/vdb /mnt/v"
                          " && echo first-write > /mnt/v/file && umount /mnt/v")

    cli(vol_cloud, "server", "remove", "volume", "vm1", "v1")
    wait_status(vol_cloud, "volume", "v1", "available")
    assert "vdb" not in run(vol_cloud, guest, "ls /sys/block")
    cli(vol_cloud, "server", "add", "volume", "vm1", "v1")
    wait_status(vol_cloud, "volume", "v1", "in-use")
    assert "first-write" in wait_guest(vol_cloud, guest, "mount /dev/vdb /mnt/v 2>/dev/null; cat /mnt/v/file")

    # In use and mounted: the guest's QEMU copies the volume point-in-time (3.66: no force needed).
    run(vol_cloud, guest, "echo second-write >> /mnt/v/file && sync")
    cli(vol_cloud, "--os-volume-api-version", "3.66", "volume", "snapshot", "create", "--volume", "v1", "s1")
    wait_status(vol_cloud, "snapshot", "s1", "available")
    run(vol_cloud, guest, "umount /mnt/v")

    # An assisted snapshot with a relative new_file (as Tempest asks for one): Compute keeps the
    # copy in the server's directory, never where the name points, and drops it with the snapshot.
    nova = httpx.Client(base_url=f"{vol_cloud.url}/compute/v2.1",
                        headers={"X-Auth-Token": vol_cloud.token()}, timeout=300)
    v1, snapshot_id = cli(vol_cloud, "volume", "show", "v1", "-f", "json")["id"], str(uuid.uuid4())
    made = nova.post("/os-assisted-volume-snapshots", json={"snapshot": {"volume_id": v1, "create_info": {
        "snapshot_id": snapshot_id, "type": "qcow2", "new_file": "new_file"}}})
    assert made.status_code == 200, made.text
    assert made.json()["snapshot"] == {"id": snapshot_id, "volumeId": v1}
    kept = vol_cloud.data_dir / "compute" / "instances" / guest[0] / f"assisted-{snapshot_id}.qcow2"
    assert kept.exists() and not (vol_cloud.data_dir / "new_file").exists()
    gone = nova.delete(f"/os-assisted-volume-snapshots/{snapshot_id}",
                       params={"delete_info": json.dumps({"volume_id": v1})})
    assert gone.status_code == 204 and not kept.exists()
    cli(vol_cloud, "volume", "create", "--snapshot", "s1", "--size", "1", "v2")
    wait_status(vol_cloud, "volume", "v2", "available")
    other = boot(vol_cloud, guest[1], "vm2")
    cli(vol_cloud, "server", "add", "volume", "vm2", "v2")
    shown = wait_status(vol_cloud, "volume", "v2", "in-use")
    assert shown["attachments"][0]["server_id"] == other[0]
    text = wait_guest(vol_cloud, other, "mkdir -p /mnt/v; mount /dev/vdb /mnt/v 2>/dev/null; cat /mnt/v/file")
    assert text.split() == ["first-write", "second-write"]
    run(vol_cloud, other, "umount /mnt/v")

    # Online extend: the guest sees the new size without a detach.
    cli(vol_cloud, "--os-volume-api-version", "3.42", "volume", "set", "--size", "2", "v2")
    shown = wait_status(vol_cloud, "volume", "v2", "in-use")
    assert shown["size"] == 2
    deadline = time.monotonic() + 30
    while run(vol_cloud, other, "cat /sys/block/vdb/size").strip() != str(4 * 1024 * 1024):
        assert time.monotonic() < deadline, "the guest never saw the extended size"
        time.sleep(1)
    cli(vol_cloud, "server", "delete", "--wait", "vm2")
    wait_status(vol_cloud, "volume", "v2", "available")


def test_a_server_boots_from_a_volume_made_from_the_image(vol_cloud: RunningCloud,
                                                          guest: Guest) -> None:
    server = cli(vol_cloud, "server", "create", "--image", "monostack-guest", "--boot-from-volume", "1",
                 "--flavor", "m1.nano", "--key-name", "k", "--wait", "bfv1", "-f", "json")
    assert server["status"] == "ACTIVE"
    volumes = {v["Name"]: v for v in cli(vol_cloud, "volume", "list", "-f", "json")}
    assert volumes["bfv1-volume"]["Status"] == "in-use"
    # the boot volume is the root disk, named so in Compute and in Block Storage (Nova's /dev/vda)
    attachments = cli(vol_cloud, "server", "volume", "list", "bfv1", "-f", "json")
    assert [a["Device"] for a in attachments] == ["/dev/vda"], attachments
    shown = cli(vol_cloud, "volume", "show", "bfv1-volume", "-f", "json")
    assert shown["attachments"][0]["device"] == "/dev/vda", shown["attachments"]
    deadline = time.monotonic() + 180
    while "MONOSTACK-GUEST: login prompt" not in cli(vol_cloud, "console", "log", "show", "bfv1").stdout:
        assert time.monotonic() < deadline, "the server booted from a volume never reached its login prompt"
        time.sleep(2)

    # Its snapshot (Nova's volume-backed snapshot): a Block Storage snapshot of the volume and an
    # image without data that maps it; a server from that image boots from a volume made of it.
    image = cli(vol_cloud, "server", "image", "create", "--name", "bfv1-snap", "--wait", "bfv1", "-f", "json")
    image = cli(vol_cloud, "image", "show", image["id"], "-f", "json")
    assert image["status"] == "active" and image["size"] == 0
    mapping = json.loads(image["properties"]["block_device_mapping"])
    assert [(m["source_type"], m["boot_index"]) for m in mapping] == [("snapshot", 0)]
    wait_status(vol_cloud, "snapshot", mapping[0]["snapshot_id"], "available")
    copy = boot(vol_cloud, guest[1], "from-bfv1-snap", image="bfv1-snap")
    shown = cli(vol_cloud, "server", "show", copy[0], "-f", "json")
    assert len(shown["volumes_attached"]) == 1, shown
    made = cli(vol_cloud, "volume", "show", shown["volumes_attached"][0]["id"], "-f", "json")
    assert made["snapshot_id"] == mapping[0]["snapshot_id"] and made["status"] == "in-use"
    assert run(vol_cloud, copy, "cat /proc/cmdline").strip()

    # A volume-backed server is rescued only stably (2.87+, a rescue image naming hw_rescue_device
    # and hw_rescue_bus): its volume stays where it was and the rescue disk is added and booted.
    from monostack.image.guest import default_cache_dir, ensure_guest_image
    cli(vol_cloud, "image", "create", "--file", str(ensure_guest_image(default_cache_dir())),
        "--disk-format", "qcow2", "--property", "hw_rescue_device=disk", "--property", "hw_rescue_bus=virtio",
        "rescue-image")
    old = cli(vol_cloud, "--os-compute-api-version", "2.86", "server", "rescue", "--image", "rescue-image", "bfv1",
              check=False)
    assert old.returncode != 0 and "Cannot rescue a volume-backed instance" in old.stderr
    bfv = (server["id"], guest[1])
    cli(vol_cloud, "--os-compute-api-version", "2.87", "server", "rescue", "--image", "rescue-image", "bfv1")
    wait_server(vol_cloud, "bfv1", "RESCUE")
    disks = "lsblk -lbn --nodeps -o NAME,TYPE | awk '$2 == \"disk\" {print $1}'"  # not the config drive
    assert wait_guest(vol_cloud, bfv, disks, "vdb").split() == ["vda", "vdb"]
    assert cli(vol_cloud, "volume", "show", "bfv1-volume", "-f", "json")["status"] == "in-use"
    cli(vol_cloud, "server", "unrescue", "bfv1")
    wait_server(vol_cloud, "bfv1", "ACTIVE")
    assert wait_guest(vol_cloud, bfv, disks).split() == ["vda"]
    cli(vol_cloud, "server", "delete", "--wait", "from-bfv1-snap", "bfv1")
    wait_status(vol_cloud, "volume", "bfv1-volume", "available")  # kept: not delete_on_termination


def test_a_volume_backed_server_rebuilt_with_another_image(vol_cloud: RunningCloud, key: pathlib.Path) -> None:
    """2.93: Block Storage writes the new image over the boot volume (os-reimage) while the guest
    is down; the server boots it from the same volume, and what the guest wrote before is gone."""
    server = cli(vol_cloud, "server", "create", "--image", "monostack-guest", "--boot-from-volume", "1",
                 "--flavor", "m1.nano", "--key-name", "k", "--wait", "bfv-rebuild", "-f", "json")
    guest = (server["id"], key)
    assert run(vol_cloud, guest, "touch /root/before-rebuild && sync && echo ok").strip() == "ok"
    volume_id = cli(vol_cloud, "server", "show", "bfv-rebuild", "-f", "json")["volumes_attached"][0]["id"]
    alt = cli(vol_cloud, "image", "show", "monostack-guest-alt", "-f", "json")["id"]
    old = cli(vol_cloud, "--os-compute-api-version", "2.92", "server", "rebuild", "--image", alt, "bfv-rebuild",
              check=False)
    assert old.returncode != 0 and "Unable to rebuild with a different image" in old.stderr
    cli(vol_cloud, "--os-compute-api-version", "2.93", "server", "rebuild", "--image", alt, "--reimage-boot-volume",
        "--wait", "bfv-rebuild")
    wait_server(vol_cloud, "bfv-rebuild", "ACTIVE")
    shown = cli(vol_cloud, "server", "show", "bfv-rebuild", "-f", "json")
    assert [v["id"] for v in shown["volumes_attached"]] == [volume_id]
    volume = cli(vol_cloud, "volume", "show", volume_id, "-f", "json")
    assert volume["status"] == "in-use" and volume["volume_image_metadata"]["image_id"] == alt
    assert run(vol_cloud, guest, "ls /root/before-rebuild 2>&1 || true").strip().endswith("No such file or directory")
    events = cli(vol_cloud, "--os-compute-api-version", "2.93", "server", "event", "list", "bfv-rebuild", "-f", "json")
    assert "rebuild" in {e["Action"] for e in events}
    cli(vol_cloud, "server", "delete", "--wait", "bfv-rebuild")
    wait_status(vol_cloud, "volume", volume_id, "available")
    cli(vol_cloud, "volume", "delete", volume_id)


def test_a_volume_uploaded_to_an_image_boots_a_server(vol_cloud: RunningCloud, key: pathlib.Path) -> None:
    """The boot volume of a server, uploaded to the Image service (os-volume_upload_image), is a
    bootable image: a server from it reaches its login prompt and takes the key by SSH."""
    cli(vol_cloud, "volume", "create", "--image", "monostack-guest", "--size", "1", "boot-src")
    wait_status(vol_cloud, "volume", "boot-src", "available")
    cli(vol_cloud, "image", "create", "--volume", "boot-src", "--disk-format", "qcow2", "from-volume")
    deadline = time.monotonic() + 300
    while (image := cli(vol_cloud, "image", "show", "from-volume", "-f", "json"))["status"] != "active":
        assert image["status"] in ("queued", "saving", "uploading", "importing"), image
        assert time.monotonic() < deadline, "the uploaded image never became active"
        time.sleep(1)
    assert image["disk_format"] == "qcow2" and image["size"] > 0
    wait_status(vol_cloud, "volume", "boot-src", "available")
    server = boot(vol_cloud, key, "from-volume-vm", image="from-volume")
    assert run(vol_cloud, server, "cat /proc/cmdline").strip()
    cli(vol_cloud, "server", "delete", "--wait", "from-volume-vm")


def test_backups_and_uploads_of_an_in_use_volume_hold_what_the_guest_wrote(vol_cloud: RunningCloud,
                                                                            guest: Guest,
                                                                            tmp_path: pathlib.Path) -> None:
    """A backup (force) of a volume the running guest writes to is made from a point-in-time copy
    by the guest's QEMU: restored, it holds what was written before the backup, not after.  While
    the server is stopped, an upload (force) copies the volume file as it is."""
    cli(vol_cloud, "volume", "create", "--size", "1", "v3")
    wait_status(vol_cloud, "volume", "v3", "available")
    cli(vol_cloud, "server", "add", "volume", "vm1", "v3")
    device = wait_status(vol_cloud, "volume", "v3", "in-use")["attachments"][0]["device"]
    wait_guest(vol_cloud, guest, f"ls {device} 2>/dev/null")
    run(vol_cloud, guest, f"echo before-backup | dd of={device} bs=512 count=1 conv=sync && sync")
    cli(vol_cloud, "volume", "backup", "create", "--force", "--name", "b3", "v3")
    deadline = time.monotonic() + 300
    while (backup := cli(vol_cloud, "volume", "backup", "show", "b3", "-f", "json"))["status"] != "available":
        assert backup["status"] == "creating", backup
        assert time.monotonic() < deadline, "the backup never became available"
        time.sleep(1)
    assert wait_status(vol_cloud, "volume", "v3", "in-use")
    run(vol_cloud, guest, f"echo after-backup | dd of={device} bs=512 count=1 conv=sync && sync")

    cli(vol_cloud, "volume", "backup", "restore", "b3", "v3-restored")
    wait_status(vol_cloud, "volume", "v3-restored", "available", timeout=300)
    cli(vol_cloud, "server", "add", "volume", "vm1", "v3-restored")
    restored = wait_status(vol_cloud, "volume", "v3-restored", "in-use")["attachments"][0]["device"]
    text = wait_guest(vol_cloud, guest, f"dd if={restored} bs=512 count=1 2>/dev/null | tr -d '\\0'")
    assert "before-backup" in text and "after-backup" not in text
    cli(vol_cloud, "server", "remove", "volume", "vm1", "v3-restored")
    wait_status(vol_cloud, "volume", "v3-restored", "available")

    # The server stopped: no QEMU holds the volume, Compute copies its file as it is.
    cli(vol_cloud, "server", "stop", "vm1")
    deadline = time.monotonic() + 120
    while cli(vol_cloud, "server", "show", "vm1", "-f", "value", "-c", "status").stdout.strip() != "SHUTOFF":
        assert time.monotonic() < deadline, "the server never stopped"
        time.sleep(1)
    cli(vol_cloud, "image", "create", "--volume", "v3", "--force", "--disk-format", "raw", "v3-image")
    deadline = time.monotonic() + 300
    while (image := cli(vol_cloud, "image", "show", "v3-image", "-f", "json"))["status"] != "active":
        assert image["status"] in ("queued", "saving", "uploading", "importing"), image
        assert time.monotonic() < deadline, "the uploaded image never became active"
        time.sleep(1)
    saved = tmp_path / "v3.raw"
    cli(vol_cloud, "image", "save", "--file", str(saved), "v3-image")
    with open(saved, "rb") as f:
        assert f.read(512).rstrip(b"\0").startswith(b"after-backup")
    assert wait_status(vol_cloud, "volume", "v3", "in-use")
    cli(vol_cloud, "server", "start", "vm1")
    deadline = time.monotonic() + 120
    while cli(vol_cloud, "server", "show", "vm1", "-f", "value", "-c", "status").stdout.strip() != "ACTIVE":
        assert time.monotonic() < deadline, "the server never started again"
        time.sleep(1)
    assert "after-backup" in wait_guest(vol_cloud, guest, f"dd if={device} bs=512 count=1 2>/dev/null | tr -d '\\0'",
                                        timeout=120)


def test_a_scsi_image_boots_on_scsi_and_its_volumes_go_there(vol_cloud: RunningCloud, key: pathlib.Path) -> None:
    """An image asking for SCSI disks (hw_disk_bus=scsi, hw_scsi_model=virtio-scsi, as Tempest's SCSI
    test makes one): the server's root is /dev/sda, a volume attached to it is named /dev/sdb and
    is the guest's sdb, and it goes as it came."""
    from monostack.image.guest import default_cache_dir, ensure_guest_image
    cli(vol_cloud, "image", "create", "--file", str(ensure_guest_image(default_cache_dir())),
        "--disk-format", "qcow2", "--property", "hw_disk_bus=scsi", "--property", "hw_scsi_model=virtio-scsi",
        "--property", "hw_cdrom_bus=scsi", "scsi-image")
    server = cli(vol_cloud, "server", "create", "--image", "scsi-image", "--flavor", "m1.nano", "--key-name", "k",
                 "--config-drive", "True", "--wait", "on-scsi", "-f", "json")
    guest = (server["id"], key)
    shown = cli(vol_cloud, "--os-compute-api-version", "2.96", "server", "show", "on-scsi", "-f", "json")
    assert shown["OS-EXT-SRV-ATTR:root_device_name"] == "/dev/sda"
    disks = "lsblk -lbn --nodeps -o NAME,TYPE | awk '$2 == \"disk\" {print $1}'"
    assert wait_guest(vol_cloud, guest, disks, "sda", timeout=180).split() == ["sda"]
    cli(vol_cloud, "volume", "create", "--size", "1", "v-scsi")
    wait_status(vol_cloud, "volume", "v-scsi", "available")
    cli(vol_cloud, "server", "add", "volume", "on-scsi", "v-scsi")
    assert wait_status(vol_cloud, "volume", "v-scsi", "in-use")["attachments"][0]["device"] == "/dev/sdb"
    assert wait_guest(vol_cloud, guest, disks, "sdb").split() == ["sda", "sdb"]
    cli(vol_cloud, "server", "remove", "volume", "on-scsi", "v-scsi")
    wait_status(vol_cloud, "volume", "v-scsi", "available")
    deadline = time.monotonic() + 30
    while run(vol_cloud, guest, disks).split() != ["sda"]:
        assert time.monotonic() < deadline, "the guest kept the detached volume"
        time.sleep(1)
    cli(vol_cloud, "server", "delete", "--wait", "on-scsi")
