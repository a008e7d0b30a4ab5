"""Host aggregates and availability zones through the API: CRUD, hosts, metadata, the
zone rules, and os-availability-zone."""

from __future__ import annotations

from tests.compute.api.harness import add_server, add_service


async def make(api, name: str, zone: str | None = None) -> dict:
    body = {"aggregate": {"name": name}}
    if zone is not None:
        body["aggregate"]["availability_zone"] = zone
    response = await api.post("/os-aggregates", json=body)
    assert response.status_code == 200, response.text
    return response.json()["aggregate"]


async def test_crud(compute_api, compute_svc) -> None:
    add_service(compute_svc, "compute1")
    created = await make(compute_api, "rack1", "zone-a")
    assert set(created) == {"availability_zone", "created_at", "deleted", "deleted_at", "id", "name", "updated_at"}
    assert created["availability_zone"] == "zone-a" and created["deleted"] is False
    v241 = await make(compute_api.at("2.41"), "rack2")
    assert len(v241["uuid"]) == 36 and v241["availability_zone"] is None
    shown = (await compute_api.get(f"/os-aggregates/{created['id']}")).json()["aggregate"]
    assert shown["hosts"] == [] and shown["metadata"] == {"availability_zone": "zone-a"}
    listed = (await compute_api.get("/os-aggregates")).json()["aggregates"]
    assert [a["name"] for a in listed] == ["rack1", "rack2"]
    renamed = await compute_api.put(f"/os-aggregates/{created['id']}", json={"aggregate": {"name": "rack-one"}})
    assert renamed.status_code == 200 and renamed.json()["aggregate"]["name"] == "rack-one"
    assert renamed.json()["aggregate"]["updated_at"] is not None
    dup = await compute_api.put(f"/os-aggregates/{created['id']}", json={"aggregate": {"name": "rack2"}})
    assert dup.status_code == 409
    assert (await compute_api.post("/os-aggregates", json={"aggregate": {"name": "rack2"}})).status_code == 409
    assert (await compute_api.delete(f"/os-aggregates/{v241['id']}")).status_code == 200
    missing = await compute_api.get(f"/os-aggregates/{v241['id']}")
    assert missing.json()["itemNotFound"]["message"] == f"Aggregate {v241['id']} could not be found."
    assert (await compute_api.get("/os-aggregates/abc")).status_code == 400
    assert (await compute_api.as_("demo").get("/os-aggregates")).status_code == 403


async def test_hosts_and_metadata(compute_api, compute_svc) -> None:
    add_service(compute_svc, "compute1")
    add_service(compute_svc, "scheduler-host", binary="nova-scheduler")
    agg = await make(compute_api, "gpu")
    url = f"/os-aggregates/{agg['id']}/action"
    added = await compute_api.post(url, json={"add_host": {"host": "compute1"}})
    assert added.status_code == 200 and added.json()["aggregate"]["hosts"] == ["compute1"]
    assert (await compute_api.post(url, json={"add_host": {"host": "compute1"}})).status_code == 409
    unknown = await compute_api.post(url, json={"add_host": {"host": "nowhere"}})
    assert unknown.status_code == 404
    assert unknown.json()["itemNotFound"]["message"] == "Compute host nowhere could not be found."
    assert (await compute_api.post(url, json={"add_host": {"host": "scheduler-host"}})).status_code == 404
    # Not empty: no delete.
    refused = await compute_api.delete(f"/os-aggregates/{agg['id']}")
    assert refused.status_code == 400 and "not empty" in refused.json()["badRequest"]["message"]
    meta = await compute_api.post(url, json={"set_metadata": {"metadata": {"gpu": "true", "ssd": "yes"}}})
    assert meta.json()["aggregate"]["metadata"] == {"gpu": "true", "ssd": "yes"}
    meta = await compute_api.post(url, json={"set_metadata": {"metadata": {"ssd": None, "gpu": "a100"}}})
    assert meta.json()["aggregate"]["metadata"] == {"gpu": "a100"}
    assert compute_svc.aggregates.aggregates_of_host("compute1")[0]["metadata"] == {"gpu": "a100"}
    assert (await compute_api.post(url, json={"set_metadata": {"metadata": {"bad/key": "x"}}})).status_code == 400
    removed = await compute_api.post(url, json={"remove_host": {"host": "compute1"}})
    assert removed.status_code == 200 and removed.json()["aggregate"]["hosts"] == []
    gone = await compute_api.post(url, json={"remove_host": {"host": "compute1"}})
    assert gone.status_code == 404
    assert gone.json()["itemNotFound"]["message"] == f"Cannot remove host compute1 in aggregate {agg['id']}"
    assert (await compute_api.post(url, json={"colour": {}})).status_code == 400
    assert (await compute_api.delete(f"/os-aggregates/{agg['id']}")).status_code == 200


