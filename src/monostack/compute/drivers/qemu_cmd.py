"""The QEMU command line of a guest, and the device descriptions hot-plug reuses.

Disks, NICs and their backends are described once as the JSON objects that
both `-blockdev`/`-device`/`-netdev` (JSON form) and QMP's
blockdev-add/device_add/netdev_add accept, so a hot-plugged device is the
same device a cold start would create.

Every PCI device gets an explicit slot that is kept in devices.json: a guest
restored from saved memory (resume) must find each device where it was,
including devices hot-plugged after it booted, and the guest's own device
names stay stable across reboots.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import pathlib
import re
import shlex
from typing import Any

from monostack.compute.drivers import unixsock
from monostack.compute.drivers.base import Disk, GuestSpec, Nic, Rescue
from monostack.compute.drivers.instance_files import InstanceFiles

FIRST_SLOT, LAST_SLOT = 3, 31  # slot 0 host bridge, 1 PIIX (IDE, ACPI), 2 left for a display
NIC_MODELS = {"virtio": "virtio-net-pci", "e1000": "e1000", "e1000e": "e1000e", "rtl8139": "rtl8139",
              "ne2k_pci": "ne2k_pci", "pcnet": "pcnet"}
SMBIOS_MANUFACTURER = "OpenStack Foundation"
SMBIOS_FAMILY = "Virtual Machine"
# The config drive: a CD-ROM on the IDE controller's second channel (its medium added apart).
CONFIG_CDROM = {"driver": "ide-cd", "id": "cdrom-config", "bus": "ide.1"}
# The buses this driver puts a disk on (an image's hw_disk_bus, a mapping's disk_bus) and the
# config drive's CD-ROM on (hw_cdrom_bus); libvirt's defaults: virtio and IDE.
DISK_BUSES = ("virtio", "scsi")
CDROM_BUSES = ("ide", "scsi")
# hw_scsi_model -> the controller; (the highest SCSI target it takes: the config drive's CD-ROM sits
# there, out of the way of the disks, whose targets follow their names: sda 0, sdb 1, ...)
SCSI_CONTROLLERS = {"virtio-scsi": ("virtio-scsi-pci", 255), "lsilogic": ("lsi53c895a", 6)}
SCSI_CONTROLLER_ID = "scsi0"


def _short(prefix: str, key: str) -> str:
    """A QEMU node or netdev name for key: starts with a letter, at most 31 characters."""
    return prefix + hashlib.sha1(key.encode()).hexdigest()[:20]


def volume_device_id(volume_id: str) -> str:
    return f"vol-{volume_id}"


def volume_node(volume_id: str) -> str:
    return _short("vol", volume_id)


def volume_backup_node(volume_id: str) -> str:
    """The node of the file a point-in-time copy of the volume is written to (snapshot_disk)."""
    return _short("bak", volume_id)


def volume_backup_job(volume_id: str) -> str:
    return _short("job", volume_id)


def nic_device_id(port_id: str) -> str:
    return f"nic-{port_id}"


def nic_netdev(port_id: str) -> str:
    return _short("net", port_id)


def escape(value: str) -> str:
    """A value inside QEMU's key=value,... option syntax (a comma is written twice)."""
    return str(value).replace(",", ",,")


@dataclasses.dataclass
class Device:
    id: str
    device: dict[str, Any]
    blockdev: dict[str, Any] | None = None
    netdev: dict[str, Any] | None = None
    pci: bool = True
    on_scsi: bool = False  # a unit on the SCSI controller: added at run time without a PCI slot


def disk_bus(spec: GuestSpec) -> str:
    return str(spec.hw_properties.get("hw_disk_bus") or "virtio")


def cdrom_bus(spec: GuestSpec) -> str:
    return str(spec.hw_properties.get("hw_cdrom_bus") or "ide")


