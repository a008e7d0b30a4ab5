"""Snapshots, backups, types, QoS specs, quotas, limits, zones, services, extensions, transfers,
attachments and messages over HTTP (in-process app, fake driver, in-memory backup store)."""

from tests.volume.harness import ALT_PROJECT, DEMO_PROJECT

SERVER = "11111111-2222-3333-4444-555555555555"


async def test_snapshots(vapi):
    demo = vapi.as_("demo")
    volume = await demo.volume(size=2)
    created = await demo.post("/snapshots", json={"snapshot": {"volume_id": volume["id"], "name": "s1",
                                                               "metadata": {"m": "1"}}})
    assert created.status_code == 202 and created.json()["snapshot"]["status"] == "creating"
    sid = created.json()["snapshot"]["id"]
    shown = (await demo.get(f"/snapshots/{sid}")).json()["snapshot"]
    assert shown["status"] == "available" and shown["size"] == 2 and shown["metadata"] == {"m": "1"}
    assert shown["os-extended-snapshot-attributes:progress"] == "100%"
    second = (await demo.post("/snapshots", json={"snapshot": {"volume_id": volume["id"], "name": "s2"}})).json()
    listed = (await demo.get("/snapshots?sort=name:asc")).json()["snapshots"]
    assert [s["name"] for s in listed] == ["s1", "s2"]
    page = (await demo.get("/snapshots/detail?sort=name:asc&limit=1")).json()
    assert len(page["snapshots"]) == 1 and page["snapshots_links"]
    assert (await demo.put(f"/snapshots/{sid}", json={"snapshot": {"name": "renamed"}})).json()["snapshot"][
        "name"] == "renamed"
    assert (await demo.post(f"/snapshots/{sid}/metadata", json={"metadata": {"x": "y"}})).json()["metadata"] == {
        "m": "1", "x": "y"}
    assert (await demo.delete(f"/snapshots/{sid}/metadata/x")).status_code == 200
    assert (await demo.delete(f"/snapshots/{sid}/metadata/x")).status_code == 404
    assert (await demo.get(f"/snapshots/{sid}/metadata/m")).json() == {"meta": {"m": "1"}}
    assert (await demo.get(f"/snapshots/{sid}/metadata/x")).status_code == 404
    assert (await demo.put(f"/snapshots/{sid}/metadata/m", json={"meta": {"m": "2"}})).json() == {"meta": {"m": "2"}}
    assert (await demo.put(f"/snapshots/{sid}/metadata/m", json={"meta": {"n": "2"}})).status_code == 400
    assert (await demo.put(f"/snapshots/{sid}/metadata", json={"metadata": {"only": "this"}})).json() == {
        "metadata": {"only": "this"}}
    assert (await demo.get(f"/snapshots/{sid}/metadata")).json() == {"metadata": {"only": "this"}}
    assert (await vapi.as_("alt").get(f"/snapshots/{sid}/metadata")).status_code == 404
    assert (await demo.delete(f"/snapshots/{sid}")).status_code == 202
    assert (await demo.get(f"/snapshots/{sid}")).status_code == 404
    assert (await demo.get(f"/snapshots/{second['snapshot']['id']}")).status_code == 200
    assert (await vapi.as_("alt").get(f"/snapshots/{second['snapshot']['id']}")).status_code == 404


async def test_snapshot_of_in_use_volume_needs_force(vapi):
    volume = await vapi.volume()
    await vapi.action(volume["id"], {"os-reserve": {}})
    await vapi.action(volume["id"], {"os-attach": {"instance_uuid": SERVER, "mountpoint": "/dev/vdb"}})
    refused = await vapi.post("/snapshots", json={"snapshot": {"volume_id": volume["id"]}})
    assert refused.status_code == 400 and "Invalid volume" in refused.json()["badRequest"]["message"]
    forced = await vapi.post("/snapshots", json={"snapshot": {"volume_id": volume["id"], "force": True}})
    assert forced.status_code == 202
    at_366 = await vapi.post("/snapshots", json={"snapshot": {"volume_id": volume["id"]}}, version="3.66")
    assert at_366.status_code == 202
    bad = await vapi.post("/snapshots", json={"snapshot": {"volume_id": volume["id"], "force": "perhaps"}})
    assert bad.status_code == 400


