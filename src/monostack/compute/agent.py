"""The compute agent of one host: it makes the guests of its servers real.

Started by the Compute plugin (or alone on a compute-only host), it
  - reports its host's resources to Placement and the database, and a
    heartbeat every [compute] heartbeat_interval seconds;
  - serves the bus topic "compute" under its host name: the conductor and
    the API cast work to it (build, reboot, pause, ...; see `Endpoint`);
  - syncs power states every [compute] sync_power_state_interval seconds;
  - at start, reconciles: guests without a server are destroyed, servers
    left mid-task are repaired (states.RECOVERY), allocations of servers no
    longer on this host are removed.

Every action runs as: driver call(s), then one `servers.finish` with the
vm_state/task_state/power_state the state machine names; a failure becomes
a fault on the server and an error event on its instance action.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import pathlib
import traceback
from typing import TYPE_CHECKING, Any

from monostack.common.context import RequestContext, use_context
from monostack.compute import states, vifs, volume_api
from monostack.compute.drivers import disks
from monostack.compute.drivers.base import Driver, DriverError, GuestSpec, PowerState
from monostack.compute.events import EventFailed, EventTimeout, InstanceEvents
from monostack.compute.service import utcnow

if TYPE_CHECKING:
    from monostack.compute.image_api import ImageAPI
    from monostack.compute.network_api import NetworkAPI
    from monostack.compute.service import ComputeService

LOG = logging.getLogger(__name__)
BINARY = "nova-compute"


def guest_name(instance_id: int) -> str:
    return f"instance-{instance_id:08x}"


class ComputeAgent:
    def __init__(self, svc: "ComputeService", driver: Driver, *, host: str, placement: Any, images: "ImageAPI",
                 network: "NetworkAPI", bus: Any, metadata: Any = None):
        self.svc = svc
        self.driver = driver
        self.host = host
        self.placement = placement
        self.images = images
        self.network = network
        self.bus = bus
        self.metadata = metadata  # builds config drives (monostack.compute.metadata)
        self.node_uuid: str | None = None
        self.node_name: str | None = None
        self._tasks: list[asyncio.Task] = []
        self._busy: dict[str, asyncio.Lock] = {}
        self.events = InstanceEvents()

    # -- start and stop -------------------------------------------------------------------
    async def start(self) -> None:
        await self.driver.init_host()
        await asyncio.to_thread(self.svc.hosts.report, self.host, BINARY, "compute")
        await self.update_resources()
        await self.reconcile()
        await self.bus.serve("compute", Endpoint(self), server=self.host)
        conf = self.svc.conf.compute
        self._tasks = [asyncio.create_task(self._every(conf.heartbeat_interval, self._heartbeat)),
                       asyncio.create_task(self._every(conf.resource_update_interval, self.update_resources))]
        if conf.sync_power_state_interval > 0:
            self._tasks.append(asyncio.create_task(self._every(conf.sync_power_state_interval,
                                                               self.sync_power_states)))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.driver.close()  # live consoles; the guests keep running

    async def _every(self, seconds: float, job: Any) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await job()
            except asyncio.CancelledError:
                raise
            except Exception:
                LOG.exception("periodic task %s failed", getattr(job, "__name__", job))

    async def _heartbeat(self) -> None:
        await asyncio.to_thread(self.svc.hosts.report, self.host, BINARY, "compute")

    async def update_resources(self) -> None:
        """The host's inventory to the database and to Placement (with the allocation ratios)."""
        resources = await self.driver.host_resources()
        data = {"hostname": resources.hostname, "vcpus": resources.vcpus, "memory_mb": resources.memory_mb,
                "disk_gb": resources.disk_gb, "hypervisor_type": resources.hypervisor_type,
                "hypervisor_version": resources.hypervisor_version, "cpu_info": resources.cpu_info}
        self.node_name = resources.hostname
        self.node_uuid = await asyncio.to_thread(self.svc.hosts.update_node, self.host, data)
        conf = self.svc.conf.compute
        await self.placement.ensure_provider(self.node_uuid, resources.hostname)
        await self.placement.set_inventory(self.node_uuid, {
            "VCPU": {"total": resources.vcpus, "reserved": conf.reserved_host_cpus, "min_unit": 1,
                     "max_unit": resources.vcpus, "step_size": 1, "allocation_ratio": conf.cpu_allocation_ratio},
            "MEMORY_MB": {"total": resources.memory_mb, "reserved": conf.reserved_host_memory_mb, "min_unit": 1,
                          "max_unit": resources.memory_mb, "step_size": 1,
                          "allocation_ratio": conf.ram_allocation_ratio},
            "DISK_GB": {"total": max(resources.disk_gb, 1), "reserved": conf.reserved_host_disk_mb // 1024,
                        "min_unit": 1, "max_unit": max(resources.disk_gb, 1), "step_size": 1,
                        "allocation_ratio": conf.disk_allocation_ratio},
        })
        traits = ["COMPUTE_NET_ATTACH_INTERFACE", "COMPUTE_VOLUME_ATTACH_WITH_TAG", "COMPUTE_VOLUME_EXTEND",
                  "HW_ARCH_X86_64", "COMPUTE_DEVICE_TAGGING", "COMPUTE_NODE"]
        if resources.accelerator == "kvm":
            traits.append("COMPUTE_ACCELERATORS")
        try:
            await self.placement.set_traits(self.node_uuid, traits)
        except Exception:  # unknown standard traits on an older Placement must not stop the agent
            LOG.debug("could not set traits", exc_info=True)

    # -- reconcile (start-up) ------------------------------------------------------------------
    async def reconcile(self) -> None:
        """After a crash or restart: make the guests, the database and Placement agree."""
        guests = {g.uuid: g for g in await self.driver.list_guests()}
        servers = {row.uuid: row for row in await asyncio.to_thread(self.svc.servers.on_host, self.host)}
        for uuid in set(guests) - set(servers):
            row = await asyncio.to_thread(self.svc.servers.by_uuid, uuid)
            LOG.warning("destroying guest %s: %s", uuid, "its server was deleted" if row else "no such server")
            await self.driver.destroy(uuid)
            if row is not None and row.deleted:
                await self.placement.delete_allocations(uuid)
        named: dict[str, set[str]] = {}
        for uuid, row in servers.items():
            guest = guests.get(uuid)
            power = guest.power_state if guest is not None else PowerState.NOSTATE
            try:
                await self._recover(row, power, guest is not None)
                named[uuid] = await self._recover_volumes(uuid)
            except Exception:
                LOG.exception("could not recover server %s", uuid)
        try:
            await self._drop_unnamed_attachments(named)
        except Exception:
            LOG.exception("could not look for attachments the restart left unrecorded")

    async def _recover(self, row: Any, power: PowerState, exists: bool) -> None:
        task = row.task_state
        if row.vm_state == states.BUILDING or task in (states.SCHEDULING, states.NETWORKING,
                                                        states.BLOCK_DEVICE_MAPPING, states.SPAWNING):
            # The guest never finished building: nothing of it may hold resources.
            await self.driver.destroy(row.uuid)
            await self.network.deallocate(row)
            await self.placement.delete_allocations(row.uuid)
            await asyncio.to_thread(self.svc.servers.set_error, row.uuid,
                                    "The build was interrupted: the compute agent restarted during it.",
                                    host=self.host)
            return
        if task is not None:
            recovery = states.RECOVERY.get(task, "clear")
            if recovery == "retry" and task == states.DELETING:
                await self.delete(row.uuid)
                return
            if recovery == "retry" and task in (states.REBOOTING, states.REBOOTING_HARD, states.POWERING_ON):
                await asyncio.to_thread(self.svc.servers.finish, row.uuid, task_state=None)
                await self.run(row.uuid, "reboot_hard" if task != states.POWERING_ON else "start",
                               RequestContext.service())
                return
            if recovery == "retry" and task == states.POWERING_OFF:
                await asyncio.to_thread(self.svc.servers.finish, row.uuid, task_state=None)
                await self.run(row.uuid, "stop", RequestContext.service())
                return
            if recovery == "error":
                await asyncio.to_thread(self.svc.servers.set_error, row.uuid,
                                        f"The task {task} was interrupted: the compute agent restarted.",
                                        host=self.host)
                return
            vm_state = row.vm_state
            if vm_state in (states.ACTIVE, states.PAUSED, states.SUSPENDED, states.STOPPED):
                vm_state = states.VM_STATE_FOR_POWER.get(int(power), states.STOPPED)
            await asyncio.to_thread(self.svc.servers.finish, row.uuid, task_state=None, vm_state=vm_state,
                                    power_state=int(power))
            return
        await asyncio.to_thread(self.svc.servers.finish, row.uuid, power_state=int(power))

    async def _recover_volumes(self, uuid: str) -> set[str]:
        """Attaches and detaches the restart interrupted.  An attach (Nova's reserved block device
        mapping) whose disk reached the running guest is completed, any other is undone, so that no
        volume stays reserved or attaching and none is attached twice; an attached volume whose
        disk the running guest lost is plugged in again.  The attachments its mappings name."""
        volumes = self.svc.volumes
        row = await asyncio.to_thread(self.svc.servers.by_uuid, uuid)
        named: set[str] = set()
        if volumes is None or row is None or row.deleted or row.vm_state == states.BUILDING:
            return named
        for bdm in await asyncio.to_thread(self.svc.servers.block_devices, uuid):
            if bdm.destination_type != "volume" or not bdm.attachment_id:
                continue
            named.add(bdm.attachment_id)
            if bdm.boot_index == 0:  # a root volume's attach belongs to the build
                continue
            attachment = await volumes.attachment_get(bdm.attachment_id)
            present = await self.driver.has_disk(uuid, bdm.volume_id)
            if attachment is not None and attachment["status"] == "attached":
                if present is False and bdm.connection_info:
                    # A detach stopped between the guest letting go and Block Storage hearing of
                    # it: the volume is still in-use (as Cinder's recovery leaves a detaching
                    # volume), so the guest gets it back; the user may detach it again.
                    LOG.warning("attaching volume %s to %s again: its detach was interrupted", bdm.volume_id, uuid)
                    await self.driver.attach_disk(uuid, volume_api.disk(bdm.volume_id, bdm.connection_info,
                                                                        bdm.device_name, bus=bdm.disk_bus))
                continue
            if attachment is not None and present and bdm.connection_info:
                LOG.warning("completing the interrupted attach of volume %s to %s", bdm.volume_id, uuid)
                # The connector again (Block Storage's recovery puts an attaching attachment back to
                # reserved), then the driver (idempotent: it records the disk's slot when the crash
                # came before it did).
                await self.driver.attach_disk(uuid, await self.connect_volume(bdm))
                await volumes.attachment_complete(bdm.attachment_id)
                continue
            LOG.warning("undoing the interrupted attach of volume %s to %s", bdm.volume_id, uuid)
            await self.driver.detach_disk(uuid, bdm.volume_id)  # a node or cold record it left
            if attachment is not None:
                await volumes.attachment_delete(bdm.attachment_id)
            await asyncio.to_thread(self.svc.servers.remove_block_device, bdm.uuid)
        return named

    async def _drop_unnamed_attachments(self, named: dict[str, set[str]]) -> None:
        """Unfinished attachments (reserved or attaching) to servers of this host that no block
        device mapping names: the API stopped between making one and recording it."""
        if self.svc.volumes is None or not named or not await self.svc.volumes.available():
            return
        for status in ("reserved", "attaching"):
            for attachment in await self.svc.volumes.attachments(status):
                server = attachment.get("instance")
                if server in named and attachment["id"] not in named[server]:
                    LOG.warning("deleting attachment %s of volume %s: no block device of %s names it",
                                attachment["id"], attachment["volume_id"], server)
                    await self.svc.volumes.attachment_delete(attachment["id"])

    async def sync_power_states(self) -> None:
        """Nova's _sync_power_states: a guest that stopped on its own makes its server SHUTOFF."""
        # Only the idle servers' guests are asked: a QEMU monitor takes one client at a time, and
        # a build or an action must not wait for this.
        idle = [row for row in await asyncio.to_thread(self.svc.servers.on_host, self.host)
                if row.task_state is None and not self._busy.get(row.uuid, asyncio.Lock()).locked()]
        guests = {g.uuid: g for g in await self.driver.list_guests(only={row.uuid for row in idle})}
        for row in idle:
            if self._busy.get(row.uuid, asyncio.Lock()).locked():
                continue  # an action began meanwhile (finish below also expects no task)
            guest = guests.get(row.uuid)
            power = guest.power_state if guest else PowerState.NOSTATE
            if power == row.power_state:
                continue
            changes: dict[str, Any] = {"power_state": int(power)}
            if row.vm_state == states.ACTIVE and power in (PowerState.SHUTDOWN, PowerState.NOSTATE,
                                                            PowerState.CRASHED):
                changes["vm_state"] = states.STOPPED
            await asyncio.to_thread(self.svc.servers.finish, row.uuid, expected_task=None, **changes)

    # -- the guest of a server ------------------------------------------------------------------
    def machine_spec(self, row: Any, flavor: dict[str, Any] | None = None) -> GuestSpec:
        """The guest without its disks and NICs: what the driver may start before they exist."""
        flavor = flavor or row.flavor
        config_drive = self.config_drive_path(row.uuid) if self.builds_config_drive(row) else None
        return GuestSpec(uuid=row.uuid, name=guest_name(row.id), vcpus=flavor["vcpus"], memory_mb=flavor["ram"],
                         root_gb=flavor["disk"], config_drive=config_drive,
                         hw_properties=(row.image_meta or {}).get("properties") or {})

    async def spec(self, row: Any, flavor: dict[str, Any] | None = None) -> GuestSpec:
        image_path, image_format = None, "qcow2"
        volumes = [b for b in await asyncio.to_thread(self.svc.servers.block_devices, row.uuid)
                   if b.destination_type == "volume"]
        boots_from_volume = any(b.boot_index == 0 for b in volumes)
        if row.image_ref and row.image_meta and not boots_from_volume:  # a boot volume is the root disk
            image_path = await self.images.cached(row.image_meta)
            image_format = row.image_meta.get("disk_format") or "qcow2"
            if image_format not in ("qcow2", "raw"):
                image_format = "raw"
        flavor = flavor or row.flavor
        config_drive = self.config_drive_path(row.uuid)
        return dataclasses.replace(
            self.machine_spec(row, flavor), ephemeral_gb=flavor.get("ephemeral", 0),
            swap_mb=flavor.get("swap", 0) or 0, image_path=image_path, image_format=image_format,
            config_drive=config_drive if config_drive.exists() else None,
            nics=self.network.nics(row.network_info or []), disks=self._disks(volumes))

    @staticmethod
    def _disks(volumes: list[Any]) -> list[Any]:
        """The connected ones of the server's volume mappings, the boot volume first."""
        bdms = [b for b in volumes if b.connection_info]
        bdms.sort(key=lambda b: (b.boot_index is None or b.boot_index < 0, b.boot_index or 0, b.id))
        return [volume_api.disk(b.volume_id, b.connection_info, b.device_name, bus=b.disk_bus) for b in bdms]

    def wants_config_drive(self, row: Any) -> bool:
        """Asked for, forced, the guest's only metadata (no networking), or carrying its personality files."""
        return bool(row.config_drive or self.svc.conf.compute.force_config_drive
                    or not self.network.has_networking or row.injected_files)

    def builds_config_drive(self, row: Any) -> bool:
        return self.wants_config_drive(row) and self.metadata is not None

    def config_drive_path(self, uuid: str) -> pathlib.Path:
        return self.driver.instance_dir(uuid) / "disk.config"

    async def build(self, instance_uuid: str, ctx: RequestContext) -> None:
        """networking -> block_device_mapping -> spawning -> ACTIVE; a failure asks the conductor to reschedule."""
        row = await asyncio.to_thread(self.svc.servers.by_uuid, instance_uuid)
        if row is None or row.deleted or row.host != self.host:
            return
        try:
            # QEMU sets itself up while the steps below run (destroy, on a failure, stops it)
            await self.driver.prelaunch(self.machine_spec(row))
            await asyncio.to_thread(self.svc.actions.event, row.uuid, ctx.request_id,
                                    "compute_build_and_run_instance", host=self.host, start=True)
            row = await self._step(row, states.SCHEDULING, states.NETWORKING)
            network_info = await self.network.allocate(row)
            row = await self._step(row, states.NETWORKING, states.BLOCK_DEVICE_MAPPING, network_info=network_info)
            if self.svc.volumes is not None:
                await self.prepare_volumes(row, ctx)
            row = await self._step(row, states.BLOCK_DEVICE_MAPPING, states.SPAWNING)
            if self.builds_config_drive(row):
                await self.metadata.build_config_drive(row, self.config_drive_path(row.uuid))
            await self.plug_vifs(row.uuid, network_info)
            spec = await self.spec(row)
            await self.driver.spawn(spec)
        except _Gone:
            await self.driver.destroy(instance_uuid)
            await self.unplug_vifs(row.network_info)
            return
        except Exception as err:
            LOG.exception("build of %s failed on %s", instance_uuid, self.host)
            await self.driver.destroy(instance_uuid)
            await self.unplug_vifs(row.network_info)
            await self.network.deallocate(row)
            await self.drop_attachments(instance_uuid)
            await asyncio.to_thread(self.svc.actions.event, row.uuid, ctx.request_id,
                                    "compute_build_and_run_instance", host=self.host, error=err)
            await self.bus.cast("conductor", "reschedule", ctx, instance_uuid=instance_uuid, failed_host=self.host,
                                reason=str(err) or type(err).__name__)
            return
        done = await asyncio.to_thread(self.svc.servers.finish, instance_uuid, expected_task=states.SPAWNING,
                                       vm_state=states.ACTIVE, task_state=None, power_state=states.RUNNING,
                                       launched_at=utcnow(), progress=100)
        await asyncio.to_thread(self.svc.actions.event, instance_uuid, ctx.request_id,
                                "compute_build_and_run_instance", host=self.host)
        if done is None:  # deleted while spawning: the delete finds no guest, so clean up here
            await self.driver.destroy(instance_uuid)
            await self.placement.delete_allocations(instance_uuid)
            return
        await asyncio.to_thread(self.svc.hosts.refresh_usage, self.node_name or self.host)
        self.svc.notify("compute.instance.create.end", {"instance_id": instance_uuid, "host": self.host,
                                                        "state": states.ACTIVE})

    async def _step(self, row: Any, current: str, following: str, **changes: Any) -> Any:
        updated = await asyncio.to_thread(self.svc.servers.finish, row.uuid, expected_task=current,
                                          task_state=following, **changes)
        if updated is None:
            raise _Gone()
        return updated

    # -- ports -----------------------------------------------------------------------------------
    @property
    def plugs_vifs(self) -> bool:
        """Ports become tap devices on this host (not with user-mode NICs or a driver with no host)."""
        return self.network.has_networking and self.driver.plugs_vifs

    async def plug_vifs(self, server_uuid: str, network_info: list[dict[str, Any]]) -> None:
        """Taps in their bridges before the guest starts, and the Networking service's word that each
        port is wired (network-vif-plugged) unless it already was (Nova's vif_plugging_timeout)."""
        if not self.plugs_vifs or not network_info:
            return
        conf = self.svc.conf.compute
        pending = [("network-vif-plugged", vif["id"]) for vif in network_info if not vif.get("active")]
        try:
            async with self.events.expect(server_uuid, pending if conf.vif_plugging_timeout > 0 else [],
                                          conf.vif_plugging_timeout):
                for vif in network_info:
                    await vifs.plug(vif)
        except (EventTimeout, EventFailed) as err:
            if conf.vif_plugging_is_fatal:
                raise DriverError(f"Virtual Interface creation failed: {err}") from None
            LOG.warning("%s: %s; going on (vif_plugging_is_fatal is off)", server_uuid, err)

    async def unplug_vifs(self, network_info: list[dict[str, Any]] | None) -> None:
        if not self.plugs_vifs:
            return
        for vif in network_info or []:
            try:
                await vifs.unplug(vif)
            except Exception:  # a tap left behind is removed with the next delete of its port
                LOG.exception("could not unplug %s", vif.get("devname"))

    async def attach_interface(self, server_uuid: str, item: dict[str, Any]) -> dict[str, Any]:
        """A new port (or the user's) bound here, plugged, hot-plugged into the guest; its VIF."""
        async with self._busy.setdefault(server_uuid, asyncio.Lock()):
            row = await asyncio.to_thread(self.svc.servers.by_uuid, server_uuid)
            if row is None or row.deleted:
                raise DriverError(f"server {server_uuid} is gone")
            vif = await self.network.allocate_one(row, item)
            try:
                await self.plug_vifs(server_uuid, [vif])
                await self.driver.attach_interface(server_uuid, self.network.nics([vif])[0])
            except BaseException:
                await self.unplug_vifs([vif])
                await self.network.release_one(vif)
                raise
            vif["active"] = True
            row = await asyncio.to_thread(self.svc.servers.by_uuid, server_uuid)
            await asyncio.to_thread(self.svc.servers.finish, server_uuid,
                                    network_info=list(row.network_info or []) + [vif])
            return vif

    async def detach_interface(self, server_uuid: str, port_id: str) -> None:
        async with self._busy.setdefault(server_uuid, asyncio.Lock()):
            row = await asyncio.to_thread(self.svc.servers.by_uuid, server_uuid)
            if row is None or row.deleted:
                return
            vif = next((v for v in row.network_info or [] if v["id"] == port_id), None)
            if vif is None:
                return
            await self.driver.detach_interface(server_uuid, port_id)
            await self.unplug_vifs([vif])
            await self.network.release_one(vif)
            row = await asyncio.to_thread(self.svc.servers.by_uuid, server_uuid)
            await asyncio.to_thread(self.svc.servers.finish, server_uuid,
                                    network_info=[v for v in row.network_info or [] if v["id"] != port_id])

    # -- volumes ---------------------------------------------------------------------------------
    async def connect_volume(self, bdm: Any) -> Any:
        """This host's connector to Block Storage, whose answer says where the volume is; the Disk."""
        volumes = self.svc.volumes
        updated = await volumes.attachment_update(bdm.attachment_id, {**volume_api.connector(self.host),
                                                                      "mountpoint": bdm.device_name})
        info = updated.get("connection_info") or {}
        await asyncio.to_thread(self.svc.servers.update_block_device, bdm.uuid, connection_info=info)
        return volume_api.disk(bdm.volume_id, info, bdm.device_name, bus=bdm.disk_bus)

    async def attach_volume(self, server_uuid: str, bdm_uuid: str) -> None:
        """A reserved volume connected, hot-plugged into the guest (or into its next start when it
        is not running), and the attachment completed: the volume is in-use."""
        async with self._busy.setdefault(server_uuid, asyncio.Lock()):
            bdm = next((b for b in await asyncio.to_thread(self.svc.servers.block_devices, server_uuid)
                        if b.uuid == bdm_uuid), None)
            if bdm is None:
                raise DriverError(f"no block device {bdm_uuid} on server {server_uuid}")
            disk = await self.connect_volume(bdm)
            await self.driver.attach_disk(server_uuid, disk)
            try:
                await self.svc.volumes.attachment_complete(bdm.attachment_id)
            except BaseException:
                await self.driver.detach_disk(server_uuid, bdm.volume_id)
                raise

    async def detach_volume(self, server_uuid: str, bdm_uuid: str) -> None:
        async with self._busy.setdefault(server_uuid, asyncio.Lock()):
            bdm = next((b for b in await asyncio.to_thread(self.svc.servers.block_devices, server_uuid)
                        if b.uuid == bdm_uuid), None)
            if bdm is None:
                return
            try:
                await self.driver.detach_disk(server_uuid, bdm.volume_id)
            except DriverError:  # still attached: the volume stays in-use, the user may try again
                LOG.exception("could not detach volume %s from %s", bdm.volume_id, server_uuid)
                return
            if bdm.attachment_id:
                await self.svc.volumes.attachment_delete(bdm.attachment_id)
            await asyncio.to_thread(self.svc.servers.remove_block_device, bdm.uuid)

    async def prepare_volumes(self, row: Any, ctx: RequestContext) -> None:
        """Boot from volume: the volumes a create maps (made by the API with the caller's token) are
        waited for and attached to the server before it starts (Nova's _prep_block_device)."""
        volumes = self.svc.volumes
        for bdm in await asyncio.to_thread(self.svc.servers.block_devices, row.uuid):
            if bdm.destination_type != "volume":
                continue
            if bdm.volume_id is None:
                raise DriverError(f"block device {bdm.uuid} has no volume")
            if not bdm.attachment_id:
                await volumes.wait_available(bdm.volume_id)
                attachment = await volumes.attachment_create(bdm.volume_id, row.uuid)
                await asyncio.to_thread(self.svc.servers.update_block_device, bdm.uuid,
                                        attachment_id=attachment["id"])
        for bdm in await asyncio.to_thread(self.svc.servers.block_devices, row.uuid):
            if bdm.destination_type == "volume" and not bdm.connection_info:
                await self.connect_volume(bdm)
                await volumes.attachment_complete(bdm.attachment_id)

    async def reimage_boot_volume(self, row: Any, image_id: str, timeout: float = 600) -> None:
        """Rebuild of a volume-backed server with another image (2.93), its guest stopped: as Nova, a new
        attachment reserves the boot volume for this server and the old one goes, Block Storage writes
        the image over the volume (os-reimage with reimage_reserved) and says `volume-reimaged`, and
        the volume is connected again for the spawn that follows."""
        volumes = self.svc.volumes
        root = next((b for b in await asyncio.to_thread(self.svc.servers.block_devices, row.uuid)
                     if b.boot_index == 0 and b.destination_type == "volume"), None)
        if volumes is None or root is None or not root.volume_id:
            raise DriverError(f"server {row.uuid} has no boot volume to reimage")
        attachment = await volumes.attachment_create(root.volume_id, row.uuid)
        if root.attachment_id:
            await volumes.attachment_delete(root.attachment_id)
        await asyncio.to_thread(self.svc.servers.update_block_device, root.uuid, attachment_id=attachment["id"],
                                connection_info=None)
        async with self.events.expect(row.uuid, [("volume-reimaged", root.volume_id)], timeout):
            await volumes.reimage(root.volume_id, image_id)
        root = next(b for b in await asyncio.to_thread(self.svc.servers.block_devices, row.uuid)
                    if b.uuid == root.uuid)
        await self.connect_volume(root)
        await volumes.attachment_complete(root.attachment_id)

    async def reconnect_volumes(self, server_uuid: str) -> None:
        """An unshelve: every volume of the server connected with this host's connector (volumes
        attached while it was offloaded have no connection yet), its attachment completed."""
        if self.svc.volumes is None:
            return
        for bdm in await asyncio.to_thread(self.svc.servers.block_devices, server_uuid):
            if bdm.destination_type == "volume" and bdm.attachment_id:
                await self.connect_volume(bdm)
                await self.svc.volumes.attachment_complete(bdm.attachment_id)

    async def drop_attachments(self, server_uuid: str) -> None:
        """A failed build: the volumes' attachments to this host go (the next host makes its own)."""
        if self.svc.volumes is None:
            return
        for bdm in await asyncio.to_thread(self.svc.servers.block_devices, server_uuid):
            if bdm.destination_type == "volume" and bdm.attachment_id:
                try:
                    await self.svc.volumes.attachment_delete(bdm.attachment_id)
                except Exception:
                    LOG.exception("could not delete attachment %s", bdm.attachment_id)
                await asyncio.to_thread(self.svc.servers.update_block_device, bdm.uuid, attachment_id=None,
                                        connection_info=None)

    def kept_snapshot(self, server_uuid: str, snapshot_id: str) -> pathlib.Path:
        """Where the copy of an assisted snapshot asked for by a relative new_file is kept: in the
        server's own directory (never where the caller's name points), until the snapshot is deleted."""
        return self.driver.instance_dir(server_uuid) / f"assisted-{pathlib.Path(snapshot_id).name}.qcow2"

    async def snapshot_volume(self, server_uuid: str, volume_id: str, target: str, snapshot_id: str = "") -> None:
        """A standalone point-in-time copy of an attached volume at target (assisted snapshot): the
        running guest's QEMU copies it while the guest writes; a volume of a server whose guest is
        not running is copied as it is (Nova's offline volume snapshot with qemu-img).  Block Storage
        names an absolute target; a relative one (Nova's libvirt driver reads it as a new overlay
        beside the volume) gets a copy kept by Compute (kept_snapshot)."""
        if not pathlib.Path(target).is_absolute():
            target = str(self.kept_snapshot(server_uuid, snapshot_id or "unnamed"))
        if await self.driver.has_disk(server_uuid, volume_id) is None:
            async with self._busy.setdefault(server_uuid, asyncio.Lock()):  # no start while it is read
                if await self.driver.has_disk(server_uuid, volume_id) is None:
                    bdm = next((b for b in await asyncio.to_thread(self.svc.servers.block_devices, server_uuid)
                                if b.volume_id == volume_id and b.connection_info), None)
                    if bdm is None:
                        raise DriverError(f"volume {volume_id} is not attached to server {server_uuid}")
                    disk = volume_api.disk(volume_id, bdm.connection_info, bdm.device_name, bus=bdm.disk_bus)
                    await disks.convert_standalone(disk.path, pathlib.Path(target), disk.format)
                    return
        await self.driver.snapshot_disk(server_uuid, volume_id, pathlib.Path(target))

    async def release_volumes(self, server_uuid: str) -> None:
        """At delete: attachments gone, volumes with delete_on_termination deleted."""
        if self.svc.volumes is not None:
            await self.svc.volumes.release(server_uuid,
                                           await asyncio.to_thread(self.svc.servers.block_devices, server_uuid))

    async def external_event(self, server_uuid: str, name: str, tag: str | None, status: str,
                             request_id: str | None = None) -> None:
        """An event the API accepted for a server of this host (request_id: the API's request)."""
        if self.events.deliver(server_uuid, name, tag, status):
            return
        if name == "volume-extended" and tag and self.svc.volumes is not None:
            await self._volume_extended(server_uuid, tag, request_id)
            return
        if name in ("network-changed", "network-vif-deleted") and self.network.has_networking:
            row = await asyncio.to_thread(self.svc.servers.by_uuid, server_uuid)
            if row is None or row.deleted:
                return
            network_info = await self.network.refresh(row)
            await asyncio.to_thread(self.svc.servers.finish, server_uuid, network_info=network_info)

    async def _volume_extended(self, server_uuid: str, volume_id: str, request_id: str | None) -> None:
        """Block Storage grew an attached volume (online extend): the guest sees the new size.  The
        work is the event compute_extend_volume of the API's extend_volume action, as in Nova."""
        async def record(**kwargs: Any) -> None:
            if request_id:
                await asyncio.to_thread(self.svc.actions.event, server_uuid, request_id, "compute_extend_volume",
                                        host=self.host, **kwargs)

        await record(start=True)
        try:
            volume = await self.svc.volumes.get(volume_id)
            await self.driver.extend_disk(server_uuid, volume_id, int(volume["size"]) * 1024 ** 3)
        except Exception as err:
            await record(error=err)
            raise
        await record()

    async def delete(self, instance_uuid: str) -> None:
        row = await asyncio.to_thread(self.svc.servers.by_uuid, instance_uuid)
        await self.driver.destroy(instance_uuid)
        if row is not None:
            await self.unplug_vifs(row.network_info)
            await self.network.deallocate(row)
            await self.release_volumes(instance_uuid)
        await self.placement.delete_allocations(instance_uuid)
        await asyncio.to_thread(self.svc.servers.mark_deleted, instance_uuid)
        await asyncio.to_thread(self.svc.hosts.refresh_usage, self.node_name or self.host)
        self.svc.notify("compute.instance.delete.end", {"instance_id": instance_uuid, "host": self.host})

    # -- actions ----------------------------------------------------------------------------------
    async def run(self, instance_uuid: str, action_name: str, ctx: RequestContext, **kwargs: Any) -> None:
        """Perform an action the API began (task_state already set), one at a time per server."""
        from monostack.compute import agent_actions

        lock = self._busy.setdefault(instance_uuid, asyncio.Lock())
        async with lock:
            row = await asyncio.to_thread(self.svc.servers.by_uuid, instance_uuid)
            if row is None or row.deleted:
                return
            action = states.ACTIONS[action_name]
            event = f"compute_{action_name}_instance"
            await asyncio.to_thread(self.svc.actions.event, instance_uuid, ctx.request_id, event,
                                    host=self.host, start=True)
            try:
                changes = await getattr(agent_actions, action_name)(self, row, ctx, **kwargs) or {}
            except Exception as err:
                LOG.exception("%s of %s failed", action_name, instance_uuid)
                power = await self._power(instance_uuid)
                vm_state = row.vm_state
                if action_name in ("resize", "migrate", "rescue", "unrescue", "rebuild", "unshelve"):
                    vm_state = states.ERROR
                await asyncio.to_thread(self.svc.servers.add_fault, instance_uuid, str(err) or type(err).__name__,
                                        details="".join(traceback.format_exception(err))[-20000:], host=self.host)
                await asyncio.to_thread(self.svc.servers.finish, instance_uuid, task_state=None, vm_state=vm_state,
                                        power_state=int(power))
                await asyncio.to_thread(self.svc.actions.event, instance_uuid, ctx.request_id, event,
                                        host=self.host, error=err)
                return
            if action.done is not None and "vm_state" not in changes:
                changes["vm_state"] = action.done
            if "power_state" not in changes:
                changes["power_state"] = int(await self._power(instance_uuid))
            await asyncio.to_thread(self.svc.servers.finish, instance_uuid, task_state=None, **changes)
            await asyncio.to_thread(self.svc.actions.event, instance_uuid, ctx.request_id, event, host=self.host)
            self.svc.notify(f"compute.instance.{action_name}.end", {"instance_id": instance_uuid, "host": self.host})

    async def _power(self, uuid: str) -> PowerState:
        try:
            return await self.driver.power_state(uuid)
        except Exception:
            return PowerState.NOSTATE

    def instance_dir(self, uuid: str) -> pathlib.Path:
        return self.driver.instance_dir(uuid)


