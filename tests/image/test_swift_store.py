"""The Swift store and multi-store, against a real cloud running Image and Object Storage.

The cloud enables `file:file,swift:swift` (file the default) with a small large-object size
(2 MiB) and 1 MiB segments, so that segmented images are quick to make.  What the store
wrote is checked in the service project's account directly, through the Swift API.
"""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import time
import urllib.parse
import uuid
from typing import Any, Iterator

import httpx
import pytest

from tests.conftest import RunningCloud, own_cloud
from tests.e2e.test_cli_identity import osc, osc_script

OCTETS = {"Content-Type": "application/octet-stream"}
MiB = 1 << 20
ENV = {"MONOSTACK_DEFAULT__SERVICES": "identity,image,object",
       "MONOSTACK_IMAGE__ENABLED_BACKENDS": "file:file,swift:swift",
       "MONOSTACK_IMAGE__SWIFT_STORE_LARGE_OBJECT_SIZE": "2",
       "MONOSTACK_IMAGE__SWIFT_STORE_LARGE_OBJECT_CHUNK_SIZE": "1",
       "MONOSTACK_OBJECT__DAEMONS": "false"}


@pytest.fixture(scope="module")
def swift_cloud(tmp_path_factory: pytest.TempPathFactory, db_backend: str) -> Iterator[RunningCloud]:
    yield from own_cloud(tmp_path_factory, db_backend, "swift-image-cloud", ENV)


def _token(cloud: RunningCloud, name: str, project: str | None = None) -> tuple[str, dict[str, Any]]:
    auth = cloud.cloud(name)["auth"]
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": auth["username"], "domain": {"id": "default"}, "password": auth["password"]}}},
        "scope": {"project": {"name": project or auth["project_name"], "domain": {"id": "default"}}}}}
    response = httpx.post(f"{cloud.auth_url}/v3/auth/tokens", json=body, timeout=30)
    response.raise_for_status()
    return response.headers["x-subject-token"], response.json()["token"]


