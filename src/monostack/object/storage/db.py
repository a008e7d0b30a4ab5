"""One SQLite database per container and per account, as Swift keeps them.

    <device>/containers/<partition>/<suffix>/<hash>/<hash>.db           (accounts: accounts/)
    <device>/containers/<partition>/<suffix>/<hash>/<hash>.db.pending   rows not merged yet

Rows (objects of a container, containers of an account) are never updated in place: a changed
row is deleted and inserted again, so its ROWID grows and replication sends everything after the
last ROWID a peer has (incoming_sync/outgoing_sync keep those points per peer database id).
Deleted rows stay, marked, until reclaim_age: they carry the deletion to the other replicas.

Row updates from the object servers (and container servers, for accounts) are appended to the
.pending file and merged in batches (when it grows past `pending_max`, and before every read),
which keeps a busy container from turning every object write into a SQLite transaction.

`hash` is the XOR of md5("<name>-<created_at>") over all rows: equal on two replicas with the
same rows.  Everything here blocks: callers run it in worker threads.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import sqlite3
import threading
import uuid
from typing import Any, Callable, Iterator

from monostack.object.storage import constraints
from monostack.object.storage.diskfile import fsync_dir
from monostack.object.storage.timestamp import Timestamp

LOG = logging.getLogger(__name__)

ZERO = "0000000000.00000"
PENDING_SUFFIX = ".pending"
MERGE_BATCH = 500
_CACHE_SIZE = 8  # open databases per worker thread
_local = threading.local()


class DatabaseError(Exception):
    pass


class DatabaseNotFound(DatabaseError):
    pass


class DatabaseAlreadyExists(DatabaseError):
    pass


class MetadataError(DatabaseError):
    """Metadata beyond Swift's limits (400)."""


def chexor(old: str, name: str, timestamp: str) -> str:
    digest = hashlib.md5(f"{name}-{timestamp}".encode("utf-8", "surrogatepass"), usedforsecurity=False).hexdigest()
    return "%032x" % (int(old, 16) ^ int(digest, 16))


