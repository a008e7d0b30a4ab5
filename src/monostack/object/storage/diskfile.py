"""Objects on disk, laid out as Swift lays them out.

    <device>/objects/<partition>/<suffix>/<hash>/<timestamp>.data   the object (metadata in xattrs)
                                                  <timestamp>.ts     a tombstone (deleted)
                                                  <timestamp>.meta   metadata of a later POST
    <device>/objects/<partition>/hashes.json      suffix -> md5 of its files' names (replication)
    <device>/objects/<partition>/hashes.invalid   suffixes changed since (appended by writers)
    <device>/tmp/                                 writes in progress
    <device>/quarantined/objects/<hash>/          what the auditor or a reader found corrupt
    <device>/async_pending/<suffix>/<hash>-<ts>   container updates to retry (the updater's)

(`objects-N`, `async_pending-N` for storage policy N > 0.)  <hash> is the md5 of the name with
the cluster's secret prefix/suffix, <suffix> its last three hex digits.  A write goes to a
temporary file, is fsynced with its metadata and renamed into place, so a reader sees a whole
object or none; the newest file of a hash directory wins and the older ones are removed.

Metadata is JSON in the `user.swift.metadata` xattr; on a filesystem that refuses it (or for
metadata too large for the inode) it goes to a sidecar file `<name>.xattr` renamed into place
before the file it describes.  Everything here is blocking: callers run it in worker threads.
"""

from __future__ import annotations

import concurrent.futures
import ctypes
import errno
import fcntl
import hashlib
import json
import logging
import os
import random
import time
import uuid
from typing import Any, Iterator

from monostack.object.ring.hashing import HashPath
from monostack.object.storage.timestamp import Timestamp

LOG = logging.getLogger(__name__)

METADATA_XATTR = "user.swift.metadata"
SIDECAR = ".xattr"
HASH_FILE = "hashes.json"
INVALID_FILE = "hashes.invalid"
LOCK_FILE = ".lock"
ONE_WEEK = 604800

# sync_file_range(2): start writing back what a large upload wrote, and wait for older ranges, so
# the final fsync has little left to do and the page cache does not fill with one object.
_SYNC_WRITE, _SYNC_WAIT = 2, 1 | 2 | 4
try:
    _libc = ctypes.CDLL(None, use_errno=True)
    _sync_file_range = _libc.sync_file_range
    _sync_file_range.argtypes = [ctypes.c_int, ctypes.c_longlong, ctypes.c_longlong, ctypes.c_uint]
except (OSError, AttributeError):  # not Linux
    _sync_file_range = None


def sync_range(fd: int, offset: int, length: int, wait: bool) -> None:
    if _sync_file_range is not None:
        _sync_file_range(fd, offset, length, _SYNC_WAIT if wait else _SYNC_WRITE)


class DiskFileError(Exception):
    """Something on disk is not as it should be."""


class DeviceUnavailable(DiskFileError):
    """The device directory is missing (an unmounted disk): 507."""


class DiskFileNotExist(DiskFileError):
    def __init__(self, timestamp: Timestamp | None = None, metadata: dict | None = None):
        super().__init__(timestamp)
        self.timestamp = timestamp
        self.metadata = metadata or {}


class DiskFileDeleted(DiskFileNotExist):
    """The newest file is a tombstone."""


class DiskFileExpired(DiskFileNotExist):
    """The object's X-Delete-At has passed."""


class DiskFileCollision(DiskFileError):
    """Two names with the same hash (403, as Swift)."""


class DiskFileQuarantined(DiskFileNotExist):
    """Found corrupt and moved aside."""


class DiskFileNoSpace(DiskFileError):
    pass


