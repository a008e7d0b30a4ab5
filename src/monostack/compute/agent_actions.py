"""What each server action does on the host, one coroutine per action.

Called by ComputeAgent.run with the server row (its task_state already set by
the API); returns the row changes beyond the state machine's defaults, or
raises (the agent turns that into a fault).  Names are the keys of
states.ACTIONS.
"""

from __future__ import annotations

import asyncio
import pathlib
from typing import TYPE_CHECKING, Any

from monostack.common.context import RequestContext
from monostack.compute import resize_claims, states
from monostack.compute.drivers.base import PowerState, rescue_of

if TYPE_CHECKING:
    from monostack.compute.agent import ComputeAgent

Changes = dict[str, Any]


async def reboot(agent: "ComputeAgent", row: Any, ctx: RequestContext) -> Changes:
    await agent.driver.reboot(await agent.spec(row), hard=False)
    return {"vm_state": states.ACTIVE}


async def reboot_hard(agent: "ComputeAgent", row: Any, ctx: RequestContext) -> Changes:
    await agent.driver.reboot(await agent.spec(row), hard=True)
    return {"vm_state": states.ACTIVE}


async def stop(agent: "ComputeAgent", row: Any, ctx: RequestContext, clean_timeout: float = 60) -> Changes:
    await agent.driver.power_off(row.uuid, timeout=clean_timeout)
    return {}


async def start(agent: "ComputeAgent", row: Any, ctx: RequestContext) -> Changes:
    await agent.driver.power_on(await agent.spec(row))
    return {}


async def trigger_crash_dump(agent: "ComputeAgent", row: Any, ctx: RequestContext) -> Changes:
    await agent.driver.inject_nmi(row.uuid)
    return {}


async def pause(agent: "ComputeAgent", row: Any, ctx: RequestContext) -> Changes:
    await agent.driver.pause(row.uuid)
    return {}


async def unpause(agent: "ComputeAgent", row: Any, ctx: RequestContext) -> Changes:
    await agent.driver.unpause(row.uuid)
    return {}


async def suspend(agent: "ComputeAgent", row: Any, ctx: RequestContext) -> Changes:
    await agent.driver.suspend(row.uuid)
    return {"power_state": int(PowerState.SUSPENDED)}


async def resume(agent: "ComputeAgent", row: Any, ctx: RequestContext) -> Changes:
    await agent.driver.resume(await agent.spec(row))
    return {}


async def rescue(agent: "ComputeAgent", row: Any, ctx: RequestContext, image_id: str | None = None) -> Changes:
    image = await agent.images.get(image_id or row.image_ref)
    if image is None:
        raise RuntimeError(f"Rescue image {image_id or row.image_ref} not found.")
    path = await agent.images.cached(image)
    fmt = image.get("disk_format") if image.get("disk_format") in ("qcow2", "raw") else "raw"
    # The API checked that the driver can give what the image's hw_rescue_* ask for.
    await agent.driver.rescue(await agent.spec(row), path, fmt, rescue_of(image))
    return {"rescue_image_ref": image["id"]}


async def unrescue(agent: "ComputeAgent", row: Any, ctx: RequestContext) -> Changes:
    await agent.driver.unrescue(await agent.spec(row))
    return {"rescue_image_ref": None}


async def resize(agent: "ComputeAgent", row: Any, ctx: RequestContext) -> Changes:
    """Same host (multi-host moves come with the scale-out work): the guest restarts with the new flavor."""
    new = row.new_flavor
    await asyncio.to_thread(agent.svc.servers.finish, row.uuid, task_state=states.RESIZE_MIGRATING)
    was_stopped = row.vm_state == states.STOPPED
    spec = await agent.spec(row, new)
    await agent.driver.resize(spec)
    if was_stopped:
        await agent.driver.power_off(row.uuid, timeout=0, clean=False)
    await asyncio.to_thread(agent.svc.servers.migration_status, row.uuid, "finished")
    return {"flavor": new, "vcpus": new["vcpus"], "memory_mb": new["ram"], "root_gb": new["disk"],
            "ephemeral_gb": new["ephemeral"], "vm_state": states.RESIZED}


migrate = resize


async def confirm_resize(agent: "ComputeAgent", row: Any, ctx: RequestContext) -> Changes:
    await agent.driver.confirm_resize(row.uuid)
    migration = await asyncio.to_thread(agent.svc.servers.migration_status, row.uuid, "confirmed")
    await resize_claims.confirm(agent.placement, migration)
    power = await agent._power(row.uuid)
    return {"vm_state": states.STOPPED if power != PowerState.RUNNING else states.ACTIVE,
            "old_flavor": None, "new_flavor": None}


async def revert_resize(agent: "ComputeAgent", row: Any, ctx: RequestContext) -> Changes:
    old = row.old_flavor
    await agent.driver.revert_resize(await agent.spec(row, old))
    migration = await asyncio.to_thread(agent.svc.servers.migration_status, row.uuid, "reverted")
    await resize_claims.revert(agent.placement, row.uuid, migration)
    return {"flavor": old, "vcpus": old["vcpus"], "memory_mb": old["ram"], "root_gb": old["disk"],
            "ephemeral_gb": old["ephemeral"], "old_flavor": None, "new_flavor": None, "vm_state": states.ACTIVE}


