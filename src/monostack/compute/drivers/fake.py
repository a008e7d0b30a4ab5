"""FakeDriver: an explicit test and scale double. Never a default.

Guests exist only in this object's memory: each action checks the state it
starts from and moves to the state the real driver would reach, but no
process runs and no disk is written (except a snapshot's target file, and
the instance directory the agent may put a config drive into, removed on
destroy). `resources` makes the host look as large as a scale test needs,
so one process can play many hosts.
"""

from __future__ import annotations

import asyncio
import dataclasses
import pathlib
import shutil
import time
from typing import Any, AsyncIterator, Collection

from monostack.compute.drivers.base import (Disk, Driver, DriverError, GuestInfo, GuestNotFound, GuestSpec,
                                            HostResources, Nic, PowerState, Rescue)
from monostack.compute.drivers.diagnostics import STATES
from monostack.compute.drivers.options import config


@dataclasses.dataclass
class FakeGuest:
    spec: GuestSpec
    power: PowerState = PowerState.RUNNING
    saved: bool = False  # suspended: "memory" on "disk"
    rescued: bool = False
    rescue: Rescue | None = None  # how the last rescue attached its disk
    resize_kept: GuestSpec | None = None
    disks: dict[str, Disk] = dataclasses.field(default_factory=dict)
    nics: dict[str, Nic] = dataclasses.field(default_factory=dict)
    disk_sizes: dict[str, int] = dataclasses.field(default_factory=dict)  # volume id -> bytes after extend_disk
    started: float = dataclasses.field(default_factory=time.time)
    boots: int = 1
    console: bytearray = dataclasses.field(default_factory=bytearray)
    listeners: list[asyncio.Queue] = dataclasses.field(default_factory=list)

    def say(self, data: bytes) -> None:
        self.console += data
        del self.console[:-65536]
        for queue in self.listeners:
            queue.put_nowait(data)


