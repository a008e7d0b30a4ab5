"""The updaters: listings catch up with what happened while a server was unreachable.

- object updater: the container updates the object servers saved (async_pending) are sent to
  the container ring's nodes; a file is removed once every node took it, and otherwise keeps
  the nodes that did (they are not sent it again).
- container updater: containers whose stats the account servers do not have yet (their last
  report failed) are reported again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from typing import Any

from monostack.object.proxy.backend import BackendError
from monostack.object.replication.db_replicator import iter_databases
from monostack.object.storage.container_db import ContainerBroker
from monostack.object.storage.db import DatabaseNotFound
from monostack.object.storage.diskfile import policy_of_dir

LOG = logging.getLogger(__name__)


def _pending_files(device_path: str) -> list[tuple[int, str]]:
    found = []
    for name in sorted(os.listdir(device_path)):
        policy = policy_of_dir(name, "async_pending")
        if policy is None:
            continue
        root = os.path.join(device_path, name)
        for suffix in sorted(os.listdir(root)):
            suffix_dir = os.path.join(root, suffix)
            try:
                entries = sorted(os.listdir(suffix_dir))
            except NotADirectoryError:
                continue
            if not entries:
                try:
                    os.rmdir(suffix_dir)
                except OSError:
                    pass
            found.extend((policy, os.path.join(suffix_dir, entry)) for entry in entries)
    return found


def _read(path: str) -> dict[str, Any] | None:
    try:
        with open(path) as source:
            return json.load(source)
    except FileNotFoundError:
        return None
    except ValueError:
        LOG.error("removing the unreadable container update %s", path)
        os.unlink(path)
        return None


def _rewrite(path: str, data: dict[str, Any]) -> None:
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as out:
        json.dump(data, out)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


class ObjectUpdater:
    def __init__(self, node: Any):
        self.node = node
        self.pool = node.pool

    async def run_once(self) -> dict[str, int]:
        stats = {"successes": 0, "failures": 0}
        ring = self.node.ring("container")
        if ring is None:
            return stats
        for dev in self.node.local_devices("object"):
            device_path = os.path.join(self.node.devices_dir, dev["device"])
            if not os.path.isdir(device_path):
                continue
            for _policy, path in await self.node.run(_pending_files, device_path):
                data = await self.node.run(_read, path)
                if data is None:
                    continue
                if await self.send(ring, path, data):
                    stats["successes"] += 1
                else:
                    stats["failures"] += 1
        return stats

    async def send(self, ring: Any, path: str, data: dict[str, Any]) -> bool:
        account, container, obj = data["account"], data["container"], data["obj"]
        partition, nodes = ring.get_nodes(account, container)
        done = set(data.get("successes", []))
        newly: list[int] = []
        for node in nodes:
            if node["id"] in done:
                continue
            try:
                response = await self.pool.request(node, partition, data["op"], f"/{account}/{container}/{obj}",
                                                   headers=data["headers"])
                await response.read()
                ok = 200 <= response.status < 300
            except (BackendError, OSError, asyncio.TimeoutError) as exc:
                LOG.info("container update %s/%s/%s to %s/%s failed: %s", account, container, obj, node["ip"],
                         node["device"], exc)
                ok = False
            if ok:
                newly.append(node["id"])
        if all(node["id"] in done or node["id"] in newly for node in nodes):
            await self.node.run(_unlink, path)
            return True
        if newly:
            data["successes"] = sorted(done | set(newly))
            await self.node.run(_rewrite, path, data)
        return False


class ContainerUpdater:
    def __init__(self, node: Any):
        self.node = node

    async def run_once(self) -> dict[str, int]:
        stats = {"reported": 0, "failures": 0}
        if self.node.ring("account") is None:
            return stats
        pending_max = int(self.node.conf.object.db_pending_max)
        for dev in self.node.local_devices("container"):
            device_path = os.path.join(self.node.devices_dir, dev["device"])
            if not os.path.isdir(device_path):
                continue
            for _partition, _hash, db_file in await self.node.run(iter_databases, device_path, "containers"):
                broker = ContainerBroker(db_file, pending_max=pending_max)
                try:
                    info = await self.node.run(broker.get_info)
                    if not ContainerBroker.needs_report(info):
                        continue
                    if await self.node.reporter.report(broker):
                        stats["reported"] += 1
                    else:
                        stats["failures"] += 1
                except DatabaseNotFound:
                    continue
                except Exception:
                    stats["failures"] += 1
                    LOG.exception("reporting %s failed", db_file)
        return stats
