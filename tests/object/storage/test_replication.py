"""Replication, handoffs, the auditor: every replica ends up whole again."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
from typing import Any

import pytest

from tests.object.storage.conftest import Backend

pytestmark = pytest.mark.asyncio

A, C = "AUTH_rep", "c"


def object_files(node: Any, obj: str, device: str, account: str = A, container: str = C) -> list[str]:
    """The file names of an object's hash directory on a device ([] when absent)."""
    part = node.ring("object").get_part(account, container, obj)
    name_hash = node.hash_path.hexdigest(account, container, obj)
    hashdir = os.path.join(node.devices_dir, device, "objects", str(part), name_hash[-3:], name_hash)
    return sorted(os.listdir(hashdir)) if os.path.isdir(hashdir) else []


def object_dir(node: Any, obj: str, device: str) -> str:
    part = node.ring("object").get_part(A, C, obj)
    name_hash = node.hash_path.hexdigest(A, C, obj)
    return os.path.join(node.devices_dir, device, "objects", str(part), name_hash[-3:], name_hash)


def primaries(node: Any, obj: str) -> list[str]:
    return [n["device"] for n in node.ring("object").get_nodes(A, C, obj)[1]]


async def put_to(backend: Backend, devices: list[str], obj: str, data: bytes, ts: str | None = None,
                 **extra: str) -> str:
    ts = ts or backend.ts()
    part = backend.node.ring("object").get_part(A, C, obj)
    for device in devices:
        response = await backend.request("object", "PUT", f"/{device}/{part}/{A}/{C}/{obj}",
                                         {"X-Timestamp": ts, "Content-Type": "text/plain", **extra}, data)
        assert response.status_code == 201, response.text
    return ts


async def test_missing_replica_comes_back(backend: Backend) -> None:
    node = backend.node
    ts = await put_to(backend, ["d1", "d2", "d3"], "o", b"precious", **{"X-Object-Meta-Tag": "t"})
    shutil.rmtree(object_dir(node, "o", "d2"))
    stats = await node.replicate_once()
    assert stats["object"]["objects_sent"] >= 1
    assert object_files(node, "o", "d2") == [f"{ts}.data"]
    path = os.path.join(object_dir(node, "o", "d2"), f"{ts}.data")
    with open(path, "rb") as source:
        assert source.read() == b"precious"
    metadata = json.loads(os.getxattr(path, "user.swift.metadata"))
    assert metadata["X-Object-Meta-Tag"] == "t" and metadata["ETag"] == hashlib.md5(b"precious").hexdigest()
    assert metadata["name"] == f"/{A}/{C}/o" and metadata["Content-Type"] == "text/plain"
    # a second pass has nothing left to do
    stats = await node.replicate_once()
    assert stats["object"]["objects_sent"] == 0 and stats["object"]["suffixes_synced"] == 0


async def test_newest_wins_and_deletions_and_posts_spread(backend: Backend) -> None:
    node = backend.node
    await put_to(backend, ["d1", "d2", "d3"], "v", b"one")
    newer = await put_to(backend, ["d3"], "v", b"two")
    await put_to(backend, ["d1", "d2", "d3"], "gone", b"x")
    part = node.ring("object").get_part(A, C, "gone")
    delete_ts = backend.ts()
    await backend.request("object", "DELETE", f"/d1/{part}/{A}/{C}/gone", {"X-Timestamp": delete_ts})
    await put_to(backend, ["d1", "d2", "d3"], "meta", b"m")
    part = node.ring("object").get_part(A, C, "meta")
    post_ts = backend.ts()
    response = await backend.request("object", "POST", f"/d2/{part}/{A}/{C}/meta",
                                     {"X-Timestamp": post_ts, "X-Object-Meta-New": "yes"})
    assert response.status_code == 202
    await node.replicate_once()
    for device in ("d1", "d2", "d3"):
        assert object_files(node, "v", device) == [f"{newer}.data"]
        assert object_files(node, "gone", device) == [f"{delete_ts}.ts"]
        files = object_files(node, "meta", device)
        assert f"{post_ts}.meta" in files
        part = node.ring("object").get_part(A, C, "meta")
        response = await backend.request("object", "HEAD", f"/{device}/{part}/{A}/{C}/meta")
        assert response.headers["x-object-meta-new"] == "yes"