async def test_snapshot_reset_status_and_error(vapi):
    volume = await vapi.volume()
    vapi.svc.test_manager.driver.fail["create_snapshot"] = "boom"
    sid = (await vapi.post("/snapshots", json={"snapshot": {"volume_id": volume["id"]}})).json()["snapshot"]["id"]
    assert (await vapi.get(f"/snapshots/{sid}")).json()["snapshot"]["status"] == "error"
    vapi.svc.test_manager.driver.fail.clear()
    assert (await vapi.post(f"/snapshots/{sid}/action", json={"os-reset_status": {"status": "available"}})
            ).status_code == 202
    assert (await vapi.get(f"/snapshots/{sid}")).json()["snapshot"]["status"] == "available"
    assert (await vapi.as_("demo").post(f"/snapshots/{sid}/action",
                                        json={"os-reset_status": {"status": "error"}})).status_code in (403, 404)


async def test_backups_full_incremental_restore_delete(vapi):
    demo = vapi.as_("demo")
    volume = await demo.volume(size=1, metadata={"kept": "with the backup"})
    incremental_first = await demo.post("/backups", json={"backup": {"volume_id": volume["id"], "incremental": True}})
    assert incremental_first.status_code == 400
    full = await demo.post("/backups", json={"backup": {"volume_id": volume["id"], "name": "full"}})
    assert full.status_code == 202
    full_id = full.json()["backup"]["id"]
    shown = (await demo.get(f"/backups/{full_id}")).json()["backup"]
    assert shown["status"] == "available" and shown["object_count"] == 3 and shown["is_incremental"] is False
    assert (await demo.get(f"/volumes/{volume['id']}")).json()["volume"]["status"] == "available"
    inc = await demo.post("/backups", json={"backup": {"volume_id": volume["id"], "incremental": True}})
    inc_id = inc.json()["backup"]["id"]
    inc_view = (await demo.get(f"/backups/{inc_id}")).json()["backup"]
    assert inc_view["is_incremental"] is True
    assert vapi.svc.test_manager.backup_store.backups[inc_id]["parent_id"] == full_id
    assert (await demo.get(f"/backups/{full_id}")).json()["backup"]["has_dependent_backups"] is True
    assert (await demo.delete(f"/backups/{full_id}")).status_code == 400
    listed = (await demo.get("/backups/detail")).json()["backups"]
    assert {b["id"] for b in listed} == {full_id, inc_id}
    restored = await demo.post(f"/backups/{full_id}/restore", json={"restore": {"volume_id": volume["id"]}})
    assert restored.status_code == 202 and restored.json()["restore"]["volume_id"] == volume["id"]
    assert (await demo.get(f"/volumes/{volume['id']}")).json()["volume"]["status"] == "available"
    new = await demo.post(f"/backups/{full_id}/restore", json={"restore": {"name": "fresh"}})
    assert new.status_code == 202
    fresh = (await demo.get(f"/volumes/{new.json()['restore']['volume_id']}")).json()["volume"]
    assert fresh["status"] == "available" and fresh["name"] == "fresh"
    assert fresh["metadata"] == {"kept": "with the backup"}  # as Cinder: the backed-up volume's metadata
    assert (await demo.delete(f"/backups/{inc_id}")).status_code == 202
    assert (await demo.delete(f"/backups/{full_id}")).status_code == 202
    assert (await demo.get("/backups")).json()["backups"] == []


async def test_backup_failure_and_reset(vapi):
    volume = await vapi.volume()
    vapi.svc.test_manager.backup_store.fail = "store down"
    bid = (await vapi.post("/backups", json={"backup": {"volume_id": volume["id"]}})).json()["backup"]["id"]
    shown = (await vapi.get(f"/backups/{bid}")).json()["backup"]
    assert shown["status"] == "error" and "store down" in shown["fail_reason"]
    assert (await vapi.get(f"/volumes/{volume['id']}")).json()["volume"]["status"] == "available"
    assert (await vapi.post(f"/backups/{bid}/action", json={"os-reset_status": {"status": "available"}})
            ).status_code == 202
    assert (await vapi.get(f"/backups/{bid}")).json()["backup"]["status"] == "available"


