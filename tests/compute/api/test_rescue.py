"""The rescue action's checks, as Nova's API makes them before it casts to the host: the rescue
image's hw_rescue_device/hw_rescue_bus (stable device rescue) must name a device and bus the
QEMU driver gives, and a volume-backed server is rescued only from 2.87 with an image that names
both (anything else: 400 "Cannot rescue a volume-backed instance")."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from monostack.compute import models
from tests.compute.api.harness import add_server, utcnow

STABLE = {"hw_rescue_device": "disk", "hw_rescue_bus": "scsi"}


class FakeImages:
    def __init__(self) -> None:
        self.images: dict[str, dict[str, Any]] = {}

    def add(self, **properties: Any) -> str:
        image_id = str(uuid.uuid4())
        self.images[image_id] = {"id": image_id, "name": "rescue", "disk_format": "qcow2", **properties}
        return image_id

    async def get(self, image_id: str, token: str | None = None) -> dict[str, Any] | None:
        return self.images.get(image_id)


class FakeConductor:
    def __init__(self) -> None:
        self.acts: list[tuple[str, str, dict[str, Any] | None]] = []

    async def act(self, ctx: Any, uuid: str, action: str, *, record_as: str, args: Any = None, **changes: Any):
        self.acts.append((uuid, action, args))


@pytest.fixture
def images(compute_svc: Any) -> FakeImages:
    compute_svc.images = FakeImages()
    compute_svc.conductor = FakeConductor()
    return compute_svc.images


def volume_backed(svc: Any) -> str:
    row = add_server(svc, image_ref="")
    with svc.db.writer() as session:
        session.add(models.BlockDeviceMapping(
            uuid=str(uuid.uuid4()), instance_uuid=row.uuid, source_type="volume", destination_type="volume",
            boot_index=0, volume_id=str(uuid.uuid4()), device_name="/dev/vda", created_at=utcnow()))
    return row.uuid


def rescue(api: Any, server: str, version: str, image_id: str | None = None) -> Any:
    body = {"rescue": {"rescue_image_ref": image_id} if image_id else None}
    return api.as_("demo", version).post(f"/servers/{server}/action", json=body)


async def test_a_volume_backed_server_is_rescued_only_stably_from_2_87(compute_api, compute_svc, images) -> None:
    server = volume_backed(compute_svc)
    both = images.add(**STABLE)
    bus_only = images.add(hw_rescue_bus="virtio")
    refused = f"Instance {server} cannot be rescued: Cannot rescue a volume-backed instance"
    for version, image in (("2.86", both), ("2.87", bus_only), ("2.87", None)):
        response = await rescue(compute_api, server, version, image)
        assert response.status_code == 400, (version, response.text)
        assert response.json()["badRequest"]["message"] == refused
    assert compute_svc.conductor.acts == []
    response = await rescue(compute_api, server, "2.87", both)
    assert response.status_code == 200, response.text
    assert response.json()["adminPass"]
    assert compute_svc.conductor.acts == [(server, "rescue", {"image_id": both})]


async def test_an_image_backed_server_takes_a_stable_rescue_at_any_version(compute_api, compute_svc,
                                                                            images) -> None:
    server = add_server(compute_svc, image_ref=str(uuid.uuid4())).uuid
    for props in ({}, STABLE, {"hw_rescue_device": "cdrom"}, {"hw_rescue_bus": "usb"}):
        image = images.add(**props)
        response = await rescue(compute_api, server, "2.1", image)
        assert response.status_code == 200, (props, response.text)
    assert len(compute_svc.conductor.acts) == 4


@pytest.mark.parametrize("props, message", [
    ({"hw_rescue_device": "floppy"}, "Requested rescue device 'floppy' is not supported"),
    ({"hw_rescue_bus": "fdc"}, "Requested rescue bus 'fdc' is not supported by the qemu virt driver"),
    ({"hw_rescue_device": "cdrom", "hw_rescue_bus": "virtio"},
     "Requested rescue bus 'virtio' is not supported by the qemu virt driver"),
])
async def test_a_rescue_device_qemu_cannot_give_is_400(compute_api, compute_svc, images, props, message) -> None:
    server = add_server(compute_svc, image_ref=str(uuid.uuid4())).uuid
    response = await rescue(compute_api, server, "2.87", images.add(**props))
    assert response.status_code == 400
    assert response.json()["badRequest"]["message"] == message
    assert compute_svc.conductor.acts == []


async def test_the_servers_own_image_properties_ask_for_a_stable_rescue(compute_api, compute_svc, images) -> None:
    server = add_server(compute_svc, image_ref=str(uuid.uuid4()),
                        image_meta={"properties": {"hw_rescue_bus": "fdc"}}).uuid
    response = await rescue(compute_api, server, "2.1")
    assert response.status_code == 400
    assert "Requested rescue bus 'fdc'" in response.json()["badRequest"]["message"]
