"""The QEMU command line a guest spec becomes."""

from __future__ import annotations

import json
import pathlib

import pytest

from monostack.compute.drivers import qemu_cmd, unixsock
from monostack.compute.drivers.base import Disk, GuestSpec, Nic, Rescue, rescue_of
from monostack.compute.drivers.instance_files import InstanceFiles

UUID = "6f1c1a43-8a40-4f5e-9a57-3c2d9b8f0a11"


def spec(tmp_path: pathlib.Path, **kw) -> GuestSpec:
    values = dict(uuid=UUID, name="instance-0000000a", vcpus=2, memory_mb=512, root_gb=1,
                  image_path=tmp_path / "base.qcow2",
                  nics=[Nic(port_id="p-user", mac="fa:16:3e:00:00:01", host_forwards={2222: 22, 8080: 80}),
                        Nic(port_id="p-tap", mac="fa:16:3e:00:00:02", kind="tap", tap_name="tapabc", mtu=1450)],
                  disks=[Disk(volume_id="0d7a6cc6-1234-4321-aaaa-000000000001", path=tmp_path / "vol.raw",
                              format="raw")])
    values.update(kw)
    return GuestSpec(**values)


def options(argv: list[str], flag: str) -> list[str]:
    return [b for a, b in zip(argv, argv[1:]) if a == flag]


def json_devices(argv: list[str]) -> list[dict]:
    return [json.loads(d) for d in options(argv, "-device") if d.startswith("{")]


def build(tmp_path: pathlib.Path, s: GuestSpec, files: InstanceFiles, slots=None, **kw) -> list[str]:
    devs = qemu_cmd.devices(s, files, rescue=kw.get("rescue"))
    slots = qemu_cmd.assign_slots(devs, slots or {}, keep_unlisted=kw.get("incoming", False))
    return qemu_cmd.argv(s, files, qemu="qemu-system-x86_64", accel=kw.pop("accel", "tcg"), slots=slots,
                         version="7.2.22", **kw)


def test_identity_smbios_and_accelerator(tmp_path: pathlib.Path) -> None:
    files = InstanceFiles(tmp_path / "inst")
    argv = build(tmp_path, spec(tmp_path), files)
    assert options(argv, "-uuid") == [UUID]
    assert options(argv, "-smbios") == [
        f"type=1,manufacturer=OpenStack Foundation,product=OpenStack Nova,version=7.2.22,serial={UUID},"
        f"uuid={UUID},family=Virtual Machine"]
    assert options(argv, "-accel") == ["tcg,thread=multi"] and options(argv, "-cpu") == ["max"]
    assert options(argv, "-m") == ["512"] and options(argv, "-smp") == ["2"]
    assert "-daemonize" in argv and options(argv, "-pidfile") == [str(files.pidfile)]
    kvm = build(tmp_path, spec(tmp_path), files, accel="kvm")
    assert options(kvm, "-accel") == ["kvm"] and options(kvm, "-cpu") == ["host"]


def test_devices(tmp_path: pathlib.Path) -> None:
    files = InstanceFiles(tmp_path / "inst")
    argv = build(tmp_path, spec(tmp_path, config_drive=tmp_path / "cd.iso"), files)
    netdevs = [json.loads(n) for n in options(argv, "-netdev")]
    assert netdevs[0]["type"] == "user"
    assert netdevs[0]["hostfwd"] == [{"str": "tcp:127.0.0.1:2222-:22"}, {"str": "tcp:127.0.0.1:8080-:80"}]
    assert netdevs[1] == {"type": "tap", "id": netdevs[1]["id"], "ifname": "tapabc", "script": "no",
                          "downscript": "no"}
    devices = {d["id"]: d for d in json_devices(argv)}
    assert devices["nic-p-user"]["mac"] == "fa:16:3e:00:00:01"
    assert devices["nic-p-user"]["driver"] == "virtio-net-pci"
    assert devices["nic-p-tap"]["host_mtu"] == 1450
    assert devices["disk-root"]["bootindex"] == 0
    vol = devices["vol-0d7a6cc6-1234-4321-aaaa-000000000001"]
    assert vol["serial"] == "0d7a6cc6-1234-4321-a" and "bootindex" not in vol
    assert devices["cdrom-config"]["driver"] == "ide-cd"
    slots = [int(d["addr"], 16) for d in devices.values() if "addr" in d]
    assert len(slots) == len(set(slots)) and all(3 <= s <= 31 for s in slots)
    blockdevs = {b["node-name"]: b for b in map(json.loads, options(argv, "-blockdev"))}
    assert blockdevs["root"]["driver"] == "qcow2" and blockdevs["root"]["file"]["filename"] == str(files.root)
    assert blockdevs["config"]["read-only"] is True
    assert len(qemu_cmd.volume_node("x" * 100)) <= 31


