"""The volumes API over HTTP (in-process app, fake driver): create from every source, list with
filters, sorting and paging, show, update, delete, metadata, actions, and Cinder's error bodies."""

import pytest

from tests.volume.harness import DEMO_PROJECT


async def test_version_documents(vapi):
    root = await vapi.get("/")
    assert root.status_code == 300
    version = root.json()["versions"][0]
    assert version["id"] == "v3.0" and version["min_version"] == "3.0" and version["version"] == "3.70"
    v3 = await vapi.get("/v3/")
    assert v3.status_code == 200 and v3.json()["versions"][0]["status"] == "CURRENT"


async def test_microversion_header_negotiation(vapi):
    response = await vapi.get("/volumes")
    assert response.headers["OpenStack-API-Version"] == "volume 3.0"
    response = await vapi.get("/volumes", version="3.55")
    assert response.headers["OpenStack-API-Version"] == "volume 3.55"
    response = await vapi.get("/volumes", version="3.99")
    assert response.status_code == 406
    response = await vapi.get("/volumes", headers={"OpenStack-API-Version": "volume latest"})
    assert response.headers["OpenStack-API-Version"] == "volume 3.70"


async def test_project_is_optional_in_the_url(vapi):
    await vapi.volume(name="noproj")
    response = await vapi.get("/v3/volumes", version="3.67")
    assert response.status_code == 200 and any(v["name"] == "noproj" for v in response.json()["volumes"])


async def test_create_show_and_view_fields(vapi):
    demo = vapi.as_("demo")
    response = await demo.post("/volumes", json={"volume": {"size": 1, "name": "v1", "description": "d",
                                                            "metadata": {"a": "b"}}})
    assert response.status_code == 202
    created = response.json()["volume"]
    assert created["status"] == "creating" and created["size"] == 1
    shown = (await demo.get(f"/volumes/{created['id']}")).json()["volume"]
    assert shown["status"] == "available"
    assert shown["volume_type"] == "__DEFAULT__" and shown["bootable"] == "false"
    assert shown["metadata"] == {"a": "b"} and shown["attachments"] == []
    assert shown["os-vol-tenant-attr:tenant_id"] == DEMO_PROJECT
    assert "os-vol-host-attr:host" not in shown  # admin only
    assert shown["links"][0]["href"].endswith(f"/v3/{DEMO_PROJECT}/volumes/{created['id']}")
    admin_view = (await vapi.get(f"/volumes/{created['id']}")).json()["volume"]
    assert admin_view["os-vol-host-attr:host"] == "testhost@fake#fake"
    assert "volume_type_id" in (await demo.get(f"/volumes/{created['id']}", version="3.63")).json()["volume"]


@pytest.mark.parametrize("size, text", [(0, "0 is less than the minimum of 1"),
                                        (-1, "-1 is less than the minimum of 1"),
                                        (1.5, "is not of type 'integer', 'string'"),
                                        ("abc", "does not match"), (None, "None is not of type")])
async def test_bad_sizes_are_400(vapi, size, text):
    response = await vapi.post("/volumes", json={"volume": {"size": size}})
    assert response.status_code == 400, response.text
    body = response.json()["badRequest"]
    assert body["code"] == 400 and text in body["message"]


async def test_string_size_is_accepted(vapi):
    response = await vapi.post("/volumes", json={"volume": {"size": "2"}})
    assert response.status_code == 202 and response.json()["volume"]["size"] == 2


async def test_malformed_bodies(vapi):
    assert (await vapi.post("/volumes", content=b"{nope")).status_code == 400
    assert (await vapi.post("/volumes", json={"vol": {}})).status_code == 400
    assert (await vapi.post("/volumes", json={"volume": {"size": 1, "volume_type": "nope"}})).status_code == 404


async def test_unknown_volume_is_item_not_found(vapi):
    response = await vapi.get("/volumes/0f6f6e0e-0000-0000-0000-000000000000")
    assert response.status_code == 404
    assert response.json()["itemNotFound"]["message"] == \
        "Volume 0f6f6e0e-0000-0000-0000-000000000000 could not be found."


async def test_other_projects_volumes_are_invisible(vapi):
    volume = await vapi.as_("demo").volume()
    assert (await vapi.as_("alt").get(f"/volumes/{volume['id']}")).status_code == 404
    assert (await vapi.as_("alt").delete(f"/volumes/{volume['id']}")).status_code == 404
    listed = (await vapi.as_("alt").get("/volumes")).json()["volumes"]
    assert volume["id"] not in [v["id"] for v in listed]


