"""The seam between the compute agent and a hypervisor.

The agent (monostack.compute.agent) owns the server lifecycle and the
database; a driver only makes a guest on this host look the way the agent
asks, and reports what it sees.  Every method is async and must not block the
event loop (subprocesses through asyncio, disk work in threads).

A driver keeps everything of one guest under `instance_dir(uuid)`
(`<state_dir>/instances/<uuid>/`): the root disk overlay, the config drive,
the console log, the QMP socket, the pid file.  That directory is the
driver's truth about which guests exist on the host (`list_guests`), so the
agent can reconcile after a crash.
"""

from __future__ import annotations

import dataclasses
import enum
import pathlib
from typing import Any, AsyncIterator, Collection


class PowerState(enum.IntEnum):
    """Nova's power_state values (the API shows the number as OS-EXT-STS:power_state)."""

    NOSTATE = 0
    RUNNING = 1
    PAUSED = 3
    SHUTDOWN = 4
    CRASHED = 6
    SUSPENDED = 7


@dataclasses.dataclass
class Nic:
    """One network interface of a guest.

    `kind` says how it reaches a network:
    - "user": QEMU user-mode networking (no networking service in this cloud):
      the guest gets 10.0.2.15 by QEMU's DHCP; `host_forwards` maps host ports
      to guest ports (e.g. {2222: 22}) so the host can SSH in.
    - "tap": a tap device `tap_name` (created by the networking service's
      agent or by the driver) plugged into `bridge`.
    """

    port_id: str
    mac: str  # fa:16:3e:xx:xx:xx
    kind: str = "user"
    tap_name: str = ""
    bridge: str = ""
    mtu: int = 1500
    model: str = "virtio"
    host_forwards: dict[int, int] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Disk:
    """A volume attached to a guest (block storage issue): a file on this host."""

    volume_id: str
    path: pathlib.Path
    format: str = "qcow2"  # or "raw"
    device_name: str = ""  # /dev/vdb as the API reports it
    serial: str = ""  # the volume id, as Nova passes it, so the guest sees /dev/disk/by-id/virtio-<id>
    read_only: bool = False
    # A multiattach volume other guests may write at the same time (libvirt's <shareable/>): the
    # guest's QEMU shares write access to the file (share-rw=on) instead of locking it for itself.
    shareable: bool = False
    bus: str = "virtio"  # or "scsi" (the mapping's disk_bus); a SCSI disk's target follows device_name


@dataclasses.dataclass
class GuestSpec:
    """Everything a driver needs to create (or recreate) a guest."""

    uuid: str
    name: str  # instance-0000000a (Nova's instance_name_template)
    vcpus: int
    memory_mb: int
    root_gb: int  # the root disk is grown to this size when larger than the image
    ephemeral_gb: int = 0
    swap_mb: int = 0
    image_path: pathlib.Path | None = None  # cached base image on this host (None: boot from volume)
    image_format: str = "qcow2"  # qcow2 or raw
    config_drive: pathlib.Path | None = None  # ISO9660 "config-2", built by the agent
    nics: list[Nic] = dataclasses.field(default_factory=list)
    disks: list[Disk] = dataclasses.field(default_factory=list)
    # SMBIOS type 1: manufacturer "OpenStack Foundation", product "OpenStack Nova", serial/uuid the server's uuid.
    smbios_product: str = "OpenStack Nova"
    hw_properties: dict[str, Any] = dataclasses.field(default_factory=dict)  # image hw_* properties


@dataclasses.dataclass(frozen=True)
class Rescue:
    """How a rescue disk reaches the guest.

    Legacy rescue (stable=False): the rescue disk boots first, the root disk
    is second, nothing else is attached.  Stable device rescue (the rescue
    image's hw_rescue_device/hw_rescue_bus, Nova 2.87): every disk of the
    server stays where it was, volumes included, and the rescue disk is added
    on `bus` as a `device` and booted first.
    """

    stable: bool = False
    device: str = "disk"  # disk | cdrom
    bus: str = "virtio"  # virtio | scsi | usb | ide


