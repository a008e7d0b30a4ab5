"""A container's database: its objects (rows), its stats and metadata."""

from __future__ import annotations

from typing import Any

from monostack.object.storage import constraints
from monostack.object.storage.db import Broker, list_names
from monostack.object.storage.timestamp import Timestamp

SCHEMA = (
    """CREATE TABLE object (
        ROWID INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL,
        created_at TEXT NOT NULL,
        size INTEGER NOT NULL DEFAULT 0,
        content_type TEXT,
        etag TEXT,
        deleted INTEGER NOT NULL DEFAULT 0,
        storage_policy_index INTEGER NOT NULL DEFAULT 0,
        ctype_timestamp TEXT,
        meta_timestamp TEXT)""",
    "CREATE UNIQUE INDEX ix_object_name ON object (name)",
    "CREATE INDEX ix_object_deleted_name ON object (deleted, storage_policy_index, name)",
    """CREATE TABLE container_stat (
        account TEXT, container TEXT, created_at TEXT, put_timestamp TEXT, delete_timestamp TEXT,
        status_changed_at TEXT, object_count INTEGER NOT NULL DEFAULT 0, bytes_used INTEGER NOT NULL DEFAULT 0,
        reported_put_timestamp TEXT NOT NULL DEFAULT '0', reported_delete_timestamp TEXT NOT NULL DEFAULT '0',
        reported_object_count INTEGER NOT NULL DEFAULT 0, reported_bytes_used INTEGER NOT NULL DEFAULT 0,
        hash TEXT, id TEXT, status TEXT, metadata TEXT, storage_policy_index INTEGER NOT NULL DEFAULT 0)""",
    "CREATE TABLE incoming_sync (remote_id TEXT PRIMARY KEY, sync_point INTEGER, updated_at TEXT)",
    "CREATE TABLE outgoing_sync (remote_id TEXT PRIMARY KEY, sync_point INTEGER, updated_at TEXT)",
)

FIELDS = ("name", "created_at", "size", "content_type", "etag", "deleted", "storage_policy_index",
          "ctype_timestamp", "meta_timestamp")


