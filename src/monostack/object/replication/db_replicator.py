"""Container and account database replication: rows, timestamps and metadata reach every replica.

For each database on this node's devices, with each other primary of its partition: exchange
info (REPLICATE ["sync"]: both sides merge the other's timestamps and metadata; the peer says up
to which of our rows it has), create the database there if it lacks it, then send our rows after
that point in batches ("merge_items").  A database on a handoff device is removed once every
primary has it.  Deleted rows and deleted databases older than reclaim_age are removed for good.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from typing import Any

from monostack.object.proxy.backend import BackendError
from monostack.object.storage.account_db import AccountBroker
from monostack.object.storage.base import VERB_HEADER
from monostack.object.storage.container_db import ContainerBroker
from monostack.object.storage.db import Broker, DatabaseNotFound
from monostack.object.storage.timestamp import Timestamp

LOG = logging.getLogger(__name__)

BATCH = 1000
KINDS = {"container": ("containers", ContainerBroker), "account": ("accounts", AccountBroker)}


def iter_databases(device_path: str, datadir: str) -> list[tuple[str, str, str]]:
    """(partition, hash, db file) of a device's databases."""
    found = []
    root = os.path.join(device_path, datadir)
    for partition in _listdir(root):
        if not partition.isdigit():
            continue
        for suffix in _listdir(os.path.join(root, partition)):
            for name_hash in _listdir(os.path.join(root, partition, suffix)):
                db_file = os.path.join(root, partition, suffix, name_hash, name_hash + ".db")
                if os.path.exists(db_file):
                    found.append((partition, name_hash, db_file))
    return found


def _listdir(path: str) -> list[str]:
    try:
        return sorted(os.listdir(path))
    except (FileNotFoundError, NotADirectoryError):
        return []


class DbReplicator:
    def __init__(self, node: Any, kind: str):
        self.node = node
        self.kind = kind
        self.datadir, self.broker_class = KINDS[kind]
        self.pool = node.pool
        self.reclaim_age = float(node.conf.object.reclaim_age)
        self.pending_max = int(node.conf.object.db_pending_max)

    async def run_once(self) -> dict[str, int]:
        stats = {"databases": 0, "rows_sent": 0, "created": 0, "removed": 0, "failures": 0}
        ring = self.node.ring(self.kind)
        if ring is None:
            return stats
        for dev in self.node.local_devices(self.kind):
            device_path = os.path.join(self.node.devices_dir, dev["device"])
            if not os.path.isdir(device_path):
                continue
            for partition, name_hash, db_file in await self.node.run(iter_databases, device_path, self.datadir):
                stats["databases"] += 1
                try:
                    await self.replicate_db(ring, dev, partition, name_hash, db_file, stats)
                except DatabaseNotFound:
                    pass
                except Exception:
                    stats["failures"] += 1
                    LOG.exception("replicating the %s database %s failed", self.kind, db_file)
        return stats

    async def replicate_db(self, ring: Any, dev: dict[str, Any], partition: str, name_hash: str, db_file: str,
                           stats: dict[str, int]) -> None:
        broker = self.broker_class(db_file, pending_max=self.pending_max)
        info = await self.node.run(self._prepare, broker)
        if info is None:
            stats["removed"] += 1
            return
        part = int(partition)
        primaries = ring.get_part_nodes(part)
        primary = any(node["id"] == dev["id"] for node in primaries)
        handoffs = (node for node in ring.get_more_nodes(part) if node["id"] != dev["id"])
        all_synced = True
        for peer in (node for node in primaries if node["id"] != dev["id"]):
            result = await self.sync_with(peer, part, name_hash, broker, info, stats)
            while result == 507 and primary:
                peer = next(handoffs, None)
                if peer is None:
                    break
                result = await self.sync_with(peer, part, name_hash, broker, info, stats)
            if result is not True:
                all_synced = False
        if not primary and all_synced:
            latest = await self.node.run(broker.get_replication_info)
            if latest["max_row"] == info["max_row"]:
                await self.node.run(broker.delete_db_files)
                stats["removed"] += 1

    def _prepare(self, broker: Broker) -> dict[str, Any] | None:
        """Reclaim old deleted rows; remove the database itself once deleted for reclaim_age."""
        cutoff = Timestamp(time.time() - self.reclaim_age).internal
        broker.reclaim(cutoff)
        info = broker.get_replication_info()
        if broker.is_deleted(info) and info["status_changed_at"] < cutoff and not info.get("object_count") \
                and not info.get("container_count"):
            broker.delete_db_files()
            return None
        return info

    async def _call(self, node: dict[str, Any], part: int, name_hash: str, args: list[Any]) -> tuple[int, Any]:
        target = dict(node, ip=node.get("replication_ip") or node["ip"],
                      port=node.get("replication_port") or node["port"])
        response = await self.pool.request(target, part, "POST", f"/{name_hash}", body=json.dumps(args).encode(),
                                           headers={"Content-Type": "application/json", VERB_HEADER: "REPLICATE"})
        body = await response.read()
        try:
            return response.status, json.loads(body) if body else None
        except ValueError:
            return response.status, None

    async def sync_with(self, peer: dict[str, Any], part: int, name_hash: str, broker: Broker,
                        info: dict[str, Any], stats: dict[str, int]) -> bool | int:
        try:
            status, remote = await self._call(peer, part, name_hash, ["sync", info])
            if status == 507:
                return 507
            if status == 404:
                status, remote = await self._call(peer, part, name_hash, ["create", info])
                stats["created"] += 1
            if status not in (200, 201) or not isinstance(remote, dict):
                return False
            # What the peer knows (newer timestamps, metadata) we take too.
            await self.node.run(self._absorb, broker, remote)
            if remote.get("hash") == info["hash"] and remote.get("count") == info["count"]:
                # The same rows: each side has all of the other's, so later passes start from here.
                if int(remote.get("point", -1)) < info["max_row"]:
                    await self._call(peer, part, name_hash,
                                     ["merge_syncs", [{"remote_id": info["id"], "sync_point": info["max_row"]}]])
                await self.node.run(broker.merge_syncs, [{"remote_id": remote["id"],
                                                          "sync_point": remote["max_row"]}])
                return True
            point = int(remote.get("point", -1))
            answer = None
            while True:
                items = await self.node.run(broker.get_items_since, point, BATCH)
                if not items:
                    break
                status, answer = await self._call(peer, part, name_hash, ["merge_items", items, info["id"]])
                if status != 202:
                    return False
                stats["rows_sent"] += len(items)
                point = items[-1]["ROWID"]
            await self.node.run(broker.merge_syncs, [{"remote_id": remote["id"], "sync_point": point}], False)
            if isinstance(answer, dict) and answer.get("id"):
                mine = await self.node.run(broker.get_replication_info)
                if answer.get("hash") == mine["hash"]:  # the same rows now: theirs need not come back
                    await self.node.run(broker.merge_syncs, [{"remote_id": answer["id"],
                                                              "sync_point": answer["max_row"]}])
            return True
        except (BackendError, OSError, asyncio.TimeoutError) as exc:
            LOG.warning("replication of %s %s to %s:%s/%s failed: %s", self.kind, name_hash, peer["ip"],
                        peer["port"], peer["device"], exc)
            return False

    @staticmethod
    def _absorb(broker: Broker, remote: dict[str, Any]) -> None:
        broker.merge_timestamps(remote["created_at"], remote["put_timestamp"], remote["delete_timestamp"])
        metadata = remote.get("metadata") or {}
        if metadata:
            broker.update_metadata({key: (value[0], value[1]) for key, value in metadata.items()})
