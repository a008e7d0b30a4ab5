"""The account server: accounts and their container rows."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from typing import Any

import pytest

from tests.object.storage.conftest import Backend

pytestmark = pytest.mark.asyncio

PATH = "/d1/0/AUTH_acct"


async def put_row(backend: Backend, name: str, objects: int = 0, size: int = 0, put: str | None = None,
                  delete: str = "0") -> Any:
    return await backend.request("account", "PUT", f"{PATH}/{name}", {
        "X-Put-Timestamp": put or backend.ts(), "X-Delete-Timestamp": delete, "X-Object-Count": str(objects),
        "X-Bytes-Used": str(size), "X-Timestamp": backend.ts()})


async def test_account_lifecycle(backend: Backend) -> None:
    assert (await backend.request("account", "HEAD", PATH)).status_code == 404
    assert (await put_row(backend, "c")).status_code == 404  # no account
    response = await backend.request("account", "PUT", PATH, {"X-Timestamp": backend.ts(),
                                                               "X-Account-Meta-Owner": "me"})
    assert response.status_code == 201
    assert (await backend.request("account", "PUT", PATH, {"X-Timestamp": backend.ts()})).status_code == 202
    head = await backend.request("account", "HEAD", PATH)
    assert head.status_code == 204
    assert head.headers["x-account-container-count"] == "0" and head.headers["x-account-meta-owner"] == "me"
    assert head.headers["x-timestamp"] and head.headers["x-put-timestamp"]
    assert (await put_row(backend, "c1", 3, 30)).status_code == 201
    assert (await put_row(backend, "c2", 1, 5)).status_code == 201
    head = await backend.request("account", "HEAD", PATH)
    assert (head.headers["x-account-container-count"], head.headers["x-account-object-count"],
            head.headers["x-account-bytes-used"]) == ("2", "4", "35")
    assert head.headers["x-account-storage-policy-policy-0-object-count"] == "4"
    response = await backend.request("account", "POST", PATH, {"X-Timestamp": backend.ts(),
                                                               "X-Account-Meta-Owner": "",
                                                               "X-Account-Meta-Quota-Bytes": "100"})
    assert response.status_code == 204
    head = await backend.request("account", "HEAD", PATH)
    assert "x-account-meta-owner" not in head.headers and head.headers["x-account-meta-quota-bytes"] == "100"
    # a container deleted: its row goes
    created = backend.ts()
    deleted = f"{time.time() + 1:016.5f}"
    assert (await put_row(backend, "c2", 0, 0, put=created, delete=deleted)).status_code == 204
    head = await backend.request("account", "HEAD", PATH)
    assert head.headers["x-account-container-count"] == "1"
    response = await backend.request("account", "DELETE", PATH, {"X-Timestamp": backend.ts()})
    assert response.status_code == 204
    response = await backend.request("account", "HEAD", PATH)
    assert response.status_code == 404 and response.headers["x-account-status"] == "Deleted"
    response = await backend.request("account", "PUT", PATH, {"X-Timestamp": backend.ts()})
    assert response.status_code == 403  # recently deleted


async def test_listing(backend: Backend) -> None:
    await backend.request("account", "PUT", PATH, {"X-Timestamp": backend.ts()})
    for name in ("alpha", "beta", "beta-2", "gamma.1", "gamma.2", "zeta"):
        await put_row(backend, name, 2, 20)

    async def names(**params: str) -> list[str]:
        response = await backend.request("account", "GET", PATH, params={"format": "json", **params})
        return [item.get("name", item.get("subdir")) for item in response.json()]

    assert await names() == ["alpha", "beta", "beta-2", "gamma.1", "gamma.2", "zeta"]
    assert await names(limit="2") == ["alpha", "beta"]
    assert await names(marker="beta") == ["beta-2", "gamma.1", "gamma.2", "zeta"]
    assert await names(end_marker="gamma.1") == ["alpha", "beta", "beta-2"]
    assert await names(prefix="beta") == ["beta", "beta-2"]
    assert await names(delimiter=".") == ["alpha", "beta", "beta-2", "gamma.", "zeta"]
    assert await names(delimiter="-") == ["alpha", "beta", "beta-", "gamma.1", "gamma.2", "zeta"]
    assert await names(reverse="1") == ["zeta", "gamma.2", "gamma.1", "beta-2", "beta", "alpha"]
    assert await names(reverse="1", marker="beta-2", limit="1") == ["beta"]
    response = await backend.request("account", "GET", PATH, params={"format": "json", "limit": "1"})
    item = response.json()[0]
    assert item["name"] == "alpha" and item["count"] == 2 and item["bytes"] == 20
    assert item["storage_policy"] == "Policy-0" and item["last_modified"]
    plain = await backend.request("account", "GET", PATH)
    assert plain.text.splitlines() == ["alpha", "beta", "beta-2", "gamma.1", "gamma.2", "zeta"]
    response = await backend.request("account", "GET", PATH, params={"format": "xml", "delimiter": "."})
    root = ET.fromstring(response.content)
    assert root.tag == "account" and root.get("name") == "AUTH_acct"
    assert [child.tag for child in root] == ["container", "container", "container", "subdir", "container"]
    assert root[0].find("count").text == "2"
    empty = await backend.request("account", "GET", PATH, params={"prefix": "nothing"})
    assert empty.status_code == 204
    response = await backend.request("account", "GET", PATH, params={"limit": "10001"})
    assert response.status_code == 412


async def test_bad_requests(backend: Backend) -> None:
    assert (await backend.request("account", "PUT", PATH)).status_code == 400
    assert (await backend.request("account", "PUT", "/nodev/0/AUTH_x", {"X-Timestamp": backend.ts()})).status_code \
        == 507
    await backend.request("account", "PUT", PATH, {"X-Timestamp": backend.ts()})
    response = await backend.request("account", "PUT", f"{PATH}/c", {"X-Put-Timestamp": "x"})
    assert response.status_code == 400
    response = await backend.request("account", "PUT", PATH, {"X-Timestamp": backend.ts(),
                                                              "X-Account-Meta-" + "k" * 129: "v"})
    assert response.status_code == 400
    assert (await backend.request("account", "GET", "/d1/0")).status_code == 400
    assert (await put_row(backend, "a/b")).status_code == 400  # a container name has no slash
    assert (await backend.request("account", "POST", PATH)).status_code == 400


async def test_auto_created_accounts(backend: Backend) -> None:
    response = await backend.request("account", "PUT", "/d1/0/.expiring_objects/1700000000", {
        "X-Put-Timestamp": backend.ts(), "X-Delete-Timestamp": "0", "X-Object-Count": "1", "X-Bytes-Used": "0"})
    assert response.status_code == 201
    head = await backend.request("account", "HEAD", "/d1/0/.expiring_objects")
    assert head.headers["x-account-container-count"] == "1"
