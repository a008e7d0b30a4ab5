"""The Compute agent's restart recovery of interrupted attaches (agent._recover_volumes) against
the real Block Storage service: its API in-process, its recovery run by a restarted manager, and
Compute's HTTP client of it.  Deterministic versions of the windows test_attach_crash hits by
chance: the kill lands after the guest's QEMU plugged the disk but before the attachment was
completed, and Block Storage's own recovery puts that attachment back to reserved."""

from __future__ import annotations

import types
import uuid
from typing import Any

import httpx

from monostack.compute.agent import ComputeAgent
from monostack.compute.volume_api import VolumeAPI
from tests.volume.harness import ADMIN_PROJECT, start_manager

SERVER = str(uuid.uuid4())


class _Auth:
    """ServiceAuth as VolumeAPI uses it, on the in-process app with the admin token."""

    def __init__(self, client: httpx.AsyncClient):
        self.client = client

    async def endpoint(self, service_type: str) -> str:
        return f"http://volume.test/v3/{ADMIN_PROJECT}"

    async def headers(self) -> dict[str, str]:
        return {"X-Auth-Token": "admin"}


class _Servers:
    """The block device mappings of one server (Compute's database, as the agent reads it)."""

    def __init__(self) -> None:
        self.bdms: dict[str, Any] = {}

    def by_uuid(self, server_id: str) -> Any:
        return types.SimpleNamespace(uuid=server_id, deleted=False, vm_state="active")

    def block_devices(self, server_id: str) -> list[Any]:
        return list(self.bdms.values())

    def update_block_device(self, bdm_uuid: str, **changes: Any) -> None:
        vars(self.bdms[bdm_uuid]).update(changes)

    def remove_block_device(self, bdm_uuid: str) -> None:
        self.bdms.pop(bdm_uuid, None)


class _Guest:
    """The running guest's disks as the hypervisor driver reports them."""

    def __init__(self) -> None:
        self.disks: dict[str, Any] = {}
        self.plugs = 0

    async def has_disk(self, server_uuid: str, volume_id: str) -> bool:
        return volume_id in self.disks

    async def attach_disk(self, server_uuid: str, disk: Any) -> None:
        self.plugs += 1
        self.disks[disk.volume_id] = disk

    async def detach_disk(self, server_uuid: str, volume_id: str) -> None:
        self.disks.pop(volume_id, None)


async def _interrupted_attach(vapi: Any, *, disk_reached_guest: bool) -> tuple[ComputeAgent, Any, str]:
    """An attach as the agent runs it, cut off before the completion; then Block Storage restarts."""
    volume = (await vapi.volume(1))["id"]
    servers, guest = _Servers(), _Guest()
    compute = types.SimpleNamespace(servers=servers, volumes=VolumeAPI(_Auth(vapi.http)))
    agent = ComputeAgent(compute, guest, host="testhost", placement=None, images=None, network=None, bus=None)
    attachment = await compute.volumes.attachment_create(volume, SERVER)  # the API's reserve
    servers.bdms["bdm-1"] = types.SimpleNamespace(
        uuid="bdm-1", volume_id=volume, attachment_id=attachment["id"], device_name="/dev/vdb", boot_index=None,
        destination_type="volume", connection_info=None, disk_bus="virtio")
    disk = await agent.connect_volume(servers.bdms["bdm-1"])
    await vapi.svc.drain()
    if disk_reached_guest:
        await guest.attach_disk(SERVER, disk)
    # The crash; Block Storage's recovery at start puts the attaching attachment back to reserved.
    vapi.svc.managers.clear()
    await start_manager(vapi.svc)
    shown = await compute.volumes.attachment_get(attachment["id"])
    assert shown["status"] == "reserved" and not shown.get("connection_info"), shown
    return agent, guest, volume


async def test_an_attach_whose_disk_reached_the_guest_is_completed(vapi: Any) -> None:
    agent, guest, volume = await _interrupted_attach(vapi, disk_reached_guest=True)
    attachment_id = agent.svc.servers.bdms["bdm-1"].attachment_id

    assert await agent._recover_volumes(SERVER) == {attachment_id}
    await vapi.svc.drain()

    shown = (await vapi.get(f"/volumes/{volume}")).json()["volume"]
    assert shown["status"] == "in-use" and [a["attachment_id"] for a in shown["attachments"]] == [attachment_id]
    attachment = await agent.svc.volumes.attachment_get(attachment_id)
    assert attachment["status"] == "attached" and attachment["connection_info"]["data"]
    assert list(guest.disks) == [volume]  # plugged once in the guest (the driver's attach is idempotent)
    assert agent.svc.servers.bdms["bdm-1"].connection_info == attachment["connection_info"]


async def test_an_attach_whose_disk_never_reached_the_guest_is_undone(vapi: Any) -> None:
    agent, guest, volume = await _interrupted_attach(vapi, disk_reached_guest=False)
    attachment_id = agent.svc.servers.bdms["bdm-1"].attachment_id

    assert await agent._recover_volumes(SERVER) == {attachment_id}  # named when recovery began
    await vapi.svc.drain()

    shown = (await vapi.get(f"/volumes/{volume}")).json()["volume"]
    assert shown["status"] == "available" and shown["attachments"] == []
    assert await _attachment_ids(vapi, volume) == []
    assert agent.svc.servers.bdms == {} and guest.disks == {}


async def _attachment_ids(vapi: Any, volume: str) -> list[str]:
    response = await vapi.at("3.44").get("/attachments", params={"volume_id": volume})
    return [a["id"] for a in response.json()["attachments"]]
