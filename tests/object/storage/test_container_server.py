"""The container server: containers, object rows, listings."""

from __future__ import annotations

import asyncio
import os
import time
import xml.etree.ElementTree as ET
from typing import Any

import pytest

from tests.object.storage.conftest import Backend

pytestmark = pytest.mark.asyncio

A = "AUTH_test"
PATH = f"/d1/0/{A}/c"


async def create(backend: Backend, path: str = PATH, **extra: str) -> Any:
    return await backend.request("container", "PUT", path, {"X-Timestamp": backend.ts(), **extra})


async def put_row(backend: Backend, name: str, size: int = 1, ts: str | None = None, path: str = PATH,
                  **extra: str) -> Any:
    return await backend.request("container", "PUT", f"{path}/{name}", {
        "X-Timestamp": ts or backend.ts(), "X-Size": str(size), "X-Content-Type": "text/plain",
        "X-Etag": "e" * 32, **extra})


async def names(backend: Backend, container_path: str = PATH, **params: str) -> list[str]:
    response = await backend.request("container", "GET", container_path, params={"format": "json", **params})
    assert response.status_code == 200, response.text
    return [item.get("name", item.get("subdir")) for item in response.json()]


async def test_create_head_post_delete(backend: Backend) -> None:
    response = await create(backend, **{"X-Container-Meta-Color": "red", "X-Container-Read": ".r:*",
                                        "X-Container-Sysmeta-Quota": "5"})
    assert response.status_code == 201
    assert response.headers["x-backend-storage-policy-index"] == "0"
    assert (await create(backend)).status_code == 202
    head = await backend.request("container", "HEAD", PATH)
    assert head.status_code == 204
    assert head.headers["x-container-object-count"] == "0"
    assert head.headers["x-container-bytes-used"] == "0"
    assert head.headers["x-container-meta-color"] == "red"
    assert head.headers["x-container-read"] == ".r:*"
    assert head.headers["x-container-sysmeta-quota"] == "5"
    assert head.headers["x-put-timestamp"] and head.headers["x-timestamp"]
    assert head.headers["content-type"] == "text/plain; charset=utf-8"
    response = await backend.request("container", "POST", PATH, {"X-Timestamp": backend.ts(),
                                                                  "X-Container-Meta-Color": "",
                                                                  "X-Container-Meta-Size": "big"})
    assert response.status_code == 204
    head = await backend.request("container", "HEAD", PATH)
    assert "x-container-meta-color" not in head.headers and head.headers["x-container-meta-size"] == "big"
    # older metadata does not win
    old = f"{time.time() - 100:016.5f}"
    await backend.request("container", "POST", PATH, {"X-Timestamp": old, "X-Container-Meta-Size": "old"})
    head = await backend.request("container", "HEAD", PATH)
    assert head.headers["x-container-meta-size"] == "big"
    # rows
    await put_row(backend, "a", 10)
    await put_row(backend, "b", 5)
    head = await backend.request("container", "HEAD", PATH)
    assert head.headers["x-container-object-count"] == "2" and head.headers["x-container-bytes-used"] == "15"
    response = await backend.request("container", "DELETE", PATH, {"X-Timestamp": backend.ts()})
    assert response.status_code == 409  # not empty
    for name in ("a", "b"):
        response = await backend.request("container", "DELETE", f"{PATH}/{name}", {"X-Timestamp": backend.ts()})
        assert response.status_code == 204
    head = await backend.request("container", "HEAD", PATH)
    assert head.headers["x-container-object-count"] == "0" and head.headers["x-container-bytes-used"] == "0"
    response = await backend.request("container", "DELETE", PATH, {"X-Timestamp": backend.ts()})
    assert response.status_code == 204
    assert (await backend.request("container", "HEAD", PATH)).status_code == 404
    assert (await backend.request("container", "GET", PATH)).status_code == 404
    assert (await backend.request("container", "POST", PATH, {"X-Timestamp": backend.ts()})).status_code == 404
    response = await backend.request("container", "DELETE", PATH, {"X-Timestamp": backend.ts()})
    assert response.status_code == 404
    assert (await create(backend)).status_code == 201  # created again
    head = await backend.request("container", "HEAD", PATH)
    assert head.status_code == 204 and head.headers["x-container-meta-size"] == "big"