async def test_large_objects_replicate(backend: Backend) -> None:
    node = backend.node
    data = os.urandom(5 << 20)
    ts = await put_to(backend, ["d1"], "big", data)
    await node.replicate_once()
    for device in ("d2", "d3"):
        with open(os.path.join(object_dir(node, "big", device), f"{ts}.data"), "rb") as source:
            assert hashlib.md5(source.read()).hexdigest() == hashlib.md5(data).hexdigest()


@pytest.fixture
async def backend4(node4: Any) -> Any:
    client = Backend(node4)
    yield client
    await client.client.aclose()


async def test_handoff_hands_back(backend4: Backend) -> None:
    node = backend4.node
    ring = node.ring("object")
    part, nodes = ring.get_nodes(A, C, "h")
    handoff = next(ring.get_more_nodes(part))["device"]
    ts = await put_to(backend4, [handoff], "h", b"held for a primary")
    await node.replicate_once()
    for primary in (n["device"] for n in nodes):
        assert object_files(node, "h", primary) == [f"{ts}.data"]
    assert not os.path.exists(os.path.join(node.devices_dir, handoff, "objects", str(part)))


async def test_unmounted_primary(backend4: Backend) -> None:
    node = backend4.node
    ring = node.ring("object")
    part, nodes = ring.get_nodes(A, C, "u")
    devices = [n["device"] for n in nodes]
    handoff = next(ring.get_more_nodes(part))["device"]
    ts = await put_to(backend4, devices[:2], "u", b"while a disk is out")
    os.rename(os.path.join(node.devices_dir, devices[2]), os.path.join(node.devices_dir, "unmounted"))
    await node.replicate_once()
    assert object_files(node, "u", handoff) == [f"{ts}.data"]  # a third copy meanwhile
    os.rename(os.path.join(node.devices_dir, "unmounted"), os.path.join(node.devices_dir, devices[2]))
    await node.replicate_once()
    await node.replicate_once()
    assert object_files(node, "u", devices[2]) == [f"{ts}.data"]
    assert object_files(node, "u", handoff) == []


async def test_database_replication(backend: Backend) -> None:
    node = backend.node
    ring = node.ring("container")
    part, nodes = ring.get_nodes(A, C)
    first = f"/{nodes[0]['device']}/{part}/{A}/{C}"
    response = await backend.request("container", "PUT", first, {"X-Timestamp": backend.ts(),
                                                                  "X-Container-Meta-Color": "green"})
    assert response.status_code == 201
    for index in range(30):
        response = await backend.request("container", "PUT", f"{first}/obj{index}", {
            "X-Timestamp": backend.ts(), "X-Size": "10", "X-Content-Type": "a/b", "X-Etag": "x"})
        assert response.status_code == 201
    await backend.request("container", "DELETE", f"{first}/obj0", {"X-Timestamp": backend.ts()})
    stats = await node.replicate_once()
    assert stats["container"]["created"] == 2
    for replica in range(3):
        head = await backend.request("container", "HEAD", f"/{nodes[replica]['device']}/{part}/{A}/{C}")
        assert head.status_code == 204
        assert head.headers["x-container-object-count"] == "29"
        assert head.headers["x-container-bytes-used"] == "290"
        assert head.headers["x-container-meta-color"] == "green"
    # a change on another replica spreads back, and nothing is sent twice
    second = f"/{nodes[1]['device']}/{part}/{A}/{C}"
    await backend.request("container", "DELETE", f"{second}/obj1", {"X-Timestamp": backend.ts()})
    await backend.request("container", "POST", second, {"X-Timestamp": backend.ts(),
                                                         "X-Container-Meta-Color": "blue"})
    await node.replicate_once()
    # (replicas that only ever got rows from the first may send each other theirs once)
    await backend.request("container", "DELETE", f"{second}/obj2", {"X-Timestamp": backend.ts()})
    stats = await node.replicate_once()
    assert stats["container"]["rows_sent"] <= 4
    for replica in range(3):
        listing = await backend.request("container", "GET", f"/{nodes[replica]['device']}/{part}/{A}/{C}",
                                        params={"format": "json"})
        names = [item["name"] for item in listing.json()]
        assert len(names) == 27 and "obj1" not in names and "obj2" not in names
        assert listing.headers["x-container-meta-color"] == "blue"