RESCUE_DEVICES = ("disk", "cdrom")
RESCUE_BUSES = ("virtio", "scsi", "usb", "ide")


def rescue_of(properties: dict[str, Any]) -> Rescue:
    """The Rescue an image's properties ask for: stable when it names a device or a bus (each
    defaults as Nova's libvirt driver does: a disk; virtio for a disk, IDE for a CD-ROM)."""
    device, bus = properties.get("hw_rescue_device"), properties.get("hw_rescue_bus")
    if device is None and bus is None:
        return Rescue()
    device = device or "disk"
    return Rescue(stable=True, device=device, bus=bus or ("ide" if device == "cdrom" else "virtio"))


def rescue_problem(rescue: Rescue) -> str | None:
    """Why this driver family cannot give that rescue device, or None (Nova's UnsupportedRescue* texts)."""
    if rescue.device not in RESCUE_DEVICES:
        return f"Requested rescue device '{rescue.device}' is not supported"
    if rescue.bus not in RESCUE_BUSES or (rescue.device == "cdrom" and rescue.bus == "virtio"):
        return f"Requested rescue bus '{rescue.bus}' is not supported by the qemu virt driver"
    return None


@dataclasses.dataclass
class GuestInfo:
    uuid: str
    power_state: PowerState
    pid: int | None = None


@dataclasses.dataclass
class HostResources:
    """What the host offers (reported to Placement as VCPU, MEMORY_MB, DISK_GB)."""

    hostname: str
    vcpus: int
    memory_mb: int
    disk_gb: int
    vcpus_used: int = 0
    memory_mb_used: int = 0
    disk_gb_used: int = 0
    hypervisor_type: str = "QEMU"
    hypervisor_version: int = 0  # Nova encodes 8.2.1 as 8002001
    cpu_info: dict[str, Any] = dataclasses.field(default_factory=dict)
    accelerator: str = "tcg"  # "kvm" when a probe guest really ran under KVM


class DriverError(Exception):
    """A driver operation failed; the message goes to the server's fault."""


class GuestNotFound(DriverError):
    pass