async def test_volume_types(vapi):
    types = (await vapi.get("/types")).json()["volume_types"]
    assert [t["name"] for t in types] == ["__DEFAULT__"]
    default = (await vapi.get("/types/default")).json()["volume_type"]
    assert default["name"] == "__DEFAULT__"
    created = await vapi.post("/types", json={"volume_type": {"name": "ssd", "description": "fast",
                                                              "extra_specs": {"volume_backend_name": "fake"}}})
    assert created.status_code == 200
    tid = created.json()["volume_type"]["id"]
    assert (await vapi.post("/types", json={"volume_type": {"name": "ssd"}})).status_code == 409
    assert (await vapi.as_("demo").post("/types", json={"volume_type": {"name": "x"}})).status_code == 403
    specs = f"/types/{tid}/extra_specs"
    assert (await vapi.post(specs, json={"extra_specs": {"k": "v"}})).json() == {"extra_specs": {"k": "v"}}
    assert (await vapi.get(specs)).json()["extra_specs"] == {"volume_backend_name": "fake", "k": "v"}
    assert (await vapi.put(f"{specs}/k", json={"k": "w"})).json() == {"k": "w"}
    assert (await vapi.get(f"{specs}/k")).json() == {"k": "w"}
    assert (await vapi.delete(f"{specs}/k")).status_code == 202
    assert (await vapi.get(f"{specs}/k")).status_code == 404
    updated = await vapi.put(f"/types/{tid}", json={"volume_type": {"description": "faster"}})
    assert updated.json()["volume_type"]["description"] == "faster"
    volume = await vapi.volume(volume_type="ssd")
    assert volume["volume_type"] == "ssd" and volume["status"] == "available"
    in_use = await vapi.delete(f"/types/{tid}")
    assert in_use.status_code == 400
    assert (await vapi.delete(f"/types/{default['id']}")).status_code == 400
    await vapi.delete(f"/volumes/{volume['id']}")
    assert (await vapi.delete(f"/types/{tid}")).status_code == 202


async def test_volume_type_encryption(vapi):
    tid = (await vapi.post("/types", json={"volume_type": {"name": "luks"}})).json()["volume_type"]["id"]
    path = f"/types/{tid}/encryption"
    assert (await vapi.get(path)).json() == {}
    spec = {"provider": "luks", "control_location": "front-end", "cipher": "aes-xts-plain64", "key_size": "256"}
    assert (await vapi.as_("demo").post(path, json={"encryption": spec})).status_code == 403
    for bad in ({"provider": "luks"}, {**spec, "control_location": "middle"}, {**spec, "key_size": "-1"},
                {**spec, "key_size": "big"}, {**spec, "colour": "red"}):
        answer = await vapi.post(path, json={"encryption": bad})
        assert answer.status_code == 400, (bad, answer.text)
    assert (await vapi.post("/types/no-such-type/encryption", json={"encryption": spec})).status_code == 404
    created = await vapi.post(path, json={"encryption": spec})
    assert created.status_code == 200
    body = created.json()["encryption"]
    assert body["volume_type_id"] == tid and body["key_size"] == 256 and body["encryption_id"]
    again = await vapi.post(path, json={"encryption": spec})
    assert again.status_code == 400 and "already exists" in again.text
    shown = (await vapi.get(path)).json()
    assert {k: shown[k] for k in ("volume_type_id", "provider", "control_location", "cipher", "key_size",
                                  "encryption_id")} == {**spec, "key_size": 256, "volume_type_id": tid,
                                                        "encryption_id": body["encryption_id"]}
    assert (await vapi.get(f"{path}/cipher")).json() == {"cipher": "aes-xts-plain64"}
    assert (await vapi.get(f"{path}/nothing")).status_code == 404
    updated = await vapi.put(f"{path}/provider", json={"encryption": {"control_location": "back-end", "key_size": 512}})
    assert updated.status_code == 200 and updated.json() == {"encryption": {"control_location": "back-end",
                                                                             "key_size": 512}}
    shown = (await vapi.get(path)).json()
    assert (shown["control_location"], shown["key_size"], shown["cipher"]) == ("back-end", 512, "aes-xts-plain64")
    # No key manager here: no volume of the type is made (none that would claim to be encrypted).
    refused = await vapi.post("/volumes", json={"volume": {"size": 1, "volume_type": tid}})
    assert refused.status_code == 400 and "key manager" in refused.text
    assert not [v for v in (await vapi.get("/volumes")).json()["volumes"]]
    plain = await vapi.volume()
    assert (await vapi.action(plain["id"], {"os-retype": {"new_type": tid}})).status_code == 400
    assert (await vapi.delete(f"{path}/provider")).status_code == 202
    assert (await vapi.get(path)).json() == {}
    assert (await vapi.delete(f"{path}/provider")).status_code == 404
    assert (await vapi.put(f"{path}/provider", json={"encryption": {"cipher": "x"}})).status_code == 404
    # A type in use keeps its encryption as it is.
    volume = await vapi.volume(volume_type="luks")
    in_use = await vapi.post(path, json={"encryption": spec})
    assert in_use.status_code == 400 and "in use" in in_use.text
    await vapi.delete(f"/volumes/{volume['id']}")
    await vapi.delete(f"/volumes/{plain['id']}")
    assert (await vapi.post(path, json={"encryption": spec})).status_code == 200
    assert (await vapi.delete(f"/types/{tid}")).status_code == 202  # its encryption goes with it
    assert (await vapi.get(path)).status_code == 404


