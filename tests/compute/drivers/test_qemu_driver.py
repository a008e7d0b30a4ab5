"""The QEMU driver against real guests (the Monostack guest image, TCG or KVM).

One guest is spawned for the module and taken through every action in
order (each test leaves it running for the next); each test uses a fresh
driver object, as a restarted cloud process would. What the guest prints on
its serial console (MONOSTACK-GUEST: markers), what QEMU answers over QMP
(asked through qemu.qmp directly), what qemu-img says of the disks and what
the guest shows over SSH are the evidence. Teardown kills every QEMU under
the module's state directory, whatever happened.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import pathlib
import shutil
import subprocess
import time
import uuid as uuidlib

import pytest

from monostack.common.config import Config
from monostack.compute.drivers import host, process
from monostack.compute.drivers.base import Disk, DriverError, GuestNotFound, GuestSpec, Nic, PowerState
from monostack.compute.drivers.qemu import QemuDriver
from tests.compute.conftest import kill_guests
from tests.compute.drivers.conftest import MARK, config_drive, qemu_pids, qmp, ssh, wait_console
from tests.conftest import free_port

pytestmark = pytest.mark.qemu
GiB = 1024 ** 3


@dataclasses.dataclass
class Booted:
    state_dir: pathlib.Path
    conf: Config
    spec: GuestSpec
    ssh_port: int
    key: pathlib.Path
    image: pathlib.Path
    tmp: pathlib.Path

    @property
    def uuid(self) -> str:
        return self.spec.uuid

    @property
    def dir(self) -> pathlib.Path:
        return self.state_dir / "instances" / self.uuid

    def driver(self) -> QemuDriver:
        return QemuDriver(self.state_dir, self.conf)

    def ssh(self, command: str) -> str:
        return ssh(self.ssh_port, self.key, command)

    def pid(self) -> int:
        return int((self.dir / "qemu.pid").read_text())


def img_info(path: pathlib.Path) -> dict:
    return json.loads(subprocess.run(["qemu-img", "info", "-U", "--output=json", str(path)], check=True,
                                     capture_output=True, text=True).stdout)


def make_conf(tmp: pathlib.Path) -> Config:
    return Config(tmp, environ=dict(os.environ), overrides={"compute": {
        "shutdown_timeout": 60, "wait_soft_reboot_seconds": 90, "shutdown_retry_interval": 5,
        "device_detach_timeout": 60}})


@pytest.fixture(scope="module")
def guest(guest_image: pathlib.Path, ssh_key: pathlib.Path, tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("qemu-driver")
    state = tmp / "state"
    uuid = str(uuidlib.uuid4())
    instance = state / "instances" / uuid
    instance.mkdir(parents=True)
    port = free_port()
    spec = GuestSpec(uuid=uuid, name="instance-0000002a", vcpus=1, memory_mb=256, root_gb=1, ephemeral_gb=1,
                     swap_mb=32, image_path=guest_image, image_format="qcow2",
                     config_drive=config_drive(instance / "disk.config", uuid=uuid, hostname="driver-test",
                                               key=ssh_key),
                     nics=[Nic(port_id="port-1", mac="fa:16:3e:12:34:56", host_forwards={port: 22})])
    booted = Booted(state, make_conf(tmp), spec, port, ssh_key, guest_image, tmp)

    async def build() -> None:  # as the agent builds: QEMU started ahead with the machine alone
        driver = booted.driver()
        await driver.prelaunch(GuestSpec(uuid=uuid, name=spec.name, vcpus=spec.vcpus, memory_mb=spec.memory_mb,
                                         root_gb=spec.root_gb, config_drive=spec.config_drive))
        await driver.spawn(spec)

    try:
        asyncio.run(build())
        yield booted
    finally:
        kill_guests(state)


def count(text: str, marker: str) -> int:
    return text.count(MARK + marker)


async def test_spawn_boots_the_guest(guest: Booted) -> None:
    drv = guest.driver()
    text = await wait_console(drv, guest.uuid, MARK + "login prompt")
    for marker in ("bootloader", "initramfs", "boot reached", "metadata from config-drive /dev/sr0",
                   "hostname driver-test", "keys installed 1", "ssh server started"):
        assert MARK + marker in text, marker
    assert (await qmp(guest.dir, "query-status"))["status"] == "running"
    assert await drv.power_state(guest.uuid) == PowerState.RUNNING
    # prelaunched: the devices were added to the running QEMU, and guest.json has the command line
    # that starts this machine cold (the benchmark's plain QEMU runs it)
    record = json.loads((guest.dir / "guest.json").read_text())
    assert record["prelaunched"] is True
    assert any('"node-name": "root"' in a for a in record["argv"]) and "-S" not in record["argv"]
    assert "-S" in process.cmdline(guest.pid())
    # root disk: a qcow2 overlay on the cached image, grown from 128 MiB to the flavor's 1 GiB
    root = img_info(guest.dir / "disk")
    assert root["format"] == "qcow2" and root["virtual-size"] == 1 * GiB
    assert pathlib.Path(root["full-backing-filename"]) == guest.image.resolve()
    out = guest.ssh("cat /sys/class/dmi/id/sys_vendor /sys/class/dmi/id/product_name "
                    "/sys/class/dmi/id/product_serial /sys/class/dmi/id/product_uuid; "
                    "cat /sys/block/vda/size; findfs LABEL=ephemeral0; "
                    "dd if=/dev/vdc bs=1 skip=4086 count=10 2>/dev/null; echo; hostname").splitlines()
    assert out[:4] == ["OpenStack Foundation", "OpenStack Nova", guest.uuid, guest.uuid]
    assert int(out[4]) * 512 == GiB
    assert out[5] == "/dev/vdb"
    assert out[6] == "SWAPSPACE2"  # mkswap's signature at the end of the first page
    assert out[7] == "driver-test"
    # the guest's QEMU is detached from us: another session, not our child
    pid = guest.pid()
    ppid = int(pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    assert os.getsid(pid) != os.getsid(0) and ppid != os.getpid()
    await drv.close()


async def test_list_guests_after_a_restart(guest: Booted) -> None:
    drv = guest.driver()  # a new driver object: the cloud process restarted
    found = {g.uuid: g for g in await drv.list_guests()}
    assert set(found) == {guest.uuid}
    assert found[guest.uuid].power_state == PowerState.RUNNING
    assert found[guest.uuid].pid == guest.pid()
    # a lost pid file: the guest is found through /proc
    pidfile = guest.dir / "qemu.pid"
    saved = pidfile.read_text()
    pidfile.unlink()
    try:
        (info,) = await drv.list_guests()
        assert info.pid == int(saved) and info.power_state == PowerState.RUNNING
    finally:
        pidfile.write_text(saved)


async def test_pause_and_unpause(guest: Booted) -> None:
    drv = guest.driver()
    await drv.pause(guest.uuid)
    assert (await qmp(guest.dir, "query-status"))["status"] == "paused"
    assert await drv.power_state(guest.uuid) == PowerState.PAUSED
    assert (await drv.diagnostics(guest.uuid))["state"] == "paused"
    await drv.unpause(guest.uuid)
    assert (await qmp(guest.dir, "query-status"))["status"] == "running"
    assert await drv.power_state(guest.uuid) == PowerState.RUNNING
    # prelaunched: the devices were added to the running QEMU, and guest.json has the command line
    # that starts this machine cold (the benchmark's plain QEMU runs it)
    record = json.loads((guest.dir / "guest.json").read_text())
    assert record["prelaunched"] is True
    assert any('"node-name": "root"' in a for a in record["argv"]) and "-S" not in record["argv"]
    assert "-S" in process.cmdline(guest.pid())


async def test_live_console_for_several_readers(guest: Booted) -> None:
    drv = guest.driver()

    async def read_until(stream, needle: bytes) -> bytes:
        got = b""
        async for chunk in stream:
            got += chunk
            if needle in got:
                break
        return got

    streams = [drv.console_stream(guest.uuid), drv.console_stream(guest.uuid)]
    readers = [asyncio.create_task(read_until(s, b"login:")) for s in streams]
    await asyncio.sleep(1)
    await drv.console_write(guest.uuid, b"\r")  # getty answers a new line with its prompt
    results = await asyncio.wait_for(asyncio.gather(*readers), 30)
    assert all(b"login:" in r for r in results)
    for stream in streams:
        await stream.aclose()
    await drv.close()
    tail = await drv.console_output(guest.uuid, 1)
    assert len(tail.splitlines()) == 1 and "login:" in tail


async def test_diagnostics_and_host_resources(guest: Booted) -> None:
    drv = guest.driver()
    diag = await drv.diagnostics(guest.uuid)
    assert set(diag) == {"state", "driver", "hypervisor", "hypervisor_os", "uptime", "config_drive", "num_cpus",
                         "num_nics", "num_disks", "memory_details", "cpu_details", "nic_details", "disk_details"}
    assert diag["state"] == "running" and diag["driver"] == "libvirt" and diag["hypervisor"] in ("qemu", "kvm")
    assert diag["config_drive"] is True and diag["num_cpus"] == 1 and diag["num_nics"] == 1
    assert diag["num_disks"] == 4  # root, ephemeral, swap, config drive
    assert diag["uptime"] > 0 and diag["cpu_details"][0]["time"] > 0
    assert diag["nic_details"][0]["mac_address"] == "fa:16:3e:12:34:56"
    assert diag["memory_details"]["maximum"] == 256
    assert diag["disk_details"][0]["read_bytes"] > 0
    res = await drv.host_resources()
    assert res.vcpus == os.cpu_count() and res.vcpus_used == 1
    assert abs(res.memory_mb - host.meminfo()["MemTotal"] // 1024) <= 1
    assert res.disk_gb > 0 and res.hypervisor_type == "QEMU"
    assert res.hypervisor_version == host.encode_version(host.qemu_version("qemu-system-x86_64"))
    assert res.accelerator in ("kvm", "tcg")


async def test_disk_hot_plug(guest: Booted) -> None:
    drv = guest.driver()
    volume = guest.tmp / "volume.raw"
    with open(volume, "wb") as f:
        f.truncate(64 * 1024 * 1024)
    vid = str(uuidlib.uuid4())
    disk = Disk(volume_id=vid, path=volume, format="raw")
    await drv.attach_disk(guest.uuid, disk)
    await drv.attach_disk(guest.uuid, disk)  # again: nothing more
    blocks = [b for b in await qmp(guest.dir, "query-block") if f"vol-{vid}" in b.get("qdev", "")]
    assert len(blocks) == 1 and blocks[0]["inserted"]["file"] == str(volume)
    await wait_console(drv, guest.uuid, MARK + "disk vdd added", timeout=60)
    out = guest.ssh("cat /sys/block/vdd/serial; echo; cat /sys/block/vdd/size; "
                    "echo hot-plugged | dd of=/dev/vdd bs=512 conv=sync 2>/dev/null; sync").split()
    assert out[0] == vid[:20] and int(out[1]) == 64 * 1024 * 1024 // 512
    await asyncio.sleep(0.5)
    assert volume.read_bytes()[:12] == b"hot-plugged\n"
    await drv.detach_disk(guest.uuid, vid)
    assert not [b for b in await qmp(guest.dir, "query-block") if f"vol-{vid}" in b.get("qdev", "")]
    assert not [n for n in await qmp(guest.dir, "query-named-block-nodes") if n["file"] == str(volume)]
    await wait_console(drv, guest.uuid, MARK + "disk vdd removed", timeout=60)
    await drv.detach_disk(guest.uuid, vid)  # again: nothing to do


def guest_disk(guest: Booted, volume_id: str, *, timeout: float = 60) -> str:
    """The guest's name of the disk whose serial is the volume id (vdX), once the guest has it."""
    for _ in range(int(timeout * 2)):
        out = guest.ssh(f"grep -l '^{volume_id[:20]}' /sys/block/vd*/serial 2>/dev/null || true").split()
        if out:
            return out[0].split("/")[3]
        time.sleep(0.5)
    raise AssertionError(f"the guest never saw volume {volume_id}")