async def test_reader_cannot_create(vapi):
    response = await vapi.as_("reader").post("/volumes", json={"volume": {"size": 1}})
    assert response.status_code == 403 and "forbidden" in response.json()


async def test_from_snapshot_clone_and_image(vapi):
    demo = vapi.as_("demo")
    source = await demo.volume(size=2, name="src")
    clone = await demo.volume(size=None, source_volid=source["id"])
    assert clone["status"] == "available" and clone["size"] == 2 and clone["source_volid"] == source["id"]
    snap = (await demo.post("/snapshots", json={"snapshot": {"volume_id": source["id"], "name": "s"}})).json()
    snap = (await demo.get(f"/snapshots/{snap['snapshot']['id']}")).json()["snapshot"]
    assert snap["status"] == "available" and snap["size"] == 2
    from_snap = await demo.volume(size=3, snapshot_id=snap["id"])
    assert from_snap["status"] == "available" and from_snap["snapshot_id"] == snap["id"]
    small = await demo.post("/volumes", json={"volume": {"size": 1, "snapshot_id": snap["id"]}})
    assert small.status_code == 400
    image = vapi.svc.images.add(name="guest", min_disk=1, os_distro="debian")
    from_image = await demo.volume(size=1, imageRef=image["id"])
    assert from_image["bootable"] == "true" and from_image["status"] == "available"
    assert from_image["volume_image_metadata"]["image_id"] == image["id"]
    assert from_image["volume_image_metadata"]["os_distro"] == "debian"
    calls = [name for name, _ in vapi.svc.test_manager.driver.calls]
    assert {"create_cloned_volume", "create_volume_from_snapshot", "create_volume_from_image"} <= set(calls)


async def test_image_checks(vapi):
    big = vapi.svc.images.add(size=3 * 1024 ** 3)
    response = await vapi.post("/volumes", json={"volume": {"size": 1, "imageRef": big["id"]}})
    assert response.status_code == 400 and "larger than volume size" in response.text
    min_disk = vapi.svc.images.add(min_disk=5)
    assert (await vapi.post("/volumes", json={"volume": {"size": 1, "imageRef": min_disk["id"]}})).status_code == 400
    queued = vapi.svc.images.add(status="queued")
    assert (await vapi.post("/volumes", json={"volume": {"size": 1, "imageRef": queued["id"]}})).status_code == 400
    assert (await vapi.post("/volumes", json={"volume": {"size": 1, "imageRef": "nope"}})).status_code == 404


async def test_list_filters_sort_and_pages(vapi):
    demo = vapi.as_("demo")
    ids = []
    for index in range(5):
        volume = await demo.volume(size=index + 1, name=f"p{index}", metadata={"k": "even" if index % 2 == 0 else "odd"})
        ids.append(volume["id"])
    listed = (await demo.get("/volumes?sort=size:asc")).json()["volumes"]
    assert [v["id"] for v in listed] == ids
    assert set(listed[0]) == {"id", "name", "links"}
    page = (await demo.get("/volumes/detail?sort=size:asc&limit=2")).json()
    assert [v["id"] for v in page["volumes"]] == ids[:2]
    next_href = page["volumes_links"][0]["href"]
    assert "marker=" + ids[1] in next_href
    page2 = (await demo.get(f"/volumes/detail?sort=size:asc&limit=2&marker={ids[1]}")).json()
    assert [v["id"] for v in page2["volumes"]] == ids[2:4]
    assert [v["id"] for v in (await demo.get("/volumes?name=p3")).json()["volumes"]] == [ids[3]]
    evens = (await demo.get("/volumes?metadata={'k': 'even'}")).json()["volumes"]
    assert sorted(v["id"] for v in evens) == sorted(ids[0::2])
    assert (await demo.get("/volumes?status=error")).json()["volumes"] == []
    desc = (await demo.get("/volumes?sort_key=size&sort_dir=desc")).json()["volumes"]
    assert [v["id"] for v in desc] == ids[::-1]
    assert (await demo.get("/volumes?sort=bogus:asc")).status_code == 400
    assert (await demo.get("/volumes?limit=-1")).status_code == 400
    assert (await demo.get("/volumes?marker=nope")).status_code == 404
    counted = (await demo.get("/volumes?with_count=true", version="3.45")).json()
    assert counted["count"] == 5
    summary = (await demo.get("/volumes/summary", version="3.36")).json()["volume-summary"]
    assert summary == {"total_size": 15, "total_count": 5, "metadata": {"k": ["even", "odd"]}}


