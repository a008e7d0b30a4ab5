"""The object server: Swift's backend protocol for objects, on this node's devices.

    PUT/GET/HEAD/POST/DELETE /<device>/<partition>/<account>/<container>/<object>
    REPLICATE /<device>/<partition>[/<suffix>-<suffix>...]   suffix hashes (JSON)
    SSYNC /<device>/<partition>                               which of the sender's objects we lack

Small objects are handled in one worker-thread call each (read or write and fsync in one go);
large ones stream through `streams`.  After a write the container servers named by the proxy
(X-Container-Host/-Device/-Partition) are told; an update that fails is saved for the updater.
Requests with X-Backend-Replication come from the replicator: they store exactly what they carry
and update no container.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import json
import logging
import time
from typing import Any

from monostack.object.proxy.backend import BackendError, BackendPool
from monostack.object.proxy.http import (conditional_status, content_range, last_modified_from_timestamp,
                                         multipart_headers, new_boundary, parse_range, ranges_for_length)
from monostack.object.storage import constraints, diskfile, expiring
from monostack.object.storage.base import (HTTPError, Request, Response, StorageServer, check_names, title,
                                           error_response, header_timestamp, validate_partition)
from monostack.object.storage.diskfile import (DeviceUnavailable, DiskFile, DiskFileCollision, DiskFileDeleted,
                                               DiskFileExpired, DiskFileManager, DiskFileNoSpace, DiskFileNotExist)
from monostack.object.storage.streams import SHARED_MD5, FileBody, WritePipeline, read_chunks
from monostack.object.storage.timestamp import Timestamp

LOG = logging.getLogger(__name__)

EMPTY_ETAG = "d41d8cd98f00b204e9800998ecf8427e"
UPDATE_OVERRIDE_PREFIXES = ("x-backend-container-update-override-", "x-object-sysmeta-container-update-override-")
USER_PREFIXES = ("x-object-meta-", "x-object-transient-sysmeta-")
SYSMETA_PREFIX = "x-object-sysmeta-"


def _is_user_meta(key: str) -> bool:
    lower = key.lower()
    return lower.startswith(USER_PREFIXES)


def _is_any_meta(key: str) -> bool:
    lower = key.lower()
    return lower.startswith(USER_PREFIXES) or lower.startswith(SYSMETA_PREFIX)


class ObjectServer(StorageServer):
    server_type = "object-server"
    methods = frozenset(("PUT", "GET", "HEAD", "POST", "DELETE", "REPLICATE", "SSYNC"))

    def __init__(self, diskfiles: DiskFileManager, pool: BackendPool, *, policies: frozenset[int] = frozenset({0}),
                 small_object_size: int = 65536, disk_chunk_size: int = 1 << 20,
                 container_update_timeout: float = 1.0, client_timeout: float = 60.0, workers: Any = None,
                 expirer_divisor: int = expiring.DIVISOR):
        super().__init__(diskfiles.devices_dir, workers=workers, client_timeout=client_timeout)
        self.diskfiles = diskfiles
        self.pool = pool
        self.policies = policies
        self.small_object_size = small_object_size
        self.disk_chunk_size = disk_chunk_size
        self.container_update_timeout = container_update_timeout
        self.expirer_divisor = expirer_divisor
        # Each large upload keeps two threads (md5, write) for as long as it lasts: they get their own
        # pool, so that many of them never leave small requests waiting for a worker.
        self.stream_workers = concurrent.futures.ThreadPoolExecutor(256, thread_name_prefix="object-stream")

    async def close(self) -> None:
        await super().close()
        self.stream_workers.shutdown(wait=False, cancel_futures=True)

    # -- request parsing -----------------------------------------------------------------------------
    def _policy(self, request: Request) -> int:
        value = request.headers.get("x-backend-storage-policy-index", "0")
        try:
            policy = int(value)
        except ValueError:
            raise HTTPError(503, f"No policy with index {value}", content_type="text/plain") from None
        if policy not in self.policies:
            raise HTTPError(503, f"No policy with index {value}", content_type="text/plain")
        return policy

    def _object(self, request: Request) -> tuple[DiskFile, str, str, str, str, int]:
        device, partition, account, container, obj = request.split(5, 5, True)
        validate_partition(partition)
        check_names(account, container, obj)
        policy = self._policy(request)
        try:  # the device itself is checked by the worker thread that then touches the disk
            df = self.diskfiles.diskfile(device, partition, account, container, obj, policy,  # type: ignore[arg-type]
                                         check_device=False)
        except DeviceUnavailable:
            raise HTTPError(507) from None
        return df, device, account, container, obj, policy  # type: ignore[return-value]

    # -- PUT -----------------------------------------------------------------------------------------
    async def PUT(self, request: Request) -> Response:
        df, device, account, container, obj, policy = self._object(request)
        headers = request.headers
        timestamp = request.timestamp()
        replication = request.true("x-backend-replication")
        length = request.content_length
        if length is not None and length > constraints.MAX_FILE_SIZE:
            raise HTTPError(413, "Your request is too large.", content_type="text/plain")
        if length is None and not request.chunked:
            raise HTTPError(411, "Missing Content-Length header.", content_type="text/plain")
        if len(obj) > constraints.MAX_OBJECT_NAME_LENGTH:
            raise HTTPError(400, f"Object name length of {len(obj)} longer than {constraints.MAX_OBJECT_NAME_LENGTH}",
                            content_type="text/plain")
        if "content-type" not in headers:
            raise HTTPError(400, "No content type", content_type="text/plain")
        problem = constraints.check_delete_at(headers, float(timestamp), replication) \
            or constraints.check_metadata(headers, "object")
        if problem:
            raise HTTPError(400, problem, content_type="text/plain")
        try:
            headers["content-type"].encode("latin-1").decode("utf-8")
        except UnicodeError:
            raise HTTPError(400, "Invalid Content-Type", content_type="text/plain") from None
        metadata = self._put_metadata(request, df, timestamp, replication)
        expected = headers.get("etag", "").strip().strip('"').lower()

        if length is not None and length <= self.small_object_size:
            body = await request.read(self.client_timeout, limit=length)
            if len(body) != length:
                raise HTTPError(499)
            orig, etag = await self.run(self._put_small, df, body, timestamp, metadata, headers, expected)
        else:
            orig, etag = await self._put_large(request, df, timestamp, metadata, length, expected)

        if not replication:
            await self._after_put(request, df, account, container, obj, device, policy, orig, metadata)
        return Response(201, {"ETag": etag, "Content-Type": "text/html; charset=UTF-8"})

    def _put_metadata(self, request: Request, df: DiskFile, timestamp: Timestamp,
                      replication: bool) -> dict[str, Any]:
        headers = request.headers
        metadata: dict[str, Any] = {"name": df.name, "X-Timestamp": timestamp.internal,
                                    "Content-Type": headers["content-type"]}
        for key, value in headers.items():
            if _is_any_meta(key):
                metadata[title(key)] = value
        copied = list(constraints.ALLOWED_HEADERS)
        if replication:
            copied += headers.get("x-backend-replication-headers", "").lower().split()
        for key in copied:
            if key in headers and key not in ("content-length", "etag", "x-timestamp", "content-type", "name"):
                metadata[title(key)] = headers[key]
        return metadata

    def _check_existing(self, df: DiskFile, timestamp: Timestamp, headers: dict[str, str]) -> dict[str, Any]:
        """The current object's metadata ({} if none); 412 for If-None-Match, 409 when it is newer."""
        df.check_device()
        try:
            orig = df.load(float(timestamp))
            orig_timestamp = df.data_timestamp
        except DiskFileDeleted as exc:
            orig, orig_timestamp = {}, exc.timestamp
        except DiskFileExpired as exc:
            orig, orig_timestamp = {}, Timestamp(exc.metadata.get("X-Timestamp", 0))
        except DiskFileNotExist:
            orig, orig_timestamp = {}, None
        if_none_match = headers.get("if-none-match")
        if if_none_match is not None and orig:
            tags = [tag.strip().strip('"') for tag in if_none_match.split(",")]
            if "*" in tags or orig.get("ETag") in tags:
                raise HTTPError(412)
        if orig_timestamp is not None and orig_timestamp >= timestamp:
            raise HTTPError(409, headers={"X-Backend-Timestamp": orig_timestamp.internal})
        return orig

    def _put_small(self, df: DiskFile, body: bytes, timestamp: Timestamp, metadata: dict[str, Any],
                   headers: dict[str, str], expected: str) -> tuple[dict[str, Any], str]:
        orig = self._check_existing(df, timestamp, headers)
        etag = hashlib.md5(body, usedforsecurity=False).hexdigest()
        if expected and expected != etag:
            raise HTTPError(422)
        metadata["ETag"] = etag
        metadata["Content-Length"] = str(len(body))
        try:
            df.put(body, timestamp.internal, metadata)
        except DiskFileNoSpace:
            raise HTTPError(507) from None
        return orig, etag

    def _put_open(self, df: DiskFile, timestamp: Timestamp, headers: dict[str, str],
                  length: int | None) -> tuple[dict[str, Any], int, str]:
        orig = self._check_existing(df, timestamp, headers)
        try:
            fd, tmp = df.create_tmp(length)
        except DiskFileNoSpace:
            raise HTTPError(507) from None
        return orig, fd, tmp

    async def _put_large(self, request: Request, df: DiskFile, timestamp: Timestamp, metadata: dict[str, Any],
                         length: int | None, expected: str) -> tuple[dict[str, Any], str]:
        orig, fd, tmp = await self.run(self._put_open, df, timestamp, request.headers, length)
        pipeline = WritePipeline(fd, self.stream_workers, self.disk_chunk_size,
                                 drop_cache_after=self.diskfiles.keep_cache_size,
                                 shared_md5=request.scope.get(SHARED_MD5))
        committed = False
        try:
            async for chunk in request.chunks(self.client_timeout):
                await pipeline.feed(chunk)
                if length is not None and pipeline.size > length:
                    raise HTTPError(400, "Request body longer than Content-Length", content_type="text/plain")
            if length is not None and pipeline.size != length:
                raise HTTPError(499)
            try:
                etag = await pipeline.finish()
            except OSError as exc:
                LOG.error("writing %s failed: %s", df.name, exc)
                raise HTTPError(507) from None
            if expected and expected != etag:
                raise HTTPError(422)
            metadata["ETag"] = etag
            metadata["Content-Length"] = str(pipeline.size)
            try:
                await self.run(df.commit, fd, tmp, timestamp.internal, "data", metadata, pipeline.size)
            except DiskFileNoSpace:
                raise HTTPError(507) from None
            finally:
                committed = True  # commit closes the file and removes it when it fails
            return orig, etag
        finally:
            if not committed:
                await pipeline.abort()
                await self.run(_discard, fd, tmp)

    async def _after_put(self, request: Request, df: DiskFile, account: str, container: str, obj: str,
                         device: str, policy: int, orig: dict[str, Any], metadata: dict[str, Any]) -> None:
        await self._delete_at_updates(request, account, container, obj, device, policy,
                                      orig.get("X-Delete-At"), request.headers.get("x-delete-at"), metadata)
        update = {"x-size": metadata["Content-Length"], "x-content-type": metadata["Content-Type"],
                  "x-timestamp": metadata["X-Timestamp"], "x-etag": metadata["ETag"]}
        self._apply_overrides(update, request.headers)
        await self.container_update("PUT", account, container, obj, request, update, device, policy)

    @staticmethod
    def _apply_overrides(update: dict[str, str], source: dict[str, str]) -> None:
        """What middlewares ask the listing to show instead (SLO sizes, encrypted ETags)."""
        for prefix in UPDATE_OVERRIDE_PREFIXES:
            for key, value in source.items():
                lower = key.lower()
                if lower.startswith(prefix):
                    update["x-" + lower[len(prefix):]] = value

    # -- GET / HEAD ----------------------------------------------------------------------------------
    def _open(self, df: DiskFile, now: float, open_expired: bool, want_data: bool) -> tuple[dict, bytes | None, int]:
        df.check_device()
        metadata = df.load(now, open_expired)
        size = int(metadata["Content-Length"])
        if not want_data:
            return metadata, None, -1
        if size <= self.small_object_size:
            return metadata, df.read_all(verify=True), -1
        return metadata, None, df.open_data()

    async def GET(self, request: Request) -> Response:
        return await self._get_or_head(request, True)

    async def HEAD(self, request: Request) -> Response:
        return await self._get_or_head(request, False)

    async def _get_or_head(self, request: Request, want_data: bool) -> Response:
        df, *_ = self._object(request)
        now = float(request.timestamp()) if "x-timestamp" in request.headers else time.time()
        open_expired = request.true("x-backend-open-expired") or request.true("x-backend-replication")
        try:
            metadata, data, fd = await self.run(self._open, df, now, open_expired, want_data)
        except DiskFileNotExist as exc:
            headers = {"X-Backend-Timestamp": exc.timestamp.internal} if exc.timestamp else {}
            if request.headers.get("if-match") is not None:
                return error_response(412, headers=headers)
            return error_response(404, headers=headers)
        except DiskFileCollision:
            raise HTTPError(403) from None
        try:
            response = self._object_response(request, df, metadata, data, fd)
        except BaseException:
            if fd >= 0:
                await self.run(_close, fd)
            raise
        if fd >= 0 and response.stream is None:  # a 304/412/416: the file is not read
            await self.run(_close, fd)
        return response

    def _object_response(self, request: Request, df: DiskFile, metadata: dict[str, Any], data: bytes | None,
                         fd: int) -> Response:
        headers = {"Content-Type": metadata.get("Content-Type", "application/octet-stream")}
        for key, value in metadata.items():
            if _is_any_meta(key) or key.lower() in constraints.ALLOWED_HEADERS:
                headers[key] = value
        timestamp = Timestamp(metadata["X-Timestamp"])
        size = int(metadata["Content-Length"])
        headers["ETag"] = metadata["ETag"]
        headers["Last-Modified"] = last_modified_from_timestamp(timestamp.normal)
        headers["X-Timestamp"] = timestamp.normal
        headers["X-Backend-Timestamp"] = timestamp.internal
        headers["X-Backend-Data-Timestamp"] = df.data_timestamp.internal  # type: ignore[union-attr]
        headers["X-Backend-Durable-Timestamp"] = df.data_timestamp.internal  # type: ignore[union-attr]
        headers["Accept-Ranges"] = "bytes"
        conditional_etag = metadata["ETag"]
        etag_at = request.headers.get("x-backend-etag-is-at")
        if etag_at:
            for key in (name.strip() for name in etag_at.split(",")):
                found = next((value for name, value in metadata.items() if name.lower() == key.lower()), None)
                if found is not None:
                    conditional_etag = found
                    break
        status = conditional_status(request.headers, conditional_etag, float(timestamp.ceil()))
        if status is not None:
            headers["Content-Length"] = "0"
            return Response(status, headers)
        ranges = None
        if not self._ignore_range(request, metadata):
            ranges = parse_range(request.headers.get("range"))
        if ranges is None:
            headers["Content-Length"] = str(size)
            return Response(200, headers, data or b"", None if data is not None or fd < 0 else
                            FileBody(fd, 0, size, self.workers, self.disk_chunk_size,
                                     drop_behind=size > self.diskfiles.keep_cache_size))
        spans = ranges_for_length(ranges, size)
        if not spans:
            headers["Content-Range"] = f"bytes */{size}"
            body = b"<html><h1>Requested Range Not Satisfiable</h1><p>The Range requested is not available.</p></html>"
            headers["Content-Type"] = "text/html; charset=UTF-8"
            return Response(416, headers, body)
        if len(spans) == 1:
            start, stop = spans[0]
            headers["Content-Range"] = content_range(start, stop, size)
            headers["Content-Length"] = str(stop - start)
            if data is not None:
                return Response(206, headers, data[start:stop])
            stream = None if fd < 0 else FileBody(fd, start, stop, self.workers, self.disk_chunk_size,
                                                  drop_behind=size > self.diskfiles.keep_cache_size)
            return Response(206, headers, b"", stream)
        boundary = new_boundary()
        content_type = headers["Content-Type"]
        headers["Content-Type"] = f"multipart/byteranges;boundary={boundary}"
        if data is not None:
            parts = []
            for start, stop in spans:
                parts.append(multipart_headers(boundary, content_type, start, stop, size))
                parts.append(data[start:stop] + b"\r\n")
            parts.append(f"--{boundary}--".encode())
            body = b"".join(parts)
            headers["Content-Length"] = str(len(body))
            return Response(206, headers, body)
        pieces = [(multipart_headers(boundary, content_type, start, stop, size), start, stop) for start, stop in spans]
        headers["Content-Length"] = str(sum(len(head) + stop - start + 2 for head, start, stop in pieces)
                                        + len(boundary) + 4)
        return Response(206, headers, b"", self._multipart(fd, pieces, boundary) if fd >= 0 else None)

    async def _multipart(self, fd: int, pieces: list[tuple[bytes, int, int]], boundary: str) -> Any:
        try:
            for head, start, stop in pieces:
                yield head
                async for chunk in read_chunks(fd, start, stop, self.workers, self.disk_chunk_size, close=False):
                    yield chunk
                yield b"\r\n"
            yield f"--{boundary}--".encode()
        finally:
            await self.run(_close, fd)

    @staticmethod
    def _ignore_range(request: Request, metadata: dict[str, Any]) -> bool:
        names = request.headers.get("x-backend-ignore-range-if-metadata-present")
        if not names:
            return False
        present = {key.lower() for key in metadata}
        return any(name.strip().lower() in present for name in names.split(","))

    # -- POST ------------------------------------------------------------------------------------------
    async def POST(self, request: Request) -> Response:
        df, device, account, container, obj, policy = self._object(request)
        headers = request.headers
        timestamp = request.timestamp()
        replication = request.true("x-backend-replication")
        problem = constraints.check_delete_at(headers, float(timestamp), replication) \
            or constraints.check_metadata(headers, "object")
        if problem:
            raise HTTPError(400, problem, content_type="text/plain")
        ctype_timestamp = None
        if "content-type" in headers:
            ctype_timestamp = header_timestamp(headers, "content-type-timestamp") or timestamp
        try:
            orig, metadata = await self.run(self._post, df, timestamp, ctype_timestamp, headers, replication)
        except DiskFileNotExist as exc:
            extra = {"X-Backend-Timestamp": exc.timestamp.internal} if exc.timestamp else {}
            return error_response(404, headers=extra)
        except DiskFileCollision:
            raise HTTPError(403) from None
        if not replication:
            await self._delete_at_updates(request, account, container, obj, device, policy,
                                          orig.get("X-Delete-At"), headers.get("x-delete-at"), df.data_metadata)
            update = {"x-size": orig["Content-Length"], "x-content-type": metadata["Content-Type"],
                      "x-timestamp": df.data_timestamp.internal,  # type: ignore[union-attr]
                      "x-content-type-timestamp": metadata.get("Content-Type-Timestamp",
                                                               df.data_timestamp.internal),  # type: ignore[union-attr]
                      "x-meta-timestamp": timestamp.internal, "x-etag": orig["ETag"]}
            self._apply_overrides(update, df.data_metadata)
            await self.container_update("PUT", account, container, obj, request, update, device, policy)
        out = {key: value for key, value in orig.items() if key.lower().startswith(SYSMETA_PREFIX)}
        out["X-Backend-Content-Type"] = metadata["Content-Type"]
        return Response(202, out)

    def _post(self, df: DiskFile, timestamp: Timestamp, ctype_timestamp: Timestamp | None,
              headers: dict[str, str], replication: bool) -> tuple[dict[str, Any], dict[str, Any]]:
        df.check_device()
        orig = df.load(float(timestamp))
        orig_timestamp = Timestamp(orig["X-Timestamp"])
        data_timestamp = df.data_timestamp
        orig_ctype_timestamp = Timestamp(orig.get("Content-Type-Timestamp", data_timestamp))
        if orig_timestamp >= timestamp and (ctype_timestamp is None or orig_ctype_timestamp >= ctype_timestamp):
            raise HTTPError(409, headers={"X-Backend-Timestamp": orig_timestamp.internal})
        metadata: dict[str, Any] = {"name": df.name, "X-Timestamp": timestamp.internal}
        for key, value in headers.items():
            if _is_user_meta(key):
                metadata[title(key)] = value
        copied = list(constraints.ALLOWED_HEADERS - {"x-static-large-object"})
        if replication:
            copied += headers.get("x-backend-replication-headers", "").lower().split()
        for key in copied:
            if key in headers and key not in ("content-length", "etag", "x-timestamp", "name", "content-type"):
                metadata[title(key)] = headers[key]
        if ctype_timestamp is not None and ctype_timestamp > orig_ctype_timestamp:
            metadata["Content-Type"] = headers["content-type"]
            metadata["Content-Type-Timestamp"] = ctype_timestamp.internal
        elif orig_ctype_timestamp != data_timestamp:  # an earlier POST's content type carries on
            metadata["Content-Type"] = orig["Content-Type"]
            metadata["Content-Type-Timestamp"] = orig_ctype_timestamp.internal
        if orig_timestamp >= timestamp:  # only the content type is newer: keep the newer metadata
            kept = dict(df.meta_metadata)
            kept.update({k: v for k, v in metadata.items() if k.startswith("Content-Type")})
            metadata = kept
        try:
            df.write_marker(timestamp.internal if timestamp > orig_timestamp else orig_timestamp.internal,
                            "meta", metadata)
        except DiskFileNoSpace:
            raise HTTPError(507) from None
        merged = diskfile.merge_meta(df.data_metadata, metadata)
        return orig, merged

    # -- DELETE ----------------------------------------------------------------------------------------
    async def DELETE(self, request: Request) -> Response:
        df, device, account, container, obj, policy = self._object(request)
        timestamp = request.timestamp()
        if_delete_at = header_timestamp(request.headers, "x-if-delete-at")
        try:
            status, orig_timestamp, orig, wrote = await self.run(self._delete, df, timestamp, if_delete_at)
        except DiskFileCollision:
            raise HTTPError(403) from None
        replication = request.true("x-backend-replication")
        if wrote and not replication:
            await self._delete_at_updates(request, account, container, obj, device, policy,
                                          orig.get("X-Delete-At"), None, orig)
            await self.container_update("DELETE", account, container, obj, request,
                                        {"x-timestamp": timestamp.internal}, device, policy)
        response_timestamp = max(orig_timestamp, timestamp) if orig_timestamp else timestamp
        return error_response(status, "" if status in (204,) else None, headers={
            "X-Backend-Timestamp": response_timestamp.internal,
            "X-Backend-Content-Type": orig.get("Content-Type", "")})

    def _delete(self, df: DiskFile, timestamp: Timestamp,
                if_delete_at: Timestamp | None) -> tuple[int, Timestamp | None, dict[str, Any], bool]:
        orig_timestamp: Timestamp | None
        df.check_device()
        try:
            orig = df.load(float(timestamp))
            orig_timestamp = df.data_timestamp
            status = 204 if orig_timestamp < timestamp else 409  # type: ignore[operator]
        except DiskFileExpired as exc:
            orig, orig_timestamp, status = exc.metadata, exc.timestamp, 404
        except DiskFileDeleted as exc:
            orig, orig_timestamp, status = {}, exc.timestamp, 404
        except DiskFileNotExist:
            orig, orig_timestamp, status = {}, None, 404
        if if_delete_at is not None:
            if orig_timestamp is None:
                return 404, None, {}, False
            if orig_timestamp >= timestamp:
                return 409, orig_timestamp, orig, False
            if Timestamp(orig.get("X-Delete-At") or 0) != if_delete_at:
                return 412, orig_timestamp, orig, False
            status = 204
        wrote = False
        if orig_timestamp is None or orig_timestamp < timestamp:
            try:
                df.write_marker(timestamp.internal, "ts", {"name": df.name, "X-Timestamp": timestamp.internal})
            except DiskFileNoSpace:
                raise HTTPError(507) from None
            wrote = True
        return status, orig_timestamp, orig, wrote

    # -- replication -------------------------------------------------------------------------------------
    async def REPLICATE(self, request: Request) -> Response:
        device, partition, suffixes = request.split(2, 3, True)
        validate_partition(partition)
        policy = self._policy(request)
        self.check_device(device)  # type: ignore[arg-type]
        recalculate = [s for s in (suffixes or "").split("-") if s]
        try:
            hashes = await self.run(self.diskfiles.get_hashes, device, partition, recalculate, policy)
        except DeviceUnavailable:
            raise HTTPError(507) from None
        return Response(200, {"Content-Type": "application/json"}, json.dumps(hashes).encode())

    async def SSYNC(self, request: Request) -> Response:
        """The sender lists what it has in some suffixes; we answer what we want of it:
        {"wanted": {hash: ["data" | "ts", "meta"]}}."""
        device, partition = request.split(2, 2)
        validate_partition(partition)
        policy = self._policy(request)
        self.check_device(device)  # type: ignore[arg-type]
        try:
            offer = json.loads(await request.read(self.client_timeout, limit=64 << 20))
            suffixes = [str(s) for s in offer["suffixes"]]
            objects: dict[str, dict[str, str]] = offer["objects"]
        except (ValueError, KeyError, TypeError):
            raise HTTPError(400, "Invalid SSYNC body", content_type="text/plain") from None
        mine = await self.run(self.diskfiles.suffix_contents, device, partition, suffixes, policy)
        wanted: dict[str, list[str]] = {}
        try:
            for name_hash, theirs in objects.items():
                ours = mine.get(name_hash, {})
                want = []
                their_main = max((Timestamp(t), kind) for kind, t in theirs.items() if kind in ("data", "ts")) \
                    if any(k in theirs for k in ("data", "ts")) else None
                our_main = max((Timestamp(t), kind) for kind, t in ours.items() if kind in ("data", "ts")) \
                    if any(k in ours for k in ("data", "ts")) else None
                if their_main is not None and (our_main is None or their_main[0] > our_main[0]):
                    want.append(their_main[1])
                have_data = "data" in want or (our_main is not None and our_main[1] == "data"
                                                and (their_main is None or our_main[0] >= their_main[0]))
                if "meta" in theirs and have_data and ("data" in want or "ts" not in want):
                    if "meta" not in ours or Timestamp(theirs["meta"]) > Timestamp(ours["meta"]):
                        want.append("meta")
                if want:
                    wanted[name_hash] = want
        except (ValueError, TypeError, AttributeError):
            raise HTTPError(400, "Invalid SSYNC body", content_type="text/plain") from None
        return Response(200, {"Content-Type": "application/json"}, json.dumps({"wanted": wanted}).encode())

    # -- container and expirer updates ---------------------------------------------------------------------
    async def container_update(self, op: str, account: str, container: str, obj: str, request: Request,
                               update: dict[str, str], device: str, policy: int) -> None:
        headers = request.headers
        hosts = [h.strip() for h in headers.get("x-container-host", "").split(",")]
        devices = [d.strip() for d in headers.get("x-container-device", "").split(",")]
        partition = headers.get("x-container-partition", "")
        if len(hosts) != len(devices):
            LOG.error("container update failed: %d hosts but %d devices in the request", len(hosts), len(devices))
            return
        update = dict(update)
        update["x-trans-id"] = headers.get("x-trans-id", "-")
        update["X-Backend-Storage-Policy-Index"] = str(policy)
        if "x-openstack-request-id" in headers:
            update["X-Openstack-Request-Id"] = headers["x-openstack-request-id"]
        targets = [(host, dev) for host, dev in zip(hosts, devices) if host and dev] if partition else []
        if not targets:
            return
        tasks = [self.spawn(self.async_update(op, account, container, obj, host, partition, dev, update, device,
                                              policy)) for host, dev in targets]
        # Wait a little, so that a listing right after the write shows it; carry on in the background.
        await asyncio.wait(tasks, timeout=self.container_update_timeout)

    async def async_update(self, op: str, account: str, container: str, obj: str, host: str | None,
                           partition: str | None, contdevice: str | None, headers: dict[str, str],
                           objdevice: str, policy: int) -> None:
        """Send one container update; save it for the updater if it does not succeed."""
        if host and partition and contdevice:
            ip, _, port = host.rpartition(":")
            node = {"ip": ip.strip("[]"), "port": int(port) if port.isdigit() else 0, "device": contdevice}
            try:
                response = await self.pool.request(node, partition, op, f"/{account}/{container}/{obj}",
                                                   headers=headers)
                await response.read()
                if 200 <= response.status < 300:
                    return
                LOG.error("container update of %s/%s/%s failed (saving it for the updater): %d from %s/%s",
                          account, container, obj, response.status, host, contdevice)
            except (BackendError, OSError, asyncio.TimeoutError) as exc:
                LOG.error("container update of %s/%s/%s to %s/%s failed (saving it for the updater): %s",
                          account, container, obj, host, contdevice, exc)
        data = {"op": op, "account": account, "container": container, "obj": obj, "headers": headers}
        stamp = headers.get("x-meta-timestamp", headers.get("x-timestamp", Timestamp.now().internal))
        try:
            await self.run(self.diskfiles.save_async_update, objdevice, account, container, obj, data, stamp, policy)
        except (OSError, DeviceUnavailable):
            LOG.exception("could not save the container update of %s/%s/%s", account, container, obj)

    async def _delete_at_updates(self, request: Request, account: str, container: str, obj: str, device: str,
                                 policy: int, orig_delete_at: str | None, new_delete_at: str | None,
                                 metadata: dict[str, Any]) -> None:
        """Queue (and unqueue) the object for the expirer when its X-Delete-At changes."""
        if request.true("x-backend-replication"):
            return
        old = int(orig_delete_at) if orig_delete_at and str(orig_delete_at).isdigit() else 0
        new = int(new_delete_at) if new_delete_at and str(new_delete_at).isdigit() else 0
        headers_in = request.headers
        base = {"X-Backend-Storage-Policy-Index": "0", "x-timestamp": request.timestamp().internal,
                "x-trans-id": headers_in.get("x-trans-id", "-")}
        hash_path = self.diskfiles.hash_path
        if new and new != old and headers_in.get("x-delete-at-host") is not None:
            task_account, task_container, task_obj = expiring.task_location(new, account, container, obj, hash_path,
                                                                            self.expirer_divisor)
            task_container = headers_in.get("x-delete-at-container") or task_container
            partition = headers_in.get("x-delete-at-partition")
            hosts = [h.strip() for h in headers_in.get("x-delete-at-host", "").split(",")]
            devices = [d.strip() for d in headers_in.get("x-delete-at-device", "").split(",")]
            update = dict(base, **{"x-size": "0", "x-etag": EMPTY_ETAG,
                                   "x-content-type": f"{expiring.TASK_CONTENT_TYPE};swift_expirer_bytes="
                                                     f"{int(metadata.get('Content-Length') or 0)}",
                                   "x-content-type-timestamp": metadata.get("X-Timestamp", base["x-timestamp"])})
            targets = [(h, d) for h, d in zip(hosts, devices) if h and d and partition] or [(None, None)]
            for host, dev in targets:
                await self.async_update("PUT", task_account, task_container, task_obj, host, partition, dev,
                                        update, device, policy)
        if old and old != new and request.headers.get("x-backend-clean-expiring-object-queue", "t").lower() \
                not in ("0", "false", "no", "off", "f", "n"):
            task_account, task_container, task_obj = expiring.task_location(old, account, container, obj, hash_path,
                                                                            self.expirer_divisor)
            await self.async_update("DELETE", task_account, task_container, task_obj, None, None, None, base,
                                    device, policy)


def _close(fd: int) -> None:
    import os
    os.close(fd)


def _discard(fd: int, tmp: str) -> None:
    import os
    try:
        os.close(fd)
    except OSError:
        pass
    try:
        os.unlink(tmp)
    except FileNotFoundError:
        pass