class FakeDriver(Driver):
    name = "fake"
    plugs_vifs = False  # no host devices: ports are not plugged and no network-vif-plugged is awaited

    def __init__(self, state_dir: pathlib.Path, conf: Any = None, *, resources: HostResources | None = None):
        super().__init__(pathlib.Path(state_dir), conf)
        if resources is None:
            options = config(conf).compute
            resources = HostResources(hostname="fake-host", vcpus=options.fake_vcpus,
                                      memory_mb=options.fake_memory_mb, disk_gb=options.fake_disk_gb,
                                      hypervisor_type="QEMU", hypervisor_version=8002001, accelerator="tcg")
        self.resources = resources
        self.guests: dict[str, FakeGuest] = {}
        self.calls: list[tuple[str, str]] = []  # (method, uuid): what a test can assert on

    def _get(self, uuid: str) -> FakeGuest:
        try:
            return self.guests[uuid]
        except KeyError:
            raise GuestNotFound(f"no guest {uuid} on this host") from None

    def _expect(self, guest: FakeGuest, *allowed: PowerState) -> None:
        if guest.power not in allowed:
            raise DriverError(f"guest {guest.spec.uuid} is {guest.power.name}, not {'/'.join(a.name for a in allowed)}")

    def _boot(self, guest: FakeGuest, spec: GuestSpec) -> None:
        guest.spec, guest.power, guest.saved = spec, PowerState.RUNNING, False
        guest.started, guest.boots = time.time(), guest.boots + 1
        guest.say(f"fake guest {spec.name} booting\r\nlogin: ".encode())

    async def init_host(self) -> None:
        self.calls.append(("init_host", ""))

    async def host_resources(self) -> HostResources:
        running = [g for g in self.guests.values() if g.power != PowerState.SHUTDOWN]
        return dataclasses.replace(self.resources,
                                   vcpus_used=sum(g.spec.vcpus for g in running),
                                   memory_mb_used=sum(g.spec.memory_mb for g in running),
                                   disk_gb_used=sum(g.spec.root_gb + g.spec.ephemeral_gb for g in self.guests.values()))

    async def list_guests(self, only: Collection[str] | None = None) -> list[GuestInfo]:
        return [GuestInfo(uuid=u, power_state=g.power) for u, g in self.guests.items() if only is None or u in only]

    async def spawn(self, spec: GuestSpec) -> None:
        self.calls.append(("spawn", spec.uuid))
        if spec.uuid in self.guests and self.guests[spec.uuid].power != PowerState.SHUTDOWN:
            raise DriverError(f"guest {spec.uuid} is already running")
        guest = FakeGuest(spec=spec, boots=0)
        guest.disks = {d.volume_id: d for d in spec.disks}
        guest.nics = {n.port_id: n for n in spec.nics}
        self.guests[spec.uuid] = guest
        self._boot(guest, spec)

    async def destroy(self, uuid: str, *, keep_disks: bool = False) -> None:
        self.calls.append(("destroy", uuid))
        guest = self.guests.get(uuid)
        if keep_disks and guest is not None:
            guest.power = PowerState.SHUTDOWN
            return
        self.guests.pop(uuid, None)
        if not keep_disks:
            await asyncio.to_thread(shutil.rmtree, self.instance_dir(uuid), True)

    async def power_state(self, uuid: str) -> PowerState:
        return self._get(uuid).power

    async def power_off(self, uuid: str, *, timeout: float = 60, clean: bool = True) -> None:
        self.calls.append(("power_off", uuid))
        guest = self._get(uuid)
        guest.power = PowerState.SHUTDOWN
        guest.say(b"\r\nreboot: Power down\r\n")

    async def power_on(self, spec: GuestSpec) -> None:
        self.calls.append(("power_on", spec.uuid))
        guest = self._get(spec.uuid)
        if guest.power != PowerState.RUNNING:
            guest.rescued = False
            self._boot(guest, spec)

    async def reboot(self, spec: GuestSpec, *, hard: bool) -> None:
        self.calls.append(("reboot_hard" if hard else "reboot_soft", spec.uuid))
        self._boot(self._get(spec.uuid), spec)

    async def inject_nmi(self, uuid: str) -> None:
        guest = self._get(uuid)
        self._expect(guest, PowerState.RUNNING, PowerState.PAUSED)
        self.calls.append(("inject_nmi", uuid))

    async def pause(self, uuid: str) -> None:
        guest = self._get(uuid)
        self._expect(guest, PowerState.RUNNING)
        guest.power = PowerState.PAUSED

    async def unpause(self, uuid: str) -> None:
        guest = self._get(uuid)
        self._expect(guest, PowerState.PAUSED)
        guest.power = PowerState.RUNNING

    async def suspend(self, uuid: str) -> None:
        guest = self._get(uuid)
        if guest.saved:
            return
        self._expect(guest, PowerState.RUNNING, PowerState.PAUSED)
        guest.power, guest.saved = PowerState.SUSPENDED, True

    async def resume(self, spec: GuestSpec) -> None:
        guest = self._get(spec.uuid)
        if guest.power == PowerState.RUNNING:
            return
        if not guest.saved:
            raise DriverError(f"guest {spec.uuid} has no saved state to resume from")
        guest.power, guest.saved = PowerState.RUNNING, False

    async def rescue(self, spec: GuestSpec, rescue_image: pathlib.Path, rescue_format: str,
                     rescue: Rescue = Rescue()) -> None:
        guest = self._get(spec.uuid)
        self._boot(guest, spec)
        guest.rescued = True
        guest.rescue = rescue

    async def unrescue(self, spec: GuestSpec) -> None:
        guest = self._get(spec.uuid)
        if not guest.rescued:
            raise DriverError(f"guest {spec.uuid} is not rescued")
        guest.rescued = False
        self._boot(guest, spec)

    async def resize(self, spec: GuestSpec) -> None:
        guest = self._get(spec.uuid)
        if spec.root_gb and spec.root_gb < guest.spec.root_gb:
            raise DriverError(f"cannot resize the root disk down to {spec.root_gb} GiB")
        if guest.resize_kept is None:
            guest.resize_kept = guest.spec
        self._boot(guest, spec)

    async def confirm_resize(self, uuid: str) -> None:
        self._get(uuid).resize_kept = None

    async def revert_resize(self, spec: GuestSpec) -> None:
        guest = self._get(spec.uuid)
        if guest.resize_kept is None:
            raise DriverError(f"guest {spec.uuid} has no disk kept from before a resize")
        guest.resize_kept = None
        self._boot(guest, spec)

    async def snapshot(self, uuid: str, target: pathlib.Path) -> str:
        """A copy of the guest's image (a fake guest never writes its disk); raw zeros without one."""
        guest = self._get(uuid)
        image = guest.spec.image_path
        await asyncio.to_thread(target.parent.mkdir, parents=True, exist_ok=True)  # no instance dir of its own
        if image is not None and image.exists():
            await asyncio.to_thread(shutil.copyfile, image, target)
            return guest.spec.image_format
        await asyncio.to_thread(_zeros, pathlib.Path(target), max(guest.spec.root_gb, 1) * 1024 ** 3)
        return "raw"

    async def attach_interface(self, uuid: str, nic: Nic) -> None:
        self._get(uuid).nics[nic.port_id] = nic

    async def detach_interface(self, uuid: str, port_id: str) -> None:
        self._get(uuid).nics.pop(port_id, None)

    async def attach_disk(self, uuid: str, disk: Disk) -> None:
        self._get(uuid).disks[disk.volume_id] = disk

    async def detach_disk(self, uuid: str, volume_id: str) -> None:
        self._get(uuid).disks.pop(volume_id, None)

    async def has_disk(self, uuid: str, volume_id: str) -> bool | None:
        guest = self.guests.get(uuid)
        return None if guest is None or guest.power == PowerState.SHUTDOWN else volume_id in guest.disks

    def _attached(self, uuid: str, volume_id: str) -> tuple[FakeGuest, Disk]:
        guest = self._get(uuid)
        disk = guest.disks.get(volume_id)
        if disk is None or guest.power == PowerState.SHUTDOWN:
            raise DriverError(f"volume {volume_id} is not attached to the running guest {uuid}")
        return guest, disk

    async def extend_disk(self, uuid: str, volume_id: str, new_size_bytes: int) -> None:
        self.calls.append(("extend_disk", uuid))
        guest, _disk = self._attached(uuid, volume_id)
        if new_size_bytes < guest.disk_sizes.get(volume_id, 0):
            raise DriverError(f"cannot shrink volume {volume_id}")
        guest.disk_sizes[volume_id] = new_size_bytes

    async def snapshot_disk(self, uuid: str, volume_id: str, target: pathlib.Path, fmt: str = "qcow2") -> None:
        """A copy of the attached file (a fake guest never writes it); a sparse file of its size without one."""
        self.calls.append(("snapshot_disk", uuid))
        guest, disk = self._attached(uuid, volume_id)
        if disk.path.exists():
            await asyncio.to_thread(shutil.copyfile, disk.path, target)
        else:
            await asyncio.to_thread(_zeros, pathlib.Path(target), guest.disk_sizes.get(volume_id, 1024 ** 3))

    async def console_output(self, uuid: str, length: int | None = None) -> str:
        text = self._get(uuid).console.decode(errors="replace")
        if length is None:
            return text
        return "".join(text.splitlines(keepends=True)[-length:]) if length > 0 else ""

    def console_stream(self, uuid: str) -> AsyncIterator[bytes]:
        guest = self._get(uuid)

        async def stream() -> AsyncIterator[bytes]:
            queue: asyncio.Queue = asyncio.Queue()
            guest.listeners.append(queue)
            try:
                while True:
                    yield await queue.get()
            finally:
                guest.listeners.remove(queue)

        return stream()

    async def console_write(self, uuid: str, data: bytes) -> None:
        self._get(uuid).say(data)  # the fake terminal echoes

    async def diagnostics(self, uuid: str) -> dict[str, Any]:
        guest = self._get(uuid)
        spec = guest.spec
        on = guest.power in (PowerState.RUNNING, PowerState.PAUSED)
        return {
            "state": STATES[guest.power], "driver": "libvirt", "hypervisor": "qemu", "hypervisor_os": "linux",
            "uptime": int(time.time() - guest.started) if on else None,
            "config_drive": spec.config_drive is not None, "num_cpus": spec.vcpus, "num_nics": len(guest.nics),
            "num_disks": 1 + len(guest.disks),
            "cpu_details": [{"id": i, "time": 0, "utilisation": None} for i in range(spec.vcpus)],
            "nic_details": [{"mac_address": n.mac, **{k: 0 for k in (
                "rx_octets", "rx_errors", "rx_drop", "rx_packets", "tx_octets", "tx_errors", "tx_drop",
                "tx_packets")}, "rx_rate": None, "tx_rate": None} for n in guest.nics.values()],
            "disk_details": [{"read_bytes": 0, "read_requests": 0, "write_bytes": 0, "write_requests": 0,
                              "errors_count": 0} for _ in range(1 + len(guest.disks))],
            "memory_details": {"maximum": spec.memory_mb, "used": spec.memory_mb if on else 0},
        }


def _zeros(path: pathlib.Path, size: int) -> None:
    with open(path, "wb") as f:
        f.truncate(size)