class Driver:
    """Interface; see monostack.compute.drivers.qemu (default) and .fake (test double)."""

    name = ""
    # Guests' ports are tap devices of this host (compute/vifs.py plugs them before spawn).
    plugs_vifs = True

    def __init__(self, state_dir: pathlib.Path, conf: Any = None):
        self.state_dir = state_dir
        self.conf = conf

    def instance_dir(self, uuid: str) -> pathlib.Path:
        return self.state_dir / "instances" / uuid

    # -- host ---------------------------------------------------------------------
    async def init_host(self) -> None:
        """Once at agent start: probes (KVM), directories."""

    async def host_resources(self) -> HostResources:
        raise NotImplementedError

    async def close(self) -> None:
        """At agent stop: let go of what this object holds (live console connections). Guests keep running."""

    async def list_guests(self, only: Collection[str] | None = None) -> list[GuestInfo]:
        """Every guest this driver knows on the host (running or not), or those of them named in
        `only` (the others' monitors are not asked: a build may be busy with its own)."""
        raise NotImplementedError

    # -- lifecycle ----------------------------------------------------------------
    async def prelaunch(self, spec: GuestSpec) -> None:
        """A build's head start, called as it begins with the machine alone (flavor, identity, and
        whether a config drive comes: no disks or NICs yet); spawn(spec) follows, or destroy.
        Returns at once; a driver may ignore it."""

    async def spawn(self, spec: GuestSpec) -> None:
        """Create disks and start the guest; returns once the VM runs."""
        raise NotImplementedError

    async def destroy(self, uuid: str, *, keep_disks: bool = False) -> None:
        """Stop the guest at once and, unless keep_disks, remove its directory. Idempotent."""
        raise NotImplementedError

    async def power_state(self, uuid: str) -> PowerState:
        raise NotImplementedError

    async def power_off(self, uuid: str, *, timeout: float = 60, clean: bool = True) -> None:
        """ACPI shutdown, then kill after timeout (clean=False: at once). Disks stay."""
        raise NotImplementedError

    async def power_on(self, spec: GuestSpec) -> None:
        """Start a stopped guest from its existing disks."""
        raise NotImplementedError

    async def reboot(self, spec: GuestSpec, *, hard: bool) -> None:
        """Soft: ACPI reboot request (falls back to hard after a timeout). Hard: a new QEMU process."""
        raise NotImplementedError

    async def pause(self, uuid: str) -> None:
        raise NotImplementedError

    async def inject_nmi(self, uuid: str) -> None:
        """A non-maskable interrupt to the guest (Nova's trigger_crash_dump: a guest set up for it
        panics and writes a crash dump)."""
        raise NotImplementedError

    async def unpause(self, uuid: str) -> None:
        raise NotImplementedError

    async def suspend(self, uuid: str) -> None:
        """Save the guest's memory state to disk and stop the process."""
        raise NotImplementedError

    async def resume(self, spec: GuestSpec) -> None:
        """Start from the saved state."""
        raise NotImplementedError

    async def rescue(self, spec: GuestSpec, rescue_image: pathlib.Path, rescue_format: str,
                     rescue: Rescue = Rescue()) -> None:
        """Boot from a fresh disk made from rescue_image, attached as `rescue` says (see Rescue)."""
        raise NotImplementedError

    async def unrescue(self, spec: GuestSpec) -> None:
        raise NotImplementedError

    async def resize(self, spec: GuestSpec) -> None:
        """Keep the current disk aside (for revert), grow it to spec.root_gb and start with the new flavor."""
        raise NotImplementedError

    async def confirm_resize(self, uuid: str) -> None:
        raise NotImplementedError

    async def revert_resize(self, spec: GuestSpec) -> None:
        """Back to the disk kept aside, started with the old flavor (spec)."""
        raise NotImplementedError

    async def snapshot(self, uuid: str, target: pathlib.Path) -> str:
        """A standalone qcow2 copy of the root disk at `target` (consistent: the guest is
        paused or its disk frozen during the copy); returns the disk format."""
        raise NotImplementedError

    # -- devices ------------------------------------------------------------------
    async def attach_interface(self, uuid: str, nic: Nic) -> None:
        raise NotImplementedError

    async def detach_interface(self, uuid: str, port_id: str) -> None:
        raise NotImplementedError

    async def attach_disk(self, uuid: str, disk: Disk) -> None:
        raise NotImplementedError

    async def detach_disk(self, uuid: str, volume_id: str) -> None:
        raise NotImplementedError

    async def has_disk(self, uuid: str, volume_id: str) -> bool | None:
        """Whether the running guest has the volume's device; None when the guest is not running
        (its disks are then what its next start makes of the block device mappings)."""
        raise NotImplementedError

    async def extend_disk(self, uuid: str, volume_id: str, new_size_bytes: int) -> None:
        """Grow an attached volume while the guest runs (the guest sees the new size at once).
        Idempotent at the same size; a smaller size is refused."""
        raise NotImplementedError

    async def snapshot_disk(self, uuid: str, volume_id: str, target: pathlib.Path, fmt: str = "qcow2") -> None:
        """A standalone point-in-time copy of an attached volume at target (format fmt), made while the
        guest keeps writing; the guest's image stays as it is. Nothing is left at target on failure."""
        raise NotImplementedError

    # -- console and diagnostics --------------------------------------------------
    async def console_output(self, uuid: str, length: int | None = None) -> str:
        """The tail of the serial console log (length: lines)."""
        raise NotImplementedError

    def console_stream(self, uuid: str) -> AsyncIterator[bytes]:
        """Bytes from the serial console as they come (for the websocket console)."""
        raise NotImplementedError

    async def console_write(self, uuid: str, data: bytes) -> None:
        raise NotImplementedError

    async def diagnostics(self, uuid: str) -> dict[str, Any]:
        """Nova's server diagnostics (2.48 form): state, driver, uptime, cpu/nic/disk details, memory."""
        raise NotImplementedError