async def test_private_type_access(vapi):
    created = await vapi.post("/types", json={"volume_type": {"name": "private",
                                                              "os-volume-type-access:is_public": False}})
    tid = created.json()["volume_type"]["id"]
    assert created.json()["volume_type"]["os-volume-type-access:is_public"] is False
    assert (await vapi.as_("demo").get(f"/types/{tid}")).status_code == 404
    assert (await vapi.as_("demo").post("/volumes", json={"volume": {"size": 1, "volume_type": tid}})
            ).status_code == 404
    assert (await vapi.post(f"/types/{tid}/action", json={"addProjectAccess": {"project": DEMO_PROJECT}})
            ).status_code == 202
    access = (await vapi.get(f"/types/{tid}/os-volume-type-access")).json()["volume_type_access"]
    assert access == [{"volume_type_id": tid, "project_id": DEMO_PROJECT}]
    assert (await vapi.as_("demo").get(f"/types/{tid}")).status_code == 200
    assert tid in [t["id"] for t in (await vapi.as_("demo").get("/types")).json()["volume_types"]]
    assert tid not in [t["id"] for t in (await vapi.as_("alt").get("/types")).json()["volume_types"]]
    assert (await vapi.post(f"/types/{tid}/action", json={"removeProjectAccess": {"project": DEMO_PROJECT}})
            ).status_code == 202
    assert (await vapi.as_("demo").get(f"/types/{tid}")).status_code == 404


async def test_qos_specs(vapi):
    created = await vapi.post("/qos-specs", json={"qos_specs": {"name": "gold", "consumer": "front-end",
                                                                "total_iops_sec": "100"}})
    assert created.status_code == 200
    spec = created.json()["qos_specs"]
    assert spec["specs"] == {"total_iops_sec": "100"} and spec["consumer"] == "front-end"
    qid = spec["id"]
    assert (await vapi.post("/qos-specs", json={"qos_specs": {"name": "gold"}})).status_code == 409
    assert (await vapi.post("/qos-specs", json={"qos_specs": {"name": "x", "consumer": "nowhere"}})
            ).status_code == 400
    assert (await vapi.put(f"/qos-specs/{qid}", json={"qos_specs": {"read_iops_sec": "5"}})).json() == {
        "qos_specs": {"read_iops_sec": "5"}}
    assert (await vapi.put(f"/qos-specs/{qid}/delete_keys", json={"keys": ["total_iops_sec"]})).status_code == 202
    assert (await vapi.get(f"/qos-specs/{qid}")).json()["qos_specs"]["specs"] == {"read_iops_sec": "5"}
    tid = (await vapi.post("/types", json={"volume_type": {"name": "with-qos"}})).json()["volume_type"]["id"]
    assert (await vapi.get(f"/qos-specs/{qid}/associate?vol_type_id={tid}")).status_code == 202
    assert (await vapi.get(f"/qos-specs/{qid}/associations")).json()["qos_associations"] == [
        {"association_type": "volume_type", "name": "with-qos", "id": tid}]
    assert (await vapi.get(f"/types/{tid}")).json()["volume_type"]["qos_specs_id"] == qid
    assert (await vapi.delete(f"/qos-specs/{qid}")).status_code == 400
    assert (await vapi.get(f"/qos-specs/{qid}/disassociate?vol_type_id={tid}")).status_code == 202
    assert (await vapi.get(f"/qos-specs/{qid}/associations")).json()["qos_associations"] == []
    assert (await vapi.delete(f"/qos-specs/{qid}")).status_code == 202
    assert (await vapi.get(f"/qos-specs/{qid}")).status_code == 404
    assert (await vapi.as_("demo").get("/qos-specs")).status_code == 403


