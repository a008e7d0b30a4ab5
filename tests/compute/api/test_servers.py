"""The server lifecycle through the API, with the fake driver: the whole control
plane (API, conductor, scheduler, Placement claims, agent) without guests."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.compute.conftest import Nova


def placement_usages(nova: Nova, consumer: str) -> dict:
    response = httpx.get(f"{nova.cloud.url}/placement/allocations/{consumer}",
                         headers={"X-Auth-Token": nova.token, "OpenStack-API-Version": "placement 1.28"})
    return response.json()["allocations"]


def test_create_goes_active_with_an_allocation_and_delete_cleans_up(nova: Nova, image_id: str) -> None:
    response = nova.create(image_id, name="first")
    assert response.status_code == 202, response.text
    body = response.json()["server"]
    assert body["adminPass"] and body["links"][0]["href"].endswith(body["id"])
    server = nova.wait(body["id"], "ACTIVE")
    assert server["OS-EXT-STS:vm_state"] == "active" and server["OS-EXT-STS:power_state"] == 1
    assert server["OS-EXT-SRV-ATTR:host"] and server["hostId"]
    assert server["flavor"]["id"] == "42"
    allocations = placement_usages(nova, body["id"])
    assert list(allocations.values())[0]["resources"] == {"VCPU": 1, "MEMORY_MB": 128, "DISK_GB": 1}
    actions = nova.http.get(f"/servers/{body['id']}/os-instance-actions").json()["instanceActions"]
    assert [a["action"] for a in actions] == ["create"]
    assert nova.http.delete(f"/servers/{body['id']}").status_code == 204
    nova.wait(body["id"], "DELETED")
    assert placement_usages(nova, body["id"]) == {}


def test_actions_walk_the_state_machine(nova: Nova, image_id: str) -> None:
    server_id = nova.create(image_id, name="actions").json()["server"]["id"]
    nova.wait(server_id, "ACTIVE")
    steps = [({"pause": None}, "PAUSED"), ({"unpause": None}, "ACTIVE"), ({"suspend": None}, "SUSPENDED"),
             ({"resume": None}, "ACTIVE"), ({"os-stop": None}, "SHUTOFF"), ({"os-start": None}, "ACTIVE"),
             ({"reboot": {"type": "SOFT"}}, "ACTIVE"), ({"reboot": {"type": "HARD"}}, "ACTIVE"),
             ({"rescue": {}}, "RESCUE"), ({"unrescue": None}, "ACTIVE")]
    for body, status in steps:
        response = nova.action(server_id, body)
        assert response.status_code in (200, 202), (body, response.text)
        nova.wait(server_id, status)
    # Wrong state: 409 conflictingRequest with Nova's message.
    response = nova.action(server_id, {"unpause": None})
    assert response.status_code == 409
    assert "Cannot 'unpause' instance" in response.json()["conflictingRequest"]["message"]
    nova.http.delete(f"/servers/{server_id}")
    nova.wait(server_id, "DELETED")


def test_lock_refuses_other_users_actions(compute_cloud, nova: Nova, image_id: str) -> None:
    demo = Nova(compute_cloud, "monostack")
    server_id = demo.create(image_id, name="locked").json()["server"]["id"]
    demo.wait(server_id, "ACTIVE")
    assert nova.action(server_id, {"lock": None}).status_code == 202
    response = demo.action(server_id, {"os-stop": None})
    assert response.status_code == 409
    assert demo.http.delete(f"/servers/{server_id}").status_code == 409
    assert nova.action(server_id, {"unlock": None}).status_code == 202
    assert demo.http.delete(f"/servers/{server_id}").status_code == 204
    demo.wait(server_id, "DELETED")


def test_resize_confirm_and_revert(nova: Nova, image_id: str) -> None:
    server_id = nova.create(image_id, name="resize").json()["server"]["id"]
    nova.wait(server_id, "ACTIVE")
    assert nova.action(server_id, {"resize": {"flavorRef": "84"}}).status_code == 202
    server = nova.wait(server_id, "VERIFY_RESIZE")
    assert server["flavor"]["id"] == "84"
    allocations = placement_usages(nova, server_id)
    assert list(allocations.values())[0]["resources"]["MEMORY_MB"] == 192
    assert nova.action(server_id, {"revertResize": None}).status_code == 202
    server = nova.wait(server_id, "ACTIVE")
    assert server["flavor"]["id"] == "42"
    assert list(placement_usages(nova, server_id).values())[0]["resources"]["MEMORY_MB"] == 128
    assert nova.action(server_id, {"resize": {"flavorRef": "84"}}).status_code == 202
    nova.wait(server_id, "VERIFY_RESIZE")
    assert nova.action(server_id, {"confirmResize": None}).status_code == 204
    server = nova.wait(server_id, "ACTIVE")
    assert server["flavor"]["id"] == "84"
    migrations = nova.http.get("/os-migrations").json()["migrations"]
    assert {m["status"] for m in migrations if m["instance_uuid"] == server_id} == {"reverted", "confirmed"}
    nova.http.delete(f"/servers/{server_id}")
    nova.wait(server_id, "DELETED")


def test_multi_create_and_delete(nova: Nova, image_id: str) -> None:
    response = nova.create(image_id, name="many", min_count=5, max_count=5, return_reservation_id=True)
    assert response.status_code == 202
    reservation = response.json()["reservation_id"]
    servers = nova.http.get("/servers", params={"reservation_id": reservation}).json()["servers"]
    assert len(servers) == 5
    assert sorted(s["name"] for s in servers) == [f"many-{i}" for i in range(1, 6)]
    for server in servers:
        nova.wait(server["id"], "ACTIVE")
    for server in servers:
        assert nova.http.delete(f"/servers/{server['id']}").status_code == 204
    for server in servers:
        nova.wait(server["id"], "DELETED")
    assert nova.http.get("/servers", params={"reservation_id": reservation}).json()["servers"] == []


def test_anti_affinity_on_one_host_gives_no_valid_host(nova: Nova, image_id: str) -> None:
    group = nova.http.post("/os-server-groups", json={"server_group": {
        "name": "apart", "policies": ["anti-affinity"]}}).json()["server_group"]
    first = nova.create(image_id, name="apart-1", hints={"group": group["id"]}).json()["server"]["id"]
    nova.wait(first, "ACTIVE")
    second = nova.create(image_id, name="apart-2", hints={"group": group["id"]}).json()["server"]["id"]
    server = nova.wait(second, "ERROR")
    assert server["fault"]["code"] == 500
    assert "No valid host was found" in server["fault"]["message"]
    assert placement_usages(nova, second) == {}
    for server_id in (first, second):
        nova.http.delete(f"/servers/{server_id}")
    for server_id in (first, second):
        nova.wait(server_id, "DELETED")


@pytest.mark.parametrize("change, status, key, text", [
    ({"flavorRef": "no-such-flavor"}, 400, "badRequest", "Flavor no-such-flavor could not be found"),
    ({"imageRef": str(uuid.uuid4())}, 400, "badRequest", "could not be found"),
    ({"key_name": "nope"}, 400, "badRequest", "Invalid key_name provided"),
    ({"user_data": "not base64!"}, 400, "badRequest", "User data needs to be valid base 64"),
    ({"min_count": 3, "max_count": 2}, 400, "badRequest", "min_count"),
    ({"hints": {"group": "not-a-uuid"}}, 400, "badRequest", "group"),
    ({"networks": [{"uuid": str(uuid.uuid4())}]}, 400, "badRequest", "could not be found"),
])
def test_bad_create_requests(nova: Nova, image_id: str, change: dict, status: int, key: str, text: str) -> None:
    before = nova.http.get("/servers").json()["servers"]
    fields = dict(change)
    image_ref = fields.pop("imageRef", image_id)
    flavor = fields.pop("flavorRef", "42")
    response = nova.create(image_ref, flavor, **fields)
    assert response.status_code == status, response.text
    assert text in response.json()[key]["message"]
    assert nova.http.get("/servers").json()["servers"] == before


def test_flavor_too_small_for_image(nova: Nova) -> None:
    big = nova.image(b"\0" * 1024, min_disk=5)
    response = nova.create(big, "42")
    assert response.status_code == 400
    assert "Flavor's disk is too small" in response.json()["badRequest"]["message"]


def test_over_quota_is_refused_and_leaves_nothing(nova: Nova, image_id: str) -> None:
    response = nova.create(image_id, "5", min_count=3, max_count=3)  # 3 x 8 vcpus > 20 cores
    assert response.status_code == 403
    assert "Quota exceeded for cores" in response.json()["forbidden"]["message"]


def test_invalid_microversion_is_406(nova: Nova) -> None:
    response = nova.http.get("/servers", headers={"OpenStack-API-Version": "compute 9.99"})
    assert response.status_code == 406
    response = nova.http.get("/servers", headers={"OpenStack-API-Version": "compute 2.96"})
    assert response.headers["OpenStack-API-Version"] == "compute 2.96"


def test_console_output_and_unknown_server(nova: Nova, image_id: str) -> None:
    server_id = nova.create(image_id, name="console").json()["server"]["id"]
    nova.wait(server_id, "ACTIVE")
    response = nova.action(server_id, {"os-getConsoleOutput": {"length": 5}})
    assert response.status_code == 200 and "output" in response.json()
    nova.http.delete(f"/servers/{server_id}")
    response = nova.http.get(f"/servers/{uuid.uuid4()}")
    assert response.status_code == 404 and "itemNotFound" in response.json()


def test_metadata_service_serves_the_server_behind_a_signed_proxy(nova: Nova, image_id: str) -> None:
    from monostack.compute.metadata.api import sign_instance_id

    server_id = nova.create(image_id, name="meta", metadata={"role": "web"}).json()["server"]["id"]
    nova.wait(server_id, "ACTIVE")
    project_id = nova.server(server_id)["tenant_id"]
    url = f"{nova.cloud.url}/compute/metadata/openstack/latest/meta_data.json"
    headers = {"X-Instance-ID": server_id, "X-Tenant-ID": project_id,
               "X-Instance-ID-Signature": sign_instance_id(server_id, "")}
    response = httpx.get(url, headers=headers)
    assert response.status_code == 200, response.text
    meta = response.json()
    assert meta["uuid"] == server_id and meta["name"] == "meta" and meta["meta"] == {"role": "web"}
    forged = dict(headers, **{"X-Instance-ID-Signature": "0" * 64})
    assert httpx.get(url, headers=forged).status_code == 403
    nova.http.delete(f"/servers/{server_id}")
    nova.wait(server_id, "DELETED")
