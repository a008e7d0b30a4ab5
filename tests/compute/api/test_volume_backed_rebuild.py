"""Rebuilding a volume-backed server: from the image its boot volume holds, as Nova does; with
another image, from 2.93, the agent has Block Storage write that image over the boot volume
(`reimage_boot_volume`); Nova's 400 before 2.93, and for an image the volume cannot hold.
A real guest's rebuild is in tests/volume/test_guest_volumes.py."""

from __future__ import annotations

from typing import Any

from tests.compute.api.test_rescue import FakeConductor, FakeImages, images, volume_backed  # noqa: F401


class FakeVolumes:
    def __init__(self, image_id: str, size: int = 1) -> None:
        self.image_id, self.size = image_id, size

    async def get(self, volume_id: str, ctx: Any = None) -> dict[str, Any]:
        return {"id": volume_id, "size": self.size, "volume_image_metadata": {"image_id": self.image_id}}


class RowConductor(FakeConductor):
    """Records the action and answers the server's row, as the conductor does."""

    def __init__(self, svc: Any) -> None:
        super().__init__()
        self.svc = svc

    async def act(self, ctx: Any, uuid: str, action: str, *, record_as: str, args: Any = None, **changes: Any):
        await super().act(ctx, uuid, action, record_as=record_as, args=args, **changes)
        return self.svc.servers.by_uuid(uuid)


def rebuild(api: Any, server: str, version: str, image_id: str) -> Any:
    return api.as_("demo", version).post(f"/servers/{server}/action", json={"rebuild": {"imageRef": image_id}})


async def test_another_image_reimages_the_boot_volume_from_2_93(compute_api, compute_svc, images) -> None:
    server = volume_backed(compute_svc)
    held = images.add(status="active")
    other = images.add(status="active", size=512 * 1024 ** 2, min_disk=1)
    compute_svc.volumes = FakeVolumes(held)
    compute_svc.conductor = RowConductor(compute_svc)
    old = await rebuild(compute_api, server, "2.92", other)
    assert old.status_code == 400
    assert "Unable to rebuild with a different image for a volume-backed server" in old.json()["badRequest"]["message"]
    assert compute_svc.conductor.acts == []

    new = await rebuild(compute_api, server, "2.93", other)
    assert new.status_code == 202, new.text
    assert new.json()["server"]["image"] == ""  # a volume-backed server shows no image, as in Nova
    assert compute_svc.conductor.acts == [(server, "rebuild", {"reimage_boot_volume": other})]

    # The same image: a plain rebuild of the server from its volume.
    compute_svc.conductor.acts.clear()
    assert (await rebuild(compute_api, server, "2.93", held)).status_code == 202
    assert compute_svc.conductor.acts == [(server, "rebuild", None)]


async def test_an_image_the_boot_volume_cannot_hold_is_refused(compute_api, compute_svc, images) -> None:
    server = volume_backed(compute_svc)
    compute_svc.volumes = FakeVolumes(images.add(status="active"), size=1)
    compute_svc.conductor = RowConductor(compute_svc)
    for too_big in (images.add(status="active", size=2 * 1024 ** 3), images.add(status="active", min_disk=2)):
        response = await rebuild(compute_api, server, "2.93", too_big)
        assert response.status_code == 400 and "Volume is smaller" in response.json()["badRequest"]["message"]
    assert compute_svc.conductor.acts == []
