"""Backups, image uploads and clones of an in-use volume read a point-in-time copy that Compute
makes (the guest's QEMU, Nova's assisted snapshot), never the file a guest is writing; the copy
goes afterwards.  A volume no server has attached is read in place.  (In-process app, fake driver,
the harness's fake Compute; tests/volume/test_guest_volumes.py does it with a real guest.)"""

from __future__ import annotations

import pathlib
from typing import Any

SERVER = "11111111-2222-3333-4444-555555555555"


async def attached(demo: Any) -> dict[str, Any]:
    """A volume in-use by SERVER (the attachments API as Compute drives it)."""
    volume = await demo.volume()
    made = await demo.post("/attachments", json={"attachment": {"volume_uuid": volume["id"], "instance_uuid": SERVER}})
    attachment = made.json()["attachment"]["id"]
    await demo.put(f"/attachments/{attachment}", json={"attachment": {"connector": {"host": "compute1"}}})
    assert (await demo.post(f"/attachments/{attachment}/action", json={"os-complete": {}})).status_code == 204
    return volume


def copies_made(vapi: Any) -> list[str]:
    return [event for server, event in vapi.svc.compute.events if server == SERVER and event.startswith("snapshot")]


def temporaries(vapi: Any) -> list[pathlib.Path]:
    return sorted(vapi.svc.test_manager.driver.state_dir.glob(".tmp-*"))


async def test_a_backup_of_an_in_use_volume_reads_a_point_in_time_copy(vapi: Any) -> None:
    demo = vapi.as_("demo", "3.44")
    volume = await attached(demo)
    refused = await demo.post("/backups", json={"backup": {"volume_id": volume["id"]}})
    assert refused.status_code == 400  # in-use needs force, as in Cinder
    made = await demo.post("/backups", json={"backup": {"volume_id": volume["id"], "force": True}})
    assert made.status_code == 202, made.text
    backup = (await demo.get(f"/backups/{made.json()['backup']['id']}")).json()["backup"]
    assert backup["status"] == "available"
    stored = vapi.svc.test_manager.backup_store.backups[backup["id"]]
    assert stored["format"] == "qcow2" and stored["path"].name.startswith(".tmp-snapshot-backup-")
    assert len(copies_made(vapi)) == 1 and temporaries(vapi) == []
    assert (await demo.get(f"/volumes/{volume['id']}")).json()["volume"]["status"] == "in-use"

    other = await demo.volume()  # not attached: read in place, no copy
    await demo.post("/backups", json={"backup": {"volume_id": other["id"]}})
    assert len(copies_made(vapi)) == 1


async def test_an_upload_and_a_clone_of_an_in_use_volume_read_point_in_time_copies(vapi: Any) -> None:
    demo = vapi.as_("demo", "3.44")
    volume = await attached(demo)
    upload = await demo.action(volume["id"], {"os-volume_upload_image": {"image_name": "live", "force": True}})
    assert upload.status_code == 202, upload.text
    image = vapi.svc.images.images[upload.json()["os-volume_upload_image"]["image_id"]]
    assert image["status"] == "active"
    clone = await demo.volume(source_volid=volume["id"])
    assert clone["status"] == "available"
    record = await vapi.svc.test_manager.driver._read("volume", clone["id"])
    assert record["point_in_time_copy"] is True
    assert len(copies_made(vapi)) == 2 and temporaries(vapi) == []
    assert (await demo.get(f"/volumes/{volume['id']}")).json()["volume"]["status"] == "in-use"


async def test_a_failed_copy_fails_the_backup_and_leaves_the_volume_in_use(vapi: Any) -> None:
    demo = vapi.as_("demo", "3.44")
    volume = await attached(demo)

    async def refuse(*args: Any) -> None:
        raise RuntimeError("Compute could not snapshot the volume")

    vapi.svc.compute.assisted_snapshot = refuse
    made = await demo.post("/backups", json={"backup": {"volume_id": volume["id"], "force": True}})
    backup = (await demo.get(f"/backups/{made.json()['backup']['id']}")).json()["backup"]
    assert backup["status"] == "error" and "snapshot" in backup["fail_reason"]
    assert (await demo.get(f"/volumes/{volume['id']}")).json()["volume"]["status"] == "in-use"
    assert temporaries(vapi) == []
