"""The auditor: finds what the disks silently broke.

Every object's data is read back and its md5 compared with its ETag (and its size with its
Content-Length); a mismatch, unreadable metadata or an unreadable file moves the object's
directory to <device>/quarantined/objects/ and marks its suffix changed, so the replicator's next
pass has the peers send a good copy.  Container and account databases that SQLite finds
corrupt go to quarantined/containers|accounts/ the same way.  Reading is rate limited
([object] auditor_files_per_second, auditor_bytes_per_second) so it does not crowd out clients.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from typing import Any

from monostack.object.replication.db_replicator import KINDS, iter_databases
from monostack.object.storage.db import DatabaseNotFound
from monostack.object.storage.diskfile import (DiskFileError, classify, iter_hashdirs, policy_of_dir,
                                               read_metadata)

LOG = logging.getLogger(__name__)
READ_SIZE = 1 << 20


class _Limiter:
    def __init__(self, per_second: float):
        self.per_second = per_second
        self.started = time.monotonic()
        self.count = 0.0

    def add(self, amount: float) -> None:
        if self.per_second <= 0:
            return
        self.count += amount
        ahead = self.count / self.per_second - (time.monotonic() - self.started)
        if ahead > 0:
            time.sleep(ahead)


class Auditor:
    def __init__(self, node: Any):
        self.node = node
        self.diskfiles = node.diskfiles
        opts = node.conf.object
        self.files_per_second = float(opts.auditor_files_per_second)
        self.bytes_per_second = float(opts.auditor_bytes_per_second)

    async def run_once(self, rate_limited: bool = True) -> dict[str, int]:
        stats = {"objects": 0, "quarantined": 0, "databases": 0, "databases_quarantined": 0, "errors": 0}
        for dev in self.node.local_devices("object"):
            device_path = os.path.join(self.node.devices_dir, dev["device"])
            if os.path.isdir(device_path):
                await self.node.run(self.audit_objects, device_path, stats, rate_limited)
        for kind, (datadir, broker_class) in KINDS.items():
            for dev in self.node.local_devices(kind):
                device_path = os.path.join(self.node.devices_dir, dev["device"])
                if os.path.isdir(device_path):
                    await self.node.run(self.audit_databases, device_path, datadir, broker_class, stats)
        return stats

    # -- objects (in a worker thread) -------------------------------------------------------------------
    def audit_objects(self, device_path: str, stats: dict[str, int], rate_limited: bool) -> None:
        files = _Limiter(self.files_per_second if rate_limited else 0)
        volume = _Limiter(self.bytes_per_second if rate_limited else 0)
        for name in sorted(os.listdir(device_path)):
            policy = policy_of_dir(name, "objects")
            if policy is None:
                continue
            root = os.path.join(device_path, name)
            for partition in sorted(os.listdir(root)):
                if not partition.isdigit():
                    continue
                for _suffix, hashdir in iter_hashdirs(os.path.join(root, partition)):
                    try:
                        problem = self.audit_object(hashdir, volume)
                    except FileNotFoundError:
                        continue  # replaced or removed while we looked
                    except OSError as exc:
                        problem = f"unreadable: {exc}"
                    stats["objects"] += 1
                    files.add(1)
                    if problem:
                        LOG.error("object audit: %s is corrupt (%s); quarantining it", hashdir, problem)
                        self.diskfiles.quarantine(device_path, hashdir, policy)
                        stats["quarantined"] += 1

    @staticmethod
    def audit_object(hashdir: str, volume: _Limiter) -> str | None:
        """What is wrong with an object's data, or None."""
        state = classify(os.listdir(hashdir))
        if state.data is None:
            return None
        path = os.path.join(hashdir, state.data)
        try:
            metadata = read_metadata(path)
        except DiskFileError as exc:
            return str(exc)
        for key in ("name", "ETag", "Content-Length"):
            if key not in metadata:
                return f"metadata without {key}"
        md5 = hashlib.md5(usedforsecurity=False)
        size = 0
        with open(path, "rb") as source:
            os.posix_fadvise(source.fileno(), 0, 0, os.POSIX_FADV_SEQUENTIAL)
            while data := source.read(READ_SIZE):
                md5.update(data)
                size += len(data)
                volume.add(len(data))
            os.posix_fadvise(source.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
        if str(size) != str(metadata["Content-Length"]):
            return f"size {size}, Content-Length {metadata['Content-Length']}"
        if md5.hexdigest() != metadata["ETag"]:
            return f"md5 {md5.hexdigest()}, ETag {metadata['ETag']}"
        return None

    # -- databases ------------------------------------------------------------------------------------------
    def audit_databases(self, device_path: str, datadir: str, broker_class: type, stats: dict[str, int]) -> None:
        for _partition, _hash, db_file in iter_databases(device_path, datadir):
            broker = broker_class(db_file)
            stats["databases"] += 1
            try:
                problem = broker.check_integrity()
                if problem is None:
                    try:
                        broker.get_info()
                    except DatabaseNotFound:
                        raise
                    except Exception as exc:  # a database that cannot answer is as good as corrupt
                        problem = str(exc)
            except DatabaseNotFound:
                continue  # removed meanwhile (handed off, reclaimed)
            if problem:
                LOG.error("database audit: %s is corrupt (%s); quarantining it", db_file, problem)
                broker.quarantine(problem)
                stats["databases_quarantined"] += 1
