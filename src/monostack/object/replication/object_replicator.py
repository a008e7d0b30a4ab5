"""The object replicator: every replica of every partition ends up with every object.

For each partition on this node's devices:
- on a primary device: compare the suffix hashes with each other primary (REPLICATE); for the
  suffixes that differ, offer the objects to the peer (SSYNC: it answers which it lacks or has
  older) and send those over the network, as object-server PUT/DELETE/POST requests flagged
  X-Backend-Replication.  A peer whose device is unmounted (507) is replaced by a handoff.
- on a handoff device (data written while a primary was down, or left after a rebalance): send
  everything to the primaries, then remove the local copy once all of them have it.

Peers push to us the same way, so objects we lack (a replaced disk, a quarantined file) come back.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import time
from typing import Any

from monostack.object.proxy.backend import BackendError
from monostack.object.storage.base import VERB_HEADER
from monostack.object.storage.diskfile import (DeviceUnavailable, DiskFileError, DiskFileNotExist, classify,
                                               data_dir_name, policy_of_dir, read_metadata)
from monostack.object.storage.streams import read_chunks

LOG = logging.getLogger(__name__)

TMP_MAX_AGE = 86400  # writes left in tmp/ by a crash are removed after a day
SKIPPED_META = ("name", "x-timestamp", "content-length", "etag", "content-type")


class ObjectReplicator:
    def __init__(self, node: Any):
        self.node = node
        self.diskfiles = node.diskfiles
        self.pool = node.pool
        self.concurrency = max(1, int(node.conf.object.replication_concurrency))
        self.chunk_size = int(node.conf.object.disk_chunk_size)

    async def run_once(self) -> dict[str, int]:
        stats = {"partitions": 0, "suffixes_synced": 0, "objects_sent": 0, "handoffs_removed": 0, "failures": 0}
        ring = self.node.ring("object")
        if ring is None:
            return stats
        jobs = []
        for dev in self.node.local_devices("object"):
            device_path = os.path.join(self.diskfiles.devices_dir, dev["device"])
            if not os.path.isdir(device_path):
                continue  # unmounted
            await self.node.run(_clean_tmp, device_path)
            for name in await self.node.run(_listdir, device_path):
                policy = policy_of_dir(name, "objects")
                if policy is None:
                    continue
                for partition in await self.node.run(_listdir, os.path.join(device_path, name)):
                    if partition.isdigit() and int(partition) < ring.partition_count:
                        jobs.append((dev, policy, partition))
        semaphore = asyncio.Semaphore(self.concurrency)

        async def one(dev: dict[str, Any], policy: int, partition: str) -> None:
            async with semaphore:
                try:
                    await self.replicate_partition(ring, dev, policy, partition, stats)
                except Exception:
                    stats["failures"] += 1
                    LOG.exception("replicating partition %s of %s failed", partition, dev["device"])

        await asyncio.gather(*(one(*job) for job in jobs))
        return stats

    async def replicate_partition(self, ring: Any, dev: dict[str, Any], policy: int, partition: str,
                                  stats: dict[str, int]) -> None:
        stats["partitions"] += 1
        part = int(partition)
        primaries = ring.get_part_nodes(part)
        primary = any(node["id"] == dev["id"] for node in primaries)
        peers = [node for node in primaries if node["id"] != dev["id"]]
        handoffs = (node for node in ring.get_more_nodes(part) if node["id"] != dev["id"])
        try:
            local = await self.node.run(self.diskfiles.get_hashes, dev["device"], partition, [], policy)
        except DeviceUnavailable:
            return
        if not local and primary:
            return
        all_synced = True
        for peer in peers:
            synced = await self.sync_with(dev, part, policy, peer, local, stats)
            while synced == 507 and primary:
                peer = next(handoffs, None)  # an unmounted primary: keep a copy on a handoff meanwhile
                if peer is None:
                    break
                synced = await self.sync_with(dev, part, policy, peer, local, stats)
            if synced is not True:
                all_synced = False
        if not primary and all_synced:
            # Handed over: remove what we sent, unless something new arrived meanwhile.
            now = await self.node.run(self.diskfiles.get_hashes, dev["device"], partition, [], policy)
            if now == local:
                path = os.path.join(self.diskfiles.devices_dir, dev["device"], data_dir_name(policy), partition)
                await self.node.run(shutil.rmtree, path, True)
                stats["handoffs_removed"] += 1

    async def _replicate_request(self, node: dict[str, Any], part: int, policy: int,
                                 suffixes: list[str] | None = None) -> tuple[int, dict[str, Any] | None]:
        path = "" if not suffixes else "/" + "-".join(suffixes)
        response = await self.pool.request(_replication_node(node), part, "POST", path,
                                           headers={"X-Backend-Storage-Policy-Index": str(policy),
                                                    VERB_HEADER: "REPLICATE"})
        body = await response.read()
        if response.status != 200:
            return response.status, None
        return 200, json.loads(body)

    async def sync_with(self, dev: dict[str, Any], part: int, policy: int, peer: dict[str, Any],
                        local: dict[str, str], stats: dict[str, int]) -> bool | int:
        """True when the peer has everything of ours; 507 for an unmounted device; False otherwise."""
        try:
            status, remote = await self._replicate_request(peer, part, policy)
            if status == 507:
                return 507
            if remote is None:
                return False
            differ = [suffix for suffix, digest in local.items() if remote.get(suffix) != digest]
            if not differ:
                return True
            # Ours may be stale too (a suffix changed since): recompute those before sending.
            local.update(await self.node.run(self.diskfiles.get_hashes, dev["device"], part, differ, policy))
            differ = [suffix for suffix in differ if suffix in local and remote.get(suffix) != local[suffix]]
            if not differ:
                return True
            ok = await self.send_suffixes(dev, part, policy, peer, differ, stats)
            await self._replicate_request(peer, part, policy, differ)  # the peer rehashes what it received
            stats["suffixes_synced"] += len(differ)
            return ok
        except (BackendError, OSError, asyncio.TimeoutError, ValueError) as exc:
            LOG.warning("replication of partition %d to %s:%s/%s failed: %s", part, peer["ip"], peer["port"],
                        peer["device"], exc)
            return False

    async def send_suffixes(self, dev: dict[str, Any], part: int, policy: int, peer: dict[str, Any],
                            suffixes: list[str], stats: dict[str, int]) -> bool:
        contents = await self.node.run(self.diskfiles.suffix_contents, dev["device"], part, suffixes, policy)
        body = json.dumps({"suffixes": suffixes, "objects": contents}).encode()
        response = await self.pool.request(_replication_node(peer), part, "POST", "", body=body,
                                           headers={"X-Backend-Storage-Policy-Index": str(policy),
                                                    "Content-Type": "application/json", VERB_HEADER: "SSYNC"})
        answer = await response.read()
        if response.status != 200:
            return False
        wanted: dict[str, list[str]] = json.loads(answer).get("wanted", {})
        ok = True
        for name_hash, kinds in wanted.items():
            for kind in kinds:
                try:
                    sent = await self.send_object(dev, part, policy, peer, name_hash, kind)
                except (DiskFileError, OSError, BackendError, asyncio.TimeoutError) as exc:
                    LOG.warning("sending %s of %s to %s/%s failed: %s", kind, name_hash, peer["ip"], peer["device"],
                                exc)
                    sent = False
                if sent:
                    stats["objects_sent"] += 1
                ok = ok and sent
        return ok

    async def send_object(self, dev: dict[str, Any], part: int, policy: int, peer: dict[str, Any],
                          name_hash: str, kind: str) -> bool:
        df = self.diskfiles.diskfile_from_hash(dev["device"], part, name_hash, policy)
        try:
            state = await self.node.run(_load_any, df)
        except DiskFileNotExist:
            return True  # gone meanwhile (replaced or reclaimed): nothing to send
        node = _replication_node(peer)
        headers = {"X-Backend-Replication": "True", "X-Backend-Storage-Policy-Index": str(policy)}
        if kind == "ts":
            if state["ts"] is None:
                return True
            metadata = state["ts"]
            headers["X-Timestamp"] = metadata["X-Timestamp"]
            response = await self.pool.request(node, part, "DELETE", metadata["name"], headers=headers)
            await response.read()
            return response.status in (204, 404, 409)
        if kind == "meta":
            metadata = state["meta"]
            if metadata is None:
                return True
            extra = {key: value for key, value in metadata.items() if key.lower() not in ("name", "x-timestamp")}
            headers.update(extra)
            headers["X-Timestamp"] = metadata["X-Timestamp"]
            headers["X-Backend-Replication-Headers"] = " ".join(key.lower() for key in extra)
            response = await self.pool.request(node, part, "POST", metadata["name"], headers=headers)
            await response.read()
            return response.status in (202, 409)
        metadata = state["data"]
        if metadata is None:
            return True
        extra = {key: value for key, value in metadata.items() if key.lower() not in SKIPPED_META}
        headers.update(extra)
        headers.update({"X-Timestamp": metadata["X-Timestamp"], "Content-Type": metadata["Content-Type"],
                        "ETag": metadata["ETag"], "Content-Length": str(metadata["Content-Length"]),
                        "X-Backend-Replication-Headers": " ".join(key.lower() for key in extra)})
        fd = await self.node.run(os.open, state["data_path"], os.O_RDONLY)
        size = int(metadata["Content-Length"])
        try:
            upload = await self.pool.upload(node, part, "PUT", metadata["name"], headers, expect_continue=False)
            async for chunk in read_chunks(fd, 0, size, self.node.workers, self.chunk_size, close=False):
                upload.write(chunk)
                await upload.drain()
            response = await upload.response()
        finally:
            await self.node.run(os.close, fd)
        if response is None:
            return False
        await response.read()
        if response.status == 422:  # our copy does not match its ETag: the auditor's job, quarantine it now
            LOG.warning("the replica of %s on %s is corrupt; quarantining it", metadata["name"], dev["device"])
            await self.node.run(self.diskfiles.quarantine, df.device_path, df.hashdir, policy)
            return False
        return response.status in (201, 409)


def _replication_node(node: dict[str, Any]) -> dict[str, Any]:
    return dict(node, ip=node.get("replication_ip") or node["ip"], port=node.get("replication_port") or node["port"])


def _load_any(df: Any) -> dict[str, Any]:
    """The metadata of each kept file of a hash directory: {"data", "ts", "meta", "data_path"}."""
    try:
        names = os.listdir(df.hashdir)
    except FileNotFoundError:
        raise DiskFileNotExist() from None
    state = classify(names)
    result: dict[str, Any] = {"data": None, "ts": None, "meta": None, "data_path": None}
    for kind in ("data", "ts", "meta"):
        name = getattr(state, kind)
        if name is not None:
            try:
                result[kind] = read_metadata(os.path.join(df.hashdir, name))
            except FileNotFoundError:
                raise DiskFileNotExist() from None
            if kind == "data":
                result["data_path"] = os.path.join(df.hashdir, name)
    return result


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except (FileNotFoundError, NotADirectoryError):
        return []


def _clean_tmp(device_path: str) -> None:
    tmp = os.path.join(device_path, "tmp")
    cutoff = time.time() - TMP_MAX_AGE
    for name in _listdir(tmp):
        path = os.path.join(tmp, name)
        try:
            if os.stat(path).st_mtime < cutoff:
                os.unlink(path)
        except FileNotFoundError:
            pass
