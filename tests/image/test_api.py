"""The Image API over HTTP against a started cloud: discovery, the wire format of images,
members and errors, streamed upload and download, truncated uploads, quotas, import."""

from __future__ import annotations

import hashlib
import os
import socket
import time
import urllib.parse
import uuid
from typing import Any, Iterator

import httpx
import pytest

from tests.conftest import RunningCloud
from tests.image.cloud import image_cloud

PATCH = "application/openstack-images-v2.1-json-patch"
OCTETS = {"Content-Type": "application/octet-stream"}


@pytest.fixture(scope="module")
def quota_cloud(tmp_path_factory: pytest.TempPathFactory, db_backend: str) -> Iterator[RunningCloud]:
    yield from image_cloud(tmp_path_factory, db_backend, extra_env={
        "MONOSTACK_IMAGE__QUOTA_IMAGE_SIZE_TOTAL": str(3 * 1024 * 1024), "MONOSTACK_IMAGE__QUOTA_IMAGE_COUNT": "3"})


def client(cloud: RunningCloud, name: str = "monostack-admin") -> httpx.Client:
    return httpx.Client(base_url=f"{cloud.url}/image", headers={"X-Auth-Token": cloud.token(name)}, timeout=60)


@pytest.fixture(scope="module")
def admin(image_cloud_session: RunningCloud) -> Iterator[httpx.Client]:
    with client(image_cloud_session) as c:
        yield c


@pytest.fixture(scope="module")
def demo(image_cloud_session: RunningCloud) -> Iterator[httpx.Client]:
    with client(image_cloud_session, "monostack") as c:
        yield c


@pytest.fixture(scope="module")
def alt(image_cloud_session: RunningCloud) -> Iterator[httpx.Client]:
    with client(image_cloud_session, "monostack-alt") as c:
        yield c


def project_of(c: httpx.Client, cloud: RunningCloud, name: str) -> str:
    token = c.headers["X-Auth-Token"]
    admin_token = cloud.token()
    body = httpx.get(f"{cloud.auth_url}/v3/auth/tokens",
                     headers={"X-Auth-Token": admin_token, "X-Subject-Token": token}).json()
    return body["token"]["project"]["id"]