def scsi_model(properties: dict[str, Any]) -> tuple[str, int]:
    """The QEMU controller the image's hw_scsi_model names, and its highest target."""
    model = str(properties.get("hw_scsi_model") or "virtio-scsi")
    if model not in SCSI_CONTROLLERS:
        raise ValueError(f"SCSI controller model {model!r} is not supported by the qemu virt driver "
                         f"(supported: {', '.join(SCSI_CONTROLLERS)})")
    return SCSI_CONTROLLERS[model]


def scsi_controller(properties: dict[str, Any]) -> Device:
    return Device(SCSI_CONTROLLER_ID, {"driver": scsi_model(properties)[0], "id": SCSI_CONTROLLER_ID})


def name_index(device_name: str) -> int:
    """A disk's place on its bus from its name, as libvirt reads a target: sda 0, sdb 1, ..., sdz
    25, sdaa 26 (vd, hd and xvd names alike)."""
    match = re.fullmatch(r"(?:/dev/)?(?:xvd|[vsh]d)([a-z]+)", device_name or "")
    if match is None:
        raise ValueError(f"device name {device_name!r} does not say where the disk goes on its bus")
    index = 0
    for letter in match.group(1):
        index = index * 26 + ord(letter) - ord("a") + 1
    return index - 1


def _check_bus(bus: str) -> None:
    if bus not in DISK_BUSES:
        raise ValueError(f"Disk bus {bus!r} is not supported by the qemu virt driver "
                         f"(supported: {', '.join(DISK_BUSES)})")


def blockdev(node: str, path: pathlib.Path, fmt: str, read_only: bool = False) -> dict[str, Any]:
    return {"driver": fmt, "node-name": node, "read-only": read_only,
            "file": {"driver": "file", "filename": str(path), "read-only": read_only}}


def disk_device(dev_id: str, node: str, path: pathlib.Path, fmt: str, *, serial: str = "",
                bootindex: int | None = None, read_only: bool = False, shareable: bool = False,
                bus: str = "virtio", unit: int = 0) -> Device:
    """A disk on virtio-blk (a PCI device of its own) or on the SCSI controller at target unit."""
    _check_bus(bus)
    device: dict[str, Any] = {"driver": "virtio-blk-pci", "id": dev_id, "drive": node}
    if bus == "scsi":
        device = {"driver": "scsi-hd", "id": dev_id, "drive": node, "bus": f"{SCSI_CONTROLLER_ID}.0",
                  "channel": 0, "scsi-id": unit, "lun": 0}
    if shareable:
        # A multiattach volume: the device lets other users of the file write too (share-rw), so
        # QEMU takes its image lock shared, and the next guest's QEMU opening the same raw file gets
        # write access beside this one (libvirt's <shareable/>).  The lock stays on: Block Storage
        # still sees that guests write the file (qemu_img.in_use), and qcow2 is refused by QEMU.
        device["share-rw"] = True
    if serial:
        # virtio-blk serials hold 20 bytes, SCSI ones 36 (Nova passes the volume id, cut)
        device["serial"] = serial[:36 if bus == "scsi" else 20]
    if bootindex is not None:
        device["bootindex"] = bootindex
    return Device(dev_id, device, blockdev=blockdev(node, path, fmt, read_only), pci=bus != "scsi",
                  on_scsi=bus == "scsi")


def volume(disk: Disk, bootindex: int | None = None) -> Device:
    return disk_device(volume_device_id(disk.volume_id), volume_node(disk.volume_id), disk.path, disk.format,
                       serial=disk.serial or disk.volume_id, bootindex=bootindex, read_only=disk.read_only,
                       shareable=disk.shareable, bus=disk.bus,
                       unit=name_index(disk.device_name) if disk.bus == "scsi" else 0)


