"""os-volume_attachments and boot-from-volume checks of multiattach volumes, as Nova makes them
before it reserves a volume: compute API 2.60 for a multiattach volume, never a volume that is
not multiattach on a second server, never one volume twice on a server (always 400); and
volumes of a shelved-offloaded server (2.20+)."""

from __future__ import annotations

from typing import Any

import pytest

from monostack.common import errors
from monostack.common.context import RequestContext
from monostack.compute.volume_api import VolumeAPI
from tests.compute.api.harness import DEMO_PROJECT, add_server

OTHER = "99999999-8888-4777-8666-555555555555"
OLD = "Multiattach volumes are only supported starting with compute API version 2.60."


class FakeVolumes(VolumeAPI):
    """Block Storage as Compute's API process calls it, in memory (the checks are VolumeAPI's own)."""

    def __init__(self) -> None:
        self.volumes: dict[str, dict[str, Any]] = {}
        self.reserved: list[tuple[str, str]] = []
        self.completed: list[str] = []
        self.deleted: list[str] = []

    def add(self, volume_id: str, *, multiattach: bool, attached_to: tuple[str, ...] = ()) -> None:
        self.volumes[volume_id] = {"id": volume_id, "multiattach": multiattach,
                                   "status": "in-use" if attached_to else "available",
                                   "attachments": [{"server_id": s} for s in attached_to]}

    async def available(self) -> bool:
        return True

    async def get(self, volume_id: str, ctx: Any = None) -> dict[str, Any]:
        if volume_id not in self.volumes:
            raise errors.NotFound(f"Volume {volume_id} could not be found.")
        return self.volumes[volume_id]

    async def attachment_create(self, volume_id: str, server_uuid: str, ctx: Any = None,
                                connector: dict[str, Any] | None = None) -> dict[str, Any]:
        self.reserved.append((volume_id, server_uuid))
        return {"id": f"att-{len(self.reserved)}"}

    async def attachment_complete(self, attachment_id: str) -> None:
        self.completed.append(attachment_id)

    async def attachment_delete(self, attachment_id: str) -> None:
        self.deleted.append(attachment_id)


class FakeConductor:
    def __init__(self) -> None:
        self.calls: list[str] = []
        self.bus = self  # casts to the agent land here too

    async def call_agent(self, row: Any, method: str, **kwargs: Any) -> None:
        self.calls.append(method)

    async def cast(self, topic: str, method: str, *args: Any, **kwargs: Any) -> None:
        self.calls.append(method)


@pytest.fixture
def volumes(compute_svc: Any) -> FakeVolumes:
    compute_svc.volumes = FakeVolumes()
    compute_svc.conductor = FakeConductor()
    return compute_svc.volumes


def attach(api: Any, server_id: str, volume_id: str, version: str) -> Any:
    return api.as_("demo", version).post(f"/servers/{server_id}/os-volume_attachments",
                                         json={"volumeAttachment": {"volumeId": volume_id}})


async def test_a_multiattach_volume_needs_2_60(compute_api, compute_svc, volumes) -> None:
    server = add_server(compute_svc).uuid
    volumes.add("shared", multiattach=True, attached_to=(OTHER,))
    old = await attach(compute_api, server, "shared", "2.59")
    assert old.status_code == 400 and old.json()["badRequest"]["message"] == OLD
    assert volumes.reserved == []
    new = await attach(compute_api, server, "shared", "2.60")
    assert new.status_code == 200, new.text
    assert volumes.reserved == [("shared", server)] and compute_svc.conductor.calls == ["attach_volume"]
    volumes.volumes["shared"]["attachments"].append({"server_id": server})
    again = await attach(compute_api, server, "shared", "2.60")
    assert again.status_code == 400
    assert again.json()["badRequest"]["message"] == "Invalid volume: volume shared already attached"


async def test_a_volume_that_is_not_multiattach_stays_on_one_server(compute_api, compute_svc, volumes) -> None:
    server = add_server(compute_svc).uuid
    volumes.add("single", multiattach=False, attached_to=(OTHER,))
    for version in ("2.1", "2.60", "2.96"):
        response = await attach(compute_api, server, "single", version)
        assert response.status_code == 400, response.text
        assert response.json()["badRequest"]["message"] == (
            f"Invalid volume: volume single is already attached to instances: {OTHER}")
    assert volumes.reserved == []


async def test_no_multiattach_volume_for_a_shelved_offloaded_server(compute_api, compute_svc, volumes) -> None:
    server = add_server(compute_svc, vm_state="shelved_offloaded", host=None).uuid
    volumes.add("shared", multiattach=True)
    response = await attach(compute_api, server, "shared", "2.60")
    assert response.status_code == 400
    assert response.json()["badRequest"]["message"] == ("Attaching multiattach volumes is not supported for "
                                                         "shelved-offloaded instances.")


async def test_a_shelved_offloaded_server_takes_and_gives_volumes_from_2_20(compute_api, compute_svc,
                                                                              volumes) -> None:
    """No host, no agent: the volume is attached in Block Storage at once (completed without a
    connector) and the mapping recorded; a detach deletes both at once.  Before 2.20: 409."""
    server = add_server(compute_svc, vm_state="shelved_offloaded", host=None).uuid
    volumes.add("v", multiattach=False)
    old = await attach(compute_api, server, "v", "2.19")
    assert old.status_code == 409 and volumes.reserved == []
    new = await attach(compute_api, server, "v", "2.20")
    assert new.status_code == 200, new.text
    assert volumes.reserved == [("v", server)] and volumes.completed == ["att-1"]
    assert compute_svc.conductor.calls == []  # no agent was asked
    listed = (await compute_api.as_("demo", "2.20").get(f"/servers/{server}/os-volume_attachments")).json()
    assert [a["volumeId"] for a in listed["volumeAttachments"]] == ["v"]
    assert (await compute_api.as_("demo", "2.19").delete(f"/servers/{server}/os-volume_attachments/v")
            ).status_code == 409
    gone = await compute_api.as_("demo", "2.20").delete(f"/servers/{server}/os-volume_attachments/v")
    assert gone.status_code == 202 and volumes.deleted == ["att-1"]
    listed = (await compute_api.as_("demo", "2.20").get(f"/servers/{server}/os-volume_attachments")).json()
    assert listed["volumeAttachments"] == []