async def test_quotas_defaults_usage_and_per_type(vapi):
    defaults = (await vapi.get(f"/os-quota-sets/{DEMO_PROJECT}/defaults")).json()["quota_set"]
    assert defaults["volumes"] == 10 and defaults["gigabytes"] == 1000 and defaults["snapshots"] == 10
    assert defaults["backups"] == 10 and defaults["backup_gigabytes"] == 1000 and defaults["groups"] == 10
    assert defaults["per_volume_gigabytes"] == -1 and defaults["volumes___DEFAULT__"] == -1
    await vapi.as_("demo").volume(size=3)
    usage = (await vapi.get(f"/os-quota-sets/{DEMO_PROJECT}?usage=true")).json()["quota_set"]
    assert usage["volumes"] == {"limit": 10, "in_use": 1, "reserved": 0, "allocated": 0}
    assert usage["gigabytes"]["in_use"] == 3 and usage["gigabytes___DEFAULT__"]["in_use"] == 3
    assert (await vapi.as_("demo").put(f"/os-quota-sets/{DEMO_PROJECT}", json={"quota_set": {"volumes": 1}})
            ).status_code == 403
    updated = await vapi.put(f"/os-quota-sets/{DEMO_PROJECT}", json={"quota_set": {"volumes": 1, "gigabytes": 5}})
    assert updated.status_code == 200 and updated.json()["quota_set"]["volumes"] == 1
    over = await vapi.as_("demo").post("/volumes", json={"volume": {"size": 1}})
    assert over.status_code == 413
    assert over.json()["overLimit"]["message"] == ("VolumeLimitExceeded: Maximum number of volumes allowed (1) "
                                                  "exceeded for quota 'volumes'.")
    await vapi.put(f"/os-quota-sets/{DEMO_PROJECT}", json={"quota_set": {"volumes": 10}})
    too_big = await vapi.as_("demo").post("/volumes", json={"volume": {"size": 3}})
    assert too_big.status_code == 413
    assert "VolumeSizeExceedsAvailableQuota: Requested volume or snapshot exceeds allowed gigabytes quota. " \
           "Requested 3G, quota is 5G and 3G has been consumed." == too_big.json()["overLimit"]["message"]
    assert (await vapi.put(f"/os-quota-sets/{DEMO_PROJECT}", json={"quota_set": {"bogus": 1}})).status_code == 400
    assert (await vapi.put(f"/os-quota-sets/{DEMO_PROJECT}", json={"quota_set": {"volumes": -5}})).status_code == 400
    per_type = await vapi.put(f"/os-quota-sets/{DEMO_PROJECT}", json={"quota_set": {
        "gigabytes": 1000, "volumes___DEFAULT__": 1}})
    assert per_type.status_code == 200
    over_type = await vapi.as_("demo").post("/volumes", json={"volume": {"size": 1}})
    assert over_type.status_code == 413 and "volumes___DEFAULT__" in over_type.text
    assert (await vapi.delete(f"/os-quota-sets/{DEMO_PROJECT}")).status_code == 200
    assert (await vapi.get(f"/os-quota-sets/{DEMO_PROJECT}")).json()["quota_set"]["volumes"] == 10
    limits = (await vapi.as_("demo").get("/limits")).json()["limits"]["absolute"]
    assert limits["maxTotalVolumes"] == 10 and limits["totalVolumesUsed"] == 1 and limits["totalGigabytesUsed"] == 3
    per_volume = await vapi.put(f"/os-quota-sets/{DEMO_PROJECT}", json={"quota_set": {"per_volume_gigabytes": 2}})
    assert per_volume.status_code == 200
    assert (await vapi.as_("demo").post("/volumes", json={"volume": {"size": 3}})).status_code == 413


async def test_quota_classes(vapi):
    shown = (await vapi.get("/os-quota-class-sets/default")).json()["quota_class_set"]
    assert shown["volumes"] == 10
    assert (await vapi.put("/os-quota-class-sets/default", json={"quota_class_set": {"volumes": 7}})).json()[
        "quota_class_set"]["volumes"] == 7
    assert (await vapi.get(f"/os-quota-sets/{ALT_PROJECT}")).json()["quota_set"]["volumes"] == 7