def nic(n: Nic) -> Device:
    netdev_id = nic_netdev(n.port_id)
    if n.kind == "tap":
        netdev: dict[str, Any] = {"type": "tap", "id": netdev_id, "ifname": n.tap_name, "script": "no",
                                  "downscript": "no"}
    elif n.kind == "user":
        netdev = {"type": "user", "id": netdev_id}
        if n.host_forwards:
            netdev["hostfwd"] = [{"str": f"tcp:127.0.0.1:{host}-:{guest}"}
                                 for host, guest in sorted(n.host_forwards.items())]
    else:
        raise ValueError(f"unknown NIC kind {n.kind!r}")
    model = NIC_MODELS.get(n.model or "virtio", "virtio-net-pci")
    device: dict[str, Any] = {"driver": model, "id": nic_device_id(n.port_id), "netdev": netdev_id, "mac": n.mac}
    if model == "virtio-net-pci" and n.mtu and n.mtu != 1500:
        device["host_mtu"] = n.mtu
    return Device(device["id"], device, netdev=netdev)


def devices(spec: GuestSpec, files: InstanceFiles, *, rescue: Rescue | None = None) -> list[Device]:
    """The guest's devices in a stable order (the order slots are first given in)."""
    out = [Device("rng0", {"driver": "virtio-rng-pci", "id": "rng0"})]
    bus = disk_bus(spec)
    if rescue is not None and not rescue.stable:  # legacy rescue: the rescue disk, the root disk, no others
        out.append(disk_device("disk-rescue", "rescue", files.rescue, "qcow2", bootindex=0))
        out.append(disk_device("disk-root", "root", files.root, "qcow2"))
    else:
        # Without a rescue the root disk (or the first volume) boots; in a stable rescue every disk
        # keeps its place and the rescue disk, added last, boots instead.  The flavor's disks take
        # the places after the root disk (vdb/sdb, vdc/sdc), as their names in the API say.
        first = 0 if rescue is None else None
        boot_from_volume = spec.image_path is None and not files.root.exists()
        units = iter(range(1, 3))
        if not boot_from_volume:
            out.append(disk_device("disk-root", "root", files.root, "qcow2", bootindex=first, bus=bus))
        if spec.ephemeral_gb and files.ephemeral.exists():
            out.append(disk_device("disk-eph0", "eph0", files.ephemeral, "raw", bus=bus, unit=next(units)))
        if spec.swap_mb and files.swap.exists():
            out.append(disk_device("disk-swap", "swap", files.swap, "raw", bus=bus, unit=next(units)))
        for index, disk in enumerate(spec.disks):
            out.append(volume(disk, bootindex=first if boot_from_volume and index == 0 else None))
    out.extend(nic(n) for n in spec.nics)
    config = config_drive_path(spec, files)
    if config is not None:
        out.append(config_cdrom(spec, config))
    if any(dev.on_scsi for dev in out):  # the controller before its units (the list is their order)
        out.insert(1, scsi_controller(spec.hw_properties))
    if rescue is not None and rescue.stable:
        out.extend(stable_rescue_devices(rescue, files))
    return out


def config_cdrom(spec: GuestSpec, path: pathlib.Path) -> Device:
    """The config drive: a CD-ROM, as Nova attaches an iso9660 config drive (the guest's cloud-init
    finds it by its label, config-2), on the IDE controller or, for hw_cdrom_bus=scsi, on the SCSI
    controller's highest target."""
    node = blockdev("config", path, "raw", read_only=True)
    bus = cdrom_bus(spec)
    if bus == "ide":
        return Device(CONFIG_CDROM["id"], dict(CONFIG_CDROM, drive="config"), blockdev=node, pci=False)
    if bus == "scsi":
        last = scsi_model(spec.hw_properties)[1]
        return Device(CONFIG_CDROM["id"], {"driver": "scsi-cd", "id": CONFIG_CDROM["id"], "drive": "config",
                                           "bus": f"{SCSI_CONTROLLER_ID}.0", "channel": 0, "scsi-id": last,
                                           "lun": 0}, blockdev=node, pci=False, on_scsi=True)
    raise ValueError(f"CD-ROM bus {bus!r} is not supported by the qemu virt driver "
                     f"(supported: {', '.join(CDROM_BUSES)})")