def test_a_prelaunched_machine_is_the_cold_command_line_without_its_devices(tmp_path: pathlib.Path) -> None:
    files = InstanceFiles(tmp_path / "inst")
    full = spec(tmp_path, config_drive=tmp_path / "cd.iso")
    cold = build(tmp_path, full, files)
    machine = qemu_cmd.machine_argv(full, files, qemu="qemu-system-x86_64", accel="tcg", version="7.2.22")
    assert cold[:len(machine)] == machine
    assert "-blockdev" not in machine and "-netdev" not in machine
    # the machine alone depends on the flavor and identity, not on the disks and NICs to come
    bare = GuestSpec(uuid=UUID, name="instance-0000000a", vcpus=2, memory_mb=512, root_gb=1,
                     config_drive=tmp_path / "not-made-yet.iso")
    pre = qemu_cmd.prelaunch_argv(bare, files, qemu="qemu-system-x86_64", accel="tcg", version="7.2.22")
    assert pre == qemu_cmd.prelaunch_argv(full, files, qemu="qemu-system-x86_64", accel="tcg", version="7.2.22")
    assert pre[:len(machine)] == machine
    assert pre[len(machine):] == ["-S", "-device", '{"driver": "ide-cd", "id": "cdrom-config", "bus": "ide.1"}']
    no_drive = qemu_cmd.prelaunch_argv(spec(tmp_path), files, qemu="qemu-system-x86_64", accel="tcg",
                                       version="7.2.22")
    assert no_drive == machine + ["-S"]
    bigger = qemu_cmd.prelaunch_argv(spec(tmp_path, memory_mb=1024), files, qemu="qemu-system-x86_64",
                                     accel="tcg", version="7.2.22")
    assert options(bigger, "-m") == ["1024"]


def test_devices_added_to_a_prelaunched_machine(tmp_path: pathlib.Path) -> None:
    files = InstanceFiles(tmp_path / "inst")
    s = spec(tmp_path, config_drive=tmp_path / "cd.iso")
    devs = qemu_cmd.devices(s, files)
    slots = qemu_cmd.assign_slots(devs, {}, keep_unlisted=False)
    assert qemu_cmd.hot_addable(devs)
    commands = [c for dev in devs for c in qemu_cmd.hot_add_commands(dev, slots)]
    names = [name for name, _ in commands]
    # each backend before its device; the config drive goes in as the CD-ROM's medium
    for i, (name, args) in enumerate(commands):
        if name == "device_add" and "drive" in args:
            assert ("blockdev-add", args["drive"]) in [(n, a.get("node-name")) for n, a in commands[:i]]
        if name == "device_add" and "netdev" in args:
            assert ("netdev_add", args["netdev"]) in [(n, a.get("id")) for n, a in commands[:i]]
    root = next(a for n, a in commands if n == "device_add" and a["id"] == "disk-root")
    assert root == {"driver": "virtio-blk-pci", "id": "disk-root", "drive": "root", "bootindex": 0,
                    "addr": hex(slots["disk-root"]), "bus": "pci.0"}
    cold = {d["id"]: d for d in json_devices(build(tmp_path, s, files, slots=slots))}
    for name, args in commands:  # the very devices a cold start creates, at the same slots
        if name == "device_add":
            assert dict(args, bus=None) == dict(cold[args["id"]], bus=None)
    assert names[-3:] == ["blockdev-open-tray", "blockdev-insert-medium", "blockdev-close-tray"]
    assert commands[-2][1] == {"id": "cdrom-config", "node-name": "config"}
    # a rescue on a controller of its own is not added so: such a start is cold
    rescue = qemu_cmd.devices(s, files, rescue=Rescue(stable=True, device="disk", bus="scsi"))
    assert not qemu_cmd.hot_addable(rescue)


