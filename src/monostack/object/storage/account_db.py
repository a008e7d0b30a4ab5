"""An account's database: its containers (rows, with the stats their container servers report)."""

from __future__ import annotations

from typing import Any

from monostack.object.storage import constraints
from monostack.object.storage.db import Broker, list_names
from monostack.object.storage.timestamp import Timestamp

SCHEMA = (
    """CREATE TABLE container (
        ROWID INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL,
        put_timestamp TEXT NOT NULL,
        delete_timestamp TEXT NOT NULL,
        object_count INTEGER NOT NULL DEFAULT 0,
        bytes_used INTEGER NOT NULL DEFAULT 0,
        deleted INTEGER NOT NULL DEFAULT 0,
        storage_policy_index INTEGER NOT NULL DEFAULT 0)""",
    "CREATE UNIQUE INDEX ix_container_name ON container (name)",
    "CREATE INDEX ix_container_deleted_name ON container (deleted, name)",
    """CREATE TABLE account_stat (
        account TEXT, created_at TEXT, put_timestamp TEXT, delete_timestamp TEXT, status_changed_at TEXT,
        container_count INTEGER NOT NULL DEFAULT 0, object_count INTEGER NOT NULL DEFAULT 0,
        bytes_used INTEGER NOT NULL DEFAULT 0, hash TEXT, id TEXT, status TEXT, metadata TEXT)""",
    "CREATE TABLE incoming_sync (remote_id TEXT PRIMARY KEY, sync_point INTEGER, updated_at TEXT)",
    "CREATE TABLE outgoing_sync (remote_id TEXT PRIMARY KEY, sync_point INTEGER, updated_at TEXT)",
)

FIELDS = ("name", "put_timestamp", "delete_timestamp", "object_count", "bytes_used", "deleted",
          "storage_policy_index")


class AccountBroker(Broker):
    db_type = "account"
    item_table = "container"
    stat_table = "account_stat"
    schema = SCHEMA
    item_fields = FIELDS
    _reclaim_field = "delete_timestamp"

    def put_container(self, name: str, put_timestamp: str, delete_timestamp: str, object_count: int,
                      bytes_used: int, storage_policy_index: int = 0) -> None:
        deleted = 1 if Timestamp(delete_timestamp) > Timestamp(put_timestamp) and not int(object_count) else 0
        self.put_record({"name": name, "put_timestamp": put_timestamp, "delete_timestamp": delete_timestamp,
                         "object_count": int(object_count), "bytes_used": int(bytes_used), "deleted": deleted,
                         "storage_policy_index": int(storage_policy_index)})

    def _row_key(self, row: dict[str, Any]) -> str:
        return f"{row['put_timestamp']}-{row['delete_timestamp']}-{row['object_count']}-{row['bytes_used']}"

    def _merge_row(self, old: dict[str, Any] | None, item: dict[str, Any]) -> dict[str, Any] | None:
        """The newest put and delete times; the counts of the latest report."""
        new = {key: item.get(key) for key in FIELDS}
        new["object_count"] = int(new["object_count"] or 0)
        new["bytes_used"] = int(new["bytes_used"] or 0)
        new["storage_policy_index"] = int(new["storage_policy_index"] or 0)
        if old is not None:
            if Timestamp(old["put_timestamp"]) > Timestamp(new["put_timestamp"]):
                new["put_timestamp"] = old["put_timestamp"]
            if Timestamp(old["delete_timestamp"]) > Timestamp(new["delete_timestamp"]):
                new["delete_timestamp"] = old["delete_timestamp"]
        new["deleted"] = 1 if (Timestamp(new["delete_timestamp"]) > Timestamp(new["put_timestamp"])
                               and not new["object_count"]) else 0
        if old is not None and all(new[key] == old.get(key) for key in FIELDS):
            return None
        return new

    def _totals(self, stat: dict[str, Any]) -> dict[str, int]:
        return {"container_count": stat["container_count"], "object_count": stat["object_count"],
                "bytes_used": stat["bytes_used"]}

    def _count(self, totals: dict[str, int], row: dict[str, Any], sign: int) -> None:
        if not row["deleted"]:
            totals["container_count"] += sign
            totals["object_count"] += sign * int(row["object_count"] or 0)
            totals["bytes_used"] += sign * int(row["bytes_used"] or 0)

    # -- state --------------------------------------------------------------------------------------------
    def is_deleted(self, info: dict[str, Any] | None = None) -> bool:
        info = info or self.get_info()
        return info["status"] == "DELETED" or (
            not info["container_count"] and Timestamp(info["delete_timestamp"]) > Timestamp(info["put_timestamp"]))

    def is_status_deleted(self, info: dict[str, Any] | None = None) -> bool:
        info = info or self.get_info()
        return info["status"] == "DELETED" or Timestamp(info["delete_timestamp"]) > Timestamp(info["put_timestamp"])

    def delete_db(self, timestamp: str) -> None:
        with self.transaction() as conn:
            conn.execute("UPDATE account_stat SET delete_timestamp = ?, status = 'DELETED', status_changed_at = ? "
                         "WHERE delete_timestamp < ?", (timestamp, timestamp, timestamp))

    def policy_stats(self) -> dict[int, dict[str, int]]:
        with self.get() as conn:
            rows = conn.execute("SELECT storage_policy_index, COUNT(*), SUM(object_count), SUM(bytes_used) "
                                "FROM container WHERE deleted = 0 GROUP BY storage_policy_index").fetchall()
        return {row[0]: {"container_count": row[1], "object_count": row[2] or 0, "bytes_used": row[3] or 0}
                for row in rows}

    # -- listing ---------------------------------------------------------------------------------------------
    def list_containers(self, limit: int, marker: str = "", end_marker: str | None = None,
                        prefix: str | None = None, delimiter: str | None = None, reverse: bool = False,
                        allow_reserved: bool = False) -> list[tuple]:
        """(name, object_count, bytes_used, put_timestamp, storage_policy_index) or (subdir,)."""
        self.commit_pending()
        with self.get() as conn:
            def query(conditions: list[str], args: list[Any], count: int, descending: bool) -> list[tuple]:
                conditions = ["deleted = 0", *conditions]
                if not allow_reserved:
                    conditions.append("name >= ?")
                    args = [*args, chr(ord(constraints.RESERVED) + 1)]
                sql = (f"SELECT name, object_count, bytes_used, put_timestamp, storage_policy_index FROM container "
                       f"WHERE {' AND '.join(conditions)} ORDER BY name {'DESC' if descending else ''} LIMIT ?")
                return [tuple(row) for row in conn.execute(sql, [*args, count])]

            return list_names(query, limit, marker or "", end_marker, prefix, delimiter, None, reverse)