async def test_zone_rules(compute_api, compute_svc) -> None:
    add_service(compute_svc, "compute1")
    add_service(compute_svc, "compute2")
    zone_a = await make(compute_api, "a", "zone-a")
    zone_b = await make(compute_api, "b", "zone-b")
    plain = await make(compute_api, "plain")
    await compute_api.post(f"/os-aggregates/{zone_a['id']}/action", json={"add_host": {"host": "compute1"}})
    assert compute_svc.aggregates.zone_of_host("compute1") == "zone-a"
    assert compute_svc.aggregates.zone_of_host("compute2") == "nova"
    assert compute_svc.aggregates.hosts_in_zone("zone-a") == {"compute1"}
    assert compute_svc.aggregates.hosts_in_zone("nova") == {"compute2"}
    # A host is in one zone only.
    two = await compute_api.post(f"/os-aggregates/{zone_b['id']}/action", json={"add_host": {"host": "compute1"}})
    assert two.status_code == 409 and "already in availability zone(s)" in two.json()["conflictingRequest"]["message"]
    # An aggregate holding it cannot take another zone either.
    await compute_api.post(f"/os-aggregates/{plain['id']}/action", json={"add_host": {"host": "compute1"}})
    clash = await compute_api.put(f"/os-aggregates/{plain['id']}", json={"aggregate": {"availability_zone": "zone-b"}})
    assert clash.status_code == 400
    same = await compute_api.put(f"/os-aggregates/{plain['id']}", json={"aggregate": {"availability_zone": "zone-a"}})
    assert same.status_code == 200
    empty = await compute_api.post(f"/os-aggregates/{zone_a['id']}/action",
                                   json={"set_metadata": {"metadata": {"availability_zone": None}}})
    assert empty.status_code == 400
    # Hosts running servers keep their zone.
    add_server(compute_svc, host="compute2")
    moved = await compute_api.post(f"/os-aggregates/{zone_b['id']}/action", json={"add_host": {"host": "compute2"}})
    assert moved.status_code == 409 and "would change from 'None' to 'zone-b'" in moved.text
    await compute_api.post(f"/os-aggregates/{zone_a['id']}/action", json={"remove_host": {"host": "compute1"}})
    await compute_api.post(f"/os-aggregates/{plain['id']}/action", json={"remove_host": {"host": "compute1"}})
    add_server(compute_svc, host="compute1")
    stays = await compute_api.post(f"/os-aggregates/{zone_a['id']}/action", json={"add_host": {"host": "compute1"}})
    assert stays.status_code == 409


async def test_availability_zones(compute_api, compute_svc) -> None:
    add_service(compute_svc, "compute1")
    add_service(compute_svc, "compute2", disabled=True)
    add_service(compute_svc, "compute3", up=False)
    add_service(compute_svc, "control", binary="nova-scheduler")
    add_service(compute_svc, "control", binary="nova-osapi_compute")
    zone = await make(compute_api, "z", "zone-x")
    await compute_api.post(f"/os-aggregates/{zone['id']}/action", json={"add_host": {"host": "compute2"}})
    listed = (await compute_api.as_("demo").get("/os-availability-zone")).json()["availabilityZoneInfo"]
    assert listed == [{"zoneName": "nova", "zoneState": {"available": True}, "hosts": None},
                      {"zoneName": "zone-x", "zoneState": {"available": False}, "hosts": None}]
    assert (await compute_api.as_("demo").get("/os-availability-zone/detail")).status_code == 403
    detail = (await compute_api.get("/os-availability-zone/detail")).json()["availabilityZoneInfo"]
    by_name = {z["zoneName"]: z for z in detail}
    assert set(by_name) == {"internal", "nova", "zone-x"}
    nova = by_name["nova"]["hosts"]
    assert set(nova) == {"compute1", "compute3"}
    assert nova["compute1"]["nova-compute"]["available"] is True and nova["compute1"]["nova-compute"]["active"]
    assert nova["compute3"]["nova-compute"]["available"] is False
    assert set(by_name["internal"]["hosts"]["control"]) == {"nova-scheduler"}
    assert by_name["zone-x"] == {"zoneName": "zone-x", "zoneState": {"available": False}, "hosts": None}