def test_rescue_boots_the_rescue_disk_with_the_root_disk_second(tmp_path: pathlib.Path) -> None:
    files = InstanceFiles(tmp_path / "inst")
    argv = build(tmp_path, spec(tmp_path), files, rescue=Rescue())
    disks = [d for d in json_devices(argv) if d["driver"] == "virtio-blk-pci"]
    assert [d["id"] for d in disks] == ["disk-rescue", "disk-root"]  # the volume is left out
    assert disks[0]["bootindex"] == 0 and "bootindex" not in disks[1]


@pytest.mark.parametrize("device, bus, driver, controller", [
    ("disk", "virtio", "virtio-blk-pci", None), ("disk", "scsi", "scsi-hd", "virtio-scsi-pci"),
    ("cdrom", "scsi", "scsi-cd", "virtio-scsi-pci"), ("disk", "usb", "usb-storage", "qemu-xhci"),
    ("disk", "ide", "ide-hd", None), ("cdrom", "ide", "ide-cd", None)])
def test_stable_rescue_keeps_every_disk_and_boots_the_rescue_disk(tmp_path: pathlib.Path, device, bus, driver,
                                                                 controller) -> None:
    files = InstanceFiles(tmp_path / "inst")
    s = spec(tmp_path, config_drive=tmp_path / "cd.iso")
    rescue = Rescue(stable=True, device=device, bus=bus)

    def command(rescue: Rescue | None, slots: dict[str, int]) -> tuple[list[str], dict[str, int]]:
        slots = qemu_cmd.assign_slots(qemu_cmd.devices(s, files, rescue=rescue), slots, keep_unlisted=False)
        return qemu_cmd.argv(s, files, qemu="qemu-system-x86_64", accel="tcg", slots=slots, version="7.2.22",
                             rescue=rescue), slots

    normal, slots = command(None, {})
    argv, _ = command(rescue, slots)  # the slots kept in devices.json
    before = {d["id"]: d for d in json_devices(normal)}
    after = {d["id"]: d for d in json_devices(argv)}
    # Every device of the server is still there, at the same PCI slot; only the rescue disk boots.
    for dev_id, dev in before.items():
        assert after[dev_id].get("addr") == dev.get("addr"), dev_id
        assert "bootindex" not in after[dev_id], dev_id
    rescue_dev = after["disk-rescue"]
    assert rescue_dev["driver"] == driver and rescue_dev["bootindex"] == 0
    if controller:
        assert after[rescue_dev["bus"].split(".")[0]]["driver"] == controller
    elif bus == "ide":
        assert rescue_dev["bus"] == "ide.0"  # the config drive is on ide.1
    nodes = {b["node-name"]: b for b in map(json.loads, options(argv, "-blockdev"))}
    assert nodes["rescue"]["file"]["filename"] == str(files.rescue)
    assert nodes["rescue"]["read-only"] is (device == "cdrom")


def test_stable_rescue_of_a_volume_backed_server(tmp_path: pathlib.Path) -> None:
    files = InstanceFiles(tmp_path / "inst")
    argv = build(tmp_path, spec(tmp_path, image_path=None), files, rescue=Rescue(stable=True))
    disks = [d for d in json_devices(argv) if d["driver"] == "virtio-blk-pci"]
    assert [d["id"] for d in disks] == ["vol-0d7a6cc6-1234-4321-aaaa-000000000001", "disk-rescue"]
    assert "bootindex" not in disks[0] and disks[1]["bootindex"] == 0


def test_rescue_of_image_properties() -> None:
    assert rescue_of({}) == Rescue()
    assert rescue_of({"hw_rescue_bus": "scsi"}) == Rescue(stable=True, device="disk", bus="scsi")
    assert rescue_of({"hw_rescue_device": "cdrom"}) == Rescue(stable=True, device="cdrom", bus="ide")
    assert rescue_of({"hw_rescue_device": "disk"}) == Rescue(stable=True, device="disk", bus="virtio")


def test_boot_from_volume(tmp_path: pathlib.Path) -> None:
    files = InstanceFiles(tmp_path / "inst")
    argv = build(tmp_path, spec(tmp_path, image_path=None), files)
    disks = [d for d in json_devices(argv) if d["driver"] == "virtio-blk-pci"]
    assert [d["id"] for d in disks] == ["vol-0d7a6cc6-1234-4321-aaaa-000000000001"]
    assert disks[0]["bootindex"] == 0