def stable_rescue_devices(rescue: Rescue, files: InstanceFiles) -> list[Device]:
    """The rescue disk on the bus the image asks for (with that bus's controller), booted first.
    A CD-ROM is read-only; IDE takes the first channel (the config drive sits on the second)."""
    cdrom = rescue.device == "cdrom"
    node = blockdev("rescue", files.rescue, "qcow2", read_only=cdrom)
    if rescue.bus == "virtio":
        return [disk_device("disk-rescue", "rescue", files.rescue, "qcow2", bootindex=0)]
    if rescue.bus == "scsi":
        return [Device("scsi-rescue", {"driver": "virtio-scsi-pci", "id": "scsi-rescue"}),
                Device("disk-rescue", {"driver": "scsi-cd" if cdrom else "scsi-hd", "id": "disk-rescue",
                                       "drive": "rescue", "bus": "scsi-rescue.0", "bootindex": 0},
                       blockdev=node, pci=False)]
    if rescue.bus == "usb":
        return [Device("usb-rescue", {"driver": "qemu-xhci", "id": "usb-rescue"}),
                Device("disk-rescue", {"driver": "usb-storage", "id": "disk-rescue", "drive": "rescue",
                                       "bus": "usb-rescue.0", "removable": cdrom, "bootindex": 0},
                       blockdev=node, pci=False)]
    if rescue.bus == "ide":
        return [Device("disk-rescue", {"driver": "ide-cd" if cdrom else "ide-hd", "id": "disk-rescue",
                                       "drive": "rescue", "bus": "ide.0", "bootindex": 0},
                       blockdev=node, pci=False)]
    raise ValueError(f"rescue bus {rescue.bus!r} is not supported")


def config_drive_path(spec: GuestSpec, files: InstanceFiles) -> pathlib.Path | None:
    if spec.config_drive is None:
        return None
    return files.config_drive if files.config_drive.exists() else spec.config_drive


def assign_slots(devs: list[Device], slots: dict[str, int], *, keep_unlisted: bool) -> dict[str, int]:
    """PCI slots for devs: the slot a device had before, else the lowest free one."""
    ids = {d.id for d in devs if d.pci}
    kept = {k: v for k, v in slots.items() if keep_unlisted or k in ids}
    used = set(kept.values())
    for dev in devs:
        if dev.pci and dev.id not in kept:
            kept[dev.id] = free_slot(used)
            used.add(kept[dev.id])
    return kept


def free_slot(used: set[int]) -> int:
    for slot in range(FIRST_SLOT, LAST_SLOT + 1):
        if slot not in used:
            return slot
    raise ValueError("no free PCI slot left in the guest")


def smbios(spec: GuestSpec, version: str) -> str:
    fields = {"manufacturer": SMBIOS_MANUFACTURER, "product": spec.smbios_product, "version": version,
              "serial": spec.uuid, "uuid": spec.uuid, "family": SMBIOS_FAMILY}
    return "type=1," + ",".join(f"{k}={escape(v)}" for k, v in fields.items())


def machine_argv(spec: GuestSpec, files: InstanceFiles, *, qemu: str, accel: str, version: str) -> list[str]:
    """The command line of the machine alone: no disks, NICs or other devices of the guest."""
    cmd = [qemu, "-name", f"guest={escape(spec.name)},debug-threads=on", "-uuid", spec.uuid,
           "-machine", "pc", "-nodefaults", "-no-user-config", "-display", "none",
           "-m", str(spec.memory_mb), "-smp", str(spec.vcpus), "-rtc", "base=utc",
           "-smbios", smbios(spec, version)]
    if accel == "kvm":
        cmd += ["-accel", "kvm", "-cpu", "host"]
    else:
        cmd += ["-accel", "tcg,thread=multi", "-cpu", "max"]
    cmd += ["-daemonize", "-pidfile", str(files.pidfile), "-D", str(files.qemu_log),
            "-chardev", f"socket,id=qmp,path={escape(unixsock.qemu_path(files.qmp_sock))},server=on,wait=off",
            "-mon", "chardev=qmp,mode=control",
            "-chardev", (f"socket,id=serial0,path={escape(unixsock.qemu_path(files.console_sock))},"
                         f"server=on,wait=off,logfile={escape(str(files.console_log))},logappend=on"),
            "-serial", "chardev:serial0",
            # a kernel panic shows as QMP status guest-panicked (power state CRASHED), not a reboot
            "-device", "pvpanic", "-action", "panic=pause"]
    return cmd


