"""Disks on the bus the image asks for (hw_disk_bus, hw_cdrom_bus, hw_scsi_model), against real guests.

A guest of an image with hw_disk_bus=scsi and hw_cdrom_bus=scsi boots from a
SCSI root disk (its QEMU prelaunched, the controller and units added over
QMP), reads its config drive from a SCSI CD-ROM and sees its disks as sdX; a
SCSI volume is hot-plugged onto the controller and written through; a guest
of a virtio image gets a SCSI controller when a SCSI volume comes.  The
guest's own view (over SSH), its console markers and QMP are the evidence.
"""

from __future__ import annotations

import asyncio
import pathlib
import uuid as uuidlib

import pytest

from monostack.compute.drivers.base import Disk, GuestSpec, Nic
from monostack.compute.drivers.qemu import QemuDriver
from tests.compute.conftest import kill_guests
from tests.compute.drivers.conftest import MARK, config_drive, qmp, ssh, wait_console
from tests.compute.drivers.test_qemu_driver import make_conf
from tests.conftest import free_port

pytestmark = pytest.mark.qemu
SCSI = {"hw_disk_bus": "scsi", "hw_cdrom_bus": "scsi", "hw_scsi_model": "virtio-scsi"}


@pytest.fixture
def state(tmp_path: pathlib.Path):
    yield tmp_path / "state"
    kill_guests(tmp_path / "state")


async def boot(state: pathlib.Path, guest_image: pathlib.Path, ssh_key: pathlib.Path,
               properties: dict[str, str], **kw) -> tuple[QemuDriver, GuestSpec, int]:
    """A guest built as the agent builds it: QEMU prelaunched with the machine alone, then spawned."""
    uuid = str(uuidlib.uuid4())
    instance = state / "instances" / uuid
    instance.mkdir(parents=True)
    port = free_port()
    spec = GuestSpec(uuid=uuid, name="instance-0000004c", vcpus=1, memory_mb=256, root_gb=1,
                     image_path=guest_image, image_format="qcow2", hw_properties=properties,
                     config_drive=config_drive(instance / "disk.config", uuid=uuid, hostname="on-scsi", key=ssh_key),
                     nics=[Nic(port_id="port-1", mac="fa:16:3e:12:34:57", host_forwards={port: 22})], **kw)
    driver = QemuDriver(state, make_conf(state.parent))
    await driver.prelaunch(GuestSpec(uuid=uuid, name=spec.name, vcpus=1, memory_mb=256, root_gb=1,
                                     config_drive=spec.config_drive, hw_properties=properties))
    await driver.spawn(spec)
    await wait_console(driver, uuid, MARK + "login prompt")
    return driver, spec, port


async def devices_of(instance: pathlib.Path) -> dict[str, str]:
    return {c["name"]: c["type"] for c in await qmp(instance, "qom-list", {"path": "/machine/peripheral"})}


async def test_a_guest_boots_from_a_scsi_disk_and_takes_scsi_volumes(state: pathlib.Path, guest_image: pathlib.Path,
                                                                     ssh_key: pathlib.Path) -> None:
    driver, spec, port = await boot(state, guest_image, ssh_key, SCSI, ephemeral_gb=1)
    instance = state / "instances" / spec.uuid
    text = await driver.console_output(spec.uuid)
    assert MARK + "metadata from config-drive /dev/sr0" in text and MARK + "hostname on-scsi" in text
    kinds = await devices_of(instance)
    assert kinds["scsi0"] == "child<virtio-scsi-pci>"
    assert kinds["disk-root"] == "child<scsi-hd>" and kinds["disk-eph0"] == "child<scsi-hd>"
    assert kinds["cdrom-config"] == "child<scsi-cd>"
    # the guest sees SCSI disks only: the root disk (sda, mounted as /) and the ephemeral one (sdb)
    out = ssh(port, ssh_key, "ls /sys/block | grep -v -e loop -e ram | tr '\\n' ' '; echo; "
                             "findfs LABEL=ephemeral0; awk '$2 == \"/\" {print $1}' /proc/mounts").splitlines()
    assert out[0].split() == ["sda", "sdb", "sr0"], out
    assert out[1] == "/dev/sdb" and out[2] in ("/dev/sda", "/dev/sda1", "/dev/root"), out

    # a SCSI volume named sdc goes to target 2 of the same controller and is written through
    volume = state.parent / "volume.raw"
    with open(volume, "wb") as f:
        f.truncate(32 * 1024 * 1024)
    vid = str(uuidlib.uuid4())
    disk = Disk(volume_id=vid, path=volume, format="raw", device_name="/dev/sdc", bus="scsi", serial=vid)
    await driver.attach_disk(spec.uuid, disk)
    await driver.attach_disk(spec.uuid, disk)  # again: nothing more
    await wait_console(driver, spec.uuid, MARK + "disk sdc added", timeout=60)
    assert (await qmp(instance, "qom-get", {"path": f"/machine/peripheral/vol-{vid}", "property": "scsi-id"})) == 2
    ssh(port, ssh_key, "echo on-scsi | dd of=/dev/sdc bs=512 conv=sync 2>/dev/null; sync")
    await asyncio.sleep(0.5)
    assert volume.read_bytes()[:8] == b"on-scsi\n"
    await driver.detach_disk(spec.uuid, vid)
    await wait_console(driver, spec.uuid, MARK + "disk sdc removed", timeout=60)
    assert f"vol-{vid}" not in await devices_of(instance)
    await driver.destroy(spec.uuid)


async def test_a_virtio_guest_gets_a_scsi_controller_with_its_first_scsi_volume(
        state: pathlib.Path, guest_image: pathlib.Path, ssh_key: pathlib.Path) -> None:
    driver, spec, port = await boot(state, guest_image, ssh_key, {})
    instance = state / "instances" / spec.uuid
    kinds = await devices_of(instance)
    assert "scsi0" not in kinds and kinds["disk-root"] == "child<virtio-blk-pci>"
    assert kinds["cdrom-config"] == "child<ide-cd>"
    volume = state.parent / "volume.raw"
    with open(volume, "wb") as f:
        f.truncate(32 * 1024 * 1024)
    vid = str(uuidlib.uuid4())
    await driver.attach_disk(spec.uuid, Disk(volume_id=vid, path=volume, format="raw", device_name="/dev/sdb",
                                             bus="scsi"))
    kinds = await devices_of(instance)
    assert kinds["scsi0"] == "child<virtio-scsi-pci>" and kinds[f"vol-{vid}"] == "child<scsi-hd>"
    await wait_console(driver, spec.uuid, MARK + "disk sda added", timeout=60)
    await driver.detach_disk(spec.uuid, vid)
    await wait_console(driver, spec.uuid, MARK + "disk sda removed", timeout=60)
    await driver.destroy(spec.uuid)