def test_a_multiattach_volume_is_opened_shared(tmp_path: pathlib.Path) -> None:
    """The connection info of a multiattach volume makes a shareable Disk, whose virtio-blk device
    shares write access (share-rw) on a raw node, at a cold start and in hot-plug alike; the image
    lock stays on (no "locking": "off"); a qcow2 multiattach volume is refused."""
    from monostack.common import errors
    from monostack.compute import volume_api

    info = {"driver_volume_type": "file", "data": {"device_path": str(tmp_path / "vol.raw"), "format": "raw",
                                                   "multiattach": True, "access_mode": "rw"}}
    disk = volume_api.disk("0d7a6cc6-1234-4321-aaaa-000000000001", info, "/dev/vdb")
    assert disk.shareable and disk.format == "raw" and not disk.read_only
    plain = volume_api.disk("v2", {"driver_volume_type": "file", "data": {"device_path": "/x", "format": "qcow2"}},
                            None)
    assert not plain.shareable and "share-rw" not in qemu_cmd.volume(plain).device
    with pytest.raises(errors.BadRequest, match="cannot share"):
        volume_api.disk("v3", {"driver_volume_type": "file", "multiattach": True,
                               "data": {"device_path": "/x", "format": "qcow2"}}, None)
    argv = build(tmp_path, spec(tmp_path, disks=[disk]), InstanceFiles(tmp_path / "inst"))
    device = next(d for d in json_devices(argv) if d["id"] == "vol-0d7a6cc6-1234-4321-aaaa-000000000001")
    assert device["share-rw"] is True
    hotplug = qemu_cmd.volume(disk)
    assert hotplug.device["share-rw"] is True and hotplug.blockdev["driver"] == "raw"
    assert "locking" not in hotplug.blockdev["file"]


def test_slots_are_kept(tmp_path: pathlib.Path) -> None:
    files = InstanceFiles(tmp_path / "inst")
    s = spec(tmp_path)
    first = qemu_cmd.assign_slots(qemu_cmd.devices(s, files), {}, keep_unlisted=False)
    hotplugged = dict(first, **{"vol-hot": qemu_cmd.free_slot(set(first.values()))})
    # resume from saved memory: everything where it was, the hot-plugged disk too
    assert qemu_cmd.assign_slots(qemu_cmd.devices(s, files), hotplugged, keep_unlisted=True) == hotplugged
    # a cold boot without that disk frees its slot; the others stay put
    assert qemu_cmd.assign_slots(qemu_cmd.devices(s, files), hotplugged, keep_unlisted=False) == first


def test_commas_and_long_socket_paths(tmp_path: pathlib.Path) -> None:
    deep = tmp_path / ("d" * 120) / "instances" / UUID
    files = InstanceFiles(deep)
    argv = build(tmp_path, spec(tmp_path, name="a,b"), files)
    assert options(argv, "-name") == ["guest=a,,b,debug-threads=on"]
    chardevs = options(argv, "-chardev")
    assert chardevs[0].startswith("socket,id=qmp,path=qmp.sock,")  # relative: QEMU runs in the instance dir
    assert unixsock.qemu_path(tmp_path / "qmp.sock") == str(tmp_path / "qmp.sock")


SCSI = {"hw_disk_bus": "scsi", "hw_scsi_model": "virtio-scsi", "hw_cdrom_bus": "scsi"}


