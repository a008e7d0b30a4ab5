"""/v1/<account>/<container>/<object>: the object controller.

Writes go to every replica's primary node (a handoff stands in for a primary
that cannot take it) and succeed on a quorum (2 of 3).  Each object server is
told which container server to update (X-Container-Host/-Device/-Partition),
as Swift's proxy does, so the listing follows without the proxy waiting on it.
Small bodies are read first and sent in one write per server (a failed server
is replaced by a handoff with the same bytes); large or chunked bodies are
streamed to the servers that said 100 Continue, in pieces of client_chunk_size,
with back-pressure from the slowest of them.  The proxy hashes those pieces once
for the object servers of its own process, which take that md5 for theirs (they
get the very same bytes objects); a server over the network hashes what it got.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from typing import Any

from monostack.object.proxy import constraints
from monostack.object.proxy.constraints import EXPIRING_OBJECTS_ACCOUNT
from monostack.object.proxy.backend import BackendError, Upload
from monostack.object.proxy.base import Controller, quorum_size
from monostack.object.proxy.http import (ClientDisconnect, ClientTimeout, HTTPError, Request, Response, error,
                                         last_modified_from_timestamp, normalize_timestamp, plain, timestamp_now)
from monostack.object.proxy.nodes import NodeIter, node_name
from monostack.object.storage.streams import Hasher

LOG = logging.getLogger(__name__)

SMALL_BODY = 256 * 1024  # read at once and sent with the headers
# Client headers that are about this connection or this client, not the object.
NOT_FORWARDED = frozenset(("x-auth-token", "authorization", "cookie", "host", "content-length",
                           "transfer-encoding", "expect", "connection", "keep-alive", "te", "upgrade",
                           "x-storage-token", "origin", "referer", "accept-encoding", "user-agent",
                           "x-openstack-request-id", "x-trans-id-extra", "accept"))


def clean_content_type(value: str) -> str:
    """Drop Swift's private ;swift_bytes= parameter (SLO keeps the total size there)."""
    if ";" not in value:
        return value
    base, *params = value.split(";")
    kept = [p for p in params if not p.strip().startswith("swift_bytes=")]
    return ";".join([base] + kept)