async def test_zones_services_extensions(vapi):
    zones = (await vapi.get("/os-availability-zone")).json()["availabilityZoneInfo"]
    assert zones == [{"zoneName": "nova", "zoneState": {"available": True}}]
    services = (await vapi.get("/os-services")).json()["services"]
    volume = [s for s in services if s["binary"] == "cinder-volume"]
    assert volume and volume[0]["host"] == "testhost@fake" and volume[0]["state"] == "up"
    assert any(s["binary"] == "cinder-scheduler" for s in services)
    assert (await vapi.as_("demo").get("/os-services")).status_code == 403
    disabled = await vapi.put("/os-services/disable-log-reason", json={"host": "testhost@fake",
                                                                       "binary": "cinder-volume",
                                                                       "disabled_reason": "maintenance"})
    assert disabled.json()["status"] == "disabled" and disabled.json()["disabled_reason"] == "maintenance"
    # a disabled backend takes no new volumes
    volume_row = (await vapi.post("/volumes", json={"volume": {"size": 1}})).json()["volume"]
    assert (await vapi.get(f"/volumes/{volume_row['id']}")).json()["volume"]["status"] == "error"
    enabled = await vapi.put("/os-services/enable", json={"host": "testhost@fake", "binary": "cinder-volume"})
    assert enabled.json()["status"] == "enabled"
    extensions = (await vapi.get("/extensions")).json()["extensions"]
    assert {"os-volume-transfer", "qos-specs", "backups"} <= {e["alias"] for e in extensions}


async def test_transfers(vapi):
    demo, alt = vapi.as_("demo"), vapi.as_("alt")
    volume = await demo.volume()
    created = await demo.post("/os-volume-transfer", json={"transfer": {"volume_id": volume["id"], "name": "t"}})
    assert created.status_code == 202
    transfer = created.json()["transfer"]
    assert transfer["auth_key"] and transfer["volume_id"] == volume["id"]
    assert (await demo.get(f"/volumes/{volume['id']}")).json()["volume"]["status"] == "awaiting-transfer"
    shown = (await demo.get(f"/os-volume-transfer/{transfer['id']}")).json()["transfer"]
    assert "auth_key" not in shown
    assert (await demo.delete(f"/volumes/{volume['id']}")).status_code == 400
    wrong = await alt.post(f"/os-volume-transfer/{transfer['id']}/accept", json={"accept": {"auth_key": "nope"}})
    assert wrong.status_code == 400 and "Invalid auth key" in wrong.text
    accepted = await alt.post(f"/os-volume-transfer/{transfer['id']}/accept",
                              json={"accept": {"auth_key": transfer["auth_key"]}})
    assert accepted.status_code == 202
    moved = (await alt.get(f"/volumes/{volume['id']}")).json()["volume"]
    assert moved["status"] == "available" and moved["os-vol-tenant-attr:tenant_id"] == ALT_PROJECT
    assert (await demo.get(f"/volumes/{volume['id']}")).status_code == 404
    # the 3.55 API, and cancelling
    other = await alt.volume()
    new_api = await alt.post("/volume-transfers", json={"transfer": {"volume_id": other["id"], "no_snapshots": True}},
                             version="3.55")
    assert new_api.status_code == 202 and new_api.json()["transfer"]["no_snapshots"] is True
    assert (await alt.get("/volume-transfers")).status_code == 404  # 3.0
    assert len((await alt.get("/volume-transfers", version="3.55")).json()["transfers"]) == 1
    assert (await alt.delete(f"/volume-transfers/{new_api.json()['transfer']['id']}", version="3.55")
            ).status_code == 202
    assert (await alt.get(f"/volumes/{other['id']}")).json()["volume"]["status"] == "available"


async def test_attachments_api(vapi):
    demo = vapi.as_("demo", "3.44")
    volume = await demo.volume()
    assert (await vapi.as_("demo").post("/attachments", json={"attachment": {"volume_uuid": volume["id"]}})
            ).status_code == 404  # 3.0
    reserved = await demo.post("/attachments", json={"attachment": {"volume_uuid": volume["id"],
                                                                    "instance_uuid": SERVER}})
    assert reserved.status_code == 200, reserved.text
    attachment = reserved.json()["attachment"]
    assert attachment["status"] == "reserved"
    assert (await demo.get(f"/volumes/{volume['id']}")).json()["volume"]["status"] == "reserved"
    second = await demo.post("/attachments", json={"attachment": {"volume_uuid": volume["id"],
                                                                  "instance_uuid": "22222222-2222-3333-4444-555555555555"}})
    assert second.status_code == 400 and "Invalid volume" in second.json()["badRequest"]["message"]
    updated = await demo.put(f"/attachments/{attachment['id']}", json={"attachment": {"connector": {
        "host": "compute1", "initiator": "x", "mountpoint": "/dev/vdb"}}})
    assert updated.status_code == 200
    info = updated.json()["attachment"]["connection_info"]
    assert info["driver_volume_type"] and info["data"]["attachment_id"] == attachment["id"]
    assert (await demo.get(f"/volumes/{volume['id']}")).json()["volume"]["status"] == "attaching"
    assert (await demo.post(f"/attachments/{attachment['id']}/action", json={"os-complete": {}})).status_code == 204
    shown = (await demo.get(f"/volumes/{volume['id']}")).json()["volume"]
    assert shown["status"] == "in-use" and shown["attachments"][0]["server_id"] == SERVER
    assert (await demo.get(f"/attachments/{attachment['id']}")).json()["attachment"]["status"] == "attached"
    listed = (await demo.get(f"/attachments?volume_id={volume['id']}")).json()["attachments"]
    assert [a["id"] for a in listed] == [attachment["id"]]
    deleted = await demo.delete(f"/attachments/{attachment['id']}")
    assert deleted.status_code == 200
    after = (await demo.get(f"/volumes/{volume['id']}")).json()["volume"]
    assert after["status"] == "available" and after["attachments"] == []
    assert (await vapi.as_("alt", "3.44").get(f"/attachments/{attachment['id']}")).status_code == 404