async def rebuild(agent: "ComputeAgent", row: Any, ctx: RequestContext, image: dict[str, Any] | None = None,
                  preserve_power: bool = False, reimage_boot_volume: str | None = None) -> Changes:
    """A fresh root disk from the (new) image, same server: destroy the guest, spawn again.  A
    volume-backed server given another image (2.93) has that image written over its boot volume
    in between (`reimage_boot_volume`: the image id)."""
    was_stopped = row.vm_state == states.STOPPED
    await agent.driver.destroy(row.uuid)
    if reimage_boot_volume:
        await asyncio.to_thread(agent.svc.servers.finish, row.uuid, task_state=states.REBUILD_BLOCK_DEVICE_MAPPING)
        await agent.reimage_boot_volume(row, reimage_boot_volume)
    await asyncio.to_thread(agent.svc.servers.finish, row.uuid, task_state=states.REBUILD_SPAWNING)
    row = await asyncio.to_thread(agent.svc.servers.by_uuid, row.uuid)
    if agent.builds_config_drive(row):
        await agent.metadata.build_config_drive(row, agent.config_drive_path(row.uuid))
    await agent.driver.spawn(await agent.spec(row))
    if was_stopped:
        await agent.driver.power_off(row.uuid, timeout=0, clean=False)
        return {"vm_state": states.STOPPED}
    return {"vm_state": states.ACTIVE}


evacuate = rebuild


async def snapshot(agent: "ComputeAgent", row: Any, ctx: RequestContext, image_id: str = "") -> Changes:
    """qemu-img copy of the root disk, uploaded into the image the API created (queued)."""
    await asyncio.to_thread(agent.svc.servers.finish, row.uuid, task_state=states.IMAGE_PENDING_UPLOAD)
    target = agent.instance_dir(row.uuid) / f"snapshot-{image_id}.qcow2"
    try:
        await agent.driver.snapshot(row.uuid, target)
        await asyncio.to_thread(agent.svc.servers.finish, row.uuid, task_state=states.IMAGE_UPLOADING)
        await agent.images.upload(image_id, target)
    except Exception:
        await agent.images.delete(image_id)
        raise
    finally:
        await asyncio.to_thread(_unlink, target)
    return {}


def _unlink(path: pathlib.Path) -> None:
    path.unlink(missing_ok=True)


async def shelve(agent: "ComputeAgent", row: Any, ctx: RequestContext, image_id: str = "",
                 offload: bool = False) -> Changes:
    """Snapshot the root disk to the image, stop the guest; offloading frees the host too."""
    await agent.driver.power_off(row.uuid, timeout=30)
    await asyncio.to_thread(agent.svc.servers.finish, row.uuid, task_state=states.SHELVING_IMAGE_UPLOADING)
    target = agent.instance_dir(row.uuid) / f"shelve-{image_id}.qcow2"
    try:
        await agent.driver.snapshot(row.uuid, target)
        await agent.images.upload(image_id, target)
    finally:
        await asyncio.to_thread(_unlink, target)
    changes: Changes = {"shelved_image_id": image_id, "power_state": int(PowerState.SHUTDOWN)}
    if offload:
        changes.update(await shelve_offload(agent, row, ctx))
    return changes


async def shelve_offload(agent: "ComputeAgent", row: Any, ctx: RequestContext) -> Changes:
    await agent.driver.destroy(row.uuid)
    await agent.placement.delete_allocations(row.uuid)
    return {"vm_state": states.SHELVED_OFFLOADED, "host": None, "node": None,
            "power_state": int(PowerState.SHUTDOWN)}


async def unshelve(agent: "ComputeAgent", row: Any, ctx: RequestContext) -> Changes:
    """Boot again from the shelved image (on this host: the API placed it here), then drop that image."""
    image = await agent.images.get(row.shelved_image_id) if row.shelved_image_id else None
    if image is None:
        raise RuntimeError(f"The shelved image {row.shelved_image_id} of the server is gone.")
    await agent.driver.destroy(row.uuid)
    row.image_meta = {**(row.image_meta or {}), "id": image["id"], "checksum": image.get("checksum"),
                      "disk_format": image.get("disk_format")}
    await agent.reconnect_volumes(row.uuid)
    spec = await agent.spec(row)
    await agent.driver.spawn(spec)
    await agent.images.delete(image["id"])
    return {"shelved_image_id": None, "host": agent.host, "node": agent.node_name}


async def live_migrate(agent: "ComputeAgent", row: Any, ctx: RequestContext) -> Changes:
    """One host: there is nowhere to go; the migration record says so."""
    await asyncio.to_thread(agent.svc.servers.migration_status, row.uuid, "error")
    raise RuntimeError("No other compute host is available for a live migration.")
