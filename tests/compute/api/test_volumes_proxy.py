"""Nova's volume proxy (/os-volumes, /os-snapshots up to 2.35) over a Block Storage in memory:
Nova's views and quirks, offset/limit, the caller's token, Cinder's errors as Nova's."""

from __future__ import annotations

from typing import Any

import pytest

from tests.compute.api.fake_block_storage import FakeBlockStorage
from tests.compute.api.harness import ALT_PROJECT, DEMO_PROJECT

SERVER = "11111111-2222-4333-8444-555555555555"
OTHER = "66666666-7777-4888-8999-000000000000"


@pytest.fixture
def cinder(compute_svc: Any) -> FakeBlockStorage:
    fake = FakeBlockStorage()
    compute_svc.volumes = fake.api()
    return fake


@pytest.fixture
def demo(compute_api: Any, cinder: FakeBlockStorage) -> Any:
    return compute_api.as_("demo", "2.35")


def create(client: Any, **volume: Any) -> Any:
    return client.post("/os-volumes", json={"volume": {"size": 1, **volume}})


async def test_create_show_list_delete_in_novas_shape(demo, cinder) -> None:
    response = await create(demo, size="2", display_name="v1", display_description="d", metadata={"Type": "work"},
                            volume_type="lvmdriver-1", availability_zone="nova")
    assert response.status_code == 200, response.text
    volume = response.json()["volume"]
    assert response.headers["location"].endswith(f"/v2.1/os-volumes/{volume['id']}")
    assert volume == {"id": volume["id"], "status": "creating", "size": 2, "availabilityZone": "nova",
                      "createdAt": volume["createdAt"], "attachments": [{}], "displayName": "v1",
                      "displayDescription": "d", "volumeType": "lvmdriver-1", "snapshotId": None,
                      "metadata": {"Type": "work"}}
    # Block Storage was called with the caller's token, at its project's URL.
    assert ("POST", "/volumes", "demo") in cinder.calls
    assert cinder.volumes[volume["id"]]["project"] == DEMO_PROJECT

    shown = (await demo.get(f"/os-volumes/{volume['id']}")).json()["volume"]
    assert shown == {**volume, "status": "available"}
    assert (await demo.get("/os-volumes")).json() == {"volumes": [shown]}
    assert (await demo.get("/os-volumes/detail")).json() == {"volumes": [shown]}

    deleted = await demo.delete(f"/os-volumes/{volume['id']}")
    assert deleted.status_code == 202 and deleted.content == b""
    missing = await demo.get(f"/os-volumes/{volume['id']}")
    assert missing.status_code == 404
    assert missing.json()["itemNotFound"]["message"] == f"Volume {volume['id']} could not be found."
    assert (await demo.delete(f"/os-volumes/{volume['id']}")).status_code == 404


async def test_an_attached_volume_shows_its_first_attachment_only(demo, cinder) -> None:
    volume = cinder.add_volume(DEMO_PROJECT, status="in-use", multiattach=True, attachments=[
        {"server_id": SERVER, "attachment_id": "a1", "device": "/dev/vdb"},
        {"server_id": OTHER, "attachment_id": "a2", "device": "/dev/vdc"}])
    shown = (await demo.get(f"/os-volumes/{volume['id']}")).json()["volume"]
    assert shown["attachments"] == [{"id": volume["id"], "volumeId": volume["id"], "serverId": SERVER,
                                     "device": "/dev/vdb"}]
    # In use: Block Storage refuses the delete, Nova's answer is a 400.
    refused = await demo.delete(f"/os-volumes/{volume['id']}")
    assert refused.status_code == 400 and refused.json()["badRequest"]["message"].startswith("Invalid input")


async def test_offset_and_limit_over_every_page_of_the_project(demo, cinder) -> None:
    cinder.page_size = 2  # the proxy follows Block Storage's pages, then cuts its own
    ids = [cinder.add_volume(DEMO_PROJECT)["id"] for _ in range(5)]
    cinder.add_volume(ALT_PROJECT)
    assert [v["id"] for v in (await demo.get("/os-volumes")).json()["volumes"]] == ids
    assert [v["id"] for v in (await demo.get("/os-volumes/detail", params={"limit": 2})).json()["volumes"]] \
        == ids[:2]
    page = (await demo.get("/os-volumes", params={"offset": 1, "limit": 1})).json()["volumes"]
    assert [v["id"] for v in page] == ids[1:2]
    assert len((await demo.get("/os-volumes", params={"limit": 0})).json()["volumes"]) == 5  # 0: no limit
    for bad in ({"limit": -1}, {"offset": "x"}):
        assert (await demo.get("/os-volumes", params=bad)).status_code == 400


@pytest.mark.parametrize("volume", [{"size": "#$%"}, {"size": ""}, {"size": 0}, {"size": "0"}, {"size": True},
                                    {"display_name": "no size"}, {"size": 1, "imageRef": "x"},
                                    {"size": 1, "display_name": None}])
async def test_invalid_volumes_are_400(demo, cinder, volume) -> None:
    response = await demo.post("/os-volumes", json={"volume": volume})
    assert response.status_code == 400 and "badRequest" in response.json(), response.text
    assert not cinder.volumes