async def test_attachment_with_connector_and_multiattach(vapi):
    demo = vapi.as_("demo", "3.44")
    await vapi.post("/types", json={"volume_type": {"name": "multi", "extra_specs": {"multiattach": "<is> True"}}})
    volume = await demo.volume(volume_type="multi")
    assert volume["multiattach"] is True
    ids = []
    for server in (SERVER, "22222222-2222-3333-4444-555555555555"):
        response = await demo.post("/attachments", json={"attachment": {
            "volume_uuid": volume["id"], "instance_uuid": server, "connector": {"host": "h"}}})
        assert response.status_code == 200, response.text
        assert response.json()["attachment"]["status"] == "attaching"
        ids.append(response.json()["attachment"]["id"])
        await demo.post(f"/attachments/{ids[-1]}/action", json={"os-complete": {}})
    shown = (await demo.get(f"/volumes/{volume['id']}")).json()["volume"]
    assert shown["status"] == "in-use" and len(shown["attachments"]) == 2
    await demo.delete(f"/attachments/{ids[0]}")
    assert (await demo.get(f"/volumes/{volume['id']}")).json()["volume"]["status"] == "in-use"
    await demo.delete(f"/attachments/{ids[1]}")
    assert (await demo.get(f"/volumes/{volume['id']}")).json()["volume"]["status"] == "available"


async def test_multiattach_connections_say_shareable_and_others_take_one_attachment(vapi):
    """The backend gets shareable=True for a multiattach volume (created so, and told so at each
    connection: its connection data says multiattach); a volume that is not multiattach refuses a
    second attachment with Cinder's 400, and detaching one attachment of two leaves the other."""
    demo = vapi.as_("demo", "3.44")
    await vapi.post("/types", json={"volume_type": {"name": "multi", "extra_specs": {"multiattach": "<is> True"}}})
    shared, plain = await demo.volume(volume_type="multi"), await demo.volume()
    driver = vapi.svc.test_manager.driver
    assert (await driver._read("volume", shared["id"]))["shareable"] is True
    assert (await driver._read("volume", plain["id"]))["shareable"] is False
    infos = []
    for volume in (shared, plain):
        created = await demo.post("/attachments", json={"attachment": {
            "volume_uuid": volume["id"], "instance_uuid": SERVER, "connector": {"host": "h"}}})
        assert created.status_code == 200, created.text
        infos.append(created.json()["attachment"]["connection_info"]["data"])
        await demo.post(f"/attachments/{created.json()['attachment']['id']}/action", json={"os-complete": {}})
    assert infos[0]["multiattach"] is True and "multiattach" not in infos[1]
    second = await demo.post("/attachments", json={"attachment": {
        "volume_uuid": plain["id"], "instance_uuid": "22222222-2222-3333-4444-555555555555"}})
    assert second.status_code == 400
    assert second.json()["badRequest"]["message"] == (
        f"Invalid volume: Volume {plain['id']} status must be available or downloading to reserve, but the "
        f"current status is in-use.")
    other = await demo.post("/attachments", json={"attachment": {
        "volume_uuid": shared["id"], "instance_uuid": "22222222-2222-3333-4444-555555555555"}})
    assert other.status_code == 200
    # reserved beside an attached one: the volume stays in-use, and so when the reservation goes
    assert (await demo.get(f"/volumes/{shared['id']}")).json()["volume"]["status"] == "in-use"
    await demo.delete(f"/attachments/{other.json()['attachment']['id']}")
    shown = (await demo.get(f"/volumes/{shared['id']}")).json()["volume"]
    assert shown["status"] == "in-use" and [a["server_id"] for a in shown["attachments"]] == [SERVER]