async def test_all_tenants_for_admin_only(vapi):
    volume = await vapi.as_("demo").volume(name="tenant-vol")
    admin_all = (await vapi.get("/volumes?all_tenants=1")).json()["volumes"]
    assert volume["id"] in [v["id"] for v in admin_all]
    assert volume["id"] not in [v["id"] for v in (await vapi.get("/volumes")).json()["volumes"]]
    alt_all = (await vapi.as_("alt").get("/volumes?all_tenants=1")).json()["volumes"]
    assert volume["id"] not in [v["id"] for v in alt_all]


async def test_update_and_metadata(vapi):
    demo = vapi.as_("demo")
    volume = await demo.volume(name="old")
    updated = (await demo.put(f"/volumes/{volume['id']}", json={"volume": {"name": "new", "description": "x"}}))
    assert updated.status_code == 200 and updated.json()["volume"]["name"] == "new"
    assert (await demo.put(f"/volumes/{volume['id']}", json={"volume": {"size": 5}})).status_code == 400
    url = f"/volumes/{volume['id']}/metadata"
    assert (await demo.post(url, json={"metadata": {"a": "1", "b": "2"}})).json()["metadata"] == {"a": "1", "b": "2"}
    assert (await demo.put(url, json={"metadata": {"c": "3"}})).json()["metadata"] == {"c": "3"}
    assert (await demo.put(f"{url}/d", json={"meta": {"d": "4"}})).json() == {"meta": {"d": "4"}}
    assert (await demo.get(f"{url}/d")).json() == {"meta": {"d": "4"}}
    assert (await demo.put(f"{url}/d", json={"meta": {"e": "4"}})).status_code == 400
    assert (await demo.delete(f"{url}/d")).status_code == 200
    assert (await demo.get(f"{url}/d")).status_code == 404
    assert (await demo.get(url)).json()["metadata"] == {"c": "3"}


async def test_delete_rules(vapi):
    demo = vapi.as_("demo")
    volume = await demo.volume()
    snap = (await demo.post("/snapshots", json={"snapshot": {"volume_id": volume["id"]}})).json()["snapshot"]
    refused = await demo.delete(f"/volumes/{volume['id']}")
    assert refused.status_code == 400
    assert refused.json()["badRequest"]["message"].startswith("Invalid volume: Volume status must be available or "
                                                              "error")
    assert (await demo.delete(f"/volumes/{volume['id']}?cascade=true")).status_code == 202
    assert (await demo.get(f"/volumes/{volume['id']}")).status_code == 404
    assert (await demo.get(f"/snapshots/{snap['id']}")).status_code == 404


async def test_attached_volume_cannot_be_deleted_and_force_delete(vapi):
    demo = vapi.as_("demo")
    volume = await demo.volume()
    assert (await demo.action(volume["id"], {"os-reserve": None})).status_code == 202
    assert (await demo.action(volume["id"], {"os-attach": {"instance_uuid": "11111111-2222-3333-4444-555555555555",
                                                           "mountpoint": "/dev/vdb"}})).status_code == 202
    shown = (await demo.get(f"/volumes/{volume['id']}")).json()["volume"]
    assert shown["status"] == "in-use" and shown["attachments"][0]["device"] == "/dev/vdb"
    response = await demo.delete(f"/volumes/{volume['id']}")
    assert response.status_code == 400 and "Invalid volume" in response.json()["badRequest"]["message"]
    assert (await demo.action(volume["id"], {"os-force_delete": {}})).status_code == 403
    # reset to error (admin) and force delete: refused while attached
    assert (await vapi.action(volume["id"], {"os-reset_status": {"status": "error"}})).status_code == 202
    assert (await vapi.action(volume["id"], {"os-force_delete": {}})).status_code == 400
    assert (await vapi.action(volume["id"], {"os-reset_status": {"status": "error",
                                                                 "attach_status": "detached"}})).status_code == 202
    assert (await vapi.action(volume["id"], {"os-force_delete": {}})).status_code == 202
    assert (await demo.get(f"/volumes/{volume['id']}")).status_code == 404