def _connect(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=25, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA temp_store = MEMORY")
    return conn


def _cached_connection(path: str) -> sqlite3.Connection:
    """This thread's open connection to the database (reopened when the file was replaced)."""
    cache: dict[str, tuple[sqlite3.Connection, int]] = getattr(_local, "cache", None) or {}
    _local.cache = cache
    try:
        inode = os.stat(path).st_ino
    except FileNotFoundError:
        stale = cache.pop(path, None)
        if stale:
            stale[0].close()
        raise DatabaseNotFound(path) from None
    entry = cache.get(path)
    if entry is not None:
        if entry[1] == inode:
            return entry[0]
        entry[0].close()
        del cache[path]
    if len(cache) >= _CACHE_SIZE:
        oldest = next(iter(cache))
        cache.pop(oldest)[0].close()
    conn = _connect(path)
    cache[path] = (conn, inode)
    return conn


def forget_connections(path: str) -> None:
    """This thread's connection to a database that is going away (quarantine, handoff removal)."""
    cache = getattr(_local, "cache", None)
    if cache and path in cache:
        cache.pop(path)[0].close()


class Broker:
    """What container and account databases share."""

    db_type = ""  # "container" | "account"
    item_table = ""  # "object" | "container"
    stat_table = ""
    schema: tuple[str, ...] = ()
    item_fields: tuple[str, ...] = ()

    def __init__(self, db_file: str, account: str | None = None, container: str | None = None,
                 pending_max: int = 131072):
        self.db_file = db_file
        self.pending_file = db_file + PENDING_SUFFIX
        self.account = account
        self.container = container
        self.pending_max = pending_max

    # -- connections ---------------------------------------------------------------------------------
    def exists(self) -> bool:
        return os.path.exists(self.db_file)

    @contextlib.contextmanager
    def get(self) -> Iterator[sqlite3.Connection]:
        conn = _cached_connection(self.db_file)
        try:
            yield conn
        except sqlite3.DatabaseError as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if _is_corruption(exc):
                forget_connections(self.db_file)
            raise
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self.get() as conn:
            conn.execute("BEGIN IMMEDIATE")
            yield conn
            conn.execute("COMMIT")

    # -- creation ------------------------------------------------------------------------------------
    def initialize(self, put_timestamp: str, **extra: Any) -> None:
        """Create the database (in the device's tmp/, renamed into place once complete)."""
        if self.exists():
            raise DatabaseAlreadyExists(self.db_file)
        device_path = self._device_path()
        tmp_dir = os.path.join(device_path, "tmp")
        os.makedirs(tmp_dir, exist_ok=True)
        tmp = os.path.join(tmp_dir, f"{uuid.uuid4().hex}.db")
        conn = sqlite3.connect(tmp, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            for statement in self.schema:
                conn.execute(statement)
            conn.execute("INSERT INTO incoming_sync (remote_id, sync_point, updated_at) VALUES ('', -1, '0')")
            now = Timestamp.now().internal
            row = {"created_at": now, "put_timestamp": put_timestamp, "delete_timestamp": ZERO,
                   "status_changed_at": put_timestamp, "hash": "0" * 32, "id": str(uuid.uuid4()),
                   "metadata": "{}", "status": ""}
            row.update(self._initial_stat())
            row.update(extra)
            columns = ", ".join(row)
            conn.execute(f"INSERT INTO {self.stat_table} ({columns}) VALUES ({', '.join('?' * len(row))})",
                         list(row.values()))
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            conn.close()
        for leftover in (tmp + "-wal", tmp + "-shm"):
            try:
                os.unlink(leftover)
            except FileNotFoundError:
                pass
        with open(tmp, "rb") as done:
            os.fsync(done.fileno())
        os.makedirs(os.path.dirname(self.db_file), exist_ok=True)
        try:
            os.link(tmp, self.db_file)  # fails if another request created it first
        except FileExistsError:
            os.unlink(tmp)
            raise DatabaseAlreadyExists(self.db_file) from None
        os.unlink(tmp)
        fsync_dir(os.path.dirname(self.db_file))

    def _initial_stat(self) -> dict[str, Any]:
        return {"account": self.account}

    def _device_path(self) -> str:
        # <device>/<datadir>/<partition>/<suffix>/<hash>/<hash>.db
        return os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(self.db_file)))))

    # -- pending row updates -----------------------------------------------------------------------
    def put_record(self, record: dict[str, Any]) -> None:
        """Queue a row update; merged in a batch later (or now, when enough are queued)."""
        self.put_records([record])

    def put_records(self, records: list[dict[str, Any]]) -> None:
        """Queue row updates with one write to the pending file (one line each)."""
        if not self.exists():
            raise DatabaseNotFound(self.db_file)
        lines = b"".join(json.dumps(record, separators=(",", ":")).encode() + b"\n" for record in records)
        fd = os.open(self.pending_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            view = memoryview(lines)
            while view:
                view = view[os.write(fd, view):]
            size = os.fstat(fd).st_size
        finally:
            os.close(fd)
        if size > self.pending_max:
            self.commit_pending()

    def commit_pending(self) -> None:
        try:
            fd = os.open(self.pending_file, os.O_RDWR)
        except FileNotFoundError:
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            if os.fstat(fd).st_size == 0:
                return
            chunks = []
            while True:
                data = os.read(fd, 1 << 20)
                if not data:
                    break
                chunks.append(data)
            records = []
            for line in b"".join(chunks).splitlines():
                try:
                    records.append(json.loads(line))
                except ValueError:
                    LOG.warning("skipping an unreadable pending update in %s", self.pending_file)
            if records:
                self.merge_items(records)
            os.ftruncate(fd, 0)
        finally:
            os.close(fd)

    # -- stat --------------------------------------------------------------------------------------
    def get_info(self) -> dict[str, Any]:
        self.commit_pending()
        with self.get() as conn:
            row = conn.execute(f"SELECT * FROM {self.stat_table}").fetchone()
        info = dict(row)
        info["metadata"] = json.loads(info.get("metadata") or "{}")
        return info

    def get_replication_info(self) -> dict[str, Any]:
        info = self.get_info()
        with self.get() as conn:
            info["max_row"] = conn.execute(f"SELECT COALESCE(MAX(ROWID), -1) FROM {self.item_table}").fetchone()[0]
            info["count"] = conn.execute(f"SELECT COUNT(*) FROM {self.item_table}").fetchone()[0]
        return info

    def is_deleted(self, info: dict[str, Any] | None = None) -> bool:
        raise NotImplementedError

    @property
    def metadata(self) -> dict[str, list[str]]:
        with self.get() as conn:
            return json.loads(conn.execute(f"SELECT metadata FROM {self.stat_table}").fetchone()[0] or "{}")

    def update_metadata(self, updates: dict[str, tuple[str, str]], validate: bool = False) -> None:
        """Merge key -> (value, timestamp): a newer timestamp wins; '' deletes (kept until reclaimed)."""
        with self.transaction() as conn:
            current = json.loads(conn.execute(f"SELECT metadata FROM {self.stat_table}").fetchone()[0] or "{}")
            changed = False
            for key, (value, timestamp) in updates.items():
                if key not in current or Timestamp(timestamp) > Timestamp(current[key][1]):
                    current[key] = [value, timestamp]
                    changed = True
            if not changed:
                return
            if validate:
                problem = _metadata_problem(current, self.db_type)
                if problem:
                    raise MetadataError(problem)
            conn.execute(f"UPDATE {self.stat_table} SET metadata = ?", (json.dumps(current),))

    def update_put_timestamp(self, timestamp: str) -> None:
        with self.transaction() as conn:
            conn.execute(f"UPDATE {self.stat_table} SET put_timestamp = ? WHERE put_timestamp < ?",
                         (timestamp, timestamp))

    def update_status_changed_at(self, timestamp: str) -> None:
        with self.transaction() as conn:
            conn.execute(f"UPDATE {self.stat_table} SET status_changed_at = ? WHERE status_changed_at < ?",
                         (timestamp, timestamp))

    def merge_timestamps(self, created_at: str, put_timestamp: str, delete_timestamp: str) -> None:
        """A peer's timestamps (replication): the older creation, the newer put and delete."""
        with self.transaction() as conn:
            old = conn.execute(f"SELECT created_at, put_timestamp, delete_timestamp FROM {self.stat_table}").fetchone()
            was_deleted = old["delete_timestamp"] > old["put_timestamp"]
            new_put = max(old["put_timestamp"], put_timestamp)
            new_delete = max(old["delete_timestamp"], delete_timestamp)
            conn.execute(f"UPDATE {self.stat_table} SET created_at = MIN(created_at, ?), put_timestamp = ?, "
                         f"delete_timestamp = ?", (created_at, new_put, new_delete))
            if (new_delete > new_put) != was_deleted:
                conn.execute(f"UPDATE {self.stat_table} SET status_changed_at = ?",
                             (max(new_put, new_delete),))

    # -- replication ------------------------------------------------------------------------------------
    def get_items_since(self, start: int, count: int) -> list[dict[str, Any]]:
        self.commit_pending()
        with self.get() as conn:
            rows = conn.execute(f"SELECT ROWID, * FROM {self.item_table} WHERE ROWID > ? ORDER BY ROWID LIMIT ?",
                                (start, count)).fetchall()
        return [dict(row) for row in rows]

    def get_sync(self, remote_id: str, incoming: bool = True) -> int:
        table = "incoming_sync" if incoming else "outgoing_sync"
        with self.get() as conn:
            row = conn.execute(f"SELECT sync_point FROM {table} WHERE remote_id = ?", (remote_id,)).fetchone()
        return row[0] if row else -1

    def merge_syncs(self, points: list[dict[str, Any]], incoming: bool = True) -> None:
        table = "incoming_sync" if incoming else "outgoing_sync"
        with self.transaction() as conn:
            for point in points:
                conn.execute(f"INSERT INTO {table} (remote_id, sync_point, updated_at) VALUES (?, ?, ?) "
                             f"ON CONFLICT(remote_id) DO UPDATE SET sync_point = MAX(sync_point, excluded.sync_point), "
                             f"updated_at = excluded.updated_at",
                             (point["remote_id"], point["sync_point"], Timestamp.now().internal))

    def get_syncs(self, incoming: bool = True) -> list[dict[str, Any]]:
        table = "incoming_sync" if incoming else "outgoing_sync"
        with self.get() as conn:
            return [dict(row) for row in conn.execute(f"SELECT remote_id, sync_point FROM {table} "
                                                      f"WHERE remote_id != ''")]

    def merge_items(self, items: list[dict[str, Any]], source: str | None = None) -> None:
        """Merge rows (from .pending, or a peer's since its sync point) in one transaction."""
        with self.transaction() as conn:
            stat = dict(conn.execute(f"SELECT * FROM {self.stat_table}").fetchone())
            totals = self._totals(stat)
            digest = stat["hash"]
            max_rowid = -1
            for start in range(0, len(items), MERGE_BATCH):
                batch = items[start:start + MERGE_BATCH]
                names = list({item["name"] for item in batch})
                marks = ",".join("?" * len(names))
                existing = {row["name"]: dict(row) for row in conn.execute(
                    f"SELECT ROWID, * FROM {self.item_table} WHERE name IN ({marks})", names)}
                for item in batch:
                    if "ROWID" in item:
                        max_rowid = max(max_rowid, item["ROWID"])
                    old = existing.get(item["name"])
                    new = self._merge_row(old, item)
                    if new is None:
                        continue
                    if old is not None:
                        conn.execute(f"DELETE FROM {self.item_table} WHERE ROWID = ?", (old["ROWID"],))
                        digest = chexor(digest, old["name"], self._row_key(old))
                        self._count(totals, old, -1)
                    columns = ", ".join(self.item_fields)
                    cursor = conn.execute(f"INSERT INTO {self.item_table} ({columns}) VALUES "
                                          f"({', '.join('?' * len(self.item_fields))})",
                                          [new[field] for field in self.item_fields])
                    new["ROWID"] = cursor.lastrowid
                    existing[new["name"]] = new
                    digest = chexor(digest, new["name"], self._row_key(new))
                    self._count(totals, new, +1)
            assignments = ", ".join(f"{key} = ?" for key in totals)
            conn.execute(f"UPDATE {self.stat_table} SET {assignments}, hash = ?", [*totals.values(), digest])
            if source and max_rowid >= 0:
                conn.execute("INSERT INTO incoming_sync (remote_id, sync_point, updated_at) VALUES (?, ?, ?) "
                             "ON CONFLICT(remote_id) DO UPDATE SET sync_point = MAX(sync_point, excluded.sync_point), "
                             "updated_at = excluded.updated_at", (source, max_rowid, Timestamp.now().internal))

    def _row_key(self, row: dict[str, Any]) -> str:
        """What of a row the database hash covers (besides its name)."""
        raise NotImplementedError

    def _totals(self, stat: dict[str, Any]) -> dict[str, int]:
        raise NotImplementedError

    def _count(self, totals: dict[str, int], row: dict[str, Any], sign: int) -> None:
        raise NotImplementedError

    def _merge_row(self, old: dict[str, Any] | None, item: dict[str, Any]) -> dict[str, Any] | None:
        raise NotImplementedError

    def reclaim(self, age_timestamp: str) -> None:
        """Remove deleted rows and metadata older than reclaim_age (every replica has seen them)."""
        self.commit_pending()
        with self.transaction() as conn:
            conn.execute(f"DELETE FROM {self.item_table} WHERE deleted = 1 AND {self._reclaim_field} < ?",
                         (age_timestamp,))
            current = json.loads(conn.execute(f"SELECT metadata FROM {self.stat_table}").fetchone()[0] or "{}")
            kept = {key: value for key, value in current.items() if value[0] != "" or value[1] >= age_timestamp}
            if kept != current:
                conn.execute(f"UPDATE {self.stat_table} SET metadata = ?", (json.dumps(kept),))

    _reclaim_field = "created_at"

    def delete_db_files(self) -> None:
        """Remove the database (a handoff copy handed over, or one reclaimed)."""
        forget_connections(self.db_file)
        directory = os.path.dirname(self.db_file)
        for name in os.listdir(directory) if os.path.isdir(directory) else ():
            try:
                os.unlink(os.path.join(directory, name))
            except FileNotFoundError:
                pass
        try:
            os.rmdir(directory)
        except OSError:
            pass

    def quarantine(self, reason: str) -> str:
        forget_connections(self.db_file)
        directory = os.path.dirname(self.db_file)
        target_dir = os.path.join(self._device_path(), "quarantined", self.db_type + "s")
        os.makedirs(target_dir, exist_ok=True)
        target = os.path.join(target_dir, os.path.basename(directory))
        if os.path.exists(target):
            target += "-" + uuid.uuid4().hex
        os.rename(directory, target)
        LOG.warning("quarantined the %s database %s to %s: %s", self.db_type, self.db_file, target, reason)
        return target

    def check_integrity(self) -> str | None:
        """None when SQLite finds nothing wrong (the auditor's check)."""
        try:
            with self.get() as conn:
                result = conn.execute("PRAGMA quick_check").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            return str(exc)
        return None if result == "ok" else result


def _is_corruption(exc: sqlite3.DatabaseError) -> bool:
    text = str(exc).lower()
    return "malformed" in text or "not a database" in text or "disk i/o" in text


def _metadata_problem(metadata: dict[str, list[str]], db_type: str) -> str | None:
    prefix = f"x-{db_type}-meta-"
    count = size = 0
    for key, (value, _ts) in metadata.items():
        if not key.lower().startswith(prefix) or value == "":
            continue
        count += 1
        size += len(key) - len(prefix) + len(value)
    if count > constraints.MAX_META_COUNT:
        return f"Too many metadata items; max {constraints.MAX_META_COUNT}"
    if size > constraints.MAX_META_OVERALL_SIZE:
        return f"Total metadata too large; max {constraints.MAX_META_OVERALL_SIZE}"
    return None


def list_names(query: Callable[[list[str], list[Any], int, bool], list[tuple]], limit: int, marker: str,
               end_marker: str | None, prefix: str | None, delimiter: str | None, path: str | None = None,
               reverse: bool = False, subdir: Callable[[str], tuple] = lambda name: (name,)) -> list[tuple]:
    """Swift's listing walk over names (objects or containers): prefix, delimiter (a "subdir"
    row for each common prefix), path (prefix + "/" delimiter, only direct children), markers,
    reverse.  `query(conditions, args, limit, reverse)` returns rows whose first item is the name."""
    if reverse:
        marker, end_marker = end_marker or "", marker or None
    if path is not None:
        prefix = path
        if path:
            prefix = path = path.rstrip("/") + "/"
        delimiter = "/"
    elif delimiter and not prefix:
        prefix = ""
    end_prefix = prefix[:-1] + chr(ord(prefix[-1]) + 1) if prefix else None
    original_marker = marker
    force_gte = False
    results: list[tuple] = []
    while len(results) < limit:
        conditions: list[str] = []
        args: list[Any] = []
        if end_marker and (not prefix or end_marker < end_prefix):  # type: ignore[operator]
            conditions.append("name < ?")
            args.append(end_marker)
        elif prefix:
            conditions.append("name < ?")
            args.append(end_prefix)
        if force_gte:
            conditions.append("name >= ?")
            args.append(marker)
            force_gte = False
        elif marker and (not prefix or marker >= prefix):
            conditions.append("name > ?")
            args.append(marker)
        elif prefix:
            conditions.append("name >= ?")
            args.append(prefix)
        rows = query(conditions, args, limit - len(results), reverse)
        if prefix is None or not delimiter:
            return [*results, *rows]
        if not rows:
            break
        restart = False
        for row in rows:
            name = row[0]
            if reverse:
                end_marker = name
            else:
                marker = name
            if len(results) >= limit:
                return results
            end = name.find(delimiter, len(prefix))
            if path is not None and name == path:
                continue
            if end >= 0:
                if path is not None and len(name) <= end + len(delimiter):
                    results.append(row)
                    continue
                if reverse:
                    end_marker = name[:end + len(delimiter)]
                else:
                    marker = name[:end] + delimiter[:-1] + chr(ord(delimiter[-1]) + 1)
                    force_gte = True
                dir_name = name[:end + len(delimiter)]
                if path is None and dir_name != original_marker:
                    results.append(subdir(dir_name))
                restart = True
                break
            results.append(row)
        if not restart:
            break
    return results


def storage_path(devices_dir: str, device: str, datadir: str, partition: str | int, name_hash: str) -> str:
    return os.path.join(devices_dir, device, datadir, str(partition), name_hash[-3:], name_hash,
                        name_hash + ".db")
