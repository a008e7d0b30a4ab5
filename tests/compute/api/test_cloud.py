"""The families of this package in a started cloud (fake driver): mounted under /compute,
with a real token, the agent's service and node rows, and the project id in the URL."""

from __future__ import annotations

import time

import httpx

from tests.compute.conftest import Nova


def project_id(nova: Nova) -> str:
    body = httpx.get(f"{nova.cloud.auth_url}/v3/auth/tokens",
                     headers={"X-Auth-Token": nova.token, "X-Subject-Token": nova.token}).json()
    return body["token"]["project"]["id"]


def test_flavors_keypairs_limits_and_quotas(nova: Nova) -> None:
    flavors = nova.http.get("/flavors").json()["flavors"]
    assert {"m1.nano", "m1.tiny"} <= {f["name"] for f in flavors}
    versioned = nova.http.get("/flavors/42", headers={"OpenStack-API-Version": "compute 2.75"})
    assert versioned.headers["OpenStack-API-Version"] == "compute 2.75" and versioned.json()["flavor"]["swap"] == 0
    project = project_id(nova)
    with_project = nova.http.get(f"/{project}/flavors/42")
    assert with_project.status_code == 200 and with_project.json()["flavor"]["name"] == "m1.nano"
    created = nova.http.post("/os-keypairs", json={"keypair": {"name": "cloud-key"}})
    assert created.status_code == 200 and "private_key" in created.json()["keypair"]
    assert nova.http.delete("/os-keypairs/cloud-key").status_code == 202
    assert nova.http.get("/limits").json()["limits"]["absolute"]["maxTotalInstances"] >= 0
    assert nova.http.get(f"/os-quota-sets/{project}/defaults").json()["quota_set"]["id"] == project


def test_hosts_zones_and_hypervisors(nova: Nova) -> None:
    deadline = time.monotonic() + 30
    while True:
        services = nova.http.get("/os-services", headers={"OpenStack-API-Version": "compute 2.53"}).json()
        computes = [s for s in services["services"] if s["binary"] == "nova-compute"]
        if computes and computes[0]["state"] == "up" or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert computes and computes[0]["state"] == "up" and computes[0]["zone"] == "nova"
    zones = nova.http.get("/os-availability-zone").json()["availabilityZoneInfo"]
    assert {"zoneName": "nova", "zoneState": {"available": True}, "hosts": None} in zones
    hypervisors = nova.http.get("/os-hypervisors/detail").json()["hypervisors"]
    assert hypervisors and hypervisors[0]["service"]["host"] == computes[0]["host"]
    agg = nova.http.post("/os-aggregates", json={"aggregate": {"name": "cloud-agg", "availability_zone": "z1"}})
    assert agg.status_code == 200
    agg_id = agg.json()["aggregate"]["id"]
    added = nova.http.post(f"/os-aggregates/{agg_id}/action", json={"add_host": {"host": computes[0]["host"]}},
                           headers={"OpenStack-API-Version": "compute 2.41"})
    assert added.status_code == 200, added.text
    # The membership is mirrored onto the node's resource provider.
    node = nova.http.get("/os-hypervisors", headers={"OpenStack-API-Version": "compute 2.53"}).json()[
        "hypervisors"][0]["id"]
    placement = httpx.Client(base_url=f"{nova.cloud.url}/placement", headers={
        "X-Auth-Token": nova.token, "OpenStack-API-Version": "placement 1.19"})
    assert placement.get(f"/resource_providers/{node}/aggregates").json()["aggregates"] == [
        added.json()["aggregate"]["uuid"]]
    assert nova.http.post(f"/os-aggregates/{agg_id}/action",
                          json={"remove_host": {"host": computes[0]["host"]}}).status_code == 200
    assert placement.get(f"/resource_providers/{node}/aggregates").json()["aggregates"] == []
    assert nova.http.delete(f"/os-aggregates/{agg_id}").status_code == 200


def test_server_metadata_tags_and_actions(nova: Nova) -> None:
    image = nova.image()
    server_id = nova.create(image, name="meta").json()["server"]["id"]
    nova.wait(server_id, "ACTIVE")
    headers = {"OpenStack-API-Version": "compute 2.26"}
    assert nova.http.put(f"/servers/{server_id}/metadata", json={"metadata": {"a": "1"}}).status_code == 200
    assert nova.http.get(f"/servers/{server_id}/metadata/a").json() == {"meta": {"a": "1"}}
    assert nova.http.put(f"/servers/{server_id}/tags/web", headers=headers).status_code == 201
    assert nova.http.get(f"/servers/{server_id}/tags", headers=headers).json() == {"tags": ["web"]}
    actions = nova.http.get(f"/servers/{server_id}/os-instance-actions").json()["instanceActions"]
    assert [a["action"] for a in actions] == ["create"]
    action = nova.http.get(f"/servers/{server_id}/os-instance-actions/{actions[0]['request_id']}").json()
    assert action["instanceAction"]["events"]
    assert nova.http.delete(f"/servers/{server_id}").status_code == 204
    nova.wait(server_id, "DELETED")


def test_trigger_crash_dump(nova: Nova) -> None:
    server_id = nova.create(nova.image(), name="nmi").json()["server"]["id"]
    nova.wait(server_id, "ACTIVE")
    body = {"trigger_crash_dump": None}
    assert nova.action(server_id, body).status_code == 404  # before 2.17 there is no such action
    v217 = {"OpenStack-API-Version": "compute 2.17"}
    bad = nova.http.post(f"/servers/{server_id}/action", json={"trigger_crash_dump": {"now": True}}, headers=v217)
    assert bad.status_code == 400
    assert nova.http.post(f"/servers/{server_id}/action", json=body, headers=v217).status_code == 202
    deadline = time.monotonic() + 30
    while True:
        actions = nova.http.get(f"/servers/{server_id}/os-instance-actions").json()["instanceActions"]
        dump = next((a for a in actions if a["action"] == "trigger_crash_dump"), None)
        events = nova.http.get(f"/servers/{server_id}/os-instance-actions/{dump['request_id']}").json()[
            "instanceAction"]["events"] if dump else []
        if events and all(e.get("finish_time") for e in events):
            break
        assert time.monotonic() < deadline, actions
        time.sleep(0.2)
    assert [e["result"] for e in events] == ["Success"], events
    nova.action(server_id, {"os-stop": None})
    nova.wait(server_id, "SHUTOFF")
    stopped = nova.http.post(f"/servers/{server_id}/action", json=body, headers=v217)
    assert stopped.status_code == 409
    assert nova.http.delete(f"/servers/{server_id}").status_code == 204
    nova.wait(server_id, "DELETED")