async def test_extend(vapi):
    demo = vapi.as_("demo")
    volume = await demo.volume(size=1)
    smaller = await demo.action(volume["id"], {"os-extend": {"new_size": 1}})
    assert smaller.status_code == 400 and "New size for extend must be greater than current size" in smaller.text
    assert (await demo.action(volume["id"], {"os-extend": {"new_size": 0}})).status_code == 400
    assert (await demo.action(volume["id"], {"os-extend": {}})).status_code == 400
    assert (await demo.action(volume["id"], {"os-extend": {"new_size": 3}})).status_code == 202
    assert (await demo.get(f"/volumes/{volume['id']}")).json()["volume"]["size"] == 3
    # online extend needs 3.42
    await demo.action(volume["id"], {"os-reserve": None})
    await demo.action(volume["id"], {"os-attach": {"instance_uuid": "11111111-2222-3333-4444-555555555555",
                                                   "mountpoint": "/dev/vdb"}})
    assert (await demo.action(volume["id"], {"os-extend": {"new_size": 4}})).status_code == 400
    assert (await demo.action(volume["id"], {"os-extend": {"new_size": 4}}, version="3.42")).status_code == 202
    shown = (await demo.get(f"/volumes/{volume['id']}")).json()["volume"]
    assert shown["size"] == 4 and shown["status"] == "in-use"
    assert vapi.svc.compute.events == [("11111111-2222-3333-4444-555555555555", volume["id"])]


async def test_reimage(vapi):
    """os-reimage (3.68): the image's data over an available volume, which keeps its id and size
    and shows the new image's metadata; a reserved volume only with reimage_reserved (Nova
    rebuilding the server it boots), whose server then hears volume-reimaged."""
    demo = vapi.as_("demo")
    first = vapi.svc.images.add(name="first")
    second = vapi.svc.images.add(name="second", os_distro="debian")
    volume = await demo.volume(size=1, imageRef=first["id"])
    body = {"os-reimage": {"image_id": second["id"]}}
    old = await demo.action(volume["id"], body, version="3.67")
    assert old.status_code == 400 and "There is no such action: os-reimage" in old.text
    for bad in ({"os-reimage": {}}, {"os-reimage": {"image_id": second["id"], "color": "red"}},
                {"os-reimage": {"image_id": second["id"], "reimage_reserved": "maybe"}}):
        assert (await demo.action(volume["id"], bad, version="3.68")).status_code == 400, bad
    assert (await demo.action(volume["id"], {"os-reimage": {"image_id": "nope"}}, version="3.68")).status_code == 404
    big = vapi.svc.images.add(size=3 * 1024 ** 3)
    too_big = await demo.action(volume["id"], {"os-reimage": {"image_id": big["id"]}}, version="3.68")
    assert too_big.status_code == 400 and "larger than volume size" in too_big.text

    assert (await demo.action(volume["id"], body, version="3.68")).status_code == 202
    shown = (await demo.get(f"/volumes/{volume['id']}")).json()["volume"]
    assert shown["status"] == "available" and shown["size"] == 1 and shown["bootable"] == "true"
    assert shown["volume_image_metadata"]["image_id"] == second["id"]
    assert shown["volume_image_metadata"]["os_distro"] == "debian"
    assert ("reimage_volume", volume["id"]) in vapi.svc.test_manager.driver.calls

    # Reserved for a server: refused without reimage_reserved (and reimage_reserved is admin's).
    server = "11111111-2222-3333-4444-555555555555"
    attachment = (await vapi.post("/attachments", version="3.27", json={"attachment": {
        "volume_uuid": volume["id"], "instance_uuid": server}})).json()["attachment"]
    reserved = {"os-reimage": {"image_id": first["id"], "reimage_reserved": True}}
    refused = await demo.action(volume["id"], {"os-reimage": {"image_id": first["id"]}}, version="3.68")
    assert refused.status_code == 400 and "current status is: reserved" in refused.text
    assert (await demo.action(volume["id"], reserved, version="3.68")).status_code == 403
    assert (await vapi.action(volume["id"], reserved, version="3.68")).status_code == 202
    shown = (await vapi.get(f"/volumes/{volume['id']}")).json()["volume"]
    assert shown["status"] == "reserved" and shown["volume_image_metadata"]["image_id"] == first["id"]
    assert vapi.svc.compute.events == [(server, f"reimaged {volume['id']} completed")]
    assert (await vapi.delete(f"/attachments/{attachment['id']}", version="3.27")).status_code == 200