class ObjectController(Controller):
    server_type = "object"
    methods = ("GET", "HEAD", "PUT", "POST", "DELETE", "OPTIONS")
    delayed_denial = ("GET", "HEAD", "PUT", "POST", "DELETE")

    @property
    def path(self) -> str:
        return f"/{self.account_name}/{self.container_name}/{self.object_name}"

    async def _container(self, req: Request, acl_key: str) -> dict[str, Any]:
        """The container's info, after the ACL check when the caller is not the owner."""
        assert self.container_name is not None
        info = await self.app.container_info(self.account_name, self.container_name, req)
        if "swift.authorize" in req.environ:
            denial = await self.authorize(req, info.get(acl_key))
            if denial is not None:
                raise HTTPError(denial)
        return info

    def _object_headers(self, req: Request, additional: dict[str, str]) -> dict[str, str]:
        headers = self.backend_headers(req)
        for key, value in req.headers.items():
            if key not in NOT_FORWARDED and not key.startswith("x-backend-"):
                headers[key] = value
        headers.update(additional)
        headers["x-backend-storage-policy-index"] = "0"
        return headers

    def _update_targets(self, headers: list[dict[str, str]], info: dict[str, Any]) -> None:
        """Each object server updates one container replica (every replica is named at least once)."""
        part, containers = self.app.container_ring.get_nodes(self.account_name, self.container_name)
        n_outgoing = len(headers)
        needed = max(quorum_size(len(containers)) + n_outgoing - quorum_size(n_outgoing), len(containers))
        cycle = itertools.cycle(containers)
        for i in range(needed):
            node = next(cycle)
            h = headers[i % n_outgoing]
            h["x-container-partition"] = str(part)
            host = f"{node['ip']}:{node['port']}"
            h["x-container-host"] = f"{h['x-container-host']},{host}" if "x-container-host" in h else host
            h["x-container-device"] = (f"{h['x-container-device']},{node['device']}"
                                       if "x-container-device" in h else node["device"])

    def _delete_at_targets(self, req: Request, headers: list[dict[str, str]]) -> None:
        """With X-Delete-At, each object server is told where the expirer's task goes (Swift's
        X-Delete-At-Container/-Partition/-Host/-Device, spread over the servers in reverse order)."""
        n = len(headers)
        for i, h in enumerate(headers):
            h.setdefault("x-backend-clean-expiring-object-queue", "t" if i < 2 else "f")
        if "x-delete-at" not in req.headers:
            return
        from monostack.object.storage.expiring import task_container

        delete_at = int(req.headers["x-delete-at"])
        container = task_container(delete_at, self.account_name, self.container_name or "", self.object_name or "",
                                   self.app.container_ring.hash_path)
        part, nodes = self.app.container_ring.get_nodes(EXPIRING_OBJECTS_ACCOUNT, container)
        cycle = itertools.cycle(nodes)
        needed = max(quorum_size(len(nodes)) + n - quorum_size(n), len(nodes))
        for i in range(needed):
            node = next(cycle)
            h = headers[n - 1 - (i % n)]
            h["x-delete-at-container"] = container
            h["x-delete-at-partition"] = str(part)
            host = f"{node['ip']}:{node['port']}"
            h["x-delete-at-host"] = f"{h['x-delete-at-host']},{host}" if "x-delete-at-host" in h else host
            h["x-delete-at-device"] = (f"{h['x-delete-at-device']},{node['device']}"
                                       if "x-delete-at-device" in h else node["device"])

    def _timestamp(self, req: Request) -> str:
        given = req.headers.get("x-timestamp")
        if given:
            try:
                return normalize_timestamp(given)
            except ValueError:
                raise HTTPError(plain(400, "X-Timestamp should be a UNIX timestamp float value; was "
                                           f"{given!r}")) from None
        return timestamp_now()

    # -- reads ----------------------------------------------------------------------------------
    async def GETorHEAD(self, req: Request) -> Response:
        await self._container(req, "read_acl")
        part = self.app.object_ring.get_part(self.account_name, self.container_name, self.object_name)
        headers = self.backend_headers(req, {k: v for k, v in req.headers.items()
                                             if k not in NOT_FORWARDED or k == "accept-encoding"})
        headers["x-backend-storage-policy-index"] = "0"
        resp = await self.get_or_head(req, self.app.object_ring, part, self.path, headers, stream=True)
        if "content-type" in resp.headers and 200 <= resp.status < 400:
            resp.headers["content-type"] = clean_content_type(resp.headers["content-type"])
        resp.headers.setdefault("accept-ranges", "bytes")
        return resp

    async def GET(self, req: Request) -> Response:
        return await self.GETorHEAD(req)

    async def HEAD(self, req: Request) -> Response:
        return await self.GETorHEAD(req)

    # -- metadata ---------------------------------------------------------------------------------
    async def POST(self, req: Request) -> Response:
        info = await self._container(req, "write_acl")
        if not 200 <= info["status"] < 300:
            return error(404)
        bad = constraints.check_metadata(req, "object")
        if bad:
            return bad
        timestamp = self._timestamp(req)
        req.headers["x-timestamp"] = timestamp
        constraints.check_delete_headers(req)
        part, nodes = self.app.object_ring.get_nodes(self.account_name, self.container_name, self.object_name)
        headers = [self._object_headers(req, {"x-timestamp": timestamp}) for _ in nodes]
        self._update_targets(headers, info)
        self._delete_at_targets(req, headers)
        return await self.make_requests(req, self.app.object_ring, part, "POST", self.path, headers)

    async def DELETE(self, req: Request) -> Response:
        info = await self._container(req, "write_acl")
        if not 200 <= info["status"] < 300:
            return error(404)
        timestamp = self._timestamp(req)
        part, nodes = self.app.object_ring.get_nodes(self.account_name, self.container_name, self.object_name)
        headers = [self._object_headers(req, {"x-timestamp": timestamp}) for _ in nodes]
        self._update_targets(headers, info)
        self._delete_at_targets(req, headers)
        return await self.make_requests(req, self.app.object_ring, part, "DELETE", self.path, headers,
                                        overrides={404: 204})

    # -- PUT ----------------------------------------------------------------------------------------
    async def PUT(self, req: Request) -> Response:
        if_none_match = req.headers.get("if-none-match")
        if if_none_match is not None and if_none_match.strip() != "*":
            return plain(400, "If-None-Match only supports *")
        info = await self._container(req, "write_acl")
        if not 200 <= info["status"] < 300:
            return error(404)
        constraints.update_content_type(req, self.object_name or "")
        timestamp = self._timestamp(req)
        req.headers["x-timestamp"] = timestamp
        bad = constraints.check_object_creation(req, self.object_name or "")
        if bad:
            return bad
        part, nodes = self.app.object_ring.get_nodes(self.account_name, self.container_name, self.object_name)
        length = req.content_length
        additional = {"x-timestamp": timestamp}
        if length is not None:
            additional["content-length"] = str(length)
        headers = [self._object_headers(req, additional) for _ in nodes]
        self._update_targets(headers, info)
        self._delete_at_targets(req, headers)
        if length is not None and length <= SMALL_BODY:
            try:
                body = await req.body.read()
            except ClientTimeout:
                return error(408)
            except ClientDisconnect:
                return error(499)
            if len(body) < length:
                return error(499)
            resp = await self._put_small(req, part, headers, body[:length])
        else:
            resp = await self._put_streaming(req, part, nodes, headers, length)
        if resp.status == 201:
            resp.headers["last-modified"] = last_modified_from_timestamp(timestamp)
        return resp

    def _put_result(self, statuses: list[int], reasons: list[str], bodies: list[bytes],
                    hdrs: list[dict[str, str]], n: int) -> Response:
        while len(statuses) < n:
            statuses.append(503)
            reasons.append("")
            bodies.append(b"")
            hdrs.append({})
        if 409 in statuses and not any(200 <= s < 300 for s in statuses):
            return error(202)  # an object at least as new is there already
        etags = {h.get("etag", "").strip('"') for s, h in zip(statuses, hdrs) if 200 <= s < 300}
        if len(etags) > 1:
            LOG.error("object servers returned %d mismatched etags", len(etags))
            return error(500)
        etag = etags.pop() if etags else None
        resp = self.best_response(statuses, reasons, bodies, hdrs, etag=etag)
        if resp.status == 201:
            resp.headers = {"etag": etag or "", "content-type": "text/html; charset=UTF-8", "content-length": "0"}
            resp.body = b""
        return resp

    async def _put_small(self, req: Request, part: int, headers: list[dict[str, str]], body: bytes) -> Response:
        nodes = NodeIter(self.app.object_ring, part, self.app.limiter, shuffle=False)
        tasks = [asyncio.ensure_future(self._one(nodes, part, "PUT", self.path, h, "", body)) for h in headers]
        results = await self._gather_quorum(tasks, len(headers))
        statuses, reasons, bodies, hdrs = [], [], [], []
        for result in results:
            if result is not None:
                statuses.append(result[0])
                reasons.append(result[1])
                hdrs.append(result[2])
                bodies.append(result[3])
        return self._put_result(statuses, reasons, bodies, hdrs, len(headers))

    async def _connect(self, nodes: NodeIter, part: int, headers: dict[str, str],
                       early: list[Any], shared_md5: Hasher | None) -> Upload | None:
        for node in nodes:
            try:
                upload = await self.app.pool.upload(node, part, "PUT", self.path, headers, expect_continue=True,
                                                    shared_md5=shared_md5)
            except BackendError as exc:
                self.app.limiter.error(node)
                LOG.warning("PUT %s to %s: %s", self.path, node_name(node), exc)
                continue
            if upload.early is not None:
                answer = upload.early
                try:
                    data = await answer.read()
                except (BackendError, OSError, TimeoutError, asyncio.IncompleteReadError):
                    data = b""
                if answer.status == 507:
                    self.app.limiter.error_limit(node)
                    continue
                if answer.status >= 500:
                    self.app.limiter.error(node)
                    continue
                early.append((answer.status, answer.reason, answer.headers, data))
                return None
            return upload
        return None

    async def _put_streaming(self, req: Request, part: int, primaries: list[dict[str, Any]],
                             headers: list[dict[str, str]], length: int | None) -> Response:
        nodes = NodeIter(self.app.object_ring, part, self.app.limiter, shuffle=False)
        early: list[Any] = []
        # Object servers of this process get the very pieces sent from here: one md5 of them, here,
        # stands for theirs (storage/streams.py); those over the network hash what they receive.
        hasher = Hasher(self.app.hash_workers) if self.app.pool.local else None
        try:
            connected = await asyncio.gather(*(self._connect(nodes, part, h, early, hasher) for h in headers))
            uploads = [u for u in connected if u is not None]
            n = len(headers)
            quorum = quorum_size(n)
            if any(status == 412 for status, *_ in early):
                for upload in uploads:
                    upload.abort()
                return error(412)
            if any(status == 409 for status, *_ in early):
                for upload in uploads:
                    upload.abort()
                return error(202)
            if len(uploads) < quorum:
                for upload in uploads:
                    upload.abort()
                if early:
                    statuses = [e[0] for e in early]
                    return self._put_result(statuses, [e[1] for e in early], [e[3] for e in early],
                                            [e[2] for e in early], n)
                LOG.error("object PUT returning 503, %d/%d required connections", len(uploads), quorum)
                return error(503)
            try:
                await self._send_body(req, uploads, length, quorum, hasher)
            except ClientTimeout:
                for upload in uploads:
                    upload.abort()
                LOG.warning("client read timeout")
                return error(408)
            except ClientDisconnect:
                for upload in uploads:
                    upload.abort()
                LOG.warning("client disconnected without sending enough data")
                return error(499)
            except BaseException:
                for upload in uploads:
                    upload.abort()
                raise
        finally:
            if hasher is not None:
                await hasher.abort()  # no-op once finished: the uploads have its digest
        answers = await asyncio.gather(*(u.response() for u in uploads))
        statuses, reasons, bodies, hdrs = [], [], [], []
        for answer in answers:
            if answer is None:
                continue
            try:
                data = await answer.read()
            except (BackendError, OSError, TimeoutError, asyncio.IncompleteReadError):
                continue
            statuses.append(answer.status)
            reasons.append(answer.reason)
            bodies.append(data)
            hdrs.append(answer.headers)
        for status, reason, h, data in early:
            statuses.append(status)
            reasons.append(reason)
            bodies.append(data)
            hdrs.append(h)
        return self._put_result(statuses, reasons, bodies, hdrs, n)

    async def _send_body(self, req: Request, uploads: list[Upload], length: int | None, quorum: int,
                         hasher: Hasher | None) -> None:
        """The client's body to every upload, in pieces of `client_chunk_size` (the object servers
        write and hash whole pieces; a local one takes the very same bytes objects, no copy)."""
        received = 0
        pending: list[bytes] = []
        pending_size = 0

        async def send(piece: bytes) -> None:
            if hasher is not None:
                await hasher.feed([piece])
            for upload in uploads:
                upload.write(piece)
            for upload in uploads:
                await upload.drain()
            if sum(1 for u in uploads if not u.failed) < quorum:
                LOG.error("object PUT exceptions during send, %d/%d required connections",
                          sum(1 for u in uploads if not u.failed), quorum)
                raise HTTPError(error(503))

        async for chunk in req.body:
            received += len(chunk)
            if received > constraints.MAX_FILE_SIZE or (length is not None and received > length):
                raise HTTPError(error(413))
            pending.append(chunk)
            pending_size += len(chunk)
            if pending_size >= self.app.client_chunk_size:
                piece = pending[0] if len(pending) == 1 else b"".join(pending)
                pending, pending_size = [], 0
                await send(piece)
        if pending:
            await send(pending[0] if len(pending) == 1 else b"".join(pending))
        if length is not None and received < length:
            raise ClientDisconnect()
        if hasher is not None:
            await hasher.finish()  # before the uploads end: their servers then take its digest
