"""What Tempest's compute tests check of server responses and version discovery:
Nova's exact shapes, per microversion (fake driver, whole control plane)."""

from __future__ import annotations

import httpx
import pytest

from tests.compute.conftest import Nova

# The keys PUT /servers/{id} and rebuild leave out before 2.75.
EXTENSION_KEYS = {"OS-EXT-AZ:availability_zone", "config_drive", "OS-SRV-USG:launched_at",
                  "OS-SRV-USG:terminated_at", "security_groups", "OS-EXT-STS:task_state", "OS-EXT-STS:vm_state",
                  "OS-EXT-STS:power_state", "os-extended-volumes:volumes_attached", "OS-EXT-SRV-ATTR:host"}


@pytest.fixture(scope="module")
def server_id(nova: Nova, image_id: str) -> str:
    response = nova.create(image_id, name="shapes", accessIPv4="1.1.1.1",
                           accessIPv6="0000:0000:0000:0000:0000:babe:220.12.22.2")
    assert response.status_code == 202, response.text
    server_id = response.json()["server"]["id"]
    nova.wait(server_id, "ACTIVE")
    return server_id


def test_access_ips_are_canonical(nova: Nova, server_id: str) -> None:
    server = nova.server(server_id)
    assert server["accessIPv4"] == "1.1.1.1"
    assert server["accessIPv6"] == "::babe:dc0c:1602"
    response = nova.http.put(f"/servers/{server_id}", json={"server": {"accessIPv6": "2001:0db8:0000::0001"}})
    assert response.status_code == 200, response.text
    assert response.json()["server"]["accessIPv6"] == "2001:db8::1"
    assert nova.server(server_id)["accessIPv6"] == "2001:db8::1"


def test_update_answer_lacks_extension_attributes_before_2_75(nova: Nova, server_id: str) -> None:
    response = nova.http.put(f"/servers/{server_id}", json={"server": {"name": "renamed"}})
    assert response.status_code == 200, response.text
    server = response.json()["server"]
    assert server["name"] == "renamed"
    assert not EXTENSION_KEYS & server.keys() and "key_name" not in server
    for addresses in server["addresses"].values():
        assert all(set(address) == {"version", "addr"} for address in addresses)
    # From 2.75 it is the same server GET shows.
    response = nova.http.put(f"/servers/{server_id}", json={"server": {"name": "renamed-again"}},
                             headers={"OpenStack-API-Version": "compute 2.75"})
    updated = response.json()["server"]
    shown = nova.http.get(f"/servers/{server_id}", headers={"OpenStack-API-Version": "compute 2.75"}).json()
    assert set(updated) == set(shown["server"])


def test_rebuild_answer_per_microversion(nova: Nova, image_id: str, server_id: str) -> None:
    response = nova.action(server_id, {"rebuild": {"imageRef": image_id, "adminPass": "rebuildPassw0rd",
                                                   "metadata": {"rebuild": "server"}}})
    assert response.status_code == 202, response.text
    server = response.json()["server"]
    assert server["adminPass"] == "rebuildPassw0rd" and server["metadata"] == {"rebuild": "server"}
    assert not EXTENSION_KEYS & server.keys() and "key_name" not in server and "user_data" not in server
    nova.wait(server_id, "ACTIVE")
    # 2.57: key_name (2.54) and user_data; 2.75: everything GET shows except OS-EXT-SRV-ATTR:user_data.
    response = nova.http.post(f"/servers/{server_id}/action", json={"rebuild": {"imageRef": image_id}},
                              headers={"OpenStack-API-Version": "compute 2.57"})
    server = response.json()["server"]
    assert "key_name" in server and "user_data" in server and not EXTENSION_KEYS & server.keys()
    nova.wait(server_id, "ACTIVE")
    response = nova.http.post(f"/servers/{server_id}/action", json={"rebuild": {"imageRef": image_id}},
                              headers={"OpenStack-API-Version": "compute 2.75"})
    server = response.json()["server"]
    assert EXTENSION_KEYS <= server.keys() and "user_data" in server
    assert "OS-EXT-SRV-ATTR:user_data" not in server
    nova.wait(server_id, "ACTIVE")


def test_progress_only_while_it_means_something(nova: Nova, server_id: str) -> None:
    assert "progress" in nova.server(server_id)
    assert nova.action(server_id, {"os-stop": None}).status_code == 202
    stopped = nova.wait(server_id, "SHUTOFF")
    assert "progress" not in stopped
    assert nova.action(server_id, {"os-start": None}).status_code == 202
    nova.wait(server_id, "ACTIVE")


def test_responses_name_the_compute_request_id(nova: Nova, server_id: str) -> None:
    response = nova.http.get(f"/servers/{server_id}")
    assert response.headers["x-compute-request-id"] == response.headers["x-openstack-request-id"]
    assert response.headers["x-compute-request-id"].startswith("req-")


def test_versions_list_v2_0_first_and_each_self_link_answers(nova: Nova) -> None:
    root = nova.cloud.url + "/compute"
    versions = httpx.get(root + "/").json()["versions"]
    assert [v["id"] for v in versions] == ["v2.0", "v2.1"]
    for version in versions:
        self_link = next(link["href"] for link in version["links"] if link["rel"] == "self")
        document = httpx.get(self_link)
        assert document.status_code == 200, self_link
        assert document.json()["version"]["id"] == version["id"]


def test_legacy_v2_endpoint_is_the_api_at_2_1(nova: Nova, server_id: str) -> None:
    url = f"{nova.cloud.url}/compute/v2/servers/{server_id}"
    response = httpx.get(url, headers={"X-Auth-Token": nova.token, "OpenStack-API-Version": "compute 2.75"})
    assert response.status_code == 200, response.text
    assert "locked" not in response.json()["server"]  # 2.9+ field: the header is ignored
    assert "openstack-api-version" not in response.headers
