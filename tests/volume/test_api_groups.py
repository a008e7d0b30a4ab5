"""Generic volume groups over HTTP: group types and specs, groups with volumes, updates,
group snapshots, groups from a group snapshot or another group, deletes, status resets."""

V = "3.20"


async def group_type(vapi, name="gt"):
    response = await vapi.post("/group_types", json={"group_type": {"name": name, "group_specs": {"a": "b"}}},
                               version=V)
    assert response.status_code == 202, response.text
    return response.json()["group_type"]


async def wait_group(vapi, group_id):
    return (await vapi.get(f"/groups/{group_id}?list_volume=True", version="3.25")).json()["group"]


async def test_group_types(vapi):
    assert (await vapi.get("/group_types")).status_code == 404  # 3.0
    gt = await group_type(vapi)
    assert gt["group_specs"] == {"a": "b"} and gt["is_public"] is True
    assert (await vapi.post("/group_types", json={"group_type": {"name": "gt"}}, version=V)).status_code == 409
    assert (await vapi.as_("demo").post("/group_types", json={"group_type": {"name": "x"}}, version=V)
            ).status_code == 403
    specs = f"/group_types/{gt['id']}/group_specs"
    assert (await vapi.post(specs, json={"group_specs": {"c": "d"}}, version=V)).status_code == 202
    assert (await vapi.get(specs, version=V)).json()["group_specs"] == {"a": "b", "c": "d"}
    assert (await vapi.put(f"{specs}/c", json={"c": "e"}, version=V)).json() == {"c": "e"}
    assert (await vapi.get(f"{specs}/c", version=V)).json() == {"c": "e"}
    assert (await vapi.delete(f"{specs}/c", version=V)).status_code == 202
    updated = await vapi.put(f"/group_types/{gt['id']}", json={"group_type": {"name": "gt2"}}, version=V)
    assert updated.json()["group_type"]["name"] == "gt2"
    assert [t["name"] for t in (await vapi.get("/group_types", version=V)).json()["group_types"]] == ["gt2"]
    assert (await vapi.delete(f"/group_types/{gt['id']}", version=V)).status_code == 202
    assert (await vapi.get(f"/group_types/{gt['id']}", version=V)).status_code == 404


async def test_group_lifecycle_snapshots_and_clones(vapi):
    gt = await group_type(vapi)
    vtype = (await vapi.post("/types", json={"volume_type": {"name": "grouped"}})).json()["volume_type"]
    demo = vapi.as_("demo", V)
    created = await demo.post("/groups", json={"group": {"name": "g1", "group_type": gt["id"],
                                                         "volume_types": [vtype["id"]]}})
    assert created.status_code == 202, created.text
    gid = created.json()["group"]["id"]
    group = await wait_group(demo, gid)
    assert group["status"] == "available" and group["volume_types"] == [vtype["id"]]
    in_group = [await demo.volume(size=1, group_id=gid, volume_type="grouped") for _ in range(2)]
    assert all(v["group_id"] == gid for v in in_group)
    wrong_type = await demo.post("/volumes", json={"volume": {"size": 1, "group_id": gid}})
    assert wrong_type.status_code == 400
    refused = await demo.delete(f"/volumes/{in_group[0]['id']}")
    assert refused.status_code == 400  # a group member is deleted with its group
    assert sorted((await wait_group(demo, gid))["volumes"]) == sorted(v["id"] for v in in_group)

    loose = await demo.volume(size=1, volume_type="grouped")
    assert (await demo.put(f"/groups/{gid}", json={"group": {"add_volumes": loose["id"], "name": "g1b"}})
            ).status_code == 202
    assert len((await wait_group(demo, gid))["volumes"]) == 3
    assert (await demo.put(f"/groups/{gid}", json={"group": {"remove_volumes": loose["id"]}})).status_code == 202
    assert len((await wait_group(demo, gid))["volumes"]) == 2

    gsnap = await demo.post("/group_snapshots", json={"group_snapshot": {"group_id": gid, "name": "gs"}})
    assert gsnap.status_code == 202
    gsid = gsnap.json()["group_snapshot"]["id"]
    shown = (await demo.get(f"/group_snapshots/{gsid}")).json()["group_snapshot"]
    assert shown["status"] == "available" and shown["group_id"] == gid
    member_snaps = [s for s in (await demo.get("/snapshots/detail")).json()["snapshots"]
                    if s["group_snapshot_id"] == gsid]
    assert len(member_snaps) == 2 and all(s["status"] == "available" for s in member_snaps)
    assert (await demo.delete(f"/snapshots/{member_snaps[0]['id']}")).status_code == 400

    from_snap = await demo.post("/groups/action", json={"create-from-src": {"group_snapshot_id": gsid,
                                                                            "name": "from-snap"}})
    assert from_snap.status_code == 202
    copy = await wait_group(demo, from_snap.json()["group"]["id"])
    assert copy["status"] == "available" and len(copy["volumes"]) == 2 and copy["group_snapshot_id"] == gsid
    from_group = await demo.post("/groups/action", json={"create-from-src": {"source_group_id": gid}})
    clone = await wait_group(demo, from_group.json()["group"]["id"])
    assert clone["status"] == "available" and len(clone["volumes"]) == 2

    assert (await demo.post(f"/groups/{gid}/action", json={"delete": {"delete-volumes": True}})).status_code == 400
    assert (await demo.delete(f"/group_snapshots/{gsid}")).status_code == 202
    assert (await demo.get(f"/group_snapshots/{gsid}")).status_code == 404
    assert (await demo.post(f"/groups/{gid}/action", json={"delete": {}})).status_code == 400  # has volumes
    for group_id in (gid, copy["id"], clone["id"]):
        assert (await demo.post(f"/groups/{group_id}/action", json={"delete": {"delete-volumes": True}})
                ).status_code == 202
        assert (await demo.get(f"/groups/{group_id}")).status_code == 404
    remaining = [v["id"] for v in (await demo.get("/volumes")).json()["volumes"]]
    assert remaining == [loose["id"]]


