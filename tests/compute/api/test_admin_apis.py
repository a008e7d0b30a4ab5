"""The older admin APIs Tempest still exercises (os-hosts, the instance usage
audit log, server external events), server addresses by network, and request
handling details (trailing slashes, tenant_id without all_tenants)."""

from __future__ import annotations

import uuid

import pytest

from tests.compute.conftest import Nova


@pytest.fixture(scope="module")
def member(compute_cloud) -> Nova:
    return Nova(compute_cloud, user="monostack")


@pytest.fixture(scope="module")
def server_id(nova: Nova) -> str:
    image_id = nova.image(visibility="public")
    server_id = nova.create(image_id, name="admin-apis").json()["server"]["id"]
    nova.wait(server_id, "ACTIVE")
    return server_id


def test_os_hosts(nova: Nova, member: Nova, server_id: str) -> None:
    hosts = nova.http.get("/os-hosts").json()["hosts"]
    compute = [h for h in hosts if h["service"] == "compute"]
    assert compute and compute[0]["zone"] == "nova"
    host = compute[0]["host_name"]
    assert compute[0] in nova.http.get("/os-hosts", params={"zone": "nova"}).json()["hosts"]
    assert nova.http.get("/os-hosts", params={"zone": "nowhere"}).json()["hosts"] == []

    resources = nova.http.get(f"/os-hosts/{host}").json()["host"]
    projects = [r["resource"]["project"] for r in resources]
    assert projects[:3] == ["(total)", "(used_now)", "(used_max)"] and len(projects) >= 4
    assert all(r["resource"]["host"] == host for r in resources)
    assert resources[2]["resource"]["cpu"] >= 1  # the server's vCPU

    assert nova.http.get("/os-hosts/no-such-host").status_code == 404
    assert nova.http.put(f"/os-hosts/{host}", json={}).status_code == 400
    assert nova.http.put(f"/os-hosts/{host}", json={"status": "bogus"}).status_code == 400
    assert nova.http.put("/os-hosts/no-such-host", json={"status": "enable"}).status_code == 404
    # No driver implements host maintenance or power actions (nor does libvirt): 501.
    assert nova.http.put(f"/os-hosts/{host}", json={"status": "disable"}).status_code == 501
    for verb in ("reboot", "shutdown", "startup"):
        assert nova.http.get(f"/os-hosts/{host}/{verb}").status_code == 501
        assert nova.http.get(f"/os-hosts/no-such-host/{verb}").status_code == 404
        assert member.http.get(f"/os-hosts/{host}/{verb}").status_code == 403
    assert member.http.get("/os-hosts").status_code == 403
    assert nova.http.get("/os-hosts", headers={"OpenStack-API-Version": "compute 2.43"}).status_code == 404


def test_instance_usage_audit_log(nova: Nova, member: Nova) -> None:
    logs = nova.http.get("/os-instance_usage_audit_log").json()["instance_usage_audit_logs"]
    assert logs["num_hosts"] >= 1 and logs["num_hosts_not_run"] == logs["num_hosts"]
    assert logs["overall_status"] == f"0 of {logs['num_hosts']} hosts done. 0 errors."
    log = nova.http.get("/os-instance_usage_audit_log/2020-03-15 10:00:00").json()["instance_usage_audit_log"]
    assert (log["period_beginning"], log["period_ending"]) == ("2020-02-01 00:00:00", "2020-03-01 00:00:00")
    january = nova.http.get("/os-instance_usage_audit_log/2021-01-01 00:00:00.5").json()
    assert january["instance_usage_audit_log"]["period_beginning"] == "2020-12-01 00:00:00"
    assert nova.http.get("/os-instance_usage_audit_log/yesterday").status_code == 400
    assert member.http.get("/os-instance_usage_audit_log").status_code == 403


def test_server_external_events(nova: Nova, member: Nova, server_id: str) -> None:
    missing = str(uuid.uuid4())
    response = nova.http.post("/os-server-external-events", json={"events": [
        {"name": "network-changed", "server_uuid": server_id}]})
    assert response.status_code == 200
    assert response.json()["events"] == [{"name": "network-changed", "server_uuid": server_id,
                                          "status": "completed", "code": 200}]
    response = nova.http.post("/os-server-external-events", json={"events": [
        {"name": "network-vif-plugged", "server_uuid": server_id, "tag": "port"},
        {"name": "network-changed", "server_uuid": missing}]})
    assert response.status_code == 207
    assert [e["code"] for e in response.json()["events"]] == [200, 404]
    power = {"events": [{"name": "power-update", "server_uuid": server_id}]}
    assert nova.http.post("/os-server-external-events", json=power).status_code == 400  # before 2.76
    response = nova.http.post("/os-server-external-events", json=power,
                              headers={"OpenStack-API-Version": "compute 2.76"})
    assert response.status_code == 207 and response.json()["events"][0]["code"] == 400  # needs a tag
    assert member.http.post("/os-server-external-events", json={"events": [
        {"name": "network-changed", "server_uuid": server_id}]}).status_code == 403
    # Block Storage's volume-extended shows as the server's extend_volume action (as Nova records it).
    response = nova.http.post("/os-server-external-events", headers={"OpenStack-API-Version": "compute 2.51"},
                              json={"events": [{"name": "volume-extended", "server_uuid": server_id,
                                                "tag": str(uuid.uuid4())}]})
    assert response.status_code == 200, response.text
    actions = nova.http.get(f"/servers/{server_id}/os-instance-actions").json()["instanceActions"]
    assert [a["request_id"] for a in actions if a["action"] == "extend_volume"] == [
        response.headers["x-openstack-request-id"]]


