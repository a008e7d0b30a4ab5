"""The receiving side of container and account database replication (REPLICATE requests).

    REPLICATE /<device>/<partition>/<hash>   body: JSON [operation, arguments...]

    ["sync", info]                 merge the sender's timestamps and metadata; answer our info and
                                   "point": the last of the sender's rows we have (404: no database)
    ["create", info]               create the database the sender has and we lack (201)
    ["merge_items", rows, id]      merge the sender's rows; remember how far we got with it (202, with
                                   our id, hash and max_row)
    ["merge_syncs", points]        the sender's own sync points (rows it already got from others)
"""

from __future__ import annotations

import os
from typing import Any

from monostack.object.storage.db import Broker, DatabaseAlreadyExists, storage_path

INFO_KEYS = ("account", "container", "created_at", "put_timestamp", "delete_timestamp", "hash", "id", "max_row",
             "metadata", "storage_policy_index", "count", "object_count")


class ReplicatorRpc:
    def __init__(self, devices_dir: str, datadir: str, broker_class: type[Broker], pending_max: int = 131072):
        self.devices_dir = devices_dir
        self.datadir = datadir
        self.broker_class = broker_class
        self.pending_max = pending_max

    def broker(self, device: str, partition: str, name_hash: str, account: str | None = None,
               container: str | None = None) -> Broker:
        return self.broker_class(storage_path(self.devices_dir, device, self.datadir, partition, name_hash),
                                 account, container, pending_max=self.pending_max)

    def dispatch(self, device: str, partition: str, name_hash: str, args: list[Any]) -> tuple[int, Any]:
        if not isinstance(args, list) or not args or not isinstance(args[0], str):
            return 400, "invalid replication request"
        operation, rest = args[0], args[1:]
        handler = getattr(self, f"_op_{operation}", None)
        if handler is None:
            return 400, f"unknown replication operation {operation!r}"
        try:
            return handler(device, partition, name_hash, *rest)
        except (TypeError, KeyError, ValueError) as exc:
            return 400, f"invalid {operation} request: {exc}"

    def _absorb(self, broker: Broker, info: dict[str, Any]) -> dict[str, Any]:
        broker.merge_timestamps(info["created_at"], info["put_timestamp"], info["delete_timestamp"])
        metadata = info.get("metadata") or {}
        if metadata:
            broker.update_metadata({key: (value[0], value[1]) for key, value in metadata.items()})
        mine = broker.get_replication_info()
        answer = {key: mine.get(key) for key in INFO_KEYS}
        answer["point"] = broker.get_sync(info["id"])
        return answer

    def _op_sync(self, device: str, partition: str, name_hash: str, info: dict[str, Any]) -> tuple[int, Any]:
        broker = self.broker(device, partition, name_hash)
        if not broker.exists():
            return 404, None
        return 200, self._absorb(broker, info)

    def _op_create(self, device: str, partition: str, name_hash: str, info: dict[str, Any]) -> tuple[int, Any]:
        broker = self.broker(device, partition, name_hash, info.get("account"), info.get("container"))
        extra = {}
        if "storage_policy_index" in info and broker.db_type == "container":
            extra["storage_policy_index"] = int(info["storage_policy_index"] or 0)
        try:
            os.makedirs(os.path.dirname(broker.db_file), exist_ok=True)
            broker.initialize(info["put_timestamp"], **extra)
            status = 201
        except DatabaseAlreadyExists:
            status = 200
        return status, self._absorb(broker, info)

    def _op_merge_items(self, device: str, partition: str, name_hash: str, items: list[dict[str, Any]],
                        source: str) -> tuple[int, Any]:
        broker = self.broker(device, partition, name_hash)
        if not broker.exists():
            return 404, None
        broker.merge_items(items, source)
        mine = broker.get_replication_info()
        # With the same rows as the sender, the sender has all of ours too: it can skip them next time.
        return 202, {"id": mine["id"], "hash": mine["hash"], "max_row": mine["max_row"]}

    def _op_merge_syncs(self, device: str, partition: str, name_hash: str,
                        points: list[dict[str, Any]]) -> tuple[int, Any]:
        broker = self.broker(device, partition, name_hash)
        if not broker.exists():
            return 404, None
        broker.merge_syncs(points)
        return 202, None