async def test_reimage_failure_goes_to_error_and_tells_the_server(vapi):
    volume = await vapi.volume(size=1)
    image = vapi.svc.images.add()
    server = "11111111-2222-3333-4444-555555555555"
    await vapi.post("/attachments", version="3.27", json={"attachment": {"volume_uuid": volume["id"],
                                                                          "instance_uuid": server}})
    vapi.svc.test_manager.driver.fail["reimage_volume"] = "disk full"
    body = {"os-reimage": {"image_id": image["id"], "reimage_reserved": True}}
    assert (await vapi.action(volume["id"], body, version="3.68")).status_code == 202
    shown = (await vapi.get(f"/volumes/{volume['id']}")).json()["volume"]
    assert shown["status"] == "error" and "image_id" not in (shown.get("volume_image_metadata") or {})
    assert vapi.svc.compute.events == [(server, f"reimaged {volume['id']} failed")]
    # An error volume may be reimaged again (Cinder allows available and error).
    vapi.svc.test_manager.driver.fail.clear()
    assert (await vapi.action(volume["id"], {"os-reimage": {"image_id": image["id"]}},
                              version="3.68")).status_code == 202
    assert (await vapi.get(f"/volumes/{volume['id']}")).json()["volume"]["status"] == "available"


async def test_extend_failure_records_error_extending(vapi):
    volume = await vapi.volume(size=1)
    vapi.svc.test_manager.driver.fail["extend_volume"] = "disk full"
    assert (await vapi.action(volume["id"], {"os-extend": {"new_size": 2}})).status_code == 202
    shown = (await vapi.get(f"/volumes/{volume['id']}")).json()["volume"]
    assert shown["status"] == "error_extending" and shown["size"] == 1
    messages = (await vapi.get("/messages", version="3.3")).json()["messages"]
    assert any(m["resource_uuid"] == volume["id"] for m in messages)


async def test_create_failure_goes_to_error(vapi):
    vapi.svc.test_manager.driver.fail["create_volume"] = "no space"
    response = await vapi.post("/volumes", json={"volume": {"size": 1}})
    volume = (await vapi.get(f"/volumes/{response.json()['volume']['id']}")).json()["volume"]
    assert volume["status"] == "error"
    vapi.svc.test_manager.driver.fail.clear()
    assert (await vapi.delete(f"/volumes/{volume['id']}")).status_code == 202
    assert (await vapi.get(f"/volumes/{volume['id']}")).status_code == 404


async def test_bootable_readonly_and_image_metadata(vapi):
    volume = await vapi.volume()
    assert (await vapi.action(volume["id"], {"os-set_bootable": {"bootable": True}})).status_code == 200
    assert (await vapi.get(f"/volumes/{volume['id']}")).json()["volume"]["bootable"] == "true"
    assert (await vapi.action(volume["id"], {"os-set_bootable": {"bootable": "maybe"}})).status_code == 400
    assert (await vapi.action(volume["id"], {"os-update_readonly_flag": {"readonly": True}})).status_code == 202
    meta = await vapi.action(volume["id"], {"os-set_image_metadata": {"metadata": {"hw_disk_bus": "scsi"}}})
    assert meta.json()["metadata"] == {"hw_disk_bus": "scsi"}
    shown = (await vapi.get(f"/volumes/{volume['id']}")).json()["volume"]
    assert shown["volume_image_metadata"] == {"hw_disk_bus": "scsi"}
    assert (await vapi.action(volume["id"], {"os-unset_image_metadata": {"key": "hw_disk_bus"}})).status_code == 200
    assert (await vapi.action(volume["id"], {"os-show_image_metadata": None})).json() == {"metadata": {}}
    assert (await vapi.action(volume["id"], {"os-bogus": {}})).status_code == 400


async def test_reset_status_is_admin_only(vapi):
    volume = await vapi.as_("demo").volume()
    assert (await vapi.as_("demo").action(volume["id"], {"os-reset_status": {"status": "error"}})).status_code == 403
    assert (await vapi.action(volume["id"], {"os-reset_status": {"status": "bogus"}})).status_code == 400
    assert (await vapi.action(volume["id"], {"os-reset_status": {"status": "error"}})).status_code == 202
    assert (await vapi.get(f"/volumes/{volume['id']}")).json()["volume"]["status"] == "error"