@pytest.fixture(scope="module")
def admin(swift_cloud: RunningCloud) -> Iterator[httpx.Client]:
    token, _ = _token(swift_cloud, "monostack-admin")
    with httpx.Client(base_url=f"{swift_cloud.url}/image", headers={"X-Auth-Token": token}, timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def demo(swift_cloud: RunningCloud) -> Iterator[httpx.Client]:
    token, _ = _token(swift_cloud, "monostack")
    with httpx.Client(base_url=f"{swift_cloud.url}/image", headers={"X-Auth-Token": token}, timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def account(swift_cloud: RunningCloud) -> Iterator[httpx.Client]:
    """The service project's Swift account, where the store keeps the images."""
    token, body = _token(swift_cloud, "monostack-admin", project="service")
    (url,) = [e["url"] for s in body["catalog"] if s["type"] == "object-store"
              for e in s["endpoints"] if e["interface"] == "public"]
    assert url.endswith(f"AUTH_{body['project']['id']}")
    with httpx.Client(base_url=url, headers={"X-Auth-Token": token}, timeout=60) as client:
        yield client


def objects(account: httpx.Client, image_id: str) -> list[dict[str, Any]]:
    response = account.get("/glance", params={"format": "json", "prefix": image_id})
    if response.status_code == 404:
        return []
    assert response.status_code == 200, response.text
    return response.json()


def create(client: httpx.Client, **extra: Any) -> dict[str, Any]:
    response = client.post("/v2/images", json={"name": "swift-test", "disk_format": "raw",
                                               "container_format": "bare", **extra})
    assert response.status_code == 201, response.text
    return response.json()


def wait_for(client: httpx.Client, image_id: str, check: Any, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        image = client.get(f"/v2/images/{image_id}").json()
        if check(image):
            return image
        assert time.monotonic() < deadline, image
        time.sleep(0.1)


def test_stores_are_listed_and_copy_image_offered(admin, swift_cloud):
    assert admin.get("/v2/info/stores").json()["stores"] == [
        {"id": "file", "description": "Filesystem store", "default": True},
        {"id": "swift", "description": "Object Storage (Swift) store"}]
    assert "copy-image" in admin.get("/v2/info/import").json()["import-methods"]["value"]
    detail = admin.get("/v2/info/stores/detail").json()["stores"]
    assert detail[1]["type"] == "swift" and detail[1]["properties"]["container"] == "glance"
    assert detail[1]["properties"]["large_object_chunk_size"] == MiB
    created = admin.post("/v2/images", json={"name": "headers"})
    assert created.headers["OpenStack-image-store-ids"] == "file,swift"
    listed = osc(swift_cloud, "image", "stores", "list", "-f", "json").json()
    assert [s.get("ID", s.get("id")) for s in listed] == ["file", "swift"], listed


def test_upload_download_and_delete_in_swift(admin, account):
    image = create(admin)
    data = os.urandom(300_000)
    response = admin.put(f"/v2/images/{image['id']}/file", content=data,
                         headers={**OCTETS, "X-Image-Meta-Store": "swift"})
    assert response.status_code == 204, response.text
    shown = admin.get(f"/v2/images/{image['id']}").json()
    assert shown["status"] == "active" and shown["stores"] == "swift" and shown["size"] == len(data)
    assert shown["checksum"] == hashlib.md5(data).hexdigest()
    assert shown["os_hash_value"] == hashlib.sha512(data).hexdigest()
    # Below the large-object size with a known length: one plain object.
    assert [(o["name"], o["bytes"]) for o in objects(account, image["id"])] == [(image["id"], len(data))]
    download = admin.get(f"/v2/images/{image['id']}/file")
    assert download.status_code == 200 and hashlib.md5(download.content).hexdigest() == shown["checksum"]
    assert download.headers["content-md5"] == shown["checksum"]
    ranged = admin.get(f"/v2/images/{image['id']}/file", headers={"Range": "bytes=1000-1999"})
    assert ranged.status_code == 206 and ranged.content == data[1000:2000]
    assert ranged.headers["content-range"] == f"bytes 1000-1999/{len(data)}"
    assert admin.delete(f"/v2/images/{image['id']}").status_code == 204
    assert objects(account, image["id"]) == []


def test_a_large_image_is_stored_as_segments(admin, account):
    image = create(admin)
    data = os.urandom(3 * MiB + 12345)

    def chunked() -> Iterator[bytes]:  # no Content-Length: the store cannot know the size
        for start in range(0, len(data), 256 * 1024):
            yield data[start:start + 256 * 1024]

    response = admin.put(f"/v2/images/{image['id']}/file", content=chunked(),
                         headers={**OCTETS, "X-Image-Meta-Store": "swift"})
    assert response.status_code == 204, response.text
    names = {o["name"]: o["bytes"] for o in objects(account, image["id"])}
    segments = {f"{image['id']}-{i:05d}": MiB for i in (1, 2, 3)} | {f"{image['id']}-00004": 12345}
    assert {k: v for k, v in names.items() if k != image["id"]} == segments
    manifest = account.head(f"/glance/{image['id']}")
    assert manifest.headers["x-static-large-object"].lower() == "true"
    assert int(manifest.headers["content-length"]) == len(data)
    download = admin.get(f"/v2/images/{image['id']}/file")
    assert hashlib.sha512(download.content).hexdigest() == hashlib.sha512(data).hexdigest()
    across = admin.get(f"/v2/images/{image['id']}/file", headers={"Range": f"bytes={MiB - 10}-{2 * MiB + 9}"})
    assert across.status_code == 206 and across.content == data[MiB - 10:2 * MiB + 10]
    tail = admin.get(f"/v2/images/{image['id']}/file", headers={"Range": "bytes=-100"})
    assert tail.content == data[-100:]
    # Known size above the large-object size: segmented as well.
    sized = create(admin)
    assert admin.put(f"/v2/images/{sized['id']}/file", content=data[:2 * MiB + 1],
                     headers={**OCTETS, "X-Image-Meta-Store": "swift"}).status_code == 204
    assert len(objects(account, sized["id"])) == 4  # manifest and three segments
    for each in (image, sized):
        assert admin.delete(f"/v2/images/{each['id']}").status_code == 204
        assert objects(account, each["id"]) == []


@pytest.mark.parametrize("size", [512 * 1024, 3 * MiB])
def test_an_interrupted_upload_leaves_nothing(admin, account, swift_cloud, size):
    image = create(admin)
    url = urllib.parse.urlsplit(swift_cloud.url)
    with socket.create_connection((url.hostname, url.port)) as sock:
        head = (f"PUT /image/v2/images/{image['id']}/file HTTP/1.1\r\nHost: {url.netloc}\r\n"
                f"X-Auth-Token: {admin.headers['X-Auth-Token']}\r\nContent-Type: application/octet-stream\r\n"
                f"X-Image-Meta-Store: swift\r\nContent-Length: {size * 2}\r\n\r\n")
        sock.sendall(head.encode() + os.urandom(size))
        time.sleep(0.5)
    wait_for(admin, image["id"], lambda i: i["status"] == "queued")
    deadline = time.monotonic() + 10
    while objects(account, image["id"]):
        assert time.monotonic() < deadline, objects(account, image["id"])
        time.sleep(0.1)
    assert admin.get(f"/v2/images/{image['id']}/file").status_code == 204
    # The image takes a complete upload afterwards.
    assert admin.put(f"/v2/images/{image['id']}/file", content=b"whole",
                     headers={**OCTETS, "X-Image-Meta-Store": "swift"}).status_code == 204
    assert admin.get(f"/v2/images/{image['id']}/file").content == b"whole"


def test_copy_image_and_delete_from_one_store(admin, demo, account):
    image = create(admin)
    data = os.urandom(2 * MiB + 100)
    assert admin.put(f"/v2/images/{image['id']}/file", content=data, headers=OCTETS).status_code == 204
    assert admin.get(f"/v2/images/{image['id']}").json()["stores"] == "file"
    # Bad requests first: a store the image is in, an unknown one, a non-admin.
    same = admin.post(f"/v2/images/{image['id']}/import", json={"method": {"name": "copy-image"}, "stores": ["file"]})
    assert same.status_code == 400, same.text
    unknown = admin.post(f"/v2/images/{image['id']}/import",
                         json={"method": {"name": "copy-image"}, "stores": ["nowhere"]})
    assert unknown.status_code == 409 and "nowhere" in unknown.json()["message"]
    mine = create(demo)
    assert demo.put(f"/v2/images/{mine['id']}/file", content=b"x", headers=OCTETS).status_code == 204
    assert demo.post(f"/v2/images/{mine['id']}/import",
                     json={"method": {"name": "copy-image"}, "stores": ["swift"]}).status_code == 403

    response = admin.post(f"/v2/images/{image['id']}/import",
                          json={"method": {"name": "copy-image"}, "stores": ["swift"]})
    assert response.status_code == 202, response.text
    copied = wait_for(admin, image["id"], lambda i: i.get("stores") == "file,swift")
    assert copied["status"] == "active" and copied["os_glance_importing_to_stores"] == ""
    assert copied["os_glance_failed_import"] == ""
    assert account.head(f"/glance/{image['id']}").status_code == 200
    (task,) = admin.get(f"/v2/images/{image['id']}/tasks").json()["tasks"]
    assert task["status"] == "success" and task["input"]["backend"] == ["swift"]
    # all_stores when it is everywhere already: nothing to do.
    assert admin.post(f"/v2/images/{image['id']}/import",
                      json={"method": {"name": "copy-image"}, "all_stores": True}).status_code == 202

    assert admin.delete(f"/v2/stores/nowhere/{image['id']}").status_code == 409
    assert demo.delete(f"/v2/stores/file/{mine['id']}").status_code in (403, 404)
    assert admin.delete(f"/v2/stores/file/{image['id']}").status_code == 204
    assert admin.get(f"/v2/images/{image['id']}").json()["stores"] == "swift"
    assert admin.delete(f"/v2/stores/file/{image['id']}").status_code in (403, 404)
    assert admin.get(f"/v2/images/{image['id']}/file").content == data  # now read from Swift
    last = admin.delete(f"/v2/stores/swift/{image['id']}")
    assert last.status_code == 403, last.text
    assert admin.delete(f"/v2/images/{image['id']}").status_code == 204
    assert objects(account, image["id"]) == []


def test_glance_direct_import_to_all_stores(admin, account):
    image = create(admin)
    data = os.urandom(100_000)
    assert admin.put(f"/v2/images/{image['id']}/stage", content=data, headers=OCTETS).status_code == 204
    bad = admin.post(f"/v2/images/{image['id']}/import",
                     json={"method": {"name": "glance-direct"}, "all_stores": "yes"})
    assert bad.status_code == 400
    both = admin.post(f"/v2/images/{image['id']}/import",
                      json={"method": {"name": "glance-direct"}, "all_stores": True, "stores": ["file"]})
    assert both.status_code == 400
    response = admin.post(f"/v2/images/{image['id']}/import",
                          json={"method": {"name": "glance-direct"}, "all_stores": True})
    assert response.status_code == 202, response.text
    done = wait_for(admin, image["id"], lambda i: i["status"] == "active")
    assert done["stores"] == "file,swift" and done["checksum"] == hashlib.md5(data).hexdigest()
    assert [o["name"] for o in objects(account, image["id"])] == [image["id"]]
    assert admin.delete(f"/v2/images/{image['id']}").status_code == 204
    assert objects(account, image["id"]) == []


def test_unknown_store_on_upload_and_import(admin):
    image = create(admin)
    upload = admin.put(f"/v2/images/{image['id']}/file", content=b"data",
                       headers={**OCTETS, "X-Image-Meta-Store": "nowhere"})
    assert upload.status_code == 400 and "nowhere" in upload.json()["message"]
    assert admin.get(f"/v2/images/{image['id']}").json()["status"] == "queued"
    assert admin.put(f"/v2/images/{image['id']}/stage", content=b"data", headers=OCTETS).status_code == 204
    imported = admin.post(f"/v2/images/{image['id']}/import",
                          json={"method": {"name": "glance-direct"}, "stores": ["nowhere"]})
    assert imported.status_code == 409
    header = admin.post(f"/v2/images/{image['id']}/import", json={"method": {"name": "glance-direct"}},
                        headers={"X-Image-Meta-Store": "nowhere"})
    assert header.status_code == 409
    assert admin.get(f"/v2/images/{image['id']}").json()["status"] == "uploading"


def test_cli_create_then_copy_to_swift(swift_cloud, tmp_path, account):
    data = os.urandom(MiB + 3)
    source, saved = tmp_path / "disk.raw", tmp_path / "saved.raw"
    source.write_bytes(data)
    created, = osc_script(swift_cloud, ["image", "create", "cli-swift", "--file", str(source), "--disk-format",
                                        "raw", "--container-format", "bare", "-f", "json"]).ok()
    image_id = created["id"]
    osc_script(swift_cloud, ["image", "import", image_id, "--method", "copy-image", "--store", "swift",
                             "--wait"]).ok()
    shown = osc(swift_cloud, "image", "show", image_id, "-f", "json").json()
    assert shown["stores"] == "file,swift" if "stores" in shown else shown["properties"]["stores"] == "file,swift"
    osc_script(swift_cloud, ["image", "save", image_id, "--file", str(saved)]).ok()
    assert saved.read_bytes() == data
    osc_script(swift_cloud, ["image", "delete", image_id]).ok()
    assert objects(account, image_id) == []


def test_qcow2_in_swift_is_measured(admin, tmp_path):
    path = tmp_path / "disk.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), "64M"], check=True)
    image = create(admin, disk_format="qcow2")
    assert admin.put(f"/v2/images/{image['id']}/file", content=path.read_bytes(),
                     headers={**OCTETS, "X-Image-Meta-Store": "swift"}).status_code == 204
    shown = admin.get(f"/v2/images/{image['id']}").json()
    assert shown["stores"] == "swift" and shown["virtual_size"] == 64 * MiB
    assert admin.delete(f"/v2/images/{image['id']}").status_code == 204


def test_segments_a_crash_left_behind_are_removed(admin, account, swift_cloud):
    from monostack.image.store.swift import SwiftSession, SwiftStore

    kept = create(admin)
    data = os.urandom(2 * MiB + 7)
    assert admin.put(f"/v2/images/{kept['id']}/file", content=data,
                     headers={**OCTETS, "X-Image-Meta-Store": "swift"}).status_code == 204
    orphan = str(uuid.uuid4())
    for index in (1, 2):
        assert account.put(f"/glance/{orphan}-{index:05d}", content=b"left over").status_code == 201
    password = swift_cloud.cloud("monostack-admin")["auth"]["password"]
    session = SwiftSession(swift_cloud.auth_url, username="admin", password=password, project_name="service",
                           region="RegionOne")
    store = SwiftStore("swift", session, large_object_size=2 * MiB, large_object_chunk_size=MiB)
    try:
        assert store.cleanup_temporary() == 0  # written after the store started: maybe a write in progress
        store._started = time.time() + 3600  # as if the cloud (re)started an hour from now
        assert store.cleanup_temporary() == 2
    finally:
        session.close()
    assert objects(account, orphan) == []
    assert len(objects(account, kept["id"])) == 4  # a manifest and its segments are not orphans
    assert admin.get(f"/v2/images/{kept['id']}/file").content == data
    assert admin.delete(f"/v2/images/{kept['id']}").status_code == 204


def test_many_segments_make_a_dlo(swift_cloud, account, monkeypatch):
    """Past SLO_MAX_SEGMENTS the manifest is a DLO (glance_store's kind): read and deleted the same."""
    from monostack.image.store import swift

    monkeypatch.setattr(swift, "SLO_MAX_SEGMENTS", 2)
    password = swift_cloud.cloud("monostack-admin")["auth"]["password"]
    session = swift.SwiftSession(swift_cloud.auth_url, username="admin", password=password,
                                 project_name="service", region="RegionOne")
    store = swift.SwiftStore("swift", session, large_object_size=2 * MiB, large_object_chunk_size=MiB)
    image_id = str(uuid.uuid4())
    data = os.urandom(3 * MiB + 500)
    try:
        writer = store.writer(image_id)
        for start in range(0, len(data), 300_000):
            writer.write(data[start:start + 300_000])
        location = writer.commit()
        assert location == f"swift+config://swift/glance/{image_id}"
        assert account.head(f"/glance/{image_id}").headers["x-object-manifest"] == f"glance/{image_id}-"
        assert b"".join(store.open(location)) == data
        assert b"".join(store.open(location, MiB - 5, 10)) == data[MiB - 5:MiB + 5]
        store.delete(location)
        assert objects(account, image_id) == []
        with pytest.raises(FileNotFoundError):
            store.open(location)
        aborted = store.writer(image_id)  # an abandoned write: its segments go
        aborted.write(data)
        aborted.abort()
        assert objects(account, image_id) == []
    finally:
        session.close()