class ContainerBroker(Broker):
    db_type = "container"
    item_table = "object"
    stat_table = "container_stat"
    schema = SCHEMA
    item_fields = FIELDS
    _reclaim_field = "created_at"

    def _initial_stat(self) -> dict[str, Any]:
        return {"account": self.account, "container": self.container}

    # -- rows ---------------------------------------------------------------------------------------------
    @staticmethod
    def object_record(name: str, timestamp: str, size: int, content_type: str, etag: str, deleted: int = 0,
                      storage_policy_index: int = 0, ctype_timestamp: str | None = None,
                      meta_timestamp: str | None = None) -> dict[str, Any]:
        """An object row update as the pending file keeps it."""
        return {"name": name, "created_at": timestamp, "size": size, "content_type": content_type, "etag": etag,
                "deleted": deleted, "storage_policy_index": storage_policy_index,
                "ctype_timestamp": ctype_timestamp, "meta_timestamp": meta_timestamp}

    def _row_key(self, row: dict[str, Any]) -> str:
        return row["created_at"]

    def _merge_row(self, old: dict[str, Any] | None, item: dict[str, Any]) -> dict[str, Any] | None:
        created = item["created_at"]
        new = {"name": item["name"], "created_at": created, "size": int(item.get("size") or 0),
               "content_type": item.get("content_type"), "etag": item.get("etag"),
               "deleted": int(item.get("deleted") or 0),
               "storage_policy_index": int(item.get("storage_policy_index") or 0),
               "ctype_timestamp": item.get("ctype_timestamp") or created,
               "meta_timestamp": item.get("meta_timestamp") or created}
        if old is None:
            return new
        old_ctype = old.get("ctype_timestamp") or old["created_at"]
        old_meta = old.get("meta_timestamp") or old["created_at"]
        data = new if Timestamp(created) > Timestamp(old["created_at"]) else old
        merged = {key: data[key] for key in ("name", "created_at", "size", "etag", "deleted", "storage_policy_index")}
        if Timestamp(new["ctype_timestamp"]) > Timestamp(old_ctype):
            merged["content_type"], merged["ctype_timestamp"] = new["content_type"], new["ctype_timestamp"]
        else:
            merged["content_type"], merged["ctype_timestamp"] = old["content_type"], old_ctype
        merged["meta_timestamp"] = max(Timestamp(new["meta_timestamp"]), Timestamp(old_meta)).internal
        if merged["deleted"]:  # a deletion ends the content type and metadata of what it deleted
            merged["content_type"] = data["content_type"]
            merged["ctype_timestamp"] = merged["meta_timestamp"] = merged["created_at"]
        if all(merged[key] == old.get(key) for key in FIELDS):
            return None
        return merged

    def _totals(self, stat: dict[str, Any]) -> dict[str, int]:
        return {"object_count": stat["object_count"], "bytes_used": stat["bytes_used"]}

    def _count(self, totals: dict[str, int], row: dict[str, Any], sign: int) -> None:
        if not row["deleted"]:
            totals["object_count"] += sign
            totals["bytes_used"] += sign * int(row["size"] or 0)

    # -- state ----------------------------------------------------------------------------------------------
    def is_deleted(self, info: dict[str, Any] | None = None) -> bool:
        info = info or self.get_info()
        return not info["object_count"] and Timestamp(info["delete_timestamp"]) > Timestamp(info["put_timestamp"])

    def empty(self) -> bool:
        return self.get_info()["object_count"] == 0

    def delete_db(self, timestamp: str) -> None:
        with self.transaction() as conn:
            conn.execute("UPDATE container_stat SET delete_timestamp = ?, status_changed_at = ? "
                         "WHERE delete_timestamp < ?", (timestamp, timestamp, timestamp))

    def set_storage_policy_index(self, policy: int) -> None:
        with self.transaction() as conn:
            conn.execute("UPDATE container_stat SET storage_policy_index = ?", (policy,))

    def reported(self, put_timestamp: str, delete_timestamp: str, object_count: int, bytes_used: int) -> None:
        """The account servers have these stats now."""
        with self.transaction() as conn:
            conn.execute("UPDATE container_stat SET reported_put_timestamp = ?, reported_delete_timestamp = ?, "
                         "reported_object_count = ?, reported_bytes_used = ?",
                         (put_timestamp, delete_timestamp, object_count, bytes_used))

    @staticmethod
    def needs_report(info: dict[str, Any]) -> bool:
        return (info["put_timestamp"] != info["reported_put_timestamp"]
                or info["delete_timestamp"] != info["reported_delete_timestamp"]
                or info["object_count"] != info["reported_object_count"]
                or info["bytes_used"] != info["reported_bytes_used"])

    # -- listing -----------------------------------------------------------------------------------------------
    def list_objects(self, limit: int, marker: str = "", end_marker: str | None = None, prefix: str | None = None,
                     delimiter: str | None = None, path: str | None = None, reverse: bool = False,
                     storage_policy_index: int = 0, allow_reserved: bool = False) -> list[dict[str, Any]]:
        self.commit_pending()
        with self.get() as conn:
            def query(conditions: list[str], args: list[Any], count: int, descending: bool) -> list[tuple]:
                conditions = ["deleted = 0", "storage_policy_index = ?", *conditions]
                args = [storage_policy_index, *args]
                if not allow_reserved:
                    conditions.append("name >= ?")
                    args.append(chr(ord(constraints.RESERVED) + 1))
                sql = (f"SELECT name, COALESCE(meta_timestamp, created_at), size, content_type, etag FROM object WHERE {' AND '.join(conditions)} "
                       f"ORDER BY name {'DESC' if descending else ''} LIMIT ?")
                return [tuple(row) for row in conn.execute(sql, [*args, count])]

            rows = list_names(query, limit, marker or "", end_marker, prefix, delimiter, path, reverse,
                              subdir=lambda name: (name, None, None, None, None))
        return [listing_record(row) for row in rows]


def listing_record(row: tuple) -> dict[str, Any]:
    """A row as a listing shows it (last_modified: the last POST's time, else the data's)."""
    name, modified_at, size, content_type, etag = row[:5]
    if modified_at is None:
        return {"subdir": name}
    record: dict[str, Any] = {"bytes": size, "hash": etag, "name": name, "content_type": content_type}
    if content_type and ";" in content_type:  # swift_bytes: the real size of a large object's manifest
        base, _, params = content_type.partition(";")
        kept = []
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.lower() == "swift_bytes":
                try:
                    record["bytes"] = int(value)
                except ValueError:
                    pass
            elif param.strip():
                kept.append(param.strip())
        record["content_type"] = ";".join([base, *kept])
    record["last_modified"] = Timestamp(modified_at).isoformat
    return record