class _Gone(Exception):
    """The server was deleted (or its task replaced) while the agent worked on it."""


class Endpoint:
    """What the agent serves on the bus (topic "compute", server = its host)."""

    def __init__(self, agent: ComputeAgent):
        self.agent = agent

    def _spawn(self, coro: Any) -> None:
        ctx_task = asyncio.get_running_loop().create_task(coro)
        self.agent._tasks.append(ctx_task)
        ctx_task.add_done_callback(lambda t: t in self.agent._tasks and self.agent._tasks.remove(t))

    async def build(self, instance_uuid: str, context: RequestContext | None = None) -> None:
        ctx = context or RequestContext.service()
        self._spawn(self._in(ctx, self.agent.build(instance_uuid, ctx)))

    async def delete(self, instance_uuid: str, context: RequestContext | None = None) -> None:
        ctx = context or RequestContext.service()
        self._spawn(self._in(ctx, self.agent.delete(instance_uuid)))

    async def action(self, instance_uuid: str, action: str, args: dict[str, Any] | None = None,
                     context: RequestContext | None = None) -> None:
        ctx = context or RequestContext.service()
        self._spawn(self._in(ctx, self.agent.run(instance_uuid, action, ctx, **(args or {}))))

    async def external_events(self, events: list[dict[str, Any]], context: RequestContext | None = None) -> None:
        ctx = context or RequestContext.service()
        for event in events:
            self._spawn(self._in(ctx, self.agent.external_event(
                event["server_uuid"], event["name"], event.get("tag"), event.get("status", "completed"),
                request_id=context.request_id if context else None)))

    async def _event(self, ctx: RequestContext, instance_uuid: str, event: str, coro: Any) -> Any:
        """The work of an action the API recorded (attach_interface, ...) as its event
        (compute_attach_interface, ...), with its result: what Tempest and Nova's clients wait on."""
        record = functools.partial(self.agent.svc.actions.event, instance_uuid, ctx.request_id, event,
                                   host=self.agent.host)
        await asyncio.to_thread(record, start=True)
        try:
            result = await coro
        except Exception as err:
            await asyncio.to_thread(record, error=err)
            raise
        await asyncio.to_thread(record)
        return result

    async def attach_interface(self, instance_uuid: str, item: dict[str, Any],
                               context: RequestContext | None = None) -> dict[str, Any]:
        ctx = context or RequestContext.service()
        with use_context(ctx):
            return await self._event(ctx, instance_uuid, "compute_attach_interface",
                                     self.agent.attach_interface(instance_uuid, item))

    async def attach_volume(self, instance_uuid: str, bdm_uuid: str, context: RequestContext | None = None) -> None:
        ctx = context or RequestContext.service()
        with use_context(ctx):
            await self._event(ctx, instance_uuid, "compute_attach_volume",
                              self.agent.attach_volume(instance_uuid, bdm_uuid))

    async def snapshot_volume(self, instance_uuid: str, volume_id: str, target: str, snapshot_id: str = "",
                              context: RequestContext | None = None) -> None:
        with use_context(context or RequestContext.service()):
            await self.agent.snapshot_volume(instance_uuid, volume_id, target, snapshot_id)

    async def delete_volume_snapshot(self, instance_uuid: str, snapshot_id: str,
                                     context: RequestContext | None = None) -> None:
        """The copy Compute kept for an assisted snapshot goes (Block Storage's own copies are its to delete)."""
        kept = self.agent.kept_snapshot(instance_uuid, snapshot_id)
        await asyncio.to_thread(kept.unlink, True)

    async def detach_volume(self, instance_uuid: str, bdm_uuid: str, context: RequestContext | None = None) -> None:
        ctx = context or RequestContext.service()
        self._spawn(self._in(ctx, self._event(ctx, instance_uuid, "compute_detach_volume",
                                              self.agent.detach_volume(instance_uuid, bdm_uuid))))

    async def detach_interface(self, instance_uuid: str, port_id: str, context: RequestContext | None = None) -> None:
        ctx = context or RequestContext.service()
        self._spawn(self._in(ctx, self._event(ctx, instance_uuid, "compute_detach_interface",
                                              self.agent.detach_interface(instance_uuid, port_id))))

    async def console_output(self, instance_uuid: str, length: int | None = None) -> str:
        return await self.agent.driver.console_output(instance_uuid, length)

    async def diagnostics(self, instance_uuid: str) -> dict[str, Any]:
        return await self.agent.driver.diagnostics(instance_uuid)

    @staticmethod
    async def _in(ctx: RequestContext, coro: Any) -> None:
        with use_context(ctx):
            await coro
