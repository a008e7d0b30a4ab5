"""A build's QEMU started ahead of its devices (QemuDriver.prelaunch), against real guests.

The agent starts a new guest's QEMU paused with the machine alone while it
makes the disks, config drive and ports, and spawn adds the devices over QMP.
Shown here: the firmware boots the disk with bootindex 0 even when another
disk comes first on the bus (the reset before the first run gives it the
boot order), a prelaunched machine that is not the spec's is replaced by a
cold start, and a build that fails before spawn leaves no QEMU behind.
(The guest of test_qemu_driver.py is prelaunched too, and every action there
runs on it.)
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import uuid as uuidlib

import pytest

from monostack.compute.drivers import process
from monostack.compute.drivers.base import GuestSpec
from monostack.compute.drivers.qemu import QemuDriver
from tests.compute.conftest import kill_guests
from tests.compute.drivers.conftest import MARK, config_drive, qemu_pids, qmp, wait_console
from tests.compute.drivers.test_qemu_driver import make_conf

pytestmark = pytest.mark.qemu


def machine(spec: GuestSpec) -> GuestSpec:
    """What the agent knows as a build begins."""
    return GuestSpec(uuid=spec.uuid, name=spec.name, vcpus=spec.vcpus, memory_mb=spec.memory_mb,
                     root_gb=spec.root_gb, config_drive=spec.config_drive)


@pytest.fixture
def state(tmp_path: pathlib.Path):
    yield tmp_path / "state"
    kill_guests(tmp_path / "state")


def new_spec(state: pathlib.Path, guest_image: pathlib.Path, ssh_key: pathlib.Path, **kw) -> GuestSpec:
    uuid = str(uuidlib.uuid4())
    instance = state / "instances" / uuid
    instance.mkdir(parents=True)
    values = dict(uuid=uuid, name="instance-0000003b", vcpus=1, memory_mb=256, root_gb=1,
                  image_path=guest_image, image_format="qcow2",
                  config_drive=config_drive(instance / "disk.config", uuid=uuid, hostname="prelaunched",
                                            key=ssh_key))
    values.update(kw)
    return GuestSpec(**values)


async def test_the_boot_disk_boots_from_behind_another_disk(state: pathlib.Path, guest_image: pathlib.Path,
                                                            ssh_key: pathlib.Path) -> None:
    spec = new_spec(state, guest_image, ssh_key, ephemeral_gb=1)
    # the root disk at a slot after the (unbootable) ephemeral disk's: the firmware, which boots the
    # first disk it finds when no boot order names one, must be told
    (state / "instances" / spec.uuid / "devices.json").write_text(json.dumps(
        {"slots": {"disk-root": 9}, "taps": {}}))
    driver = QemuDriver(state, make_conf(state.parent))
    await driver.prelaunch(machine(spec))
    await driver.spawn(spec)
    text = await wait_console(driver, spec.uuid, MARK + "login prompt")
    assert MARK + "metadata from config-drive /dev/sr0" in text and MARK + "hostname prelaunched" in text
    slots = {d["qdev_id"]: d["slot"] for bus in await qmp(state / "instances" / spec.uuid, "query-pci")
             for d in bus["devices"]}
    assert slots["disk-root"] == 9 and slots["disk-eph0"] < 9
    assert json.loads((state / "instances" / spec.uuid / "guest.json").read_text())["prelaunched"] is True
    await driver.destroy(spec.uuid)
    assert not qemu_pids(spec.uuid)


async def test_a_prelaunched_machine_unlike_the_spec_is_started_anew(state: pathlib.Path,
                                                                     guest_image: pathlib.Path,
                                                                     ssh_key: pathlib.Path) -> None:
    spec = new_spec(state, guest_image, ssh_key, memory_mb=320)
    driver = QemuDriver(state, make_conf(state.parent))
    await driver.prelaunch(dataclasses.replace(machine(spec), memory_mb=256))
    await driver.spawn(spec)
    pids = qemu_pids(spec.uuid)
    assert len(pids) == 1  # the prelaunched one was stopped
    argv = process.cmdline(pids[0])
    assert argv[argv.index("-m") + 1] == "320" and "-S" not in argv
    assert json.loads((state / "instances" / spec.uuid / "guest.json").read_text())["prelaunched"] is False
    assert (await qmp(state / "instances" / spec.uuid, "query-status"))["status"] == "running"
    await driver.destroy(spec.uuid)
    assert not qemu_pids(spec.uuid)


async def test_a_build_that_fails_before_spawn_leaves_no_qemu(state: pathlib.Path, guest_image: pathlib.Path,
                                                              ssh_key: pathlib.Path) -> None:
    spec = new_spec(state, guest_image, ssh_key)
    driver = QemuDriver(state, make_conf(state.parent))
    await driver.prelaunch(machine(spec))
    await driver.destroy(spec.uuid)  # at once: QEMU may still be setting itself up
    assert not qemu_pids(spec.uuid)
    assert not (state / "instances" / spec.uuid).exists()
    assert await driver.list_guests() == []
