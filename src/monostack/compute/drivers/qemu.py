"""The QEMU driver: each guest is a qemu-system-x86_64 process run directly and driven over QMP.

Everything of a guest lives in its instance directory (see instance_files):
that directory and the QEMU process found through its pid file are the
driver's whole state, so a fresh driver (the cloud restarted) sees the same
guests (`list_guests`) and drives them like the one that started them.

Each action changes the real guest:
  pause/unpause      QMP stop/cont
  suspend/resume     memory saved to memory.state (migration to a file QEMU is handed), QEMU quits;
                     resume starts QEMU with -incoming from that file and continues it
  power_off          ACPI power button (repeated), the process killed after the timeout
  power_on, hard     a new QEMU process from the existing disks
    reboot
  soft reboot        ACPI power button, a new QEMU once the guest has powered off (Nova's
                     libvirt driver does the same); a hard reboot when it does not in time
  rescue/unrescue    a new QEMU booting a fresh overlay of the rescue image: the root disk second
                     (legacy), or every disk in its place and the rescue disk added (stable)
  resize             the root disk kept aside (disk.resize-orig), grown, restarted with the new
                     flavor; confirm drops the kept disk, revert puts it back
  snapshot           guest paused (QMP stop flushes its disks), qemu-img convert to a standalone qcow2
  attach/detach      QMP blockdev-add/netdev_add + device_add; device_del, waiting until the
                     guest released the device, then blockdev-del/netdev_del (a volume's qcow2
                     backing chain is opened by QEMU itself, read-only below the top)
  extend_disk        QMP block_resize of the volume's node: the guest sees the new size at once
  snapshot_disk      QMP blockdev-backup sync=full of the volume's node into a new file (copy
                     before write: point in time while the guest keeps writing its own image)

Operations on one guest run one at a time (a lock per guest); QMP sessions
are short so that a status query never waits behind a long operation.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import pathlib
import shutil
import socket
import uuid as uuid_module
from typing import Any, AsyncIterator, Collection

from monostack.compute.drivers import (console, diagnostics, disks, host, kvm_probe, process, qemu_cmd, qmp,
                                       taps)
from monostack.compute.drivers.base import (Disk, Driver, DriverError, GuestInfo, GuestNotFound, GuestSpec,
                                            HostResources, Nic, PowerState, Rescue)
from monostack.compute.drivers.commands import run
from monostack.compute.drivers.instance_files import InstanceFiles
from monostack.compute.drivers.options import config, option

LOG = logging.getLogger(__name__)

GiB, MiB = disks.GiB, disks.MiB

# QMP query-status -> Nova power state (as Nova maps libvirt's domain states).
QMP_STATES = {
    "running": PowerState.RUNNING, "colo": PowerState.RUNNING,
    "paused": PowerState.PAUSED, "prelaunch": PowerState.PAUSED, "inmigrate": PowerState.PAUSED,
    "finish-migrate": PowerState.PAUSED, "postmigrate": PowerState.PAUSED, "save-vm": PowerState.PAUSED,
    "restore-vm": PowerState.PAUSED, "debug": PowerState.PAUSED, "io-error": PowerState.PAUSED,
    "watchdog": PowerState.PAUSED,
    "suspended": PowerState.SUSPENDED,
    "shutdown": PowerState.SHUTDOWN,
    "guest-panicked": PowerState.CRASHED, "internal-error": PowerState.CRASHED,
}
START_TIMEOUT = 120  # seconds for QEMU to set itself up (TCG on a busy host)
INCOMING_TIMEOUT = 600  # seconds to load a saved memory state
SAVE_TIMEOUT = 600  # seconds to write one
KILL_GRACE = 5  # seconds between SIGTERM (QEMU exits cleanly) and SIGKILL
SNAPSHOT_TIMEOUT = 6 * 3600  # seconds a point-in-time copy of a volume may take (snapshot_disk)


class QemuDriver(Driver):
    name = "qemu"

    def __init__(self, state_dir: pathlib.Path, conf: Any = None):
        super().__init__(pathlib.Path(state_dir), conf)
        self.qemu = option(conf, "qemu_binary")
        self._locks: dict[str, asyncio.Lock] = {}
        self._hubs: dict[str, console.Hub] = {}
        self._since_trim: dict[str, int] = {}
        self._version: tuple[int, int, int] | None = None
        # uuid -> the start of a new guest's QEMU ahead of its devices (prelaunch): its argv, or None
        self._prelaunched: dict[str, asyncio.Task] = {}

    # -- helpers ------------------------------------------------------------------------------
    def files(self, uuid: str) -> InstanceFiles:
        return InstanceFiles(self.instance_dir(uuid))

    def _lock(self, uuid: str) -> asyncio.Lock:
        return self._locks.setdefault(uuid, asyncio.Lock())

    def _opt(self, name: str) -> Any:
        return option(self.conf, name)

    async def accelerator(self) -> str:
        return await kvm_probe.accelerator(self.conf)

    async def qemu_version(self) -> tuple[int, int, int]:
        if self._version is None:
            self._version = await asyncio.to_thread(host.qemu_version, self.qemu)
        return self._version

    async def _pid(self, uuid: str) -> int | None:
        return await asyncio.to_thread(process.find, self.files(uuid).pidfile, uuid)

    def _require(self, uuid: str) -> InstanceFiles:
        files = self.files(uuid)
        if not files.dir.is_dir():
            raise GuestNotFound(f"no guest {uuid} on this host")
        return files

    async def _status(self, uuid: str) -> str | None:
        """QMP run state of the guest's QEMU (None: no QEMU answers)."""
        try:
            async with qmp.session(self.files(uuid).qmp_sock, timeout=15) as s:
                return (await s.execute("query-status"))["status"]
        except qmp.QMPUnavailable:
            return None

    async def _execute(self, uuid: str, command: str, arguments: dict[str, Any] | None = None,
                       timeout: float = 30) -> Any:
        async with qmp.session(self.files(uuid).qmp_sock, timeout=timeout) as s:
            return await s.execute(command, arguments)

    async def _running_pid(self, uuid: str) -> int:
        pid = await self._pid(uuid)
        if pid is None:
            raise DriverError(f"guest {uuid} is not running")
        return pid

    async def _close_hub(self, uuid: str) -> None:
        hub = self._hubs.pop(uuid, None)
        if hub is not None:
            await hub.close()

    def _hub(self, uuid: str) -> console.Hub:
        hub = self._hubs.get(uuid)
        if hub is None or hub.closed:
            files = self.files(uuid)
            hub = console.Hub(files.console_sock, on_data=lambda chunk: self._count_console(uuid, len(chunk)))
            self._hubs[uuid] = hub
        return hub

    def _count_console(self, uuid: str, size: int) -> None:
        """Trim the log now and then while a live console is attached (it grows meanwhile)."""
        total = self._since_trim.get(uuid, 0) + size
        if total >= 64 * 1024:
            total = 0
            asyncio.get_running_loop().run_in_executor(None, console.trim, self.files(uuid).console_log,
                                                       self._opt("console_log_max_bytes"))
        self._since_trim[uuid] = total

    async def _devices_state(self, files: InstanceFiles) -> dict[str, Any]:
        state = await asyncio.to_thread(files.read_json, files.devices_json)
        state.setdefault("slots", {})
        state.setdefault("taps", {})  # port id -> tap this driver created
        return state

    async def _save_devices_state(self, files: InstanceFiles, state: dict[str, Any]) -> None:
        await asyncio.to_thread(files.write_json, files.devices_json, state)

    # -- processes ------------------------------------------------------------------------------
    async def _version_text(self) -> str:
        return ".".join(map(str, await self.qemu_version()))

    async def _plan(self, spec: GuestSpec, files: InstanceFiles, *, rescue: Rescue | None = None,
                    incoming: bool = False) -> tuple[list[qemu_cmd.Device], dict[str, int]]:
        """The guest's devices and their PCI slots (kept in devices.json), its taps made."""
        state = await self._devices_state(files)
        for nic in spec.nics:
            if nic.kind == "tap" and await taps.ensure(nic.tap_name, nic.bridge, nic.mtu):
                state["taps"][nic.port_id] = nic.tap_name
        devs = qemu_cmd.devices(spec, files, rescue=rescue)
        state["slots"] = qemu_cmd.assign_slots(devs, state["slots"], keep_unlisted=incoming)
        await self._save_devices_state(files, state)
        return devs, state["slots"]

    async def _record(self, spec: GuestSpec, files: InstanceFiles, accel: str, argv: list[str], *,
                      rescue: Rescue | None = None, prelaunched: bool = False) -> None:
        """guest.json: the spec the guest runs with, and the command line that starts it cold (a
        prelaunched guest's too: the machine with these devices on the command line)."""
        await asyncio.to_thread(files.write_json, files.guest_json, {
            "spec": _spec_dict(spec), "accelerator": accel,
            "rescue": dataclasses.asdict(rescue) if rescue else None, "argv": argv, "prelaunched": prelaunched})

    async def _start(self, spec: GuestSpec, *, rescue: Rescue | None = None, incoming: bool = False) -> None:
        """Start QEMU for spec from the disks in the instance directory."""
        files = self.files(spec.uuid)
        accel = await self.accelerator()
        version = await self._version_text()
        devs, slots = await self._plan(spec, files, rescue=rescue, incoming=incoming)
        for path in files.transient():
            path.unlink(missing_ok=True)
        argv = qemu_cmd.argv(spec, files, qemu=self.qemu, accel=accel, slots=slots, version=version,
                             rescue=rescue, incoming=incoming)
        LOG.info("starting guest %s (%s, %s%s)", spec.uuid, spec.name, accel,
                 ", rescue" if rescue else ", from saved state" if incoming else "")
        await process.start(argv, files.dir, files.qemu_log, timeout=START_TIMEOUT)
        await self._record(spec, files, accel, argv, rescue=rescue)
        if incoming:
            await self._finish_incoming(spec.uuid)
        status = await self._status(spec.uuid)
        if status != "running":
            raise DriverError(f"guest {spec.uuid} did not start: status {status}: "
                              f"{process.log_tail(files.qemu_log, 500)}")

    async def _finish_incoming(self, uuid: str) -> None:
        """Wait until QEMU has loaded the saved memory, then let the guest run and drop the file."""
        files = self.files(uuid)
        loop = asyncio.get_running_loop()
        end = loop.time() + INCOMING_TIMEOUT
        while True:
            status = await self._status(uuid)
            if status is None and await self._pid(uuid) is None:
                raise DriverError(f"QEMU could not load the saved state: {process.log_tail(files.qemu_log, 500)}")
            if status not in (None, "inmigrate"):
                break
            if loop.time() > end:
                raise DriverError("loading the saved state took too long")
            await asyncio.sleep(0.2)
        await self._execute(uuid, "cont")
        files.saved_state.unlink(missing_ok=True)

    async def _kill(self, uuid: str) -> None:
        """Stop the guest's QEMU at once (SIGTERM: QEMU flushes and exits; SIGKILL if it does not)."""
        await self._close_hub(uuid)
        pid = await self._pid(uuid)
        if pid is None:
            return
        try:
            os.kill(pid, 15)
        except ProcessLookupError:
            return
        if not await process.wait_gone(pid, uuid, KILL_GRACE):
            await process.kill(pid, uuid)

    async def _clean_shutdown(self, uuid: str, timeout: float) -> bool:
        """Press the ACPI power button (again every retry interval) until QEMU exits; False on timeout."""
        pid = await self._pid(uuid)
        if pid is None:
            return True
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        retry = max(float(self._opt("shutdown_retry_interval")), 1.0)
        while loop.time() < end:
            try:
                await self._execute(uuid, "system_powerdown", timeout=10)
            except qmp.QMPUnavailable:
                pass
            if await process.wait_gone(pid, uuid, min(retry, max(end - loop.time(), 0))):
                return True
        return False

    async def _stop(self, uuid: str, *, clean: bool, timeout: float) -> None:
        if clean and await self._clean_shutdown(uuid, timeout):
            await self._close_hub(uuid)
            return
        await self._kill(uuid)

    # -- host -------------------------------------------------------------------------------------
    async def init_host(self) -> None:
        await asyncio.to_thread((self.state_dir / "instances").mkdir, parents=True, exist_ok=True)
        await self.qemu_version()
        LOG.info("qemu driver: %s %s, accelerator %s", self.qemu, ".".join(map(str, self._version or ())),
                 await self.accelerator())

    async def close(self) -> None:
        for uuid in list(self._hubs):
            await self._close_hub(uuid)

    async def host_resources(self) -> HostResources:
        version = await self.qemu_version()
        accel = await self.accelerator()
        guests = await self._guest_pids()

        def read() -> HostResources:
            mem = host.meminfo()
            disk_total, disk_used = host.disk_gb(self.state_dir)
            vcpus_used = 0
            for uuid, pid in guests.items():
                if pid is not None:
                    files = self.files(uuid)
                    vcpus_used += int(files.read_json(files.guest_json).get("spec", {}).get("vcpus", 0))
            hostname = config(self.conf).get("DEFAULT", "host")
            return HostResources(
                hostname=hostname or socket.gethostname(), vcpus=os.cpu_count() or 1,
                memory_mb=mem["MemTotal"] // 1024, disk_gb=disk_total,
                vcpus_used=vcpus_used, memory_mb_used=(mem["MemTotal"] - mem.get("MemAvailable", 0)) // 1024,
                disk_gb_used=disk_used, hypervisor_type="QEMU",
                hypervisor_version=host.encode_version(version), cpu_info=host.cpu_info(), accelerator=accel)

        return await asyncio.to_thread(read)

    async def _guest_pids(self) -> dict[str, int | None]:
        """uuid -> pid (None: not running) of every instance directory; trims console logs on the way."""
        instances = self.state_dir / "instances"
        max_log = self._opt("console_log_max_bytes")

        def scan() -> dict[str, int | None]:
            if not instances.is_dir():
                return {}
            running = None
            out: dict[str, int | None] = {}
            for entry in sorted(os.scandir(instances), key=lambda e: e.name):
                if not entry.is_dir() or not _is_uuid(entry.name):
                    continue
                files = InstanceFiles(pathlib.Path(entry.path))
                pid = process.read_pidfile(files.pidfile)
                if pid is None or not process.is_guest_qemu(pid, entry.name):
                    if running is None:
                        running = process.scan()  # a lost pid file: look for the process itself
                    pid = running.get(entry.name)
                out[entry.name] = pid
                console.trim(files.console_log, max_log)
            return out

        return await asyncio.to_thread(scan)

    async def list_guests(self, only: Collection[str] | None = None) -> list[GuestInfo]:
        guests = []
        for uuid, pid in (await self._guest_pids()).items():
            if only is not None and uuid not in only:
                continue
            power = await self._power(uuid, pid)
            guests.append(GuestInfo(uuid=uuid, power_state=power, pid=pid))
        return guests

    async def _power(self, uuid: str, pid: int | None) -> PowerState:
        if pid is not None:
            status = await self._status(uuid)
            if status is not None:
                return QMP_STATES.get(status, PowerState.NOSTATE)
            if process.is_guest_qemu(pid, uuid):
                return PowerState.NOSTATE  # alive but its monitor does not answer
        return PowerState.SUSPENDED if self.files(uuid).saved_state.exists() else PowerState.SHUTDOWN

    async def power_state(self, uuid: str) -> PowerState:
        self._require(uuid)
        return await self._power(uuid, await self._pid(uuid))

    # -- lifecycle --------------------------------------------------------------------------------
    async def prelaunch(self, spec: GuestSpec) -> None:
        """Start the new guest's QEMU now, paused and without devices (qemu_cmd: "a machine started
        before its devices exist"); spawn(spec) adds them.  Returns at once."""
        if spec.uuid not in self._prelaunched:
            self._prelaunched[spec.uuid] = asyncio.get_running_loop().create_task(self._prelaunch(spec))

    async def _prelaunch(self, spec: GuestSpec) -> list[str] | None:
        """The command line of the QEMU started, or None (none started: spawn starts one cold)."""
        files = self.files(spec.uuid)

        def fresh_directory() -> bool:
            # A new guest has no pid file, so only that is read (spawn looks through /proc when
            # no QEMU was prelaunched): this is the head of every build.
            pid = process.read_pidfile(files.pidfile)
            if pid is not None and process.is_guest_qemu(pid, spec.uuid):
                return False
            files.dir.mkdir(parents=True, exist_ok=True)
            for path in files.transient():
                path.unlink(missing_ok=True)
            return True

        launched = False
        try:
            accel = await self.accelerator()
            argv = qemu_cmd.prelaunch_argv(spec, files, qemu=self.qemu, accel=accel,
                                           version=await self._version_text())
            if not await asyncio.to_thread(fresh_directory):
                return None
            launched = True
            await process.start(argv, files.dir, files.qemu_log, timeout=START_TIMEOUT)
            return argv
        except Exception as err:  # spawn starts the guest the usual way
            LOG.warning("guest %s: QEMU could not be started ahead of its devices: %s", spec.uuid, err)
            if launched:  # one that came up late must not stay (spawn would take it for a running guest)
                with contextlib.suppress(Exception):
                    await self._kill(spec.uuid)
            return None

    async def spawn(self, spec: GuestSpec) -> None:
        files = self.files(spec.uuid)
        # (left in _prelaunched until awaited: if spawn fails before, destroy waits for it and kills it)
        prelaunched = self._prelaunched.get(spec.uuid)
        async with self._lock(spec.uuid):
            # (a prelaunch only starts a QEMU when none runs: the check is after the disks then)
            if prelaunched is None and await self._pid(spec.uuid) is not None:
                raise DriverError(f"guest {spec.uuid} is already running")
            await asyncio.to_thread(files.dir.mkdir, parents=True, exist_ok=True)
            for stale in (files.saved_state, files.rescue, files.resize_kept):
                stale.unlink(missing_ok=True)
            if spec.image_path is not None:
                await disks.create_overlay(files.root, spec.image_path, spec.image_format, spec.root_gb * GiB)
            await self._local_disks(spec, files, fresh=True)
            if spec.config_drive is not None and spec.config_drive.resolve() != files.config_drive.resolve():
                await disks.copy(spec.config_drive, files.config_drive)
            argv = None
            if prelaunched is not None:
                argv = await prelaunched
                self._prelaunched.pop(spec.uuid, None)
            if argv is not None:
                if await self._run_prelaunched(spec, files, argv):
                    return
                await self._kill(spec.uuid)
            elif prelaunched is not None and await self._pid(spec.uuid) is not None:
                raise DriverError(f"guest {spec.uuid} is already running")
            await self._start(spec)

    async def _run_prelaunched(self, spec: GuestSpec, files: InstanceFiles, argv: list[str]) -> bool:
        """Give the prelaunched QEMU its devices and let it run; False when it cannot take them (a
        different machine than spec's, a device that cannot be added, QEMU gone): start it anew."""
        accel, version = await self.accelerator(), await self._version_text()
        if argv != qemu_cmd.prelaunch_argv(spec, files, qemu=self.qemu, accel=accel, version=version):
            return False
        devs, slots = await self._plan(spec, files)
        if not qemu_cmd.hot_addable(devs):
            return False
        LOG.info("starting guest %s (%s, %s, prelaunched)", spec.uuid, spec.name, accel)
        # guest.json is written while QEMU takes the devices, not after (a False below starts the
        # guest cold, which writes it again)
        cold = qemu_cmd.argv(spec, files, qemu=self.qemu, accel=accel, slots=slots, version=version)
        recorded = asyncio.ensure_future(self._record(spec, files, accel, cold, prelaunched=True))
        try:
            async with qmp.session(files.qmp_sock) as s:
                if (await s.execute("query-status"))["status"] != "prelaunch":
                    return False
                await s.execute_all([c for dev in devs for c in qemu_cmd.hot_add_commands(dev, slots)])
                with s.listener("RESET") as events:
                    await s.execute("system_reset")  # the firmware's boot order then has the disks
                    if await s.wait_event(events, START_TIMEOUT) is None:
                        return False
                await s.execute("cont")
                status = (await s.execute("query-status"))["status"]
        except DriverError as err:
            LOG.warning("guest %s: the prelaunched QEMU did not take its devices (%s); starting it anew",
                        spec.uuid, err)
            return False
        finally:
            await recorded
        return status == "running"

    async def _local_disks(self, spec: GuestSpec, files: InstanceFiles, *, fresh: bool) -> None:
        """The ephemeral and swap disks the flavor asks for (made, grown or remade as needed)."""
        if spec.ephemeral_gb:
            size = spec.ephemeral_gb * GiB
            if fresh or not files.ephemeral.exists():
                await disks.create_blank(files.ephemeral, size, label="ephemeral0")
            elif files.ephemeral.stat().st_size < size:
                await asyncio.to_thread(os.truncate, files.ephemeral, size)
        if spec.swap_mb:
            size = spec.swap_mb * MiB
            if fresh or not files.swap.exists() or files.swap.stat().st_size != size:
                await disks.create_blank(files.swap, size, swap=True)

    async def destroy(self, uuid: str, *, keep_disks: bool = False) -> None:
        files = self.files(uuid)
        prelaunched = self._prelaunched.pop(uuid, None)
        if prelaunched is not None:  # a build that failed before spawn: its QEMU is killed below
            await prelaunched
        async with self._lock(uuid):
            await self._kill(uuid)
            state = await self._devices_state(files)
            for tap in state["taps"].values():
                await taps.delete(tap)
            if files.dir.exists():
                if keep_disks:
                    state["taps"] = {}
                    await self._save_devices_state(files, state)
                    for path in files.transient():
                        path.unlink(missing_ok=True)
                else:
                    await asyncio.to_thread(shutil.rmtree, files.dir, True)
        if not keep_disks:
            self._locks.pop(uuid, None)
            self._since_trim.pop(uuid, None)

    async def power_off(self, uuid: str, *, timeout: float = 60, clean: bool = True) -> None:
        self._require(uuid)
        async with self._lock(uuid):
            await self._stop(uuid, clean=clean, timeout=timeout)

    async def power_on(self, spec: GuestSpec) -> None:
        files = self._require(spec.uuid)
        async with self._lock(spec.uuid):
            if await self._pid(spec.uuid) is not None:
                return
            await self._cold_boot(spec, files)

    async def _cold_boot(self, spec: GuestSpec, files: InstanceFiles) -> None:
        """A new QEMU from the disks as they are: a saved state or rescue disk is dropped (Nova does too)."""
        if spec.image_path is not None and not files.root.exists():
            raise DriverError(f"the root disk of {spec.uuid} is missing")
        files.saved_state.unlink(missing_ok=True)
        files.rescue.unlink(missing_ok=True)
        await self._local_disks(spec, files, fresh=False)
        await self._start(spec)

    async def reboot(self, spec: GuestSpec, *, hard: bool) -> None:
        files = self._require(spec.uuid)
        async with self._lock(spec.uuid):
            if not hard and await self._status(spec.uuid) == "running":
                timeout = float(self._opt("wait_soft_reboot_seconds"))
                if await self._clean_shutdown(spec.uuid, timeout):
                    LOG.info("guest %s powered off for its soft reboot", spec.uuid)
                else:
                    LOG.warning("guest %s did not power off within %.0fs: rebooting hard", spec.uuid, timeout)
            await self._kill(spec.uuid)
            await self._cold_boot(spec, files)

    async def inject_nmi(self, uuid: str) -> None:
        self._require(uuid)
        async with self._lock(uuid):
            await self._running_pid(uuid)
            await self._execute(uuid, "inject-nmi")

    async def pause(self, uuid: str) -> None:
        self._require(uuid)
        async with self._lock(uuid):
            await self._running_pid(uuid)
            await self._execute(uuid, "stop")

    async def unpause(self, uuid: str) -> None:
        self._require(uuid)
        async with self._lock(uuid):
            await self._running_pid(uuid)
            await self._execute(uuid, "cont")

    async def suspend(self, uuid: str) -> None:
        files = self._require(uuid)
        async with self._lock(uuid):
            pid = await self._pid(uuid)
            if pid is None:
                if files.saved_state.exists():
                    return
                raise DriverError(f"guest {uuid} is not running")
            tmp = files.saved_state.with_name(files.saved_state.name + ".part")
            was = None
            fd = await asyncio.to_thread(os.open, tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
            try:
                async with qmp.session(files.qmp_sock) as s:
                    was = (await s.execute("query-status"))["status"]
                    await s.execute("stop")
                    # the guest is stopped: one pass, as fast as the disk takes it (default: 32 MiB/s)
                    await s.execute("migrate-set-parameters", {"max-bandwidth": 1 << 40})
                    await s.send_fd(fd, "suspend")
                    await s.execute("migrate", {"uri": "fd:suspend"})
            finally:
                os.close(fd)
            try:
                await self._wait_migration(uuid)
                await asyncio.to_thread(_fsync_path, tmp)
            except BaseException:
                tmp.unlink(missing_ok=True)
                if was == "running":
                    await self._execute(uuid, "cont")
                raise
            os.replace(tmp, files.saved_state)
            await self._close_hub(uuid)
            try:
                await self._execute(uuid, "quit")
            except qmp.QMPUnavailable:
                pass
            if not await process.wait_gone(pid, uuid, 30):
                await process.kill(pid, uuid)

    async def _wait_migration(self, uuid: str) -> None:
        loop = asyncio.get_running_loop()
        end = loop.time() + SAVE_TIMEOUT
        while True:
            info = await self._execute(uuid, "query-migrate")
            status = info.get("status")
            if status == "completed":
                return
            if status in ("failed", "cancelled"):
                raise DriverError(f"saving the guest's memory failed: {info.get('error-desc', status)}")
            if loop.time() > end:
                await self._execute(uuid, "migrate_cancel")
                raise DriverError("saving the guest's memory took too long")
            await asyncio.sleep(0.2)

    async def resume(self, spec: GuestSpec) -> None:
        files = self._require(spec.uuid)
        async with self._lock(spec.uuid):
            if await self._pid(spec.uuid) is not None:
                if await self._status(spec.uuid) != "running":
                    await self._execute(spec.uuid, "cont")
                return
            if not files.saved_state.exists():
                raise DriverError(f"guest {spec.uuid} has no saved state to resume from")
            await self._start(spec, incoming=True)

    async def rescue(self, spec: GuestSpec, rescue_image: pathlib.Path, rescue_format: str,
                     rescue: Rescue = Rescue()) -> None:
        files = self._require(spec.uuid)
        async with self._lock(spec.uuid):
            await self._stop(spec.uuid, clean=True, timeout=float(self._opt("shutdown_timeout")))
            files.saved_state.unlink(missing_ok=True)
            await disks.create_overlay(files.rescue, rescue_image, rescue_format)
            await self._start(spec, rescue=rescue)

    async def unrescue(self, spec: GuestSpec) -> None:
        files = self._require(spec.uuid)
        async with self._lock(spec.uuid):
            await self._kill(spec.uuid)
            await self._cold_boot(spec, files)

    async def resize(self, spec: GuestSpec) -> None:
        files = self._require(spec.uuid)
        async with self._lock(spec.uuid):
            size = spec.root_gb * GiB
            if files.root.exists():
                current = (await disks.info(files.root, "qcow2"))["virtual-size"]
                if spec.root_gb and size < current and not files.resize_kept.exists():
                    raise DriverError(f"cannot resize the root disk down to {spec.root_gb} GiB")
            await self._stop(spec.uuid, clean=True, timeout=float(self._opt("shutdown_timeout")))
            if files.root.exists():
                if not files.resize_kept.exists():  # a retried resize keeps the disk of before the first try
                    await disks.copy(files.root, files.resize_kept)
                if spec.root_gb:
                    await disks.grow(files.root, size)
            files.saved_state.unlink(missing_ok=True)
            await self._local_disks(spec, files, fresh=False)
            await self._start(spec)

    async def confirm_resize(self, uuid: str) -> None:
        files = self.files(uuid)
        async with self._lock(uuid):
            files.resize_kept.unlink(missing_ok=True)

    async def revert_resize(self, spec: GuestSpec) -> None:
        files = self._require(spec.uuid)
        async with self._lock(spec.uuid):
            if not files.resize_kept.exists():
                raise DriverError(f"guest {spec.uuid} has no disk kept from before a resize")
            await self._kill(spec.uuid)
            os.replace(files.resize_kept, files.root)
            await self._cold_boot(spec, files)

    async def snapshot(self, uuid: str, target: pathlib.Path) -> str:
        files = self._require(uuid)
        async with self._lock(uuid):
            running = await self._pid(uuid) is not None and await self._status(uuid) == "running"
            if running:
                await self._execute(uuid, "stop")  # stopping flushes every disk: the file is consistent
            try:
                await disks.convert_standalone(files.root, pathlib.Path(target))
            finally:
                if running:
                    await self._execute(uuid, "cont")
        return "qcow2"

    # -- devices ------------------------------------------------------------------------------------
    async def _present(self, uuid: str, dev_id: str) -> bool:
        children = await self._execute(uuid, "qom-list", {"path": "/machine/peripheral"})
        return any(child["name"] == dev_id for child in children)

    async def _pci_slots(self, uuid: str) -> dict[str, int]:
        """The running guest's PCI slots by device id (what QEMU has, whatever our record says)."""
        buses = await self._execute(uuid, "query-pci")
        return {d["qdev_id"] or f"#{d['slot']}": d["slot"] for bus in buses for d in bus.get("devices", [])}

    async def _hotplug(self, uuid: str, dev: qemu_cmd.Device) -> None:
        if dev.on_scsi:
            await self._hotplug_scsi(uuid, dev)
            return
        files = self.files(uuid)
        state = await self._devices_state(files)
        if await self._pid(uuid) is None:  # cold: the next start creates it from the spec
            state["slots"][dev.id] = state["slots"].get(dev.id) or qemu_cmd.free_slot(set(state["slots"].values()))
            await self._save_devices_state(files, state)
            return
        # A slot QEMU does not use: the record of slots may miss a device whose hot-plug a
        # crash interrupted after QEMU made it.
        live = await self._pci_slots(uuid)
        if dev.id in live:
            if state["slots"].get(dev.id) != live[dev.id]:
                state["slots"][dev.id] = live[dev.id]
                await self._save_devices_state(files, state)
            return
        used = set(live.values()) | {s for d, s in state["slots"].items() if d != dev.id}
        slot = state["slots"].get(dev.id)
        if slot is None or slot in used:
            slot = qemu_cmd.free_slot(used)
        state["slots"][dev.id] = slot
        await self._add_device(uuid, dev, qemu_cmd.pci_device(dev, slot))
        await self._save_devices_state(files, state)

    async def _add_device(self, uuid: str, dev: qemu_cmd.Device, device: dict[str, Any]) -> None:
        """dev's backend, then the device itself (device_add's arguments); the backend taken back
        when QEMU refuses the device."""
        if dev.blockdev is not None and await self._stale_node(uuid, dev.blockdev["node-name"]):
            await self._del_node(uuid, dev.blockdev["node-name"])  # left by a detach QEMU had not finished
        async with qmp.session(self.files(uuid).qmp_sock) as s:
            if dev.blockdev is not None:
                await s.execute("blockdev-add", dev.blockdev)
            if dev.netdev is not None:
                await s.execute("netdev_add", dev.netdev)
            try:
                await s.execute("device_add", device)
            except qmp.QMPCommandError:
                if dev.blockdev is not None:
                    await s.execute("blockdev-del", {"node-name": dev.blockdev["node-name"]})
                if dev.netdev is not None:
                    await s.execute("netdev_del", {"id": dev.netdev["id"]})
                raise

    async def _hotplug_scsi(self, uuid: str, dev: qemu_cmd.Device) -> None:
        """A unit on the guest's SCSI controller, the controller added first when the guest has none
        yet (of the model its image asks for).  A guest not running gets both at its next start."""
        if await self._pid(uuid) is None or await self._present(uuid, dev.id):
            return
        if qemu_cmd.SCSI_CONTROLLER_ID not in await self._pci_slots(uuid):
            files = self.files(uuid)
            recorded = await asyncio.to_thread(files.read_json, files.guest_json)
            await self._hotplug(uuid, qemu_cmd.scsi_controller(recorded.get("spec", {}).get("hw_properties") or {}))
        await self._add_device(uuid, dev, dev.device)

    async def _unplug(self, uuid: str, dev_id: str, *, node: str = "", netdev: str = "") -> None:
        files = self.files(uuid)
        if await self._pid(uuid) is not None:
            if await self._present(uuid, dev_id):
                loop = asyncio.get_running_loop()
                end = loop.time() + float(self._opt("device_detach_timeout"))
                asked = 0.0
                while await self._present(uuid, dev_id):  # gone once the guest has released it
                    if loop.time() > end:
                        raise DriverError(f"the guest did not release {dev_id}")
                    if loop.time() - asked > 3:
                        # Asked again, as Nova's detach retries do: a guest still booting misses the
                        # ACPI request (QEMU refuses a repeat while one is pending: that is fine).
                        asked = loop.time()
                        try:
                            await self._execute(uuid, "device_del", {"id": dev_id})
                        except qmp.QMPCommandError as err:
                            LOG.debug("device_del %s: %s", dev_id, err)
                    await asyncio.sleep(0.25)
            if node:
                await self._del_node(uuid, node)
            if netdev:
                try:
                    await self._execute(uuid, "netdev_del", {"id": netdev})
                except qmp.QMPCommandError as err:  # already gone (a retried detach)
                    LOG.debug("%s", err)
        state = await self._devices_state(files)
        state["slots"].pop(dev_id, None)
        await self._save_devices_state(files, state)

    async def _del_node(self, uuid: str, node: str) -> None:
        """blockdev-del of a device's node.  The device may still hold it for a moment after it left
        qom-list (its removal finishes asynchronously): try again until QEMU lets go, so no stale
        node makes the next attach of the same volume fail."""
        loop = asyncio.get_running_loop()
        end = loop.time() + float(self._opt("device_detach_timeout"))
        while True:
            try:
                await self._execute(uuid, "blockdev-del", {"node-name": node})
                return
            except qmp.QMPCommandError as err:
                if "find node" in str(err).lower():  # already gone (a retried detach)
                    return
                if loop.time() > end:
                    raise DriverError(f"QEMU kept the block node {node}: {err}") from None
                await asyncio.sleep(0.1)

    async def _stale_node(self, uuid: str, node: str) -> bool:
        nodes = await self._execute(uuid, "query-named-block-nodes", {"flat": True})
        return any(n.get("node-name") == node for n in nodes)

    async def attach_disk(self, uuid: str, disk: Disk) -> None:
        self._require(uuid)
        async with self._lock(uuid):
            await self._hotplug(uuid, qemu_cmd.volume(disk))

    async def detach_disk(self, uuid: str, volume_id: str) -> None:
        self._require(uuid)
        async with self._lock(uuid):
            await self._unplug(uuid, qemu_cmd.volume_device_id(volume_id), node=qemu_cmd.volume_node(volume_id))

    async def has_disk(self, uuid: str, volume_id: str) -> bool | None:
        if await self._pid(uuid) is None:
            return None
        return await self._present(uuid, qemu_cmd.volume_device_id(volume_id))

    async def _block_node(self, uuid: str, node: str) -> dict[str, Any] | None:
        nodes = await self._execute(uuid, "query-named-block-nodes", {"flat": True})
        return next((n for n in nodes if n.get("node-name") == node), None)

    async def _attached_node(self, uuid: str, volume_id: str) -> dict[str, Any]:
        await self._running_pid(uuid)
        info = await self._block_node(uuid, qemu_cmd.volume_node(volume_id))
        if info is None:
            raise DriverError(f"volume {volume_id} is not attached to the running guest {uuid}")
        return info

    async def extend_disk(self, uuid: str, volume_id: str, new_size_bytes: int) -> None:
        self._require(uuid)
        async with self._lock(uuid):
            info = await self._attached_node(uuid, volume_id)
            current = int(info["image"]["virtual-size"])
            if new_size_bytes < current:  # QEMU would shrink a qcow2 under the guest: never
                raise DriverError(f"cannot shrink volume {volume_id} from {current} to {new_size_bytes} bytes")
            if new_size_bytes == current:
                return
            # virtio-blk tells the guest of the new capacity itself (a config change interrupt)
            await self._execute(uuid, "block_resize", {"node-name": qemu_cmd.volume_node(volume_id),
                                                       "size": int(new_size_bytes)})

    async def snapshot_disk(self, uuid: str, volume_id: str, target: pathlib.Path, fmt: str = "qcow2") -> None:
        """blockdev-backup sync=full into a new file: a copy-before-write job, so the copy is the
        disk as it was when the job started while the guest keeps writing to its own image.
        The job is polled over short QMP sessions (auto-dismiss off, so its error can be read)."""
        self._require(uuid)
        target = pathlib.Path(target)
        job, bak = qemu_cmd.volume_backup_job(volume_id), qemu_cmd.volume_backup_node(volume_id)
        async with self._lock(uuid):
            info = await self._attached_node(uuid, volume_id)
            await self._drop_backup(uuid, job, bak)  # what an interrupted earlier try left in QEMU
            await run("qemu-img", "create", "-q", "-f", fmt, str(target), str(int(info["image"]["virtual-size"])))
            try:
                async with qmp.session(self.files(uuid).qmp_sock) as s:
                    await s.execute("blockdev-add", qemu_cmd.blockdev(bak, target, fmt))
                    await s.execute("blockdev-backup", {"job-id": job, "device": qemu_cmd.volume_node(volume_id),
                                                        "target": bak, "sync": "full", "auto-dismiss": False})
                error = await self._wait_job(uuid, job, float(SNAPSHOT_TIMEOUT))
                if error:
                    raise DriverError(f"the snapshot of volume {volume_id} failed: {error}")
            except BaseException:
                await asyncio.shield(self._drop_backup(uuid, job, bak))
                target.unlink(missing_ok=True)
                raise
            await self._drop_backup(uuid, job, bak)
            await asyncio.to_thread(_fsync_path, target)

    async def _wait_job(self, uuid: str, job: str, timeout: float) -> str | None:
        """Until the block job has concluded: its error (None: it succeeded)."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while True:
            found = [j for j in await self._execute(uuid, "query-jobs") if j["id"] == job]
            if not found:
                return "the job vanished"
            if found[0]["status"] == "concluded":
                return found[0].get("error")
            if loop.time() > end:
                raise DriverError(f"block job {job} did not finish within {timeout:.0f}s")
            await asyncio.sleep(0.2)

    async def _drop_backup(self, uuid: str, job: str, bak: str) -> None:
        """Cancel and dismiss the job and remove its target node; whatever of them exists."""
        try:
            found = [j for j in await self._execute(uuid, "query-jobs") if j["id"] == job]
            if found:
                if found[0]["status"] not in ("concluded", "null"):
                    await self._execute(uuid, "job-cancel", {"id": job})
                    await self._wait_job(uuid, job, 60)
                await self._execute(uuid, "job-dismiss", {"id": job})
            if await self._block_node(uuid, bak) is not None:
                await self._execute(uuid, "blockdev-del", {"node-name": bak})
        except (qmp.QMPUnavailable, qmp.QMPCommandError) as err:  # the guest went away, or nothing to drop
            LOG.debug("guest %s: dropping block job %s: %s", uuid, job, err)

    async def attach_interface(self, uuid: str, nic: Nic) -> None:
        files = self._require(uuid)
        async with self._lock(uuid):
            if nic.kind == "tap" and await taps.ensure(nic.tap_name, nic.bridge, nic.mtu):
                state = await self._devices_state(files)
                state["taps"][nic.port_id] = nic.tap_name
                await self._save_devices_state(files, state)
            await self._hotplug(uuid, qemu_cmd.nic(nic))

    async def detach_interface(self, uuid: str, port_id: str) -> None:
        files = self._require(uuid)
        async with self._lock(uuid):
            await self._unplug(uuid, qemu_cmd.nic_device_id(port_id), netdev=qemu_cmd.nic_netdev(port_id))
            state = await self._devices_state(files)
            tap = state["taps"].pop(port_id, None)
            if tap:
                await taps.delete(tap)
                await self._save_devices_state(files, state)

    # -- console and diagnostics ----------------------------------------------------------------------
    async def console_output(self, uuid: str, length: int | None = None) -> str:
        files = self._require(uuid)
        max_log = self._opt("console_log_max_bytes")
        await asyncio.to_thread(console.trim, files.console_log, max_log)
        return await asyncio.to_thread(console.tail, files.console_log, length, max_log)

    def console_stream(self, uuid: str) -> AsyncIterator[bytes]:
        return self._stream(uuid)

    async def _stream(self, uuid: str) -> AsyncIterator[bytes]:
        self._require(uuid)
        try:
            async for chunk in self._hub(uuid).stream():
                yield chunk
        except ConnectionError as err:
            raise DriverError(f"the console of {uuid} is not available (is the guest running?): {err}") from None

    async def console_write(self, uuid: str, data: bytes) -> None:
        self._require(uuid)
        try:
            await self._hub(uuid).write(data)
        except ConnectionError as err:
            raise DriverError(f"the console of {uuid} is not available (is the guest running?): {err}") from None

    async def diagnostics(self, uuid: str) -> dict[str, Any]:
        files = self._require(uuid)
        pid = await self._pid(uuid)
        power = await self._power(uuid, pid)
        record = await asyncio.to_thread(files.read_json, files.guest_json)
        spec = record.get("spec", {})
        cpus: list[dict[str, Any]] = []
        blockstats: list[dict[str, Any]] = []
        if pid is not None:
            try:
                async with qmp.session(files.qmp_sock, timeout=15) as s:
                    cpus = await s.execute("query-cpus-fast")
                    blockstats = await s.execute("query-blockstats")
            except qmp.QMPUnavailable:
                pid = None
        nics = [Nic(**dict(n, host_forwards={int(k): v for k, v in n.get("host_forwards", {}).items()}))
                for n in spec.get("nics", [])]
        configured = (1 + bool(spec.get("ephemeral_gb")) + bool(spec.get("swap_mb")) + len(spec.get("disks", []))
                      + bool(spec.get("config_drive")))
        return await asyncio.to_thread(
            diagnostics.build, state=power, accelerator=record.get("accelerator", "tcg"), pid=pid,
            vcpus=int(spec.get("vcpus", 0)), memory_mb=int(spec.get("memory_mb", 0)), cpus=cpus,
            blockstats=blockstats, nics=nics, disks_configured=configured,
            config_drive=bool(spec.get("config_drive")))


def _spec_dict(spec: GuestSpec) -> dict[str, Any]:
    data = dataclasses.asdict(spec)
    for key in ("image_path", "config_drive"):
        data[key] = str(data[key]) if data[key] is not None else None
    for disk in data["disks"]:
        disk["path"] = str(disk["path"])
    for nic in data["nics"]:
        nic["host_forwards"] = {str(k): v for k, v in nic["host_forwards"].items()}
    return data


def _is_uuid(name: str) -> bool:
    try:
        return str(uuid_module.UUID(name)) == name.lower()
    except ValueError:
        return False


def _fsync_path(path: pathlib.Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