# -- metadata --------------------------------------------------------------------------------------------
def write_metadata(fd: int, path: str, metadata: dict[str, Any]) -> bool:
    """Into the xattr of the open file `fd`, else into `path`.xattr (then True)."""
    data = json.dumps(metadata, separators=(",", ":")).encode("utf-8")
    try:
        os.setxattr(fd, METADATA_XATTR, data)
        return False
    except OSError as exc:
        if exc.errno not in (errno.ENOTSUP, errno.ENOSPC, errno.E2BIG, errno.ERANGE, errno.EPERM):
            raise
    sidecar = os.open(path + SIDECAR, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(sidecar, data)
        os.fsync(sidecar)
    finally:
        os.close(sidecar)
    return True


def read_metadata(path: str) -> dict[str, Any]:
    try:
        data = os.getxattr(path, METADATA_XATTR)
    except OSError as exc:
        if exc.errno not in (errno.ENODATA, errno.ENOTSUP):
            raise
        try:
            with open(path + SIDECAR, "rb") as sidecar:
                data = sidecar.read()
        except FileNotFoundError:
            raise DiskFileError(f"no metadata for {path}") from None
    try:
        metadata = json.loads(data)
    except ValueError:
        raise DiskFileError(f"unreadable metadata for {path}") from None
    if not isinstance(metadata, dict):
        raise DiskFileError(f"unreadable metadata for {path}")
    return metadata


# -- paths -----------------------------------------------------------------------------------------------
def data_dir_name(policy: int) -> str:
    return "objects" if policy == 0 else f"objects-{policy}"


def async_dir_name(policy: int) -> str:
    return "async_pending" if policy == 0 else f"async_pending-{policy}"


def policy_of_dir(name: str, base: str) -> int | None:
    """'objects' -> 0, 'objects-2' -> 2, anything else None."""
    if name == base:
        return 0
    if name.startswith(base + "-") and name[len(base) + 1:].isdigit():
        return int(name[len(base) + 1:])
    return None


def makedirs_count(path: str) -> int:
    """mkdir -p; returns how many directories it created (they need an fsync of their parent).

    The deepest first: in the usual cases (it is there, or only it or its parent is missing) that
    is one system call per directory, and every one of them is a round trip through the GIL for the
    worker threads that call this."""
    try:
        os.mkdir(path)
        return 1
    except FileExistsError:
        return 0
    except FileNotFoundError:
        parent = os.path.dirname(path)
        if parent == path:
            raise
    created = makedirs_count(parent)
    try:
        os.mkdir(path)
        return created + 1
    except FileExistsError:  # made by someone else in between
        return created


def fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def rename_into(tmp: str, target: str, fsync: bool) -> None:
    """Rename `tmp` to `target`, creating its directories; with `fsync`, make the rename durable
    (the target's directory, and the parents of the directories created)."""
    directory = os.path.dirname(target)
    created = makedirs_count(directory)
    try:
        os.rename(tmp, target)
    except FileNotFoundError:  # a cleaner removed the empty directory in between
        created += makedirs_count(directory)
        os.rename(tmp, target)
    if fsync:
        for _ in range(created + 1):
            fsync_dir(directory)
            directory = os.path.dirname(directory)


# -- the files of one hash directory -----------------------------------------------------------------------
class OnDisk:
    """What a hash directory holds once obsolete files are ignored."""

    __slots__ = ("data", "ts", "meta", "data_timestamp", "ts_timestamp", "meta_timestamp", "obsolete")

    def __init__(self) -> None:
        self.data: str | None = None
        self.ts: str | None = None
        self.meta: str | None = None
        self.data_timestamp: Timestamp | None = None
        self.ts_timestamp: Timestamp | None = None
        self.meta_timestamp: Timestamp | None = None
        self.obsolete: list[str] = []

    @property
    def newest(self) -> Timestamp | None:
        stamps = [t for t in (self.data_timestamp, self.ts_timestamp, self.meta_timestamp) if t is not None]
        return max(stamps) if stamps else None


def classify(names: list[str], reclaim_before: float | None = None) -> OnDisk:
    """Swift's rules: the newest .data or .ts wins; a .meta counts when newer than the .data it
    applies to; everything older is obsolete; a tombstone older than reclaim_age is obsolete too."""
    state = OnDisk()
    parsed: list[tuple[Timestamp, str, str]] = []
    names_set = set(names)
    for name in names:
        if name.endswith(SIDECAR):
            if name[:-len(SIDECAR)] not in names_set:
                state.obsolete.append(name)  # an orphan (a write that died between its two renames)
            continue
        stem, dot, ext = name.rpartition(".")
        if not dot or ext not in ("data", "ts", "meta"):
            state.obsolete.append(name)
            continue
        try:
            parsed.append((Timestamp(stem), ext, name))
        except ValueError:
            state.obsolete.append(name)
    parsed.sort(reverse=True)
    for stamp, ext, name in parsed:
        if ext == "meta":
            if state.meta is None and state.data is None and state.ts is None:
                state.meta, state.meta_timestamp = name, stamp
            else:
                state.obsolete.append(name)
        elif state.data is None and state.ts is None:
            if ext == "data":
                state.data, state.data_timestamp = name, stamp
            else:
                state.ts, state.ts_timestamp = name, stamp
        else:
            state.obsolete.append(name)
    if state.meta is not None and state.data is None:  # metadata of nothing
        state.obsolete.append(state.meta)
        state.meta = state.meta_timestamp = None
    if state.ts is not None and reclaim_before is not None and float(state.ts_timestamp) < reclaim_before:
        state.obsolete.append(state.ts)
        state.ts = state.ts_timestamp = None
    state.obsolete += [name + SIDECAR for name in state.obsolete
                       if not name.endswith(SIDECAR) and name + SIDECAR in names_set]
    return state


def cleanup_hashdir(hashdir: str, reclaim_age: float = ONE_WEEK) -> OnDisk:
    """Remove obsolete files (and the directory once empty); what remains."""
    try:
        names = os.listdir(hashdir)
    except FileNotFoundError:
        return OnDisk()
    state = classify(names, time.time() - reclaim_age)
    for name in state.obsolete:
        try:
            os.unlink(os.path.join(hashdir, name))
        except FileNotFoundError:
            pass
    if state.data is None and state.ts is None:
        try:
            os.rmdir(hashdir)
        except OSError:
            pass
    return state


# -- the manager of a node's devices --------------------------------------------------------------------------
class DiskFileManager:
    """`fsync_workers`: threads for the directory fsyncs a write can run alongside its data's fsync
    (see DiskFile.commit); without them they run one after the other in the writing thread.  They
    must not be the writing threads' own pool (a writer waits for them)."""

    def __init__(self, devices_dir: str, hash_path: HashPath, *, fsync: bool = True,
                 reclaim_age: float = ONE_WEEK, keep_cache_size: int = 5 << 20,
                 fsync_workers: concurrent.futures.Executor | None = None):
        self.devices_dir = str(devices_dir)
        self.hash_path = hash_path
        self.fsync = fsync
        self.reclaim_age = reclaim_age
        self.keep_cache_size = keep_cache_size
        self.fsync_workers = fsync_workers
        self.unnamed_files = hasattr(os, "O_TMPFILE")  # until the filesystem says otherwise
        self._tmp_dirs: set[str] = set()  # device tmp/ directories known to exist

    def device_path(self, device: str) -> str:
        path = os.path.join(self.devices_dir, device)
        if not device or "/" in device or device in (".", "..") or not os.path.isdir(path):
            raise DeviceUnavailable(device)
        return path

    def local_devices(self) -> list[str]:
        try:
            return sorted(name for name in os.listdir(self.devices_dir)
                          if os.path.isdir(os.path.join(self.devices_dir, name)))
        except FileNotFoundError:
            return []

    def diskfile(self, device: str, partition: str | int, account: str, container: str, obj: str,
                 policy: int = 0, check_device: bool = True) -> "DiskFile":
        """An object's files; without `check_device` the device is not looked at yet (the caller
        calls DiskFile.check_device in the worker thread that does the disk work)."""
        if check_device:
            device_path = self.device_path(device)
        elif not device or "/" in device or device in (".", ".."):
            raise DeviceUnavailable(device)
        else:
            device_path = os.path.join(self.devices_dir, device)
        name_hash = self.hash_path.hexdigest(account, container, obj)
        return DiskFile(self, device_path, str(partition), name_hash, policy, f"/{account}/{container}/{obj}")

    def diskfile_from_hash(self, device: str, partition: str | int, name_hash: str, policy: int = 0) -> "DiskFile":
        return DiskFile(self, self.device_path(device), str(partition), name_hash, policy, None)

    def tmp_dir(self, device_path: str) -> str:
        path = os.path.join(device_path, "tmp")
        os.makedirs(path, exist_ok=True)
        return path

    def tmp_name(self, device_path: str, prefix: str) -> str:
        """A new name in the device's tmp/ (made once when missing)."""
        if device_path not in self._tmp_dirs:
            self.tmp_dir(device_path)
            self._tmp_dirs.add(device_path)
        # Unique enough with O_EXCL behind it, and no syscall (uuid4 reads the kernel's random source).
        return os.path.join(device_path, "tmp", f"{prefix}.{random.getrandbits(128):032x}")

    def open_tmp(self, device_path: str, prefix: str) -> tuple[int, str]:
        """A new file in the device's tmp/; its fd and path."""
        tmp = self.tmp_name(device_path, prefix)
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644), tmp
        except FileNotFoundError:  # tmp/ was removed under us
            self.tmp_dir(device_path)
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644), tmp

    # -- suffix hashes ------------------------------------------------------------------------------
    def partition_path(self, device: str, partition: str | int, policy: int = 0) -> str:
        return os.path.join(self.device_path(device), data_dir_name(policy), str(partition))

    @staticmethod
    def invalidate_suffix(suffix_dir: str) -> None:
        """Note that a suffix changed (its hash is recomputed when replication asks)."""
        partition_dir, suffix = os.path.split(suffix_dir)
        fd = os.open(os.path.join(partition_dir, INVALID_FILE), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # not between get_hashes' reading and emptying the file
            os.write(fd, suffix.encode() + b"\n")
        finally:
            os.close(fd)

    def get_hashes(self, device: str, partition: str | int, recalculate: list[str] | None = None,
                   policy: int = 0) -> dict[str, str]:
        """suffix -> md5 of the names of its files, recomputing the suffixes that changed (and
        `recalculate`); also removes what is obsolete or reclaimable on the way."""
        partition_dir = self.partition_path(device, partition, policy)
        if not os.path.isdir(partition_dir):
            return {}
        with _locked(partition_dir):
            hashes: dict[str, str | None]
            try:
                with open(os.path.join(partition_dir, HASH_FILE)) as source:
                    hashes = json.load(source)
                full = False
            except (FileNotFoundError, ValueError):
                hashes, full = {}, True
            invalid_path = os.path.join(partition_dir, INVALID_FILE)
            try:
                with open(invalid_path, "r+") as invalid:
                    fcntl.flock(invalid.fileno(), fcntl.LOCK_EX)
                    for line in invalid:
                        if line.strip():
                            hashes[line.strip()] = None
                    invalid.truncate(0)
            except FileNotFoundError:
                pass
            for suffix in recalculate or ():
                hashes[suffix] = None
            if full:
                for name in os.listdir(partition_dir):
                    if len(name) == 3 and _is_hex(name):
                        hashes[name] = None
            for suffix, value in list(hashes.items()):
                if value is None:
                    digest = self._hash_suffix(os.path.join(partition_dir, suffix))
                    if digest is None:
                        del hashes[suffix]
                    else:
                        hashes[suffix] = digest
            tmp = os.path.join(partition_dir, f".{HASH_FILE}.{uuid.uuid4().hex}")
            with open(tmp, "w") as out:
                json.dump(hashes, out)
            os.replace(tmp, os.path.join(partition_dir, HASH_FILE))
        return hashes  # type: ignore[return-value]

    def _hash_suffix(self, suffix_dir: str) -> str | None:
        try:
            names = sorted(os.listdir(suffix_dir))
        except FileNotFoundError:
            return None
        except NotADirectoryError:
            return None
        md5 = hashlib.md5(usedforsecurity=False)
        found = False
        for name_hash in names:
            state = cleanup_hashdir(os.path.join(suffix_dir, name_hash), self.reclaim_age)
            kept = [name for name in (state.data, state.ts, state.meta) if name]
            if not kept:
                continue
            found = True
            md5.update(name_hash.encode())
            for name in sorted(kept):
                md5.update(name.encode())
        if not found:
            try:
                os.rmdir(suffix_dir)
            except OSError:
                pass
            return None
        return md5.hexdigest()

    def suffix_contents(self, device: str, partition: str | int, suffixes: list[str],
                        policy: int = 0) -> dict[str, dict[str, str]]:
        """hash -> {"data"|"ts"|"meta": timestamp} for the objects of these suffixes (replication)."""
        partition_dir = self.partition_path(device, partition, policy)
        result: dict[str, dict[str, str]] = {}
        for suffix in suffixes:
            suffix_dir = os.path.join(partition_dir, suffix)
            try:
                names = os.listdir(suffix_dir)
            except (FileNotFoundError, NotADirectoryError):
                continue
            for name_hash in names:
                state = cleanup_hashdir(os.path.join(suffix_dir, name_hash), self.reclaim_age)
                entry = {}
                if state.data:
                    entry["data"] = state.data_timestamp.internal  # type: ignore[union-attr]
                if state.ts:
                    entry["ts"] = state.ts_timestamp.internal  # type: ignore[union-attr]
                if state.meta:
                    entry["meta"] = state.meta_timestamp.internal  # type: ignore[union-attr]
                if entry:
                    result[name_hash] = entry
        return result

    # -- quarantine -----------------------------------------------------------------------------------
    def quarantine(self, device_path: str, hashdir: str, policy: int) -> str:
        """Move a hash directory to <device>/quarantined/objects/ (the replicator restores a good copy)."""
        target_dir = os.path.join(device_path, "quarantined", data_dir_name(policy))
        os.makedirs(target_dir, exist_ok=True)
        target = os.path.join(target_dir, os.path.basename(hashdir))
        if os.path.exists(target):
            target += "-" + uuid.uuid4().hex
        try:
            os.rename(hashdir, target)
        except FileNotFoundError:
            return target
        self.invalidate_suffix(os.path.dirname(hashdir))
        LOG.warning("quarantined %s to %s", hashdir, target)
        return target

    # -- container updates for later -------------------------------------------------------------------
    def save_async_update(self, device: str, account: str, container: str, obj: str, data: dict[str, Any],
                          timestamp: str, policy: int) -> None:
        device_path = self.device_path(device)
        name_hash = self.hash_path.hexdigest(account, container, obj)
        target = os.path.join(device_path, async_dir_name(policy), name_hash[-3:], f"{name_hash}-{timestamp}")
        tmp = os.path.join(self.tmp_dir(device_path), uuid.uuid4().hex)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            os.write(fd, json.dumps(data).encode())
            if self.fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
        rename_into(tmp, target, self.fsync)


class _locked:
    """An exclusive lock on a directory (its .lock file), for the suffix hashes."""

    def __init__(self, directory: str):
        self.path = os.path.join(directory, LOCK_FILE)
        self.fd = -1

    def __enter__(self) -> None:
        self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o644)
        fcntl.flock(self.fd, fcntl.LOCK_EX)

    def __exit__(self, *exc: object) -> None:
        os.close(self.fd)


