"""Fixtures of the storage tests: a storage node (account, container and object servers over
three devices d1, d2, d3) on free ports in a temporary data directory, and a client speaking
Swift's backend protocol to it."""

from __future__ import annotations

import asyncio
import pathlib
import time
import urllib.parse
from typing import Any, AsyncIterator

import httpx
import pytest

from tests.conftest import free_port


def storage_conf(data_dir: pathlib.Path, **overrides: Any) -> Any:
    from monostack.common.config import Config
    import monostack.object.options  # noqa: F401
    options = {"object_port": free_port(), "container_port": free_port(), "account_port": free_port(),
               "part_power": 6, "daemons": False, "node_ips": "127.0.0.1", "account_report_delay": 0.2}
    options.update(overrides)
    return Config(data_dir, overrides={"object": options}, environ={})


class Backend:
    """Requests to the node's servers, addressed as the proxy addresses them."""

    def __init__(self, node: Any):
        self.node = node
        self.client = httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=64,
                                                                         max_keepalive_connections=64))

    def port(self, kind: str) -> int:
        return int(getattr(self.node.conf.object, f"{kind}_port"))

    async def request(self, kind: str, method: str, path: str, headers: dict[str, str] | None = None,
                      content: bytes | None = None, params: dict[str, str] | None = None) -> httpx.Response:
        url = f"http://127.0.0.1:{self.port(kind)}{urllib.parse.quote(path)}"
        return await self.client.request(method, url, headers=headers, content=content, params=params)

    def ts(self) -> str:
        return f"{time.time():016.5f}"

    # -- as the proxy does it -----------------------------------------------------------------------
    async def create_account(self, account: str) -> None:
        ring = self.node.ring("account")
        part, nodes = ring.get_nodes(account)
        ts = self.ts()
        for node in nodes:
            response = await self.request("account", "PUT", f"/{node['device']}/{part}/{account}",
                                          {"X-Timestamp": ts})
            assert response.status_code in (201, 202), response.text

    async def create_container(self, account: str, container: str, headers: dict[str, str] | None = None) -> None:
        ring = self.node.ring("container")
        part, nodes = ring.get_nodes(account, container)
        apart, anodes = self.node.ring("account").get_nodes(account)
        ts = self.ts()
        for index, node in enumerate(nodes):
            anode = anodes[index % len(anodes)]
            out = {"X-Timestamp": ts, "X-Account-Host": f"{anode['ip']}:{anode['port']}",
                   "X-Account-Device": anode["device"], "X-Account-Partition": str(apart), **(headers or {})}
            response = await self.request("container", "PUT", f"/{node['device']}/{part}/{account}/{container}", out)
            assert response.status_code in (201, 202), response.text

    async def put_object(self, account: str, container: str, obj: str, data: bytes,
                         headers: dict[str, str] | None = None, ts: str | None = None) -> list[int]:
        """PUT to every primary with one container node each (Swift's proxy does so); the statuses."""
        ring = self.node.ring("object")
        part, nodes = ring.get_nodes(account, container, obj)
        cpart, cnodes = self.node.ring("container").get_nodes(account, container)
        ts = ts or self.ts()

        async def one(index: int, node: dict[str, Any]) -> int:
            cnode = cnodes[index % len(cnodes)]
            out = {"X-Timestamp": ts, "Content-Type": "application/octet-stream", "Content-Length": str(len(data)),
                   "X-Container-Host": f"{cnode['ip']}:{cnode['port']}", "X-Container-Device": cnode["device"],
                   "X-Container-Partition": str(cpart), **(headers or {})}
            response = await self.request("object", "PUT", f"/{node['device']}/{part}/{account}/{container}/{obj}",
                                          out, data)
            return response.status_code

        return list(await asyncio.gather(*(one(index, node) for index, node in enumerate(nodes))))

    def object_path(self, account: str, container: str, obj: str, replica: int = 0) -> str:
        part, nodes = self.node.ring("object").get_nodes(account, container, obj)
        return f"/{nodes[replica]['device']}/{part}/{account}/{container}/{obj}"

    def container_path(self, account: str, container: str, replica: int = 0) -> str:
        part, nodes = self.node.ring("container").get_nodes(account, container)
        return f"/{nodes[replica]['device']}/{part}/{account}/{container}"

    def account_path(self, account: str, replica: int = 0) -> str:
        part, nodes = self.node.ring("account").get_nodes(account)
        return f"/{nodes[replica]['device']}/{part}/{account}"


def make_rings(conf: Any, devices: list[tuple[str, int]], replicas: int = 3) -> None:
    """Rings of our own: (device, zone) on this node's ports, and their device directories."""
    from monostack.object.ring import RingBuilder
    from monostack.object.ring.defaults import builder_path, ensure_hash_path, ring_path
    rings_dir = pathlib.Path(conf.object.rings_dir)
    rings_dir.mkdir(parents=True, exist_ok=True)
    ensure_hash_path(conf)
    for kind in ("account", "container", "object"):
        builder = RingBuilder(conf.object.part_power, replicas, 0)
        for device, zone in devices:
            builder.add_dev({"region": 1, "zone": zone, "ip": "127.0.0.1", "port": getattr(conf.object, f"{kind}_port"),
                             "device": device, "weight": 100.0})
        builder.rebalance(seed=7)
        builder.save(builder_path(conf, kind))
        builder.write_ring(ring_path(conf, kind))
    for device, _zone in devices:
        (pathlib.Path(conf.object.devices_dir) / device).mkdir(parents=True, exist_ok=True)


@pytest.fixture
async def node4(tmp_path: pathlib.Path) -> AsyncIterator[Any]:
    """A node whose rings have four devices (so some device is a handoff for each partition)."""
    from monostack.object.storage.node import StorageNode
    conf = storage_conf(tmp_path)
    make_rings(conf, [("d1", 1), ("d2", 2), ("d3", 3), ("d4", 4)])
    storage = StorageNode(conf)
    await storage.start(daemons=False)
    try:
        yield storage
    finally:
        await storage.stop()


@pytest.fixture
async def node(tmp_path: pathlib.Path) -> AsyncIterator[Any]:
    from monostack.object.ring import ensure_default_rings
    from monostack.object.storage.node import StorageNode
    conf = storage_conf(tmp_path)
    ensure_default_rings(conf)
    storage = StorageNode(conf)
    await storage.start(daemons=False)
    try:
        yield storage
    finally:
        await storage.stop()


@pytest.fixture
async def backend(node: Any) -> AsyncIterator[Backend]:
    client = Backend(node)
    try:
        yield client
    finally:
        await client.client.aclose()