def test_server_ips(nova: Nova, server_id: str) -> None:
    addresses = nova.http.get(f"/servers/{server_id}/ips").json()["addresses"]
    assert addresses == {"user-mode": [{"version": 4, "addr": "10.0.2.15"}]}
    assert nova.http.get(f"/servers/{server_id}/ips/user-mode").json() == addresses
    assert nova.http.get(f"/servers/{server_id}/ips/other").status_code == 404


def test_inject_network_info_and_unknown_security_group(nova: Nova, server_id: str) -> None:
    assert nova.action(server_id, {"injectNetworkInfo": None}).status_code == 202
    image_id = nova.server(server_id)["image"]["id"]
    response = nova.create(image_id, name="bad-sg", security_groups=[{"name": "no-such-group"}])
    assert response.status_code == 400 and "no-such-group" in response.text
    response = nova.create(image_id, name="default-sg", security_groups=[{"name": "default"}])
    assert response.status_code == 202
    nova.http.delete(f"/servers/{response.json()['server']['id']}")


def test_trailing_slash_is_not_found(nova: Nova) -> None:
    assert nova.http.get("/os-simple-tenant-usage/").status_code == 404
    assert nova.http.delete("/images/").status_code == 404


def test_tenant_id_without_all_tenants_lists_own_servers(nova: Nova, member: Nova) -> None:
    image_id = nova.image(visibility="public")
    theirs = member.create(image_id, name="members-server").json()["server"]["id"]
    project = member.server(theirs)["tenant_id"]
    own = {s["id"] for s in nova.http.get("/servers", params={"tenant_id": project}).json()["servers"]}
    assert theirs not in own
    listed = nova.http.get("/servers", params={"all_tenants": "", "tenant_id": project}).json()["servers"]
    assert theirs in {s["id"] for s in listed}
    member.http.delete(f"/servers/{theirs}")


def test_disk_config_follows_rebuild_and_resize(nova: Nova, server_id: str) -> None:
    image_id = nova.server(server_id)["image"]["id"]
    response = nova.action(server_id, {"rebuild": {"imageRef": image_id, "OS-DCF:diskConfig": "AUTO"}})
    assert response.status_code == 202 and response.json()["server"]["OS-DCF:diskConfig"] == "AUTO"
    assert nova.wait(server_id, "ACTIVE")["OS-DCF:diskConfig"] == "AUTO"
    assert nova.action(server_id, {"resize": {"flavorRef": "84", "OS-DCF:diskConfig": "bogus"}}).status_code == 400
    assert nova.action(server_id, {"resize": {"flavorRef": "84", "OS-DCF:diskConfig": "MANUAL"}}).status_code == 202
    assert nova.wait(server_id, "VERIFY_RESIZE")["OS-DCF:diskConfig"] == "MANUAL"
    assert nova.action(server_id, {"confirmResize": None}).status_code == 204
    nova.wait(server_id, "ACTIVE")


def test_create_backup_rotates_after_the_upload(nova: Nova, server_id: str) -> None:
    import time

    def backup(name: str, rotation: int = 2) -> str:
        response = nova.http.post(f"/servers/{server_id}/action", headers={"OpenStack-API-Version": "compute 2.45"},
                                  json={"createBackup": {"name": name, "backup_type": "daily", "rotation": rotation}})
        assert response.status_code == 202, response.text
        nova.wait(server_id, "ACTIVE", "VERIFY_RESIZE")
        return response.json()["image_id"]

    def backups() -> list[str]:
        images = nova.http.get("/images/detail", params={"server": server_id, "property-backup_type": "daily"})
        return sorted(i["id"] for i in images.json()["images"] if i["metadata"].get("image_type") == "backup")

    bad = nova.action(server_id, {"createBackup": {"name": "b", "backup_type": "daily", "rotation": -1}})
    assert bad.status_code == 400
    first, second = backup("b1"), backup("b2")
    third = backup("b3")
    deadline = time.monotonic() + 30
    while backups() != sorted([second, third]):
        assert time.monotonic() < deadline, backups()
        time.sleep(0.2)
    assert nova.http.get(f"/images/{first}").status_code == 404
    image = nova.http.get(f"/images/{third}").json()["image"]
    assert image["metadata"]["backup_type"] == "daily" and image["metadata"]["instance_uuid"] == server_id
    actions = nova.http.get(f"/servers/{server_id}/os-instance-actions").json()["instanceActions"]
    assert [a["action"] for a in actions].count("createBackup") == 3
    # Location names the image before 2.45 (and only when something is kept).
    response = nova.action(server_id, {"createBackup": {"name": "b4", "backup_type": "weekly", "rotation": 1}})
    assert response.status_code == 202 and "/images/" in response.headers["location"]
    nova.wait(server_id, "ACTIVE")