def create(c: httpx.Client, **body: Any) -> dict[str, Any]:
    body.setdefault("name", f"api-{uuid.uuid4().hex[:8]}")
    body.setdefault("disk_format", "raw")
    body.setdefault("container_format", "bare")
    response = c.post("/v2/images", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def test_version_discovery(image_cloud_session):
    root = httpx.get(f"{image_cloud_session.url}/image/")
    assert root.status_code == 300
    versions = root.json()["versions"]
    assert versions[0] == {"id": "v2.17", "status": "CURRENT",
                           "links": [{"rel": "self", "href": f"{image_cloud_session.url}/image/v2/"}]}
    assert {"v2.0", "v2.1"} <= {v["id"] for v in versions}
    assert httpx.get(f"{image_cloud_session.url}/image/versions").status_code == 200
    services = httpx.get(f"{image_cloud_session.url}/").json()["services"]
    assert services["image"] == f"{image_cloud_session.url}/image"


def test_auth_required_and_error_format(admin, image_cloud_session):
    response = httpx.get(f"{image_cloud_session.url}/image/v2/images")
    assert response.status_code == 401 and "keystone uri" in response.headers["www-authenticate"].lower()
    missing = admin.get(f"/v2/images/{uuid.uuid4()}")
    assert missing.status_code == 404
    body = missing.json()
    assert body["code"] == "404 Not Found" and body["title"] == "Not Found" and "No image found" in body["message"]
    assert admin.post("/v2/images", content=b"{not json").status_code == 400
    assert admin.post("/v2/images", json={"disk_format": "floppy"}).status_code == 400
    assert admin.post("/v2/images", json={"status": "active"}).status_code == 403


def test_create_show_patch_list_delete(admin):
    image = create(admin, tags=["x"], color="blue")
    assert image["status"] == "queued" and image["color"] == "blue" and image["tags"] == ["x"]
    assert admin.get(f"/v2/images/{image['id']}").json() == image
    bad_type = admin.patch(f"/v2/images/{image['id']}", json=[])
    assert bad_type.status_code == 415 and PATCH in bad_type.headers["accept-patch"]
    patched = admin.patch(f"/v2/images/{image['id']}", headers={"Content-Type": PATCH}, content=(
        b'[{"op": "replace", "path": "/name", "value": "renamed"},'
        b' {"op": "add", "path": "/size~1x", "value": "1"}, {"op": "remove", "path": "/color"}]'))
    assert patched.status_code == 200, patched.text
    assert patched.json()["name"] == "renamed" and patched.json()["size/x"] == "1" and "color" not in patched.json()
    for ops, status in [([{"op": "replace", "path": "/status", "value": "active"}], 403),
                        ([{"op": "move", "path": "/name", "value": "x"}], 400),
                        ([{"op": "replace", "path": "/nothere", "value": "x"}], 409),
                        ([{"op": "replace", "path": "name", "value": "x"}], 400)]:
        response = admin.patch(f"/v2/images/{image['id']}", json=ops, headers={"Content-Type": PATCH})
        assert response.status_code == status, (ops, response.text)
    assert admin.put(f"/v2/images/{image['id']}/tags/y").status_code == 204
    assert admin.delete(f"/v2/images/{image['id']}/tags/nope").status_code == 404
    listed = admin.get("/v2/images", params={"tag": "y", "sort": "name:asc"}).json()
    assert [i["id"] for i in listed["images"]] == [image["id"]]
    assert listed["first"] == "/v2/images" and listed["schema"] == "/v2/schemas/images"
    assert admin.delete(f"/v2/images/{image['id']}").status_code == 204
    assert admin.get(f"/v2/images/{image['id']}").status_code == 404


def test_pagination_next_links(demo):
    marker_tag = uuid.uuid4().hex
    made = [create(demo, tags=[marker_tag], visibility="private")["id"] for _ in range(5)]
    seen: list[str] = []
    url: str | None = f"/v2/images?tag={marker_tag}&limit=2"
    while url:
        page = demo.get(url).json()
        seen += [i["id"] for i in page["images"]]
        url = page.get("next")
    assert seen == made[::-1]
    assert demo.get("/v2/images", params={"marker": str(uuid.uuid4())}).status_code == 400


def test_upload_download_streamed(admin):
    data = os.urandom(5 * 1024 * 1024 + 3)
    image = create(admin)
    wrong_type = admin.put(f"/v2/images/{image['id']}/file", content=b"x", headers={"Content-Type": "text/plain"})
    assert wrong_type.status_code == 415
    assert admin.get(f"/v2/images/{image['id']}/file").status_code == 204  # no data yet

    def body() -> Iterator[bytes]:  # chunked: no Content-Length, bigger than the JSON body limit
        for offset in range(0, len(data), 1 << 20):
            yield data[offset:offset + (1 << 20)]

    assert admin.put(f"/v2/images/{image['id']}/file", content=body(), headers=OCTETS).status_code == 204
    shown = admin.get(f"/v2/images/{image['id']}").json()
    assert shown["status"] == "active" and shown["size"] == len(data)
    assert shown["checksum"] == hashlib.md5(data).hexdigest()
    assert shown["os_hash_value"] == hashlib.sha512(data).hexdigest()
    again = admin.put(f"/v2/images/{image['id']}/file", content=b"x", headers=OCTETS)
    assert again.status_code == 409
    with admin.stream("GET", f"/v2/images/{image['id']}/file") as response:
        assert response.status_code == 200 and response.headers["content-md5"] == shown["checksum"]
        assert int(response.headers["content-length"]) == len(data)
        assert b"".join(response.iter_bytes()) == data
    ranged = admin.get(f"/v2/images/{image['id']}/file", headers={"Range": "bytes=100-199"})
    assert ranged.status_code == 206 and ranged.content == data[100:200]
    assert ranged.headers["content-range"] == f"bytes 100-199/{len(data)}"
    assert admin.get(f"/v2/images/{image['id']}/file", headers={"Range": "bytes=99999999-"}).status_code == 416


def test_truncated_upload(admin, image_cloud_session):
    image = create(admin)
    url = urllib.parse.urlsplit(image_cloud_session.url)
    with socket.create_connection((url.hostname, url.port)) as sock:
        head = (f"PUT /image/v2/images/{image['id']}/file HTTP/1.1\r\nHost: {url.netloc}\r\n"
                f"X-Auth-Token: {admin.headers['X-Auth-Token']}\r\nContent-Type: application/octet-stream\r\n"
                f"Content-Length: {10 * 1024 * 1024}\r\n\r\n")
        sock.sendall(head.encode() + os.urandom(3 * 1024 * 1024))
        time.sleep(0.3)
    deadline = time.monotonic() + 10
    while admin.get(f"/v2/images/{image['id']}").json()["status"] != "queued":
        assert time.monotonic() < deadline, "the image did not go back to queued"
        time.sleep(0.05)
    store = image_cloud_session.data_dir / "images"
    assert not [p for p in store.rglob("*") if p.is_file() and (image["id"] in p.name or p.parent.name == ".tmp")]
    assert admin.put(f"/v2/images/{image['id']}/file", content=b"complete", headers=OCTETS).status_code == 204


def test_sharing_between_projects(demo, alt, image_cloud_session):
    alt_project = project_of(alt, image_cloud_session, "monostack-alt")
    image = create(demo, visibility="shared")
    assert alt.get(f"/v2/images/{image['id']}").status_code == 404
    member = demo.post(f"/v2/images/{image['id']}/members", json={"member": alt_project})
    assert member.status_code == 200 and member.json()["status"] == "pending"
    assert member.json()["schema"] == "/v2/schemas/member"
    assert demo.post(f"/v2/images/{image['id']}/members", json={"member": alt_project}).status_code == 409
    assert demo.put(f"/v2/images/{image['id']}/members/{alt_project}", json={"status": "accepted"}).status_code == 403
    accepted = alt.put(f"/v2/images/{image['id']}/members/{alt_project}", json={"status": "accepted"})
    assert accepted.status_code == 200 and accepted.json()["status"] == "accepted"
    assert image["id"] in {i["id"] for i in alt.get("/v2/images").json()["images"]}
    members = demo.get(f"/v2/images/{image['id']}/members").json()
    assert members["schema"] == "/v2/schemas/members" and [m["member_id"] for m in members["members"]] == [alt_project]
    assert alt.delete(f"/v2/images/{image['id']}").status_code == 403
    private = create(demo, visibility="private")
    assert demo.post(f"/v2/images/{private['id']}/members", json={"member": alt_project}).status_code == 403


def test_deactivate_and_download(admin, demo, alt):
    image = create(demo, visibility="community")
    assert demo.put(f"/v2/images/{image['id']}/file", content=b"abc", headers=OCTETS).status_code == 204
    assert alt.post(f"/v2/images/{image['id']}/actions/deactivate").status_code == 403
    assert demo.post(f"/v2/images/{image['id']}/actions/deactivate").status_code == 204
    assert alt.get(f"/v2/images/{image['id']}/file").status_code == 403
    assert admin.get(f"/v2/images/{image['id']}/file").content == b"abc"
    assert admin.post(f"/v2/images/{image['id']}/actions/reactivate").status_code == 204
    assert alt.get(f"/v2/images/{image['id']}/file").content == b"abc"


def test_schemas_and_info(admin):
    image_schema = admin.get("/v2/schemas/image").json()
    assert image_schema["name"] == "image" and "disk_format" in image_schema["properties"]
    assert image_schema["additionalProperties"] == {"type": "string"}
    for name in ("images", "member", "members"):
        assert admin.get(f"/v2/schemas/{name}").json()["name"] == name
    assert admin.get("/v2/schemas/nothing").status_code == 404
    assert admin.get("/v2/schemas/metadefs/resource_type").json()["name"] == "resource_type_association"
    assert admin.get("/v2/schemas/metadefs/namespaces").json()["name"] == "namespaces"
    methods = admin.get("/v2/info/import").json()["import-methods"]
    assert methods["value"] == ["glance-direct", "web-download"]
    assert admin.get("/v2/info/stores").json() == {"stores": [{"id": "file", "description": "Filesystem store",
                                                               "default": True}]}


def test_glance_direct_import(admin):
    image = create(admin)
    data = os.urandom(300000)
    assert admin.put(f"/v2/images/{image['id']}/stage", content=data, headers=OCTETS).status_code == 204
    assert admin.get(f"/v2/images/{image['id']}").json()["status"] == "uploading"
    response = admin.post(f"/v2/images/{image['id']}/import", json={"method": {"name": "glance-direct"}})
    assert response.status_code == 202, response.text
    deadline = time.monotonic() + 20
    while (shown := admin.get(f"/v2/images/{image['id']}").json())["status"] != "active":
        assert time.monotonic() < deadline and shown["status"] in ("uploading", "importing"), shown
        time.sleep(0.05)
    assert shown["os_hash_value"] == hashlib.sha512(data).hexdigest()
    (task,) = admin.get(f"/v2/images/{image['id']}/tasks").json()["tasks"]
    assert task["status"] == "success" and task["request_id"] == response.headers["x-openstack-request-id"]
    assert admin.get("/v2/images/").status_code == 404 and admin.delete("/v2/images/").status_code == 404
    bad = admin.post(f"/v2/images/{create(admin)['id']}/import",
                     json={"method": {"name": "web-download", "uri": "http://127.0.0.1:1/x"}})
    assert bad.status_code == 400  # no URL is allowed by default


def test_quotas(quota_cloud):
    with client(quota_cloud, "monostack") as c:
        first = create(c)
        assert c.put(f"/v2/images/{first['id']}/file", content=os.urandom(2 * 1024 * 1024),
                     headers=OCTETS).status_code == 204
        second = create(c)
        over = c.put(f"/v2/images/{second['id']}/file", content=os.urandom(2 * 1024 * 1024), headers=OCTETS)
        assert over.status_code == 413, over.text
        assert c.get(f"/v2/images/{second['id']}").json()["status"] == "queued"
        create(c)
        assert c.post("/v2/images", json={"name": "fourth"}).status_code == 413
        usage = c.get("/v2/info/usage").json()["usage"]
        assert usage["image_count_total"] == {"limit": 3, "usage": 3}