async def test_old_attach_path(vapi):
    volume = await vapi.volume()
    vid = volume["id"]
    server = "11111111-2222-3333-4444-555555555555"
    assert (await vapi.action(vid, {"os-reserve": {}})).status_code == 202
    assert (await vapi.get(f"/volumes/{vid}")).json()["volume"]["status"] == "attaching"
    again = await vapi.action(vid, {"os-reserve": {}})
    assert again.status_code == 400
    assert (await vapi.action(vid, {"os-unreserve": {}})).status_code == 202
    assert (await vapi.get(f"/volumes/{vid}")).json()["volume"]["status"] == "available"
    await vapi.action(vid, {"os-reserve": {}})
    info = await vapi.action(vid, {"os-initialize_connection": {"connector": {"host": "h1"}}})
    assert info.status_code == 200
    assert info.json()["connection_info"]["data"]["access_mode"] == "rw"
    await vapi.action(vid, {"os-attach": {"instance_uuid": server, "mountpoint": "/dev/vdb"}})
    assert (await vapi.action(vid, {"os-begin_detaching": {}})).status_code == 202
    assert (await vapi.get(f"/volumes/{vid}")).json()["volume"]["status"] == "detaching"
    assert (await vapi.action(vid, {"os-roll_detaching": {}})).status_code == 202
    assert (await vapi.get(f"/volumes/{vid}")).json()["volume"]["status"] == "in-use"
    await vapi.action(vid, {"os-begin_detaching": {}})
    assert (await vapi.action(vid, {"os-terminate_connection": {"connector": {"host": "h1"}}})).status_code == 202
    assert (await vapi.action(vid, {"os-detach": {}})).status_code == 202
    shown = (await vapi.get(f"/volumes/{vid}")).json()["volume"]
    assert shown["status"] == "available" and shown["attachments"] == []
    # Again, with nothing attached: as Cinder, accepted and the volume stays available.
    assert (await vapi.action(vid, {"os-detach": {}})).status_code == 202
    assert (await vapi.get(f"/volumes/{vid}")).json()["volume"]["status"] == "available"


async def test_upload_to_image(vapi):
    volume = await vapi.as_("demo").volume()
    response = await vapi.as_("demo").action(volume["id"], {"os-volume_upload_image": {
        "image_name": "from-volume", "disk_format": "qcow2", "container_format": "bare"}})
    assert response.status_code == 202, response.text
    body = response.json()["os-volume_upload_image"]
    assert body["status"] == "uploading" and body["image_name"] == "from-volume"
    assert body["image_id"] in vapi.svc.images.uploaded
    assert (await vapi.get(f"/volumes/{volume['id']}")).json()["volume"]["status"] == "available"
    bad = await vapi.action(volume["id"], {"os-volume_upload_image": {"image_name": "x", "disk_format": "iso9"}})
    assert bad.status_code == 400


async def test_retype(vapi):
    volume = await vapi.volume()
    created = await vapi.post("/types", json={"volume_type": {"name": "gold"}})
    assert created.status_code == 200
    assert (await vapi.action(volume["id"], {"os-retype": {"new_type": "gold"}})).status_code == 202
    assert (await vapi.get(f"/volumes/{volume['id']}")).json()["volume"]["volume_type"] == "gold"
    other = await vapi.post("/types", json={"volume_type": {"name": "elsewhere",
                                                            "extra_specs": {"volume_backend_name": "other"}}})
    assert other.status_code == 200
    assert (await vapi.action(volume["id"], {"os-retype": {"new_type": "elsewhere"}})).status_code == 400


