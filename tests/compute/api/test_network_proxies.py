"""Nova's floating IP and network proxies (/os-floating-ips, /os-floating-ip-pools, the
addFloatingIp / removeFloatingIp actions, /os-networks, /os-tenant-networks) on a cloud with
the Networking service: what they make and show is Neutron's, in Nova's shapes and codes."""

from __future__ import annotations

import time
from typing import Iterator

import httpx
import pytest

from tests.conftest import RunningCloud, own_cloud

OLD = {"OpenStack-API-Version": "compute 2.35"}


@pytest.fixture(scope="module")
def net_cloud(tmp_path_factory: pytest.TempPathFactory, db_backend: str) -> Iterator[RunningCloud]:
    yield from own_cloud(tmp_path_factory, db_backend, "netproxy", extra_env={
        "MONOSTACK_DEFAULT__SERVICES": "identity,image,placement,compute,network",
        "MONOSTACK_COMPUTE__DRIVER": "fake"})


def clients(cloud: RunningCloud, name: str = "monostack") -> tuple[httpx.Client, httpx.Client]:
    token = cloud.token(name)
    nova = httpx.Client(base_url=f"{cloud.url}/compute/v2.1", headers={"X-Auth-Token": token, **OLD}, timeout=60)
    neutron = httpx.Client(base_url=f"{cloud.url}/networking/v2.0", headers={"X-Auth-Token": token}, timeout=30)
    return nova, neutron


def server(cloud: RunningCloud, nova: httpx.Client, name: str) -> str:
    glance = httpx.Client(base_url=f"{cloud.url}/image/v2", headers={"X-Auth-Token": nova.headers["X-Auth-Token"]},
                          timeout=30)
    image = glance.post("/images", json={"name": f"{name}-image", "disk_format": "raw",
                                         "container_format": "bare"}).json()
    assert glance.put(f"/images/{image['id']}/file", content=b"\0" * 4096,
                      headers={"Content-Type": "application/octet-stream"}).status_code == 204
    body = {"server": {"name": name, "flavorRef": "42", "imageRef": image["id"]}}  # on the project's network
    made = nova.post("/servers", json=body)
    assert made.status_code == 202, made.text
    server_id = made.json()["server"]["id"]
    deadline = time.monotonic() + 120
    while (status := nova.get(f"/servers/{server_id}").json()["server"]["status"]) != "ACTIVE":
        assert status != "ERROR" and time.monotonic() < deadline, status
        time.sleep(0.5)
    return server_id


