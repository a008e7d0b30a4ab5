"""The image proxy (/v2.1/images up to 2.35, its metadata up to 2.38) over the
real Image service, and what snapshots put into their image."""

from __future__ import annotations

import pytest

from tests.compute.conftest import Nova


@pytest.fixture(scope="module")
def image_id(nova: Nova) -> str:
    return nova.image(visibility="public", name="proxied", min_ram=64, hw_disk_bus="virtio")


def test_show_list_and_detail(nova: Nova, image_id: str) -> None:
    image = nova.http.get(f"/images/{image_id}").json()["image"]
    assert image["name"] == "proxied" and image["status"] == "ACTIVE" and image["progress"] == 100
    assert image["minRam"] == 64 and image["minDisk"] == 0 and image["OS-EXT-IMG-SIZE:size"] == 1024 * 1024
    assert image["metadata"] == {"hw_disk_bus": "virtio"}
    assert image["created"].endswith("Z") and image["updated"].endswith("Z")
    assert [link["rel"] for link in image["links"]] == ["self", "bookmark", "alternate"]
    assert image["links"][2]["href"].endswith(f"/image/images/{image_id}")

    listed = nova.http.get("/images", params={"name": "proxied"}).json()["images"]
    assert [(i["id"], set(i)) for i in listed] == [(image_id, {"id", "name", "links"})]
    detailed = nova.http.get("/images/detail", params={"status": "ACTIVE"}).json()["images"]
    assert image_id in {i["id"] for i in detailed}
    page = nova.http.get("/images", params={"limit": 1}).json()
    assert len(page["images"]) == 1 and "marker=" in page["images_links"][0]["href"]


def test_unknown_image_and_removed_versions_are_404(nova: Nova, image_id: str) -> None:
    response = nova.http.get("/images/00000000-0000-0000-0000-000000000000")
    assert response.status_code == 404 and "itemNotFound" in response.json()
    newer = {"OpenStack-API-Version": "compute 2.36"}
    assert nova.http.get(f"/images/{image_id}", headers=newer).status_code == 404
    assert nova.http.get(f"/images/{image_id}/metadata", headers=newer).status_code == 200
    assert nova.http.get(f"/images/{image_id}/metadata",
                         headers={"OpenStack-API-Version": "compute 2.39"}).status_code == 404


def test_metadata_set_merge_item_and_delete(nova: Nova) -> None:
    image_id = nova.image(name="with-metadata", os_distro="cirros")
    url = f"/images/{image_id}/metadata"
    assert nova.http.get(url).json() == {"metadata": {"os_distro": "cirros"}}
    response = nova.http.put(url, json={"metadata": {"os_version": "1", "architecture": "x86_64"}})
    assert response.status_code == 200 and response.json() == {"metadata": {"os_version": "1",
                                                                            "architecture": "x86_64"}}
    assert nova.http.get(url).json()["metadata"] == {"os_version": "1", "architecture": "x86_64"}
    merged = nova.http.post(url, json={"metadata": {"os_version": "2", "kernel": "k"}}).json()["metadata"]
    assert merged == {"os_version": "2", "architecture": "x86_64", "kernel": "k"}
    assert nova.http.get(f"{url}/kernel").json() == {"meta": {"kernel": "k"}}
    assert nova.http.put(f"{url}/kernel", json={"meta": {"kernel": "k2"}}).json() == {"meta": {"kernel": "k2"}}
    assert nova.http.put(f"{url}/kernel", json={"meta": {"other": "x"}}).status_code == 400
    assert nova.http.delete(f"{url}/kernel").status_code == 204
    assert nova.http.get(f"{url}/kernel").status_code == 404
    assert nova.http.delete(f"{url}/kernel").status_code == 404
    assert nova.http.put(url, json={"metadata": {"bad/key": "x"}}).status_code == 400
    assert nova.http.delete(f"/images/{image_id}").status_code == 204
    assert nova.http.get(f"/images/{image_id}").status_code == 404


def test_snapshot_metadata_is_in_the_image_and_may_set_image_type(nova: Nova, image_id: str) -> None:
    server_id = nova.create(image_id, name="snapshotted").json()["server"]["id"]
    nova.wait(server_id, "ACTIVE")
    response = nova.action(server_id, {"createImage": {"name": "snap", "metadata": {"image_type": "test",
                                                                                    "name": "not-the-name"}}})
    assert response.status_code == 202, response.text
    snapshot_id = response.headers["location"].rsplit("/", 1)[-1]
    nova.wait(server_id, "ACTIVE")
    image = nova.http.get(f"/images/{snapshot_id}").json()["image"]
    assert image["name"] == "snap" and image["status"] == "ACTIVE"
    assert image["metadata"]["image_type"] == "test" and image["metadata"]["instance_uuid"] == server_id
    assert image["server"]["id"] == server_id
    listed = nova.http.get("/images", params={"server": server_id}).json()["images"]
    assert [i["id"] for i in listed] == [snapshot_id]
    nova.http.delete(f"/servers/{server_id}")
    nova.http.delete(f"/images/{snapshot_id}")