async def test_multiattach_comes_from_the_volume_type_only(vapi):
    """As Cinder: exactly multiattach="<is> True" in the type's extra specs; the create body's
    multiattach flag was removed (400 when true); a retype that changes it needs an available volume."""
    await vapi.post("/types", json={"volume_type": {"name": "multi", "extra_specs": {"multiattach": "<is> True"}}})
    await vapi.post("/types", json={"volume_type": {"name": "loose", "extra_specs": {"multiattach": "True"}}})
    assert (await vapi.volume(volume_type="multi"))["multiattach"] is True
    assert (await vapi.volume(volume_type="loose"))["multiattach"] is False
    assert (await vapi.volume(multiattach=False))["multiattach"] is False
    refused = await vapi.post("/volumes", json={"volume": {"size": 1, "multiattach": True}})
    assert refused.status_code == 400
    assert refused.json()["badRequest"]["message"].startswith("multiattach parameter has been removed.")

    volume = await vapi.volume()
    assert (await vapi.action(volume["id"], {"os-attach": {"instance_uuid": "11111111-2222-3333-4444-555555555555",
                                                            "mountpoint": "/dev/vdb"}})).status_code == 202
    in_use = await vapi.action(volume["id"], {"os-retype": {"new_type": "multi"}})
    assert in_use.status_code == 400
    assert in_use.json()["badRequest"]["message"] == (
        "Invalid input received: Invalid volume_type passed, retypes affecting multiattach are only allowed on "
        "available volumes, the specified volume however currently has a status of: in-use.")
    assert (await vapi.action(volume["id"], {"os-detach": {}})).status_code == 202
    assert (await vapi.action(volume["id"], {"os-retype": {"new_type": "multi"}})).status_code == 202
    shown = (await vapi.get(f"/volumes/{volume['id']}")).json()["volume"]
    assert shown["multiattach"] is True and shown["volume_type"] == "multi"
    assert (await vapi.action(volume["id"], {"os-retype": {"new_type": "loose"}})).status_code == 202
    assert (await vapi.get(f"/volumes/{volume['id']}")).json()["volume"]["multiattach"] is False


async def test_retype_with_migration_to_another_backend(vapi):
    from tests.volume.harness import start_manager

    other = await start_manager(vapi.svc, backend="fake2")
    await vapi.post("/types", json={"volume_type": {"name": "here", "extra_specs": {"volume_backend_name": "fake"}}})
    await vapi.post("/types", json={"volume_type": {"name": "there",
                                                    "extra_specs": {"volume_backend_name": "fake2"}}})
    volume = await vapi.volume(volume_type="here", name="moving")
    assert volume["os-vol-host-attr:host"] == "testhost@fake#fake"
    never = await vapi.action(volume["id"], {"os-retype": {"new_type": "there"}})
    assert never.status_code == 400
    moved = await vapi.action(volume["id"], {"os-retype": {"new_type": "there", "migration_policy": "on-demand"}})
    assert moved.status_code == 202
    shown = (await vapi.get(f"/volumes/{volume['id']}")).json()["volume"]
    assert shown["status"] == "available" and shown["volume_type"] == "there"
    assert shown["os-vol-host-attr:host"] == "testhost@fake2#fake2" and shown["migration_status"] == "success"
    assert volume["id"] in await other.driver.list_volumes()
    assert volume["id"] not in await vapi.svc.test_manager.driver.list_volumes()
    # a failed copy leaves the volume where it was
    back = await vapi.post("/types", json={"volume_type": {"name": "back",
                                                           "extra_specs": {"volume_backend_name": "fake"}}})
    assert back.status_code == 200
    vapi.svc.test_manager.driver.fail["create_volume_from_image"] = "disk full"
    await vapi.action(volume["id"], {"os-retype": {"new_type": "back", "migration_policy": "on-demand"}})
    shown = (await vapi.get(f"/volumes/{volume['id']}")).json()["volume"]
    assert shown["status"] == "available" and shown["volume_type"] == "there"
    assert shown["migration_status"] == "error" and shown["os-vol-host-attr:host"] == "testhost@fake2#fake2"


async def test_a_retype_that_migrates_makes_the_new_file_as_the_new_type_says(vapi):
    """multiattach follows the type when the data moves to another backend: the destination makes
    a shareable volume (raw on the file driver), and the flag changes when the copy is done."""
    from tests.volume.harness import start_manager

    other = await start_manager(vapi.svc, backend="fake2")
    await vapi.post("/types", json={"volume_type": {"name": "shared-there", "extra_specs": {
        "volume_backend_name": "fake2", "multiattach": "<is> True"}}})
    volume = await vapi.volume()
    moved = await vapi.action(volume["id"], {"os-retype": {"new_type": "shared-there",
                                                           "migration_policy": "on-demand"}})
    assert moved.status_code == 202, moved.text
    shown = (await vapi.get(f"/volumes/{volume['id']}")).json()["volume"]
    assert shown["multiattach"] is True and shown["migration_status"] == "success"
    assert (await other.driver._read("volume", volume["id"]))["shareable"] is True