def test_floating_ips_through_compute_are_neutrons(net_cloud: RunningCloud) -> None:
    nova, neutron = clients(net_cloud)
    pools = nova.get("/os-floating-ip-pools").json()["floating_ip_pools"]
    assert {"name": "public"} in pools
    made = nova.post("/os-floating-ips", json={"pool": "public"})
    assert made.status_code == 200, made.text
    fip = made.json()["floating_ip"]
    assert fip["pool"] == "public" and fip["instance_id"] is None and fip["fixed_ip"] is None
    assert neutron.get(f"/floatingips/{fip['id']}").json()["floatingip"]["floating_ip_address"] == fip["ip"]
    assert nova.get(f"/os-floating-ips/{fip['id']}").json()["floating_ip"] == fip
    assert fip["id"] in [f["id"] for f in nova.get("/os-floating-ips").json()["floating_ips"]]
    # Without a pool: the default one; by the external network's id too.
    public_id = neutron.get("/networks", params={"name": "public"}).json()["networks"][0]["id"]
    for body in (None, {"pool": public_id}):
        other = nova.post("/os-floating-ips", json=body) if body else nova.post("/os-floating-ips")
        assert other.status_code == 200, other.text
        assert other.json()["floating_ip"]["pool"] == "public"
        assert nova.delete(f"/os-floating-ips/{other.json()['floating_ip']['id']}").status_code == 202
    assert nova.post("/os-floating-ips", json={"pool": "no-such-pool"}).status_code == 404
    assert nova.get("/os-floating-ips/7dcfd4ac-8a1c-4bbb-acea-c1bc580b5cd6").status_code == 404
    assert nova.delete("/os-floating-ips/7dcfd4ac-8a1c-4bbb-acea-c1bc580b5cd6").status_code == 404

    # Associated with a server's fixed address, then moved to another server, then released.
    first, second = server(net_cloud, nova, "fip-a"), server(net_cloud, nova, "fip-b")
    assert nova.post(f"/servers/{first}/action", json={"addFloatingIp": {"address": fip["ip"]}}).status_code == 202
    shown = nova.get(f"/os-floating-ips/{fip['id']}").json()["floating_ip"]
    assert shown["instance_id"] == first and shown["fixed_ip"]
    assert nova.post(f"/servers/{second}/action", json={"addFloatingIp": {"address": fip["ip"]}}).status_code == 202
    assert nova.get(f"/os-floating-ips/{fip['id']}").json()["floating_ip"]["instance_id"] == second
    stale = nova.post(f"/servers/{first}/action", json={"removeFloatingIp": {"address": fip["ip"]}})
    assert stale.status_code == 409
    assert "is not associated with instance" in stale.json()["conflictingRequest"]["message"]
    # A second floating IP on a port that has one: Nova's 400.
    extra = nova.post("/os-floating-ips", json={"pool": "public"}).json()["floating_ip"]
    refused = nova.post(f"/servers/{second}/action", json={"addFloatingIp": {"address": extra["ip"]}})
    assert refused.status_code == 400, refused.text
    assert nova.delete(f"/os-floating-ips/{extra['id']}").status_code == 202
    for bad, code in (("0.0.0.0", 404), ("", 400), ("not-an-ip", 400)):
        for verb in ("addFloatingIp", "removeFloatingIp"):
            response = nova.post(f"/servers/{second}/action", json={verb: {"address": bad}})
            assert response.status_code == code, (verb, bad, response.text)
    assert nova.post(f"/servers/{second}/action",
                     json={"addFloatingIp": {"address": fip["ip"], "fixed_address": "10.99.99.99"}}).status_code == 400
    assert nova.post(f"/servers/{second}/action",
                     json={"removeFloatingIp": {"address": fip["ip"]}}).status_code == 202
    assert neutron.get(f"/floatingips/{fip['id']}").json()["floatingip"]["port_id"] is None
    assert nova.delete(f"/os-floating-ips/{fip['id']}").status_code == 202
    assert neutron.get(f"/floatingips/{fip['id']}").status_code == 404

    # Gone from 2.36 (the actions from 2.44), as in Nova.
    new = {"OpenStack-API-Version": "compute 2.36"}
    assert nova.get("/os-floating-ips", headers=new).status_code == 404
    assert nova.get("/os-floating-ip-pools", headers=new).status_code == 404
    gone = nova.post(f"/servers/{second}/action", json={"addFloatingIp": {"address": "0.0.0.0"}},
                     headers={"OpenStack-API-Version": "compute 2.44"})
    assert gone.status_code == 404


def test_networks_through_compute(net_cloud: RunningCloud) -> None:
    nova, neutron = clients(net_cloud)
    private = neutron.get("/networks", params={"name": "private"}).json()["networks"][0]
    listed = nova.get("/os-networks").json()["networks"]
    mine = next(n for n in listed if n["id"] == private["id"])
    assert mine["label"] == "private" and mine["cidr"] is None and "bridge" not in mine  # admin-only fields
    assert nova.get(f"/os-networks/{private['id']}").json()["network"] == mine
    tenant = nova.get("/os-tenant-networks").json()["networks"]
    assert {"id": private["id"], "cidr": "None", "label": "private"} in tenant
    assert nova.get(f"/os-tenant-networks/{private['id']}").json()["network"]["label"] == "private"
    for path in ("/os-networks/7dcfd4ac-8a1c-4bbb-acea-c1bc580b5cd6",
                 "/os-tenant-networks/7dcfd4ac-8a1c-4bbb-acea-c1bc580b5cd6"):
        missing = nova.get(path)
        assert missing.status_code == 404 and missing.json()["itemNotFound"]["message"] == "Network not found."
    assert nova.post("/os-networks", json={"network": {"label": "x"}}).status_code == 410
    assert nova.delete(f"/os-networks/{private['id']}").status_code == 410  # and the network stays
    assert neutron.get(f"/networks/{private['id']}").status_code == 200
    admin, _ = clients(net_cloud, "monostack-admin")
    assert "bridge" in admin.get(f"/os-networks/{private['id']}").json()["network"]
    assert nova.get("/os-networks", headers={"OpenStack-API-Version": "compute 2.36"}).status_code == 404


