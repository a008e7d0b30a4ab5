"""Rebuilding a volume-backed server: from the image its boot volume holds, as Nova does; another
image would reimage the boot volume (2.93), which this cloud does not offer: Nova's 400 before
2.93, 409 from it, and nothing is started."""

from __future__ import annotations

from typing import Any

from tests.compute.api.test_rescue import FakeConductor, FakeImages, images, volume_backed  # noqa: F401


class FakeVolumes:
    def __init__(self, image_id: str) -> None:
        self.image_id = image_id

    async def get(self, volume_id: str, ctx: Any = None) -> dict[str, Any]:
        return {"id": volume_id, "volume_image_metadata": {"image_id": self.image_id}}


def rebuild(api: Any, server: str, version: str, image_id: str) -> Any:
    return api.as_("demo", version).post(f"/servers/{server}/action", json={"rebuild": {"imageRef": image_id}})


async def test_another_image_for_a_volume_backed_server_is_refused(compute_api, compute_svc, images) -> None:
    server = volume_backed(compute_svc)
    held, other = images.add(status="active"), images.add(status="active")
    compute_svc.volumes = FakeVolumes(held)
    old = await rebuild(compute_api, server, "2.92", other)
    assert old.status_code == 400
    assert "Unable to rebuild with a different image for a volume-backed server" in old.json()["badRequest"]["message"]
    new = await rebuild(compute_api, server, "2.93", other)
    assert new.status_code == 409
    assert compute_svc.conductor.acts == []