async def test_block_storage_refusals_become_novas(demo, cinder) -> None:
    unknown_type = await create(demo, volume_type="gold")
    assert unknown_type.status_code == 404 and "gold" in unknown_type.json()["itemNotFound"]["message"]
    no_snapshot = await create(demo, snapshot_id="nope")
    assert no_snapshot.status_code == 404
    assert no_snapshot.json()["itemNotFound"]["message"] == "Snapshot nope could not be found."
    cinder.quota = 0
    over = await create(demo)
    assert over.status_code == 403 and "VolumeLimitExceeded" in over.json()["forbidden"]["message"]


async def test_snapshots(demo, cinder) -> None:
    volume = cinder.add_volume(DEMO_PROJECT, size=3)
    response = await demo.post("/os-snapshots", json={"snapshot": {"volume_id": volume["id"], "display_name": "s",
                                                                   "display_description": "d", "force": "false"}})
    assert response.status_code == 200, response.text
    snapshot = response.json()["snapshot"]
    assert snapshot == {"id": snapshot["id"], "volumeId": volume["id"], "status": "creating", "size": 3,
                        "createdAt": "2026-01-02T00:00:00.000000", "displayName": "s", "displayDescription": "d"}
    assert (await demo.get(f"/os-snapshots/{snapshot['id']}")).json() == {"snapshot": snapshot}
    for path in ("/os-snapshots", "/os-snapshots/detail"):
        assert (await demo.get(path, params={"limit": 1})).json() == {"snapshots": [snapshot]}
    # A volume from the snapshot (Nova checks the snapshot first, then Block Storage decides).
    made = (await create(demo, snapshot_id=snapshot["id"], size=3)).json()["volume"]
    assert made["snapshotId"] == snapshot["id"]

    assert (await demo.delete(f"/os-volumes/{volume['id']}")).status_code == 400  # it has a snapshot
    assert (await demo.delete(f"/os-snapshots/{snapshot['id']}")).status_code == 202
    assert (await demo.get(f"/os-snapshots/{snapshot['id']}")).status_code == 404
    gone = await demo.delete(f"/os-snapshots/{snapshot['id']}")
    assert gone.status_code == 404
    assert gone.json()["itemNotFound"]["message"] == f"Snapshot {snapshot['id']} could not be found."


async def test_snapshot_errors(demo, cinder) -> None:
    in_use = cinder.add_volume(DEMO_PROJECT, status="in-use")

    def snap(**fields: Any) -> Any:
        return demo.post("/os-snapshots", json={"snapshot": {"volume_id": in_use["id"], **fields}})

    assert (await snap()).status_code == 400  # in use, no force: Block Storage's 400
    assert (await snap(force="maybe")).status_code == 400
    assert (await snap(metadata={})).status_code == 400  # not in Nova's schema
    assert (await snap(force=True)).status_code == 200
    missing = await demo.post("/os-snapshots", json={"snapshot": {"volume_id": "nope"}})
    assert missing.status_code == 404
    assert missing.json()["itemNotFound"]["message"] == "Volume nope could not be found."


async def test_block_storage_decides_visibility_and_policy_the_rest(compute_api, demo, cinder) -> None:
    theirs = cinder.add_volume(ALT_PROJECT)
    assert (await demo.get(f"/os-volumes/{theirs['id']}")).status_code == 404
    assert (await demo.delete(f"/os-volumes/{theirs['id']}")).status_code == 404
    for method in ("GET", "DELETE"):  # no id at all (Tempest's "without passing volume id")
        assert (await demo.request(method, "/os-volumes/")).status_code == 404
    mine = cinder.add_volume(DEMO_PROJECT)
    reader = compute_api.as_("reader", "2.35")
    assert (await reader.get(f"/os-volumes/{mine['id']}")).status_code == 200
    assert (await reader.get("/os-snapshots")).status_code == 200
    assert (await create(reader)).status_code == 403
    assert (await reader.delete(f"/os-volumes/{mine['id']}")).status_code == 403
    assert (await reader.post("/os-snapshots", json={"snapshot": {"volume_id": mine["id"]}})).status_code == 403
    assert len(cinder.volumes) == 2 and not cinder.snapshots


@pytest.mark.parametrize("method,path", [("GET", "/os-volumes"), ("GET", "/os-volumes/detail"),
                                         ("POST", "/os-volumes"), ("GET", "/os-volumes/x"),
                                         ("DELETE", "/os-volumes/x"), ("GET", "/os-snapshots"),
                                         ("GET", "/os-snapshots/detail"), ("POST", "/os-snapshots"),
                                         ("GET", "/os-snapshots/x"), ("DELETE", "/os-snapshots/x")])
async def test_gone_from_2_36_and_without_block_storage(compute_api, cinder, method, path) -> None:
    body = {"json": {"volume": {"size": 1}} if "volumes" in path else {"snapshot": {"volume_id": "x"}}} \
        if method == "POST" else {}
    newer = await compute_api.as_("demo", "2.36").request(method, path, **body)
    assert newer.status_code == 404 and newer.json()["itemNotFound"]["message"] == "The resource could not be found."
    cinder.present = False
    alone = await compute_api.as_("demo", "2.35").request(method, path, **body)
    assert alone.status_code == 404 and "itemNotFound" in alone.json()
    assert not cinder.calls
