"""os-simple-tenant-usage, os-migrations and servers' migrations, and instance actions
through the API."""

from __future__ import annotations

import datetime
import uuid

from monostack.common.context import RequestContext
from monostack.compute import models
from tests.compute.api.harness import ALT_PROJECT, DEMO_PROJECT, add_server, utcnow


def ago(**delta) -> datetime.datetime:
    return utcnow() - datetime.timedelta(**delta)


def fmt(value: datetime.datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S")


async def test_tenant_usage(compute_api, compute_svc) -> None:
    running = add_server(compute_svc, vcpus=2, ram=1024, disk=10, launched_at=ago(hours=10))
    add_server(compute_svc, launched_at=ago(hours=5), terminated_at=ago(hours=3), deleted=True,
               vm_state="deleted")
    add_server(compute_svc, project_id=ALT_PROJECT, user_id="alt-user", launched_at=ago(hours=1))
    add_server(compute_svc, launched_at=ago(days=3), terminated_at=ago(days=2), deleted=True)  # before the period
    start, end = fmt(ago(hours=4)), fmt(utcnow() + datetime.timedelta(hours=1))
    shown = await compute_api.as_("demo").get(f"/os-simple-tenant-usage/{DEMO_PROJECT}?start={start}&end={end}")
    assert shown.status_code == 200, shown.text
    usage = shown.json()["tenant_usage"]
    assert usage["tenant_id"] == DEMO_PROJECT and len(usage["server_usages"]) == 2
    by_id = {s["instance_id"]: s for s in usage["server_usages"]}
    mine = by_id[running.uuid]
    assert 3.9 < mine["hours"] < 4.1 and mine["vcpus"] == 2 and mine["memory_mb"] == 1024 and mine["local_gb"] == 10
    assert mine["state"] == "active" and mine["ended_at"] is None and mine["flavor"] == "m1.nano"
    assert 35990 < mine["uptime"] < 36100
    ended = [s for s in usage["server_usages"] if s["state"] == "terminated"][0]
    assert 0.9 < ended["hours"] < 1.1
    assert 4.9 < usage["total_hours"] < 5.2 and 8.9 < usage["total_vcpus_usage"] < 9.2  # 2 vCPUs x 4 h + 1 x 1 h
    # All projects: admins; detailed=1 adds the servers.
    assert (await compute_api.as_("demo").get("/os-simple-tenant-usage")).status_code == 403
    everyone = (await compute_api.get(f"/os-simple-tenant-usage?start={start}&end={end}")).json()["tenant_usages"]
    assert sorted(t["tenant_id"] for t in everyone) == sorted([DEMO_PROJECT, ALT_PROJECT])
    assert all("server_usages" not in t for t in everyone)
    detailed = (await compute_api.get(f"/os-simple-tenant-usage?start={start}&end={end}&detailed=1")).json()
    assert all("server_usages" in t for t in detailed["tenant_usages"])
    # Another project's usage is not the caller's business; bad periods are 400.
    assert (await compute_api.as_("alt").get(f"/os-simple-tenant-usage/{DEMO_PROJECT}")).status_code == 403
    assert (await compute_api.get(f"/os-simple-tenant-usage?start={end}&end={start}")).status_code == 400
    assert (await compute_api.get("/os-simple-tenant-usage?start=yesterday")).status_code == 400
    empty = (await compute_api.get(f"/os-simple-tenant-usage/nobody?start={start}")).json()
    assert empty == {"tenant_usage": {}}


async def test_tenant_usage_pages_from_2_40(compute_api, compute_svc) -> None:
    for _ in range(3):
        add_server(compute_svc, launched_at=ago(hours=2))
    api = compute_api.at("2.40")
    first = (await api.get(f"/os-simple-tenant-usage/{DEMO_PROJECT}?limit=2")).json()
    assert len(first["tenant_usage"]["server_usages"]) == 2
    marker = first["tenant_usage"]["server_usages"][-1]["instance_id"]
    assert f"marker={marker}" in first["tenant_usage_links"][0]["href"]
    rest = (await api.get(f"/os-simple-tenant-usage/{DEMO_PROJECT}?limit=2&marker={marker}")).json()
    assert len(rest["tenant_usage"]["server_usages"]) == 1 and "tenant_usage_links" not in rest
    assert (await api.get(f"/os-simple-tenant-usage/{DEMO_PROJECT}?marker=nope")).status_code == 400


def add_migration(svc, server_uuid: str, **fields) -> models.Migration:
    values = dict(uuid=str(uuid.uuid4()), instance_uuid=server_uuid, migration_type="resize", status="finished",
                  source_compute="compute1", source_node="compute1.example.org", dest_compute="compute2",
                  dest_node="compute2.example.org", dest_host="192.0.2.2", old_flavor_id="1", new_flavor_id="2",
                  project_id=DEMO_PROJECT, user_id="demo-user", created_at=utcnow(), updated_at=utcnow())
    values.update(fields)
    with svc.db.writer() as session:
        row = models.Migration(**values)
        session.add(row)
        session.flush()
        return row


async def test_os_migrations(compute_api, compute_svc) -> None:
    compute_svc.flavors.ensure_defaults()
    server = add_server(compute_svc)
    old = add_migration(compute_svc, server.uuid, created_at=ago(hours=2), updated_at=ago(hours=2))
    live = add_migration(compute_svc, server.uuid, migration_type="live-migration", status="running",
                         old_flavor_id=None, new_flavor_id=None, source_compute="compute2", dest_compute="compute3")
    listed = (await compute_api.get("/os-migrations")).json()["migrations"]
    assert [m["id"] for m in listed] == [old.id, live.id]
    first = listed[0]
    assert set(first) == {"id", "status", "instance_uuid", "source_node", "source_compute", "dest_node",
                          "dest_compute", "dest_host", "old_instance_type_id", "new_instance_type_id", "created_at",
                          "updated_at"}
    assert isinstance(first["old_instance_type_id"], int) and first["old_instance_type_id"] != \
        first["new_instance_type_id"]
    v223 = (await compute_api.get("/os-migrations", version="2.23")).json()["migrations"]
    assert v223[1]["migration_type"] == "live-migration"
    assert v223[1]["links"][0]["href"].endswith(f"/servers/{server.uuid}/migrations/{live.id}")
    assert "links" not in v223[0]
    v259 = (await compute_api.get("/os-migrations?limit=1", version="2.59")).json()
    assert [m["uuid"] for m in v259["migrations"]] == [live.uuid]  # newest first
    assert f"marker={live.uuid}" in v259["migrations_links"][0]["href"]
    after = (await compute_api.get(f"/os-migrations?marker={live.uuid}", version="2.59")).json()["migrations"]
    assert [m["uuid"] for m in after] == [old.uuid]
    since = (await compute_api.get(f"/os-migrations?changes-since={fmt(ago(hours=1))}",
                                   version="2.59")).json()["migrations"]
    assert [m["uuid"] for m in since] == [live.uuid]
    before = (await compute_api.get(f"/os-migrations?changes-before={fmt(ago(hours=1))}",
                                    version="2.66")).json()["migrations"]
    assert [m["uuid"] for m in before] == [old.uuid]
    assert (await compute_api.get(f"/os-migrations?changes-since={fmt(utcnow())}&changes-before="
                                  f"{fmt(ago(hours=1))}", version="2.66")).status_code == 400
    v280 = (await compute_api.get("/os-migrations", version="2.80")).json()["migrations"][0]
    assert v280["user_id"] == "demo-user" and v280["project_id"] == DEMO_PROJECT
    filtered = (await compute_api.get("/os-migrations?host=compute3")).json()["migrations"]
    assert [m["id"] for m in filtered] == [live.id]
    assert [m["id"] for m in (await compute_api.get("/os-migrations?status=finished")).json()["migrations"]] \
        == [old.id]
    assert (await compute_api.get("/os-migrations?colour=red", version="2.59")).status_code == 400
    assert (await compute_api.as_("demo").get("/os-migrations")).status_code == 403


async def test_server_migrations(compute_api, compute_svc) -> None:
    server = add_server(compute_svc)
    live = add_migration(compute_svc, server.uuid, migration_type="live-migration", status="running")
    done = add_migration(compute_svc, server.uuid, migration_type="live-migration", status="completed")
    cold = add_migration(compute_svc, server.uuid)
    api = compute_api.at("2.23")
    listed = (await api.get(f"/servers/{server.uuid}/migrations")).json()["migrations"]
    assert [m["id"] for m in listed] == [live.id]
    assert listed[0]["server_uuid"] == server.uuid and listed[0]["memory_total_bytes"] is None
    assert listed[0]["source_compute"] == "compute1"
    shown = (await api.get(f"/servers/{server.uuid}/migrations/{live.id}")).json()["migration"]
    assert shown["id"] == live.id and "uuid" not in shown
    assert (await compute_api.get(f"/servers/{server.uuid}/migrations/{live.id}", version="2.59")
            ).json()["migration"]["uuid"] == live.uuid
    assert (await api.get(f"/servers/{server.uuid}/migrations/{done.id}")).status_code == 404
    assert (await api.get(f"/servers/{server.uuid}/migrations/{cold.id}")).status_code == 404
    assert (await api.get(f"/servers/{server.uuid}/migrations/999")).status_code == 404
    assert (await compute_api.get(f"/servers/{server.uuid}/migrations")).status_code == 404  # before 2.23
    assert (await api.as_("demo").get(f"/servers/{server.uuid}/migrations")).status_code == 403
    assert (await api.get(f"/servers/{uuid.uuid4()}/migrations")).status_code == 404


def record(svc, server_uuid: str, action: str, request_id: str, *, error: Exception | None = None,
           host: str = "compute1") -> None:
    ctx = RequestContext(request_id=request_id, user_id="demo-user", project_id=DEMO_PROJECT, roles=["member"])
    with svc.db.writer() as session:
        svc.actions.start(session, ctx, server_uuid, action)
    svc.actions.event(server_uuid, request_id, f"compute_{action}_instance", host=host, start=True)
    svc.actions.event(server_uuid, request_id, f"compute_{action}_instance", host=host, error=error)


async def test_instance_actions(compute_api, compute_svc) -> None:
    server = add_server(compute_svc)
    record(compute_svc, server.uuid, "create", "req-00000000-0000-0000-0000-000000000001")
    record(compute_svc, server.uuid, "reboot", "req-00000000-0000-0000-0000-000000000002",
           error=RuntimeError("guest did not stop"))
    demo = compute_api.as_("demo")
    actions = (await demo.get(f"/servers/{server.uuid}/os-instance-actions")).json()["instanceActions"]
    assert [a["action"] for a in actions] == ["reboot", "create"]
    assert set(actions[0]) == {"action", "instance_uuid", "request_id", "user_id", "project_id", "start_time",
                               "message"}
    assert actions[0]["message"] == "Error" and actions[1]["message"] is None
    url = f"/servers/{server.uuid}/os-instance-actions/req-00000000-0000-0000-0000-000000000002"
    # Events: admins always (with tracebacks), others from 2.51 without them.
    assert "events" not in (await demo.get(url)).json()["instanceAction"]
    events = (await demo.get(url, version="2.51")).json()["instanceAction"]["events"]
    assert events[0]["event"] == "compute_reboot_instance" and events[0]["result"] == "Error"
    assert "traceback" not in events[0]
    admin = (await compute_api.get(url)).json()["instanceAction"]["events"][0]
    assert "guest did not stop" in admin["traceback"]
    v262 = (await compute_api.get(url, version="2.62")).json()["instanceAction"]["events"][0]
    assert v262["host"] == "compute1" and len(v262["hostId"]) == 56
    demo262 = (await demo.get(url, version="2.62")).json()["instanceAction"]["events"][0]
    assert "host" not in demo262 and demo262["hostId"] == v262["hostId"]
    v284 = (await compute_api.get(url, version="2.84")).json()["instanceAction"]["events"][0]
    assert v284["details"] == "guest did not stop"
    assert "details" not in (await demo.get(url, version="2.84")).json()["instanceAction"]["events"][0]
    missing = await demo.get(f"/servers/{server.uuid}/os-instance-actions/req-nope")
    assert missing.status_code == 404 and missing.json()["itemNotFound"]["message"] == "Action req-nope not found"
    assert (await compute_api.as_("alt").get(f"/servers/{server.uuid}/os-instance-actions")).status_code == 404


async def test_instance_action_pages_and_deleted_servers(compute_api, compute_svc) -> None:
    server = add_server(compute_svc)
    for n in range(3):
        record(compute_svc, server.uuid, "reboot", f"req-00000000-0000-0000-0000-00000000000{n}")
    api = compute_api.at("2.58")
    page = (await api.get(f"/servers/{server.uuid}/os-instance-actions?limit=2")).json()
    assert [a["request_id"][-1] for a in page["instanceActions"]] == ["2", "1"]
    assert "updated_at" in page["instanceActions"][0]
    assert "marker=req-00000000-0000-0000-0000-000000000001" in page["links"][0]["href"]
    rest = (await api.get(f"/servers/{server.uuid}/os-instance-actions?marker="
                          f"req-00000000-0000-0000-0000-000000000001")).json()
    assert [a["request_id"][-1] for a in rest["instanceActions"]] == ["0"] and "links" not in rest
    assert (await api.get(f"/servers/{server.uuid}/os-instance-actions?marker=req-x")).status_code == 400
    future = fmt(utcnow() + datetime.timedelta(hours=1))
    assert (await api.get(f"/servers/{server.uuid}/os-instance-actions?changes-since={future}")
            ).json()["instanceActions"] == []
    assert (await api.get(f"/servers/{server.uuid}/os-instance-actions?changes-since=soon")).status_code == 400
    with compute_svc.db.writer() as session:
        session.query(models.Instance).filter_by(uuid=server.uuid).update({"deleted": True})
    assert (await compute_api.get(f"/servers/{server.uuid}/os-instance-actions")).status_code == 404
    assert (await compute_api.get(f"/servers/{server.uuid}/os-instance-actions", version="2.21")).status_code == 200
