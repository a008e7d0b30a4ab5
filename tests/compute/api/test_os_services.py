"""Compute services through the API: list and filters per microversion, the pre-2.53
actions, the 2.53 update by uuid, and delete with its refusals."""

from __future__ import annotations

from monostack.compute import models
from tests.compute.api.harness import add_node, add_server, add_service, count_rows


async def test_list_and_filters(compute_api, compute_svc) -> None:
    one = add_service(compute_svc, "compute1")
    add_service(compute_svc, "compute2", up=False, disabled=True, disabled_reason="maintenance")
    add_service(compute_svc, "control", binary="nova-scheduler")
    add_service(compute_svc, "control", binary="nova-osapi_compute")
    listed = (await compute_api.get("/os-services")).json()["services"]
    assert [(s["host"], s["binary"]) for s in listed] == [("compute1", "nova-compute"), ("compute2", "nova-compute"),
                                                          ("control", "nova-scheduler")]
    first = listed[0]
    assert set(first) == {"binary", "host", "id", "zone", "status", "state", "updated_at", "disabled_reason"}
    assert first["id"] == one.id and first["zone"] == "nova" and first["status"] == "enabled"
    assert first["state"] == "up" and first["updated_at"].count(".") == 1
    assert listed[1]["state"] == "down" and listed[1]["status"] == "disabled"
    assert listed[1]["disabled_reason"] == "maintenance" and listed[2]["zone"] == "internal"
    v253 = (await compute_api.get("/os-services?binary=nova-compute&host=compute1", version="2.53")).json()
    assert [s["id"] for s in v253["services"]] == [one.uuid] and v253["services"][0]["forced_down"] is False
    assert (await compute_api.get("/os-services?colour=x", version="2.75")).status_code == 400
    assert (await compute_api.as_("demo").get("/os-services")).status_code == 403


async def test_actions_before_2_53(compute_api, compute_svc) -> None:
    add_service(compute_svc, "compute1")
    add_service(compute_svc, "control", binary="nova-scheduler")
    body = {"host": "compute1", "binary": "nova-compute"}
    disabled = await compute_api.put("/os-services/disable", json=body)
    assert disabled.json() == {"service": {"host": "compute1", "binary": "nova-compute", "status": "disabled"}}
    reason = await compute_api.put("/os-services/disable-log-reason", json={**body, "disabled_reason": "fans"})
    assert reason.json()["service"]["disabled_reason"] == "fans"
    assert (await compute_api.get("/os-services")).json()["services"][0]["disabled_reason"] == "fans"
    enabled = await compute_api.put("/os-services/enable", json=body)
    assert enabled.json()["service"]["status"] == "enabled"
    assert (await compute_api.put("/os-services/disable-log-reason", json=body)).status_code == 400
    assert (await compute_api.put("/os-services/force-down", json={**body, "forced_down": True})).status_code == 404
    down = await compute_api.put("/os-services/force-down", json={**body, "forced_down": True}, version="2.11")
    assert down.json() == {"service": {"host": "compute1", "binary": "nova-compute", "forced_down": True}}
    shown = (await compute_api.get("/os-services", version="2.11")).json()["services"][0]
    assert shown["forced_down"] is True and shown["state"] == "down"
    scheduler = await compute_api.put("/os-services/disable", json={"host": "control", "binary": "nova-scheduler"})
    assert scheduler.status_code == 400
    missing = await compute_api.put("/os-services/disable", json={"host": "nope", "binary": "nova-compute"})
    assert missing.status_code == 404
    assert (await compute_api.put("/os-services/reboot", json=body)).status_code == 404


async def test_update_by_uuid_from_2_53(compute_api, compute_svc) -> None:
    row = add_service(compute_svc, "compute1")
    api = compute_api.at("2.53")
    response = await api.put(f"/os-services/{row.uuid}", json={"status": "disabled", "disabled_reason": "upgrade"})
    assert response.status_code == 200
    service = response.json()["service"]
    assert service["id"] == row.uuid and service["status"] == "disabled" and service["disabled_reason"] == "upgrade"
    assert service["forced_down"] is False and service["zone"] == "nova"
    assert (await api.put(f"/os-services/{row.uuid}", json={"status": "enabled", "disabled_reason": "x"})
            ).status_code == 400
    enabled = (await api.put(f"/os-services/{row.uuid}", json={"status": "enabled"})).json()["service"]
    assert enabled["status"] == "enabled" and enabled["disabled_reason"] is None
    assert (await api.put(f"/os-services/{row.uuid}", json={"forced_down": True})).json()["service"]["state"] == "down"
    assert (await api.put(f"/os-services/{row.uuid}", json={})).status_code == 400
    assert (await api.put("/os-services/not-a-uuid", json={"status": "enabled"})).status_code == 400
    assert (await api.put("/os-services/00000000-0000-0000-0000-000000000000",
                          json={"status": "enabled"})).status_code == 404
    # Forcing up a host with finished evacuations not yet cleaned up by its agent is refused.
    with compute_svc.db.writer() as session:
        session.add(models.Migration(uuid="11111111-1111-1111-1111-111111111111", instance_uuid="x",
                                     migration_type="evacuation", status="done", source_compute="compute1",
                                     created_at=row.created_at))
    refused = await api.put(f"/os-services/{row.uuid}", json={"forced_down": False})
    assert refused.status_code == 400 and "evacuation" in refused.json()["badRequest"]["message"]


async def test_delete(compute_api, compute_svc) -> None:
    busy = add_service(compute_svc, "compute1")
    add_node(compute_svc, "compute1")
    server = add_server(compute_svc, host="compute1")
    idle = add_service(compute_svc, "compute2")
    add_node(compute_svc, "compute2")
    agg = (await compute_api.post("/os-aggregates", json={"aggregate": {"name": "a"}})).json()["aggregate"]
    await compute_api.post(f"/os-aggregates/{agg['id']}/action", json={"add_host": {"host": "compute2"}})
    refused = await compute_api.delete(f"/os-services/{busy.id}")
    assert refused.status_code == 409 and "hosting instances" in refused.json()["conflictingRequest"]["message"]
    assert (await compute_api.delete("/os-services/abc")).status_code == 400
    assert (await compute_api.delete(f"/os-services/{idle.id}", version="2.53")).status_code == 400
    assert (await compute_api.delete(f"/os-services/{idle.uuid}", version="2.53")).status_code == 204
    assert (await compute_api.get(f"/os-aggregates/{agg['id']}")).json()["aggregate"]["hosts"] == []
    assert count_rows(compute_svc, models.ComputeNode) == 1
    assert (await compute_api.delete(f"/os-services/{idle.id}")).status_code == 404
    # A migration in progress also keeps the service.
    with compute_svc.db.writer() as session:
        session.query(models.Instance).filter_by(uuid=server.uuid).update({"deleted": True})
        session.add(models.Migration(uuid="22222222-2222-2222-2222-222222222222", instance_uuid=server.uuid,
                                     migration_type="migration", status="migrating", source_compute="compute1",
                                     source_node="compute1.example.org", created_at=busy.created_at))
    moving = await compute_api.delete(f"/os-services/{busy.id}")
    assert moving.status_code == 409 and "in-progress migrations" in moving.text