def argv(spec: GuestSpec, files: InstanceFiles, *, qemu: str, accel: str, slots: dict[str, int],
         version: str, rescue: Rescue | None = None, incoming: bool = False) -> list[str]:
    cmd = machine_argv(spec, files, qemu=qemu, accel=accel, version=version)
    for dev in devices(spec, files, rescue=rescue):
        if dev.blockdev is not None:
            cmd += ["-blockdev", json.dumps(dev.blockdev)]
        if dev.netdev is not None:
            cmd += ["-netdev", json.dumps(dev.netdev)]
        device = dict(dev.device)
        if dev.pci:
            device["addr"] = hex(slots[dev.id])
        cmd += ["-device", json.dumps(device)]
    if incoming:
        cmd += ["-S", "-incoming", f"exec:cat {shlex.quote(str(files.saved_state))}"]
    return cmd


# -- a machine started before its devices exist ---------------------------------------------
# QEMU's own set-up is most of a guest's start under TCG (about 60 ms here), and needs nothing of
# the build but the flavor and the server's identity.  So a new guest's QEMU is started paused
# (-S, "prelaunch") with the machine alone while the agent makes its disks, config drive and
# ports; its devices are then added over QMP, exactly as `devices` describes them for a cold start,
# and a system_reset before it first runs makes the firmware see them as cold-plugged devices (the
# boot order QEMU hands the firmware is rebuilt at reset: without it a disk's bootindex added in
# prelaunch is not in it).  The config drive's IDE CD-ROM cannot be hot-plugged, so the drive is
# on the command line, empty, and the disk goes in as a medium; a SCSI controller is a PCI device
# like the others, and its disks and CD-ROM are added onto it after it.


def prelaunch_argv(spec: GuestSpec, files: InstanceFiles, *, qemu: str, accel: str, version: str) -> list[str]:
    cmd = machine_argv(spec, files, qemu=qemu, accel=accel, version=version) + ["-S"]
    if spec.config_drive is not None and cdrom_bus(spec) == "ide":
        cmd += ["-device", json.dumps(CONFIG_CDROM)]
    return cmd


def pci_device(dev: Device, slot: int) -> dict[str, Any]:
    """device_add's arguments for a PCI device at slot."""
    return dict(dev.device, addr=hex(slot), bus="pci.0")


def hot_add_commands(dev: Device, slots: dict[str, int]) -> list[tuple[str, dict[str, Any]]]:
    """The QMP commands that add dev to a prelaunched machine: its backend, then the PCI device
    at its slot, or (the config drive) the disk as the medium of the command line's CD-ROM."""
    commands: list[tuple[str, dict[str, Any]]] = []
    if dev.blockdev is not None:
        commands.append(("blockdev-add", dev.blockdev))
    if dev.netdev is not None:
        commands.append(("netdev_add", dev.netdev))
    if dev.pci:
        return commands + [("device_add", pci_device(dev, slots[dev.id]))]
    if dev.on_scsi:  # after the controller's own device_add (devices() puts it first)
        return commands + [("device_add", dev.device)]
    if dev.blockdev is None:
        raise ValueError(f"{dev.id} cannot be added to a prelaunched machine")
    return commands + [("blockdev-open-tray", {"id": dev.id}),
                       ("blockdev-insert-medium", {"id": dev.id, "node-name": dev.blockdev["node-name"]}),
                       ("blockdev-close-tray", {"id": dev.id})]


def hot_addable(devs: list[Device]) -> bool:
    """Every device can be added to a prelaunched machine (PCI devices, SCSI units, the config
    drive's medium)."""
    return all(dev.pci or dev.on_scsi or dev.id == CONFIG_CDROM["id"] for dev in devs)