def _is_hex(text: str) -> bool:
    try:
        int(text, 16)
        return True
    except ValueError:
        return False


# -- one object ------------------------------------------------------------------------------------------------
class DiskFile:
    def __init__(self, manager: DiskFileManager, device_path: str, partition: str, name_hash: str,
                 policy: int, name: str | None):
        self.manager = manager
        self.device_path = device_path
        self.partition = partition
        self.hash = name_hash
        self.policy = policy
        self.name = name
        self.hashdir = os.path.join(device_path, data_dir_name(policy), partition, name_hash[-3:], name_hash)
        self.state: OnDisk | None = None
        # The write in progress (create_tmp .. commit): an unnamed file (O_TMPFILE) in the object's
        # directory, or a named one in tmp/; the directories made for it and their fsyncs.
        self.unnamed = False
        self._parents: list[str] = []
        self._pending: list[Any] = []
        self.data_metadata: dict[str, Any] = {}
        self.meta_metadata: dict[str, Any] = {}
        self.metadata: dict[str, Any] = {}

    def check_device(self) -> None:
        if not os.path.isdir(self.device_path):
            raise DeviceUnavailable(os.path.basename(self.device_path))

    # -- reading ----------------------------------------------------------------------------------------
    @property
    def data_path(self) -> str:
        assert self.state is not None and self.state.data is not None
        return os.path.join(self.hashdir, self.state.data)

    @property
    def data_timestamp(self) -> Timestamp | None:
        return self.state.data_timestamp if self.state else None

    def load(self, now: float | None = None, open_expired: bool = False) -> dict[str, Any]:
        """The object's metadata (its .data's, updated by a newer .meta); raises DiskFileNotExist
        (DiskFileDeleted for a tombstone, DiskFileExpired past X-Delete-At)."""
        try:
            names = os.listdir(self.hashdir)
        except FileNotFoundError:
            raise DiskFileNotExist() from None
        state = classify(names)
        self.state = state
        if state.ts is not None:
            try:
                metadata = read_metadata(os.path.join(self.hashdir, state.ts))
            except (OSError, DiskFileError):
                metadata = {}
            raise DiskFileDeleted(state.ts_timestamp, metadata)
        if state.data is None:
            raise DiskFileNotExist()
        data_path = os.path.join(self.hashdir, state.data)
        try:
            self.data_metadata = read_metadata(data_path)
        except FileNotFoundError:
            raise DiskFileNotExist() from None  # replaced under us; the caller may retry
        except (OSError, DiskFileError) as exc:
            self.quarantine(f"bad metadata: {exc}")
        self._check_data_metadata(data_path)
        metadata = dict(self.data_metadata)
        if state.meta is not None:
            try:
                self.meta_metadata = read_metadata(os.path.join(self.hashdir, state.meta))
            except (OSError, DiskFileError):
                self.meta_metadata = {}
            metadata = merge_meta(metadata, self.meta_metadata)
        self.metadata = metadata
        delete_at = metadata.get("X-Delete-At")
        if delete_at and not open_expired:
            try:
                expired = int(delete_at) <= (now if now is not None else time.time())
            except ValueError:
                expired = False
            if expired:
                raise DiskFileExpired(Timestamp(metadata["X-Timestamp"]), metadata)
        return metadata

    def _check_data_metadata(self, data_path: str) -> None:
        metadata = self.data_metadata
        for key in ("name", "X-Timestamp", "Content-Length", "ETag"):
            if key not in metadata:
                self.quarantine(f"metadata without {key}")
        if self.name is not None and metadata["name"] != self.name:
            raise DiskFileCollision(f"{metadata['name']} is stored where {self.name} belongs")
        try:
            size = os.stat(data_path).st_size
        except FileNotFoundError:
            raise DiskFileNotExist() from None
        if str(size) != str(metadata["Content-Length"]):
            self.quarantine(f"size {size} differs from Content-Length {metadata['Content-Length']}")

    def quarantine(self, reason: str) -> None:
        LOG.warning("object %s (%s) is corrupt: %s", self.name or self.hash, self.hashdir, reason)
        self.manager.quarantine(self.device_path, self.hashdir, self.policy)
        raise DiskFileQuarantined()

    def read_all(self, verify: bool = True) -> bytes:
        """The whole (small) object; with `verify`, its md5 is checked against its ETag."""
        with open(self.data_path, "rb") as source:
            data = source.read()
        if verify and hashlib.md5(data, usedforsecurity=False).hexdigest() != self.data_metadata.get("ETag"):
            self.quarantine("md5 differs from ETag")
        return data

    def open_data(self) -> int:
        fd = os.open(self.data_path, os.O_RDONLY)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)
        return fd

    # -- writing ------------------------------------------------------------------------------------------
    def create_tmp(self, size: int | None = None) -> tuple[int, str]:
        """The file a write goes to until `commit` puts it in place; its fd and path.

        As Swift does where it can: an unnamed file (O_TMPFILE) in the object's own directory,
        made first (with the suffix and partition directories when new: the fsyncs of the
        directories that got an entry start now, alongside the writing).  Its inode is allocated
        near the object's directory rather than all in one tmp/ directory every writer of the
        device would queue on, and a write that dies leaves no file behind.  The path returned is
        then a name in tmp/ that only a metadata sidecar may use.
        Else (a filesystem without O_TMPFILE) a named file in the device's tmp/."""
        fd, tmp = self._open_tmp()
        if size:
            try:
                os.posix_fallocate(fd, 0, size)
            except OSError as exc:
                os.close(fd)
                _unlink_quietly(tmp)
                if exc.errno == errno.ENOSPC:
                    raise DiskFileNoSpace() from None
                if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL):
                    raise
                fd, tmp = self._open_tmp()
        return fd, tmp

    def _open_tmp(self) -> tuple[int, str]:
        if not self._parents and not self._pending:
            self._parents = self._make_dirs()
            if self.manager.fsync:
                self._pending = self._fsync_dirs(self._parents)
        if self.manager.unnamed_files:
            try:
                fd = os.open(self.hashdir, os.O_TMPFILE | os.O_WRONLY | os.O_CLOEXEC, 0o644)
            except OSError as exc:
                if exc.errno not in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL):
                    raise
                LOG.info("no unnamed temporary files (O_TMPFILE) on %s: named ones in tmp/", self.device_path)
                self.manager.unnamed_files = False
            else:
                self.unnamed = True
                return fd, self.manager.tmp_name(self.device_path, self.hash)
        self.unnamed = False
        return self.manager.open_tmp(self.device_path, self.hash)

    def commit(self, fd: int, tmp: str, timestamp: str, ext: str, metadata: dict[str, Any],
               size: int | None = None) -> None:
        """Metadata, fsync, link or rename into place, drop what it makes obsolete, mark the suffix
        changed.  Closes `fd`.

        A .data file is fsynced before it gets its name, so that its name never reaches the disk
        before its bytes.  A tombstone or a .meta is an empty file whose metadata (inode, xattr) is
        journaled like the link that follows it: the fsync of the directory after it makes both
        durable, one journal commit instead of two.  The fsyncs of the directories create_tmp made
        ran meanwhile; every one of them is done before this returns, i.e. before the write is
        acknowledged: the data, its name, and the path to it."""
        target = os.path.join(self.hashdir, f"{timestamp}.{ext}")
        pending, self._pending = self._pending, []
        parents, self._parents = self._parents, []
        closed = False
        try:
            try:
                if size is not None:
                    os.ftruncate(fd, size)  # what fallocate reserved beyond a short body
                try:
                    sidecar = write_metadata(fd, tmp, metadata)
                except OSError as exc:
                    if exc.errno == errno.ENOSPC:
                        raise DiskFileNoSpace() from None
                    raise
                if self.manager.fsync and ext == "data":
                    os.fsync(fd)
                if size is not None and size > self.manager.keep_cache_size:
                    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                if sidecar:
                    rename_into(tmp + SIDECAR, target + SIDECAR, False)
                if self.unnamed:
                    try:
                        _link_fd(fd, target)
                    except FileNotFoundError:  # a cleaner removed the (still empty) directory meanwhile
                        made = self._make_dirs()
                        parents += made
                        pending += self._fsync_dirs(made)
                        _link_fd(fd, target)
                    os.close(fd)
                    closed = True
                    if self.manager.fsync:
                        fsync_dir(self.hashdir)
                else:
                    os.close(fd)
                    closed = True
                    rename_into(tmp, target, self.manager.fsync)
            except BaseException:
                if not closed:
                    os.close(fd)
                _unlink_quietly(tmp)
                _unlink_quietly(tmp + SIDECAR)
                raise
        except BaseException:
            _wait_all(pending, quietly=True)
            raise
        _wait_all(pending)  # (raises what a directory's fsync raised: the write is not acknowledged)
        if not parents:  # (in a directory this write made there is nothing older to remove)
            cleanup_hashdir(self.hashdir, self.manager.reclaim_age)
        self.manager.invalidate_suffix(os.path.dirname(self.hashdir))

    def _make_dirs(self) -> list[str]:
        """Make the object's directory and those above it that are missing; the directories that
        got a new entry (each needs an fsync), nearest first."""
        created = makedirs_count(self.hashdir)
        parents = []
        directory = self.hashdir
        for _ in range(created):
            directory = os.path.dirname(directory)
            parents.append(directory)
        return parents

    def _fsync_dirs(self, directories: list[str]) -> list[Any]:
        """fsync these directories, on the manager's fsync threads if it has some (futures to wait
        for), else here and now."""
        workers = self.manager.fsync_workers
        if workers is None:
            for directory in directories:
                fsync_dir(directory)
            return []
        return [workers.submit(fsync_dir, directory) for directory in directories]

    def put(self, data: bytes, timestamp: str, metadata: dict[str, Any]) -> None:
        """A small object, written in one go."""
        fd, tmp = self.create_tmp()
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        except BaseException:
            os.close(fd)
            _unlink_quietly(tmp)
            raise
        self.commit(fd, tmp, timestamp, "data", metadata)

    def write_marker(self, timestamp: str, ext: str, metadata: dict[str, Any]) -> None:
        """A tombstone (.ts) or a metadata update (.meta): an empty file with metadata."""
        fd, tmp = self.create_tmp()
        self.commit(fd, tmp, timestamp, ext, metadata)