async def test_rows_follow_timestamps(backend: Backend) -> None:
    await create(backend)
    t1, t2, t3 = (f"{time.time() + i:016.5f}" for i in range(3))
    await put_row(backend, "o", 10, t2)
    await put_row(backend, "o", 99, t1)  # older: ignored
    response = await backend.request("container", "GET", PATH, params={"format": "json"})
    assert response.json()[0]["bytes"] == 10
    await backend.request("container", "DELETE", f"{PATH}/o", {"X-Timestamp": t1})  # older delete: ignored
    assert await names(backend) == ["o"]
    await backend.request("container", "DELETE", f"{PATH}/o", {"X-Timestamp": t3})
    assert await names(backend) == []
    await put_row(backend, "o", 7, t2)  # older than the deletion
    assert await names(backend) == []
    # a POST's update: new content type and last_modified, same data
    t4, t5 = f"{time.time() + 10:016.5f}", f"{time.time() + 11:016.5f}"
    await put_row(backend, "p", 3, t4)
    await put_row(backend, "p", 3, t4, **{"X-Content-Type": "image/png", "X-Content-Type-Timestamp": t5,
                                          "X-Meta-Timestamp": t5})
    item = (await backend.request("container", "GET", PATH, params={"format": "json"})).json()[0]
    assert item["content_type"] == "image/png" and item["bytes"] == 3
    assert item["last_modified"].startswith(time.strftime("%Y-%m-%dT", time.gmtime(float(t5))))
    # swift_bytes in the content type is the size shown
    await put_row(backend, "slo", 100, **{"X-Content-Type": "application/json;swift_bytes=12345"})
    item = [i for i in (await backend.request("container", "GET", PATH, params={"format": "json"})).json()
            if i["name"] == "slo"][0]
    assert item["bytes"] == 12345 and item["content_type"] == "application/json"


async def test_listing_parameters(backend: Backend) -> None:
    await create(backend)
    all_names = ["a", "a/b", "a/b/c", "a/d", "b", "b/x", "c", "photos/2024/jan.jpg", "photos/2024/feb.jpg",
                 "photos/me.jpg", "\u00e9t\u00e9", "z"]
    for name in all_names:
        await put_row(backend, name)
    everything = sorted(all_names, key=lambda n: n.encode())
    assert await names(backend) == everything
    assert await names(backend, limit="3") == everything[:3]
    assert await names(backend, marker="b") == everything[everything.index("b") + 1:]
    assert await names(backend, end_marker="b") == everything[:everything.index("b")]
    assert await names(backend, marker="a/b", end_marker="b/x") == ["a/b/c", "a/d", "b"]
    assert await names(backend, prefix="photos/") == ["photos/2024/feb.jpg", "photos/2024/jan.jpg", "photos/me.jpg"]
    assert await names(backend, delimiter="/") == ["a", "a/", "b", "b/", "c", "photos/", "z", "\u00e9t\u00e9"]
    assert await names(backend, prefix="photos/", delimiter="/") == ["photos/2024/", "photos/me.jpg"]
    assert await names(backend, prefix="a", delimiter="/") == ["a", "a/"]
    assert await names(backend, delimiter="/", marker="a/") == ["b", "b/", "c", "photos/", "z", "\u00e9t\u00e9"]
    assert await names(backend, path="photos") == ["photos/me.jpg"]
    assert await names(backend, path="a") == ["a/b", "a/d"]
    assert await names(backend, reverse="true") == list(reversed(everything))
    assert await names(backend, reverse="true", limit="2") == list(reversed(everything))[:2]
    assert await names(backend, reverse="true", marker="b") == list(reversed(everything[:everything.index("b")]))
    assert await names(backend, reverse="true", end_marker="photos/me.jpg") == ["\u00e9t\u00e9", "z"]
    assert await names(backend, reverse="true", delimiter="/") == ["\u00e9t\u00e9", "z", "photos/", "c", "b/", "b",
                                                                   "a/", "a"]
    assert await names(backend, prefix="nothing") == []
    # formats
    plain = await backend.request("container", "GET", PATH, params={"prefix": "b"})
    assert plain.status_code == 200 and plain.text == "b\nb/x\n"
    assert plain.headers["content-type"] == "text/plain; charset=utf-8"
    empty = await backend.request("container", "GET", PATH, params={"prefix": "nothing"})
    assert empty.status_code == 204
    response = await backend.request("container", "GET", PATH, params={"format": "json", "prefix": "nothing"})
    assert response.status_code == 200 and response.json() == []
    response = await backend.request("container", "GET", PATH, params={"format": "xml", "prefix": "photos/",
                                                                      "delimiter": "/"})
    assert response.headers["content-type"] == "application/xml; charset=utf-8"
    root = ET.fromstring(response.content)
    assert root.tag == "container" and root.get("name") == "c"
    assert root[0].tag == "subdir" and root[0].get("name") == "photos/2024/"
    assert root[1].tag == "object" and root[1].find("name").text == "photos/me.jpg"
    assert root[1].find("bytes").text == "1" and root[1].find("hash").text == "e" * 32
    response = await backend.request("container", "GET", PATH, {"Accept": "application/json"})
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    response = await backend.request("container", "GET", PATH, {"Accept": "text/xml"})
    assert response.headers["content-type"] == "text/xml; charset=utf-8"
    response = await backend.request("container", "GET", PATH, {"Accept": "image/png"})
    assert response.status_code == 406
    item = (await backend.request("container", "GET", PATH, params={"format": "json", "limit": "1"})).json()[0]
    assert set(item) == {"name", "hash", "bytes", "content_type", "last_modified"}
    response = await backend.request("container", "GET", PATH, params={"limit": "10001"})
    assert response.status_code == 412