def test_disks_on_the_scsi_bus_the_image_asks_for(tmp_path: pathlib.Path) -> None:
    files = InstanceFiles(tmp_path / "inst")
    files.dir.mkdir(parents=True)
    files.ephemeral.touch()
    volume = Disk(volume_id="0d7a6cc6-1234-4321-aaaa-000000000001", path=tmp_path / "vol.raw", format="raw",
                  device_name="/dev/sdc", bus="scsi")
    s = spec(tmp_path, hw_properties=SCSI, ephemeral_gb=1, disks=[volume], config_drive=tmp_path / "cd.iso")
    devices = {d["id"]: d for d in json_devices(build(tmp_path, s, files))}
    assert devices["scsi0"]["driver"] == "virtio-scsi-pci" and "addr" in devices["scsi0"]
    on_scsi = {"bus": "scsi0.0", "channel": 0, "lun": 0}
    # each disk at the target its name says (the root sda, the ephemeral disk sdb, the volume sdc)
    assert devices["disk-root"] == dict(on_scsi, driver="scsi-hd", id="disk-root", drive="root", **{"scsi-id": 0},
                                        bootindex=0)
    assert devices["disk-eph0"]["scsi-id"] == 1 and devices["disk-eph0"]["driver"] == "scsi-hd"
    vol = devices["vol-0d7a6cc6-1234-4321-aaaa-000000000001"]
    assert vol["scsi-id"] == 2 and vol["serial"] == "0d7a6cc6-1234-4321-aaaa-000000000001"
    # the config drive on the controller's last target, out of the disks' way
    assert devices["cdrom-config"] == dict(on_scsi, driver="scsi-cd", id="cdrom-config", drive="config",
                                           **{"scsi-id": 255})
    # the controller comes before its units on the command line
    order = [d["id"] for d in json_devices(build(tmp_path, s, files))]
    assert order.index("scsi0") < min(order.index(i) for i in ("disk-root", "disk-eph0", "cdrom-config"))
    # lsilogic, as Nova's hw_scsi_model names it
    lsi = {d["id"]: d for d in json_devices(build(tmp_path, spec(tmp_path, hw_properties=dict(
        SCSI, hw_scsi_model="lsilogic"), config_drive=tmp_path / "cd.iso"), files))}
    assert lsi["scsi0"]["driver"] == "lsi53c895a" and lsi["cdrom-config"]["scsi-id"] == 6
    # a virtio image: no controller, virtio-blk and the IDE CD-ROM as before
    plain = {d["id"]: d for d in json_devices(build(tmp_path, spec(tmp_path, config_drive=tmp_path / "cd.iso"),
                                                    files))}
    assert "scsi0" not in plain and plain["disk-root"]["driver"] == "virtio-blk-pci"
    assert plain["cdrom-config"]["driver"] == "ide-cd"


def test_a_scsi_guest_is_prelaunched_without_the_ide_cdrom_and_takes_its_units_at_run_time(
        tmp_path: pathlib.Path) -> None:
    files = InstanceFiles(tmp_path / "inst")
    s = spec(tmp_path, hw_properties=SCSI, config_drive=tmp_path / "cd.iso", nics=[])
    pre = qemu_cmd.prelaunch_argv(s, files, qemu="qemu-system-x86_64", accel="tcg", version="7.2.22")
    assert pre == qemu_cmd.machine_argv(s, files, qemu="qemu-system-x86_64", accel="tcg", version="7.2.22") + ["-S"]
    devs = qemu_cmd.devices(s, files)
    slots = qemu_cmd.assign_slots(devs, {}, keep_unlisted=False)
    assert qemu_cmd.hot_addable(devs)
    adds = [a for dev in devs for n, a in qemu_cmd.hot_add_commands(dev, slots) if n == "device_add"]
    ids = [a["id"] for a in adds]
    assert ids.index("scsi0") < ids.index("disk-root") < ids.index("cdrom-config")
    controller = adds[ids.index("scsi0")]
    assert controller["addr"] == hex(slots["scsi0"]) and controller["bus"] == "pci.0"
    assert "addr" not in adds[ids.index("disk-root")] and adds[ids.index("disk-root")]["bus"] == "scsi0.0"
    # an image whose CD-ROM stays on IDE keeps it on the prelaunched command line
    ide = qemu_cmd.prelaunch_argv(spec(tmp_path, hw_properties={"hw_disk_bus": "scsi"},
                                       config_drive=tmp_path / "cd.iso"), files,
                                  qemu="qemu-system-x86_64", accel="tcg", version="7.2.22")
    assert ide[-2:] == ["-device", json.dumps(qemu_cmd.CONFIG_CDROM)]


@pytest.mark.parametrize("properties, text", [
    ({"hw_disk_bus": "xen"}, "Disk bus 'xen' is not supported"),
    ({"hw_disk_bus": "scsi", "hw_scsi_model": "buslogic"}, "SCSI controller model 'buslogic'"),
    ({"hw_cdrom_bus": "usb"}, "CD-ROM bus 'usb' is not supported"),
])
def test_buses_the_driver_does_not_give_are_refused(tmp_path: pathlib.Path, properties, text) -> None:
    with pytest.raises(ValueError, match=text):
        qemu_cmd.devices(spec(tmp_path, hw_properties=properties, config_drive=tmp_path / "cd.iso"),
                         InstanceFiles(tmp_path / "inst"))


def test_a_disks_place_on_its_bus_follows_its_name() -> None:
    assert [qemu_cmd.name_index(n) for n in ("/dev/sda", "sdb", "/dev/vdz", "/dev/sdaa", "/dev/xvdc")] == [
        0, 1, 25, 26, 2]
    with pytest.raises(ValueError):
        qemu_cmd.name_index("")
