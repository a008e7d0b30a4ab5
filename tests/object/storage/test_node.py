"""The storage node: which devices it serves, its background daemons, the container updater."""

from __future__ import annotations

import asyncio
import os
import pathlib
import time
from typing import Any

import pytest

from monostack.object.ring import RingBuilder
from monostack.object.ring.defaults import builder_path, ensure_hash_path, ring_path
from monostack.object.storage.node import StorageNode
from tests.object.storage.conftest import Backend, storage_conf

pytestmark = pytest.mark.asyncio


def two_host_rings(conf: Any) -> None:
    """d1, d2 on this host (127.0.0.1), d3, d4 on "another" (127.0.0.2)."""
    pathlib.Path(conf.object.rings_dir).mkdir(parents=True)
    ensure_hash_path(conf)
    for kind in ("account", "container", "object"):
        builder = RingBuilder(6, 3, 0)
        for index, ip in enumerate(("127.0.0.1", "127.0.0.1", "127.0.0.2", "127.0.0.2")):
            builder.add_dev({"region": 1, "zone": index + 1, "ip": ip, "port": getattr(conf.object, f"{kind}_port"),
                             "device": f"d{index + 1}", "weight": 1})
        builder.rebalance()
        builder.save(builder_path(conf, kind))
        builder.write_ring(ring_path(conf, kind))


async def test_a_node_serves_the_devices_of_its_addresses(tmp_path: pathlib.Path) -> None:
    conf = storage_conf(tmp_path)
    two_host_rings(conf)
    node = StorageNode(conf)
    assert [dev["device"] for dev in node.local_devices("object")] == ["d1", "d2"]
    assert {ip for _kind, ip, _port in node.addresses()} == {"127.0.0.1"}
    other = StorageNode(storage_conf(tmp_path, node_ips="127.0.0.2", object_port=conf.object.object_port,
                                     container_port=conf.object.container_port,
                                     account_port=conf.object.account_port))
    assert [dev["device"] for dev in other.local_devices("object")] == ["d3", "d4"]
    await node.stop()
    await other.stop()


async def test_background_daemons_repair_without_being_asked(tmp_path: pathlib.Path) -> None:
    from monostack.object.ring import ensure_default_rings
    conf = storage_conf(tmp_path, daemons=True, replicator_interval=0.3, updater_interval=0.3,
                        auditor_interval=0.3, auditor_files_per_second=0, auditor_bytes_per_second=0)
    ensure_default_rings(conf)
    node = StorageNode(conf)
    await node.start()
    backend = Backend(node)
    try:
        part = node.ring("object").get_part("AUTH_d", "c", "o")
        ts = backend.ts()
        response = await backend.request("object", "PUT", f"/d1/{part}/AUTH_d/c/o",
                                          {"X-Timestamp": ts, "Content-Type": "a/b"}, b"daemons")
        assert response.status_code == 201
        name_hash = node.hash_path.hexdigest("AUTH_d", "c", "o")
        for _ in range(100):
            await asyncio.sleep(0.1)
            present = [os.path.exists(os.path.join(node.devices_dir, device, "objects", str(part), name_hash[-3:],
                                                   name_hash, f"{ts}.data")) for device in ("d2", "d3")]
            if all(present):
                break
        assert all(present)
    finally:
        await backend.client.aclose()
        await node.stop()
    assert not node._daemons and not node._servers


async def test_container_updater_reports_what_did_not_get_through(backend: Backend) -> None:
    node = backend.node
    await backend.create_account("AUTH_u")
    part, nodes = node.ring("container").get_nodes("AUTH_u", "late")
    for cnode in nodes:
        response = await backend.request("container", "PUT", f"/{cnode['device']}/{part}/AUTH_u/late", {
            "X-Timestamp": backend.ts(), "X-Account-Host": "127.0.0.1:1", "X-Account-Device": "d1",
            "X-Account-Partition": "0"})
        assert response.status_code == 201  # the container exists; its account does not know yet
    account_path = backend.account_path("AUTH_u")
    assert (await backend.request("account", "GET", account_path)).status_code == 204
    stats = await node.update_once()
    assert stats["container"]["reported"] == 3
    listing = await backend.request("account", "GET", account_path)
    assert listing.text == "late\n"
    assert (await node.update_once())["container"]["reported"] == 0  # nothing left to report


async def test_reports_follow_object_counts(backend: Backend) -> None:
    await backend.create_account("AUTH_r")
    await backend.create_container("AUTH_r", "c")
    for index in range(5):
        assert await backend.put_object("AUTH_r", "c", f"o{index}", b"x" * 10) == [201, 201, 201]
    deadline = time.time() + 10
    while time.time() < deadline:
        head = await backend.request("account", "HEAD", backend.account_path("AUTH_r"))
        if head.headers["x-account-object-count"] == "5":
            break
        await asyncio.sleep(0.1)
    assert head.headers["x-account-object-count"] == "5" and head.headers["x-account-bytes-used"] == "50"