def _link_fd(fd: int, target: str) -> None:
    """Give the unnamed file `fd` the name `target` (a file already there with this very name, the
    same timestamp, is replaced, as a rename would)."""
    # linkat(..., AT_SYMLINK_FOLLOW) on the /proc link of the fd (os.link uses plain link(2), which
    # does not follow it, unless a dir_fd is given: one is, ignored with an absolute path).
    source = f"/proc/self/fd/{fd}"
    try:
        os.link(source, target, src_dir_fd=fd, follow_symlinks=True)
    except FileExistsError:
        _unlink_quietly(target)
        os.link(source, target, src_dir_fd=fd, follow_symlinks=True)


def _wait_all(futures: list[Any], quietly: bool = False) -> None:
    """Wait for every future; then raise the first error among them (unless `quietly`)."""
    error = None
    for future in futures:
        try:
            future.result()
        except BaseException as exc:  # noqa: BLE001  (re-raised below, after the others finished)
            error = error or exc
    if error is not None and not quietly:
        raise error


def merge_meta(data_metadata: dict[str, Any], meta_metadata: dict[str, Any]) -> dict[str, Any]:
    """The metadata of an object with a newer POST (.meta), as Swift merges them: the POST's
    replaces everything but what describes the data (name, length, ETag, content type unless the
    POST changed it, the large-object flag and system metadata)."""
    merged = dict(meta_metadata)
    for key, value in data_metadata.items():
        lower = key.lower()
        if lower in DATAFILE_KEPT or lower.startswith("x-object-sysmeta-"):
            merged[key] = value
        elif lower in ("content-type", "content-type-timestamp") and "Content-Type" not in meta_metadata:
            merged[key] = value
    return merged


DATAFILE_KEPT = frozenset(("name", "content-length", "etag", "deleted", "x-static-large-object"))


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def iter_hashdirs(partition_dir: str) -> Iterator[tuple[str, str]]:
    """(suffix, hash directory) of a partition."""
    try:
        suffixes = os.listdir(partition_dir)
    except (FileNotFoundError, NotADirectoryError):
        return
    for suffix in suffixes:
        if len(suffix) != 3 or not _is_hex(suffix):
            continue
        suffix_dir = os.path.join(partition_dir, suffix)
        try:
            names = os.listdir(suffix_dir)
        except (FileNotFoundError, NotADirectoryError):
            continue
        for name in names:
            yield suffix, os.path.join(suffix_dir, name)