async def test_boot_from_a_multiattach_volume_needs_2_60_and_one_server(compute_svc, volumes) -> None:
    from monostack.compute.api.servers import _make_volumes

    volumes.add("shared", multiattach=True, attached_to=(OTHER,))
    ctx = RequestContext(user_id="demo-user", project_id=DEMO_PROJECT, roles=["member"])

    def request(max_count: int = 1) -> dict[str, Any]:
        return {"name": "vm", "max_count": max_count, "bdms": [{
            "source_type": "volume", "destination_type": "volume", "volume_id": "shared", "image_id": None,
            "snapshot_id": None, "volume_type": None, "volume_size": None}]}

    with pytest.raises(errors.BadRequest, match="only supported starting with compute API version 2.60"):
        await _make_volumes(compute_svc, ctx, request(), supports_multiattach=False)
    assert await _make_volumes(compute_svc, ctx, request(), supports_multiattach=True) == []
    with pytest.raises(errors.BadRequest, match="Cannot attach one or more volumes to multiple instances"):
        await _make_volumes(compute_svc, ctx, request(max_count=2), supports_multiattach=True)


def actions_of(compute_svc: Any, server: str) -> list[str]:
    import sqlalchemy as sa

    from monostack.compute import models
    with compute_svc.db.reader() as session:
        return list(session.scalars(sa.select(models.InstanceAction.action).where(
            models.InstanceAction.instance_uuid == server).order_by(models.InstanceAction.id)))


async def test_attach_and_detach_are_instance_actions(compute_api, compute_svc, volumes) -> None:
    server = add_server(compute_svc).uuid
    volumes.add("v", multiattach=False)
    assert (await attach(compute_api, server, "v", "2.60")).status_code == 200
    gone = await compute_api.as_("demo", "2.60").delete(f"/servers/{server}/os-volume_attachments/v")
    assert gone.status_code == 202
    assert actions_of(compute_svc, server) == ["attach_volume", "detach_volume"]


async def test_an_attachment_is_updated_from_2_85_and_never_swapped(compute_api, compute_svc, volumes) -> None:
    server = add_server(compute_svc).uuid
    volumes.add("v", multiattach=False)
    volumes.add("other", multiattach=False)
    compute_svc.servers.add_block_device(server, source_type="volume", destination_type="volume", volume_id="v",
                                         attachment_id="att-v", delete_on_termination=False)

    def put(version: str, volume_in_uri: str, token: str = "demo", **fields: Any) -> Any:
        return compute_api.as_(token, version).put(f"/servers/{server}/os-volume_attachments/{volume_in_uri}",
                                                   json={"volumeAttachment": fields})

    missing = await put("2.85", "not-attached", token="admin", volumeId="other")
    assert missing.status_code == 404
    assert (await put("2.1", "v", volumeId="other")).status_code == 403  # swapping is an admin's
    swap = await put("2.1", "v", token="admin", volumeId="other")
    assert swap.status_code == 409 and "Swapping" in swap.json()["conflictingRequest"]["message"]
    assert (await put("2.84", "v", volumeId="v", delete_on_termination=True)).status_code == 400
    assert (await put("2.85", "v", volumeId="v", device="/dev/vdz")).status_code == 400
    assert (await put("2.85", "v", volumeId="v", delete_on_termination="yes")).status_code == 400
    updated = await put("2.85", "v", volumeId="v", delete_on_termination=True)
    assert updated.status_code == 202, updated.text
    bdm = next(b for b in compute_svc.servers.block_devices(server) if b.volume_id == "v")
    assert bdm.delete_on_termination is True


async def test_a_server_boots_only_from_a_bootable_volume(compute_svc, volumes) -> None:
    from monostack.compute.api.servers import _make_volumes

    volumes.add("data", multiattach=False)
    ctx = RequestContext(user_id="demo-user", project_id=DEMO_PROJECT, roles=["member"])
    request = {"name": "vm", "max_count": 1, "bdms": [{
        "source_type": "volume", "destination_type": "volume", "volume_id": "data", "boot_index": 0,
        "image_id": None, "snapshot_id": None, "volume_type": None, "volume_size": None}]}
    with pytest.raises(errors.BadRequest, match="Block Device data is not bootable."):
        await _make_volumes(compute_svc, ctx, request, supports_multiattach=True)
    volumes.volumes["data"]["bootable"] = "true"  # Cinder's string
    assert await _make_volumes(compute_svc, ctx, request, supports_multiattach=True) == []


async def test_an_attached_volume_is_named_after_the_flavors_own_disks(compute_api, compute_svc, volumes) -> None:
    from tests.compute.api.harness import server_row

    flavor = dict(server_row().flavor, ephemeral=1, swap=512)
    server = add_server(compute_svc, flavor=flavor, ephemeral_gb=1).uuid
    volumes.add("v", multiattach=False)
    attached = await attach(compute_api, server, "v", "2.60")
    assert attached.status_code == 200, attached.text
    assert attached.json()["volumeAttachment"]["device"] == "/dev/vdd"  # vdb ephemeral, vdc swap