async def test_bad_requests(backend: Backend) -> None:
    assert (await backend.request("container", "PUT", PATH)).status_code == 400  # no timestamp
    assert (await backend.request("container", "PUT", f"/nodev/0/{A}/c", {"X-Timestamp": backend.ts()})).status_code \
        == 507
    assert (await backend.request("container", "PUT", f"/d1/0/{A}")).status_code == 400  # no container
    assert (await create(backend, **{"X-Container-Meta-" + "x" * 200: "1"})).status_code == 400
    await create(backend)
    response = await backend.request("container", "PUT", f"{PATH}/o", {"X-Timestamp": backend.ts()})
    assert response.status_code == 400  # no size, type, etag
    response = await put_row(backend, "o", **{"X-Size": "many"})
    assert response.status_code == 400
    assert (await put_row(backend, "o", path=f"/d1/0/{A}/missing")).status_code == 404
    response = await backend.request("container", "GET", PATH, {"X-Backend-Storage-Policy-Index": "9"})
    assert response.status_code == 400
    assert (await create(backend, **{"X-Backend-Storage-Policy-Index": "9"})).status_code == 400
    response = await backend.request("container", "GET", PATH, params={"format": "json", "marker": "%FF"})
    assert response.status_code == 200
    response = await backend.request("container", "GET", PATH, {"Accept": "bogus"})
    assert response.status_code == 400


async def test_metadata_limits(backend: Backend) -> None:
    await create(backend)
    headers = {f"X-Container-Meta-K{i}": "v" for i in range(90)}
    assert (await backend.request("container", "POST", PATH, {"X-Timestamp": backend.ts(), **headers})).status_code \
        == 204
    response = await backend.request("container", "POST", PATH, {"X-Timestamp": backend.ts(),
                                                                  "X-Container-Meta-One-Too-Many": "v"})
    assert response.status_code == 400


async def test_auto_created_containers(backend: Backend) -> None:
    path = "/d1/0/.expiring_objects/1700000000"
    response = await put_row(backend, "1700000000-AUTH_a/c/o", 0, path=path,
                             **{"X-Backend-Storage-Policy-Index": "0"})
    assert response.status_code == 201
    assert await names(backend, path) == ["1700000000-AUTH_a/c/o"]


async def test_pending_rows_merge_in_batches(backend: Backend) -> None:
    await create(backend)
    await asyncio.gather(*(put_row(backend, f"obj{i:03}", i) for i in range(200)))
    db_dir = os.path.dirname(backend.node.container_server.broker("d1", "0", A, "c").db_file)
    pending = [name for name in os.listdir(db_dir) if name.endswith(".pending")]
    assert pending  # queued, not merged one by one
    head = await backend.request("container", "HEAD", PATH)
    assert head.headers["x-container-object-count"] == "200"
    assert head.headers["x-container-bytes-used"] == str(sum(range(200)))
    assert os.path.getsize(os.path.join(db_dir, pending[0])) == 0  # merged by the read


async def test_concurrent_rows_are_written_together(backend: Backend, monkeypatch: pytest.MonkeyPatch) -> None:
    from monostack.object.storage.container_db import ContainerBroker

    writes: list[int] = []
    original = ContainerBroker.put_records

    def put_records(self: ContainerBroker, records: list[dict[str, Any]]) -> None:
        writes.append(len(records))
        original(self, records)

    monkeypatch.setattr(ContainerBroker, "put_records", put_records)
    await create(backend)
    responses = await asyncio.gather(*(put_row(backend, f"obj{i:03}") for i in range(60)))
    assert [r.status_code for r in responses] == [201] * 60
    assert sum(writes) == 60 and len(writes) < 60  # one pending-file write for several rows
    assert len(await names(backend)) == 60
    # Rows for a container that does not exist: every request of the batch is told 404.
    missing = await asyncio.gather(*(put_row(backend, f"o{i}", path=f"/d1/0/{A}/nope") for i in range(10)))
    assert [r.status_code for r in missing] == [404] * 10


async def test_account_updates(backend: Backend) -> None:
    account_part, account_nodes = backend.node.ring("account").get_nodes(A)
    node = account_nodes[0]
    account_headers = {"X-Account-Host": f"127.0.0.1:{node['port']}", "X-Account-Device": node["device"],
                       "X-Account-Partition": str(account_part)}
    # no account yet: 404
    assert (await create(backend, **account_headers)).status_code == 404
    await backend.create_account(A)
    assert (await create(backend, **account_headers)).status_code in (201, 202)
    account_path = f"/{node['device']}/{account_part}/{A}"
    listing = await backend.request("account", "GET", account_path, params={"format": "json"})
    assert [item["name"] for item in listing.json()] == ["c"]
    # object count changes reach the account a moment later
    await put_row(backend, "o1", 100)
    for _ in range(50):
        await asyncio.sleep(0.1)
        head = await backend.request("account", "HEAD", account_path)
        if head.headers["x-account-object-count"] == "1":
            break
    assert head.headers["x-account-object-count"] == "1" and head.headers["x-account-bytes-used"] == "100"