async def test_group_status_resets(vapi):
    gt = await group_type(vapi)
    vtype = (await vapi.post("/types", json={"volume_type": {"name": "grouped"}})).json()["volume_type"]
    gid = (await vapi.post("/groups", json={"group": {"group_type": gt["id"], "volume_types": [vtype["id"]]}},
                           version=V)).json()["group"]["id"]
    assert (await vapi.post(f"/groups/{gid}/action", json={"reset_status": {"status": "error"}}, version=V)
            ).status_code == 202
    assert (await vapi.get(f"/groups/{gid}", version=V)).json()["group"]["status"] == "error"
    assert (await vapi.as_("demo", V).post(f"/groups/{gid}/action", json={"reset_status": {"status": "x"}})
            ).status_code in (403, 404)
    await vapi.post(f"/groups/{gid}/action", json={"reset_status": {"status": "available"}}, version=V)
    gsid = (await vapi.post("/group_snapshots", json={"group_snapshot": {"group_id": gid}}, version=V)
            ).json()["group_snapshot"]["id"]
    assert (await vapi.post(f"/group_snapshots/{gsid}/action", json={"reset_status": {"status": "error"}},
                            version=V)).status_code == 202
    assert (await vapi.get(f"/group_snapshots/{gsid}", version=V)).json()["group_snapshot"]["status"] == "error"
    listed = (await vapi.get("/groups/detail", version=V)).json()["groups"]
    assert [g["id"] for g in listed] == [gid]


async def test_group_type_list_sorted_and_filtered(vapi):
    await vapi.post("/group_types", json={"group_type": {"name": "a-type"}}, version=V)
    await vapi.post("/group_types", json={"group_type": {"name": "b-type", "is_public": False}}, version=V)
    asc = (await vapi.get("/group_types?sort=name:asc&is_public=None", version=V)).json()["group_types"]
    assert [t["name"] for t in asc] == ["a-type", "b-type"]
    desc = (await vapi.get("/group_types?sort=name:desc&is_public=None", version=V)).json()["group_types"]
    assert [t["name"] for t in desc] == ["b-type", "a-type"]
    private = (await vapi.get("/group_types?is_public=False", version=V)).json()["group_types"]
    assert [t["name"] for t in private] == ["b-type"]
    assert (await vapi.get("/group_types?sort=bogus:asc", version=V)).status_code == 400
    types = (await vapi.get("/types?sort=name:desc")).json()["volume_types"]
    assert [t["name"] for t in types] == sorted((t["name"] for t in types), reverse=True)