async def test_account_replication(backend: Backend) -> None:
    node = backend.node
    part, nodes = node.ring("account").get_nodes(A)
    first = f"/{nodes[0]['device']}/{part}/{A}"
    await backend.request("account", "PUT", first, {"X-Timestamp": backend.ts()})
    await backend.request("account", "PUT", f"{first}/cont", {
        "X-Put-Timestamp": backend.ts(), "X-Delete-Timestamp": "0", "X-Object-Count": "4", "X-Bytes-Used": "40"})
    await node.replicate_once()
    for replica in range(3):
        head = await backend.request("account", "HEAD", f"/{nodes[replica]['device']}/{part}/{A}")
        assert head.status_code == 204 and head.headers["x-account-object-count"] == "4"


async def test_auditor_quarantines_and_replicator_restores(backend: Backend) -> None:
    node = backend.node
    ts = await put_to(backend, ["d1", "d2", "d3"], "rot", b"A" * 1000)
    path = os.path.join(object_dir(node, "rot", "d2"), f"{ts}.data")
    with open(path, "r+b") as target:  # bit rot: same size, other bytes
        target.seek(500)
        target.write(b"B")
    stats = await node.audit_once()
    assert stats["quarantined"] == 1 and stats["objects"] == 3
    name_hash = node.hash_path.hexdigest(A, C, "rot")
    assert os.listdir(os.path.join(node.devices_dir, "d2", "quarantined", "objects")) == [name_hash]
    assert object_files(node, "rot", "d2") == []
    await node.replicate_once()
    with open(path, "rb") as source:
        assert source.read() == b"A" * 1000
    # a reader finding a corrupt small object quarantines it too
    with open(path, "r+b") as target:
        target.write(b"C")
    part = node.ring("object").get_part(A, C, "rot")
    assert (await backend.request("object", "GET", f"/d2/{part}/{A}/{C}/rot")).status_code == 404
    assert object_files(node, "rot", "d2") == []
    await node.replicate_once()
    assert (await backend.request("object", "GET", f"/d2/{part}/{A}/{C}/rot")).content == b"A" * 1000


async def test_auditor_quarantines_corrupt_databases(backend: Backend) -> None:
    node = backend.node
    await backend.create_account(A)
    await backend.create_container(A, C)
    part, nodes = node.ring("container").get_nodes(A, C)
    broker = node.container_server.broker(nodes[0]["device"], str(part), A, C)
    with open(broker.db_file, "r+b") as target:
        target.seek(100)
        target.write(b"\xff" * 4000)
    stats = await node.audit_once()
    assert stats["databases_quarantined"] >= 1
    assert not os.path.exists(broker.db_file)
    assert os.listdir(os.path.join(node.devices_dir, nodes[0]["device"], "quarantined", "containers"))
    await node.replicate_once()
    head = await backend.request("container", "HEAD", f"/{nodes[0]['device']}/{part}/{A}/{C}")
    assert head.status_code == 204  # replicated back from a good copy


async def test_audit_command(backend: Backend, capsys: Any) -> None:
    node = backend.node
    ts = await put_to(backend, ["d1"], "cli", b"data")
    with open(os.path.join(object_dir(node, "cli", "d1"), f"{ts}.data"), "r+b") as target:
        target.write(b"X")
    from monostack.cli import main
    result: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: result.update(
        rc=main(["object", "audit", "--once", "--no-rate-limit", "--data-dir", str(node.conf.data_dir)])))
    thread.start()
    thread.join(60)
    assert result["rc"] == 0
    assert json.loads(capsys.readouterr().out)["quarantined"] == 1


async def test_database_on_a_handoff_moves_to_the_primaries(backend4: Backend) -> None:
    node = backend4.node
    ring = node.ring("container")
    part, nodes = ring.get_nodes(A, "handed")
    handoff = next(ring.get_more_nodes(part))["device"]
    path = f"/{handoff}/{part}/{A}/handed"
    assert (await backend4.request("container", "PUT", path, {"X-Timestamp": backend4.ts()})).status_code == 201
    response = await backend4.request("container", "PUT", f"{path}/o", {
        "X-Timestamp": backend4.ts(), "X-Size": "3", "X-Content-Type": "a/b", "X-Etag": "x"})
    assert response.status_code == 201
    stats = await node.replicate_once()
    assert stats["container"]["removed"] == 1
    for primary in nodes:
        head = await backend4.request("container", "HEAD", f"/{primary['device']}/{part}/{A}/handed")
        assert head.status_code == 204 and head.headers["x-container-object-count"] == "1"
    assert (await backend4.request("container", "HEAD", path)).status_code == 404