def test_add_and_remove_a_fixed_ip(net_cloud: RunningCloud) -> None:
    nova, neutron = clients(net_cloud)
    server_id = server(net_cloud, nova, "multinic")

    def addresses() -> list[str]:
        shown = nova.get(f"/servers/{server_id}/ips").json()["addresses"]
        return sorted(a["addr"] for addrs in shown.values() for a in addrs)

    before = addresses()
    port = neutron.get("/ports", params={"device_id": server_id}).json()["ports"][0]
    added = nova.post(f"/servers/{server_id}/action", json={"addFixedIp": {"networkId": port["network_id"]}})
    assert added.status_code == 202, added.text
    after = addresses()
    assert len(after) == len(before) + 1 and set(before) < set(after)
    new = (set(after) - set(before)).pop()
    assert new in [f["ip_address"] for f in neutron.get(f"/ports/{port['id']}").json()["port"]["fixed_ips"]]
    assert nova.post(f"/servers/{server_id}/action",
                     json={"removeFixedIp": {"address": "10.254.254.254"}}).status_code == 400
    assert nova.post(f"/servers/{server_id}/action",
                     json={"addFixedIp": {"networkId": "7dcfd4ac-8a1c-4bbb-acea-c1bc580b5cd6"}}).status_code == 400
    assert nova.post(f"/servers/{server_id}/action", json={"removeFixedIp": {"address": new}}).status_code == 202
    assert addresses() == before
    actions = [a["action"] for a in nova.get(f"/servers/{server_id}/os-instance-actions").json()["instanceActions"]]
    assert {"add_fixed_ip", "remove_fixed_ip"} <= set(actions)
    assert nova.post(f"/servers/{server_id}/action", json={"addFixedIp": {"networkId": port["network_id"]}},
                     headers={"OpenStack-API-Version": "compute 2.44"}).status_code == 404


def test_deleting_a_shelved_offloaded_server_releases_its_ports(net_cloud: RunningCloud) -> None:
    """No host holds it, so the API deletes it itself, and its ports go as the agent would let them
    go (Nova's local delete): the subnet is free to be deleted after."""
    nova, neutron = clients(net_cloud)
    server_id = server(net_cloud, nova, "offloaded")
    assert neutron.get("/ports", params={"device_id": server_id}).json()["ports"]
    assert nova.post(f"/servers/{server_id}/action", json={"shelve": None}).status_code == 202
    deadline = time.monotonic() + 60
    while (status := nova.get(f"/servers/{server_id}").json()["server"]["status"]) != "SHELVED_OFFLOADED":
        assert time.monotonic() < deadline, status
        time.sleep(0.5)
    assert nova.delete(f"/servers/{server_id}").status_code == 204
    assert neutron.get("/ports", params={"device_id": server_id}).json()["ports"] == []


def test_interface_attach_and_detach_are_actions_with_their_events(net_cloud: RunningCloud) -> None:
    """What Nova's clients (Tempest's waiters among them) wait on: the action of the request, with
    its compute_attach_interface / compute_detach_interface event and its result."""
    nova, neutron = clients(net_cloud)
    server_id = server(net_cloud, nova, "nics")
    network_id = neutron.get("/ports", params={"device_id": server_id}).json()["ports"][0]["network_id"]
    made = nova.post(f"/servers/{server_id}/os-interface", json={"interfaceAttachment": {"net_id": network_id}})
    assert made.status_code == 200, made.text
    port_id = made.json()["interfaceAttachment"]["port_id"]
    gone = nova.delete(f"/servers/{server_id}/os-interface/{port_id}")
    assert gone.status_code == 202

    def events(request_id: str) -> list[tuple[str, str | None]]:
        action = nova.get(f"/servers/{server_id}/os-instance-actions/{request_id}",
                          headers={"OpenStack-API-Version": "compute 2.51"}).json()["instanceAction"]
        return [(e["event"], e["result"]) for e in action["events"]]

    assert events(made.headers["x-openstack-request-id"]) == [("compute_attach_interface", "Success")]
    deadline = time.monotonic() + 30
    while events(gone.headers["x-openstack-request-id"]) != [("compute_detach_interface", "Success")]:
        assert time.monotonic() < deadline, events(gone.headers["x-openstack-request-id"])
        time.sleep(0.2)