def raw_bytes(path: pathlib.Path, offset: int, length: int) -> bytes:
    """Guest-visible bytes of an image file, read through qemu-img (the backing chain followed)."""
    start, size = offset - offset % 512, -(-(offset % 512 + length) // 512) * 512  # QEMU reads whole sectors
    window = "json:" + json.dumps({"driver": "raw", "offset": start, "size": size,
                                   "file": {"driver": "qcow2", "file": {"driver": "file", "filename": str(path)}}})
    out = path.with_name(path.name + ".window")
    try:
        subprocess.run(["qemu-img", "convert", "-U", "-O", "raw", window, str(out)], check=True, capture_output=True)
        return out.read_bytes()[offset - start:offset - start + length]
    finally:
        out.unlink(missing_ok=True)


async def test_volume_with_a_backing_chain_online_extend_and_snapshot(guest: Booted) -> None:
    """A file-driver volume that is an overlay on a snapshot: hot-plugged (QEMU opens the chain), grown
    while attached (the guest sees the new size), copied point-in-time while the guest keeps writing,
    a second volume attached read-only; both unplugged without a block node left."""
    from monostack.volume.drivers.file import FileDriver

    drv = guest.driver()
    await wait_console(drv, guest.uuid, MARK + "login prompt")
    vols = FileDriver(guest.conf, guest.tmp / "volumes", backend="file")
    await vols.init_host()
    vid, base_snap, ro_vid, online_snap = (str(uuidlib.uuid4()) for _ in range(4))
    await vols.create_volume(vid, 1)
    path = vols.volume_path(vid)
    subprocess.run(["qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 0 1M", str(path)], check=True,
                   capture_output=True)
    await vols.create_snapshot(base_snap, vid)  # the volume is now an overlay on the snapshot's file
    assert img_info(path)["backing-filename"] == f"snapshot-{base_snap}.qcow2"
    conn = await vols.initialize_connection(vid, {})
    await drv.attach_disk(guest.uuid, Disk(volume_id=vid, path=pathlib.Path(conn["data"]["device_path"]),
                                           format=conn["data"]["format"]))
    dev = guest_disk(guest, vid)
    # 'Z' is 0x5a: the first sector comes from the backing file
    assert guest.ssh(f"dd if=/dev/{dev} bs=512 count=1 2>/dev/null | tr -d Z | wc -c").strip() == "0"

    # online extend
    await drv.extend_disk(guest.uuid, vid, 2 * GiB)
    await drv.extend_disk(guest.uuid, vid, 2 * GiB)  # again: nothing to do
    with pytest.raises(DriverError):
        await drv.extend_disk(guest.uuid, vid, GiB)
    for _ in range(60):
        if int(guest.ssh(f"cat /sys/block/{dev}/size")) * 512 == 2 * GiB:
            break
        await asyncio.sleep(0.5)
    else:
        raise AssertionError("the guest never saw the new size")
    assert img_info(path)["virtual-size"] == 2 * GiB and await vols.volume_size(vid) == 2 * GiB

    # a point-in-time copy while a writer in the guest keeps counting into sector 4096
    guest.ssh(f"printf before | dd of=/dev/{dev} bs=512 seek=8192 conv=sync,fsync 2>/dev/null; "
              f"(i=0; while true; do i=$((i+1)); echo count $i | dd of=/dev/{dev} bs=512 seek=4096 "
              f"conv=sync,fsync 2>/dev/null; done) </dev/null >/dev/null 2>&1 & echo $! > /run/writer.pid")
    await asyncio.sleep(1)

    def counter() -> int:
        line = guest.ssh(f"dd if=/dev/{dev} bs=512 skip=4096 count=1 2>/dev/null | head -1")
        return int(line.split()[1])

    before = counter()
    target = vols.snapshot_target(online_snap)
    await drv.snapshot_disk(guest.uuid, vid, target)
    await asyncio.sleep(1)
    after = counter()
    guest.ssh(f"printf after! | dd of=/dev/{dev} bs=512 seek=8192 conv=sync,fsync 2>/dev/null; "
              "kill $(cat /run/writer.pid)")
    assert after > before  # the guest never stopped writing
    info = img_info(target)
    assert info["format"] == "qcow2" and "backing-filename" not in info and info["virtual-size"] == 2 * GiB
    in_copy = int(raw_bytes(target, 4096 * 512, 512).split(b"\n")[0].split()[1])
    assert before <= in_copy <= after
    assert raw_bytes(target, 8192 * 512, 6) == b"before" and raw_bytes(target, 0, 4) == b"ZZZZ"
    # the guest's own image is untouched: same file, same chain; no job or node of the copy left
    block = [b for b in await qmp(guest.dir, "query-block") if f"vol-{vid}" in b.get("qdev", "")]
    assert block[0]["inserted"]["file"] == str(path)
    assert img_info(path)["backing-filename"] == f"snapshot-{base_snap}.qcow2"
    assert await qmp(guest.dir, "query-jobs") == []
    nodes = await qmp(guest.dir, "query-named-block-nodes")
    assert not [n for n in nodes if n["file"] == str(target)]
    await vols.snapshot_created_by_guest(online_snap, vid)
    assert await vols.list_snapshots() == {base_snap, online_snap}
    with pytest.raises(DriverError):  # the target is gone after a failure too
        await drv.snapshot_disk(guest.uuid, str(uuidlib.uuid4()), guest.tmp / "nope.qcow2")
    assert not (guest.tmp / "nope.qcow2").exists()

    # a read-only volume (an overlay on the first snapshot) beside it
    await vols.create_volume_from_snapshot(ro_vid, 1, base_snap, vid)
    ro_path = vols.volume_path(ro_vid)
    await drv.attach_disk(guest.uuid, Disk(volume_id=ro_vid, path=ro_path, format="qcow2", read_only=True))
    ro_dev = guest_disk(guest, ro_vid)
    assert guest.ssh(f"cat /sys/block/{ro_dev}/ro").strip() == "1"
    assert guest.ssh(f"dd if=/dev/{ro_dev} bs=512 count=1 2>/dev/null | tr -d Z | wc -c").strip() == "0"
    assert "failed" in guest.ssh(f"echo x | dd of=/dev/{ro_dev} conv=fsync 2>/dev/null || echo failed")

    for volume_id in (vid, ro_vid):
        await drv.detach_disk(guest.uuid, volume_id)
    files = {str(p) for p in vols.state_dir.iterdir()}
    assert not [n for n in await qmp(guest.dir, "query-named-block-nodes") if n["file"] in files]
    for volume_id in (vid, ro_vid):
        await vols.delete_volume(volume_id)
    for snapshot_id in (base_snap, online_snap):
        await vols.delete_snapshot(snapshot_id, vid)
    assert list(vols.state_dir.iterdir()) == []


async def test_interface_hot_plug(guest: Booted) -> None:
    drv = guest.driver()
    nic = Nic(port_id="port-2", mac="fa:16:3e:00:00:99")
    await drv.attach_interface(guest.uuid, nic)
    peripherals = {c["name"] for c in await qmp(guest.dir, "qom-list", {"path": "/machine/peripheral"})}
    assert "nic-port-2" in peripherals
    for _ in range(60):
        if "fa:16:3e:00:00:99" in guest.ssh("cat /sys/class/net/*/address"):
            break
        await asyncio.sleep(0.5)
    else:
        raise AssertionError("the guest never saw the new NIC")
    await drv.detach_interface(guest.uuid, "port-2")
    peripherals = {c["name"] for c in await qmp(guest.dir, "qom-list", {"path": "/machine/peripheral"})}
    assert "nic-port-2" not in peripherals
    assert "fa:16:3e:00:00:99" not in guest.ssh("cat /sys/class/net/*/address")

    if os.geteuid() != 0 or not shutil.which("ip"):
        return
    # a tap NIC: the driver makes the tap, plugs it into the bridge, and removes it on detach
    suffix = uuidlib.uuid4().hex[:6]
    bridge, tap = f"mstbr{suffix}", f"mstap{suffix}"
    subprocess.run(["ip", "link", "add", bridge, "type", "bridge"], check=True)
    try:
        await drv.attach_interface(guest.uuid, Nic(port_id="port-3", mac="fa:16:3e:00:00:98", kind="tap",
                                                    tap_name=tap, bridge=bridge))
        link = json.loads(subprocess.run(["ip", "-j", "link", "show", "dev", tap], check=True,
                                         capture_output=True, text=True).stdout)[0]
        assert link["master"] == bridge
        await drv.detach_interface(guest.uuid, "port-3")
        assert not pathlib.Path(f"/sys/class/net/{tap}").exists()
    finally:
        subprocess.run(["ip", "link", "del", tap], capture_output=True)
        subprocess.run(["ip", "link", "del", bridge], capture_output=True)


async def test_snapshot_is_standalone_and_boots(guest: Booted) -> None:
    drv = guest.driver()
    guest.ssh("echo snapshot-me > /root/mark; sync")
    target = guest.tmp / "snapshot.qcow2"
    assert await drv.snapshot(guest.uuid, target) == "qcow2"
    info = img_info(target)
    assert info["format"] == "qcow2" and "backing-filename" not in info
    assert info["virtual-size"] == 1 * GiB
    assert (await qmp(guest.dir, "query-status"))["status"] == "running"
    # the snapshot is a bootable image of its own, with what the guest wrote
    clone_uuid = str(uuidlib.uuid4())
    clone_dir = guest.state_dir / "instances" / clone_uuid
    clone_dir.mkdir(parents=True)
    port = free_port()
    clone = GuestSpec(uuid=clone_uuid, name="instance-0000002b", vcpus=1, memory_mb=256, root_gb=1,
                      image_path=target, config_drive=config_drive(clone_dir / "disk.config", uuid=clone_uuid,
                                                                   hostname="from-snapshot", key=guest.key),
                      nics=[Nic(port_id="port-clone", mac="fa:16:3e:00:00:42", host_forwards={port: 22})])
    try:
        await drv.spawn(clone)
        await wait_console(drv, clone_uuid, MARK + "login prompt")
        assert ssh(port, guest.key, "cat /root/mark; hostname").split() == ["snapshot-me", "from-snapshot"]
    finally:
        await drv.destroy(clone_uuid)
    assert not clone_dir.exists() and not qemu_pids(clone_uuid)


async def test_suspend_and_resume(guest: Booted) -> None:
    drv = guest.driver()
    boots = count(await drv.console_output(guest.uuid), "bootloader")
    guest.ssh("echo still-here > /run/alive")  # memory only (tmpfs): survives only if the guest does
    uptime = float(guest.ssh("cut -d' ' -f1 /proc/uptime"))
    await drv.suspend(guest.uuid)
    assert not qemu_pids(guest.uuid)
    assert (guest.dir / "memory.state").stat().st_size > 1024 * 1024
    assert await drv.power_state(guest.uuid) == PowerState.SUSPENDED
    assert [g.power_state for g in await guest.driver().list_guests()] == [PowerState.SUSPENDED]
    await drv.resume(guest.spec)
    assert (await qmp(guest.dir, "query-status"))["status"] == "running"
    assert not (guest.dir / "memory.state").exists()
    assert guest.ssh("cat /run/alive").strip() == "still-here"
    assert float(guest.ssh("cut -d' ' -f1 /proc/uptime")) >= uptime
    assert count(await drv.console_output(guest.uuid), "bootloader") == boots


async def test_power_off_and_on(guest: Booted) -> None:
    drv = guest.driver()
    logins = count(await drv.console_output(guest.uuid), "login prompt")
    pid = guest.pid()
    await drv.power_off(guest.uuid, timeout=60)
    text = await drv.console_output(guest.uuid)
    assert MARK + "power button, shutting down" in text  # ACPI: the guest shut itself down
    assert not process.is_guest_qemu(pid, guest.uuid) and not qemu_pids(guest.uuid)
    assert await drv.power_state(guest.uuid) == PowerState.SHUTDOWN
    await drv.power_off(guest.uuid)  # again: nothing to do
    await drv.power_on(guest.spec)
    assert guest.pid() != pid
    await wait_console(drv, guest.uuid, MARK + "login prompt", count=logins + 1)
    assert guest.ssh("cat /root/mark").strip() == "snapshot-me"  # same disk


async def test_soft_reboot(guest: Booted) -> None:
    drv = guest.driver()
    text = await drv.console_output(guest.uuid)
    logins, buttons = count(text, "login prompt"), count(text, "power button, shutting down")
    pid = guest.pid()
    await drv.reboot(guest.spec, hard=False)
    assert count(await drv.console_output(guest.uuid), "power button, shutting down") == buttons + 1
    assert guest.pid() != pid
    await wait_console(drv, guest.uuid, MARK + "login prompt", count=logins + 1)


async def test_hard_reboot(guest: Booted) -> None:
    drv = guest.driver()
    text = await drv.console_output(guest.uuid)
    logins, buttons = count(text, "login prompt"), count(text, "power button, shutting down")
    pid = guest.pid()
    await drv.reboot(guest.spec, hard=True)
    assert guest.pid() != pid and not process.is_guest_qemu(pid, guest.uuid)
    text = await wait_console(drv, guest.uuid, MARK + "login prompt", count=logins + 1)
    assert count(text, "power button, shutting down") == buttons  # no ACPI: the process was replaced


async def test_rescue_and_unrescue(guest: Booted) -> None:
    drv = guest.driver()
    boots = count(await drv.console_output(guest.uuid), "bootloader")
    await drv.rescue(guest.spec, guest.image, "qcow2")
    assert img_info(guest.dir / "disk.rescue")["backing-filename"] == str(guest.image.resolve())
    assert await qmp(guest.dir, "qom-get", {"path": "/machine/peripheral/disk-rescue", "property": "bootindex"}) == 0
    nodes = {n["node-name"]: n["file"] for n in await qmp(guest.dir, "query-named-block-nodes")}
    assert nodes["rescue"] == str(guest.dir / "disk.rescue") and nodes["root"] == str(guest.dir / "disk")
    await wait_console(drv, guest.uuid, MARK + "bootloader", count=boots + 1)
    assert await drv.power_state(guest.uuid) == PowerState.RUNNING
    logins = count(await drv.console_output(guest.uuid), "login prompt")
    await drv.unrescue(guest.spec)
    assert not (guest.dir / "disk.rescue").exists()
    nodes = {n["node-name"] for n in await qmp(guest.dir, "query-named-block-nodes")}
    assert "rescue" not in nodes and "root" in nodes
    await wait_console(drv, guest.uuid, MARK + "login prompt", count=logins + 1)


async def test_resize_revert_and_confirm(guest: Booted) -> None:
    drv = guest.driver()
    bigger = dataclasses.replace(guest.spec, root_gb=2, vcpus=2, memory_mb=384)
    await drv.resize(bigger)
    assert img_info(guest.dir / "disk")["virtual-size"] == 2 * GiB
    assert img_info(guest.dir / "disk.resize-orig")["virtual-size"] == 1 * GiB
    assert len(await qmp(guest.dir, "query-cpus-fast")) == 2
    assert (await qmp(guest.dir, "query-memory-size-summary"))["base-memory"] == 384 * 1024 * 1024
    logins = count(await drv.console_output(guest.uuid), "login prompt")
    await drv.revert_resize(guest.spec)
    assert img_info(guest.dir / "disk")["virtual-size"] == 1 * GiB
    assert not (guest.dir / "disk.resize-orig").exists()
    assert len(await qmp(guest.dir, "query-cpus-fast")) == 1
    await wait_console(drv, guest.uuid, MARK + "login prompt", count=logins + 1)
    assert guest.ssh("cat /root/mark; cat /sys/block/vda/size").split() == ["snapshot-me", str(GiB // 512)]

    await drv.resize(bigger)
    await drv.confirm_resize(guest.uuid)
    assert not (guest.dir / "disk.resize-orig").exists()
    assert img_info(guest.dir / "disk")["virtual-size"] == 2 * GiB
    assert len(await qmp(guest.dir, "query-cpus-fast")) == 2


async def test_destroy(guest: Booted) -> None:
    drv = guest.driver()
    pid = guest.pid()
    await drv.destroy(guest.uuid)
    assert not process.is_guest_qemu(pid, guest.uuid) and not qemu_pids(guest.uuid)
    assert not guest.dir.exists()
    await drv.destroy(guest.uuid)  # again: nothing to do
    assert await drv.list_guests() == []
    with pytest.raises(GuestNotFound):
        await drv.power_state(guest.uuid)