async def test_scheduler_no_backend_is_error_with_message(vapi):
    await vapi.post("/types", json={"volume_type": {"name": "nowhere",
                                                    "extra_specs": {"volume_backend_name": "absent"}}})
    response = await vapi.as_("demo").post("/volumes", json={"volume": {"size": 1, "volume_type": "nowhere"}})
    assert response.status_code == 202
    volume = (await vapi.as_("demo").get(f"/volumes/{response.json()['volume']['id']}")).json()["volume"]
    assert volume["status"] == "error"
    messages = (await vapi.as_("demo").get("/messages", version="3.3")).json()["messages"]
    assert messages[0]["resource_uuid"] == volume["id"] and messages[0]["event_id"] == "VOLUME_VOLUME_001_002"
    assert (await vapi.as_("demo").delete(f"/volumes/{volume['id']}")).status_code == 202
    assert (await vapi.as_("demo").get(f"/volumes/{volume['id']}")).status_code == 404


async def test_hosts_pools_capabilities(vapi):
    await vapi.as_("demo").volume(size=2)
    hosts = (await vapi.get("/os-hosts")).json()["hosts"]
    backend = [h for h in hosts if h["service"] == "cinder-volume"]
    assert backend[0]["host_name"] == "testhost@fake" and backend[0]["service-state"] == "enabled"
    usage = (await vapi.get("/os-hosts/testhost@fake")).json()["host"]
    assert usage[0]["resource"]["project"] == "(total)" and usage[0]["resource"]["total_volume_gb"] == "2"
    assert (await vapi.get("/os-hosts/nowhere@x")).status_code == 404
    pools = (await vapi.get("/scheduler-stats/get_pools?detail=true")).json()["pools"]
    assert pools[0]["name"] == "testhost@fake#fake"
    assert pools[0]["capabilities"]["total_capacity_gb"] > 0
    cap = (await vapi.get("/capabilities/testhost@fake")).json()
    assert cap["volume_backend_name"] == "fake" and cap["storage_protocol"]
    assert (await vapi.as_("demo").get("/scheduler-stats/get_pools")).status_code == 403
    assert (await vapi.put("/os-services/freeze", json={"host": "invalid_host"})).status_code == 400
    assert (await vapi.put("/os-services/freeze", json={"host": "testhost@fake"})).status_code == 200
    assert (await vapi.put("/os-services/thaw", json={"host": "testhost@fake"})).status_code == 200


async def test_backup_export_import(vapi):
    volume = await vapi.volume()
    bid = (await vapi.post("/backups", json={"backup": {"volume_id": volume["id"]}})).json()["backup"]["id"]
    record = (await vapi.get(f"/backups/{bid}/export_record")).json()["backup-record"]
    assert record["backup_service"].startswith("cinder.backup.drivers")
    assert (await vapi.as_("demo").get(f"/backups/{bid}/export_record")).status_code in (403, 404)
    again = await vapi.post("/backups/import_record", json={"backup-record": record})
    assert again.status_code == 400  # that id exists
    import base64
    import json
    data = json.loads(base64.b64decode(record["backup_url"]))
    data["id"] = "0a1b2c3d-0000-4000-8000-000000000001"
    url = base64.b64encode(json.dumps(data).encode()).decode()
    imported = await vapi.post("/backups/import_record", json={"backup-record": {
        "backup_service": record["backup_service"], "backup_url": url}})
    assert imported.status_code == 201 and imported.json()["backup"]["id"] == data["id"]
    assert (await vapi.get(f"/backups/{data['id']}")).json()["backup"]["status"] == "available"
    store = vapi.svc.test_manager.backup_store
    assert (await vapi.delete(f"/backups/{data['id']}")).status_code == 202
    assert bid in store.backups  # the original still needs the data
    restored = await vapi.post(f"/backups/{bid}/restore", json={"restore": {}})
    assert restored.status_code == 202 and store.restored[-1][0] == bid
    assert (await vapi.delete(f"/backups/{bid}")).status_code == 202
    assert bid not in store.backups
    bad = await vapi.post("/backups/import_record", json={"backup-record": {"backup_service": record[
        "backup_service"], "backup_url": "!!"}})
    assert bad.status_code == 400
