"""What the account, container and object controllers share: backend headers,
requests to every replica with Swift's quorum rules, reads that move on to the
next node, CORS."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any, AsyncIterator

from monostack.object.proxy.backend import BackendError, BackendResponse
from monostack.object.proxy.http import REASONS, Request, Response, error
from monostack.object.proxy.nodes import NodeIter, node_name

if TYPE_CHECKING:
    from monostack.object.proxy.server import ProxyApp

LOG = logging.getLogger(__name__)

# Response headers of a backend that never reach the client as they are.
HOP_HEADERS = frozenset(("connection", "keep-alive", "transfer-encoding", "date", "server", "content-length",
                         "x-put-timestamp"))
EXPOSE_ALWAYS = ("cache-control", "content-language", "content-type", "expires", "last-modified", "pragma", "etag",
                 "x-timestamp", "x-trans-id", "x-openstack-request-id")


def quorum_size(n: int) -> int:
    return n // 2 + 1


def is_good_source(status: int, server_type: str) -> bool:
    if server_type == "object" and status == 416:
        return True
    return 200 <= status < 400


class Controller:
    server_type = ""
    # Client headers copied to the backend as they are (besides metadata).
    pass_through_headers: tuple[str, ...] = ()
    methods: tuple[str, ...] = ()
    delayed_denial: tuple[str, ...] = ()  # methods that authorize once the container's ACLs are known

    def __init__(self, app: "ProxyApp", account: str, container: str | None = None, obj: str | None = None):
        self.app = app
        self.account_name = account
        self.container_name = container
        self.object_name = obj

    # -- backend headers --------------------------------------------------------------------
    def transfer_headers(self, src: dict[str, str], dst: dict[str, str]) -> None:
        st = self.server_type
        remove = f"x-remove-{st}-meta-"
        meta = f"x-{st}-meta-"
        sysmeta = f"x-{st}-sysmeta-"
        for key, value in src.items():
            if key.startswith(remove):
                dst[meta + key[len(remove):]] = ""
            elif key in self.x_remove_headers():
                dst[key.replace("-remove", "", 1)] = ""
        for key, value in src.items():
            if key in self.pass_through_headers or key.startswith(meta) or key.startswith(sysmeta):
                dst[key] = value

    def x_remove_headers(self) -> tuple[str, ...]:
        return ()

    def backend_headers(self, req: Request, additional: dict[str, str] | None = None,
                        transfer: bool = False) -> dict[str, str]:
        headers = {k: v for k, v in req.headers.items() if k.startswith("x-backend-") or k == "x-timestamp"}
        if additional:
            headers.update(additional)
        if transfer:
            self.transfer_headers(req.headers, headers)
        trans_id = req.environ.get("swift.trans_id", "-")
        headers["x-trans-id"] = trans_id
        headers["x-openstack-request-id"] = trans_id
        headers.pop("connection", None)
        headers.pop("host", None)
        headers.pop("content-length", None)
        headers.pop("transfer-encoding", None)
        headers.pop("expect", None)
        return headers

    # -- requests to every replica -----------------------------------------------------------
    async def _one(self, nodes: NodeIter, part: int, method: str, path: str, headers: dict[str, str],
                   query: str, body: bytes | None) -> tuple[int, str, dict[str, str], bytes] | None:
        """Send to the next usable node: the first answer that is not a server error."""
        for node in nodes:
            try:
                resp = await self.app.pool.request(node, part, method, path, headers, body, query)
                data = await resp.read()
            except BackendError as exc:
                self.app.limiter.error(node)
                LOG.warning("%s %s to %s: %s", method, path, node_name(node), exc)
                continue
            if resp.status == 507:
                self.app.limiter.error_limit(node)
                LOG.warning("%s reports insufficient storage; skipping it", node_name(node))
                continue
            if resp.status >= 500:
                self.app.limiter.error(node)
                LOG.warning("%s %s to %s: %s", method, path, node_name(node), resp.status)
                continue
            return resp.status, resp.reason, resp.headers, data
        return None

    async def make_requests(self, req: Request, ring: Any, part: int, method: str, path: str,
                            headers: list[dict[str, str]], query: str = "", body: bytes | None = None,
                            overrides: dict[int, int] | None = None,
                            nodes: NodeIter | None = None) -> Response:
        """One request per header set (one per replica) through the nodes, the best answer by quorum."""
        nodes = nodes or NodeIter(ring, part, self.app.limiter, shuffle=False)
        tasks = [asyncio.ensure_future(self._one(nodes, part, method, path, h, query, body)) for h in headers]
        results = await self._gather_quorum(tasks, len(headers))
        statuses, reasons, hdrs, bodies = [], [], [], []
        for result in results:
            if result is None:
                statuses.append(503)
                reasons.append("Service Unavailable")
                hdrs.append({})
                bodies.append(b"")
            else:
                statuses.append(result[0])
                reasons.append(result[1])
                hdrs.append(result[2])
                bodies.append(result[3])
        while len(statuses) < len(headers):
            statuses.append(503)
            reasons.append("")
            hdrs.append({})
            bodies.append(b"")
        return self.best_response(statuses, reasons, bodies, hdrs, overrides=overrides)

    async def _gather_quorum(self, tasks: list[asyncio.Future], n: int) -> list[Any]:
        """The results once a quorum agrees (the rest get `post_quorum_timeout` to finish)."""
        quorum = quorum_size(n)
        pending = set(tasks)
        results: list[Any] = []
        statuses: list[int] = []
        while pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                result = task.result()
                results.append(result)
                statuses.append(503 if result is None else result[0])
            if pending and self.have_quorum(statuses, n, quorum):
                done, pending = await asyncio.wait(pending, timeout=self.app.post_quorum_timeout)
                for task in done:
                    result = task.result()
                    results.append(result)
                for task in pending:
                    task.cancel()
                break
        return results

    @staticmethod
    def have_quorum(statuses: list[int], n: int, quorum: int | None = None) -> bool:
        quorum = quorum or quorum_size(n)
        if len(statuses) < quorum:
            return False
        for hundred in (100, 200, 300, 400):
            if sum(1 for s in statuses if hundred <= s < hundred + 100) >= quorum:
                return True
        return False

    def best_response(self, statuses: list[int], reasons: list[str], bodies: list[bytes],
                      headers: list[dict[str, str]], overrides: dict[int, int] | None = None,
                      quorum: int | None = None, etag: str | None = None) -> Response:
        quorum = quorum or quorum_size(len(statuses))
        resp = self._quorum_response(statuses, reasons, bodies, headers, quorum, etag)
        if resp is None and overrides:
            avoid = {i for i, s in enumerate(statuses) if s in overrides}
            changed = [overrides.get(s, s) for s in statuses]
            resp = self._quorum_response(changed, reasons, bodies, headers, quorum, etag, avoid)
        if resp is None:
            LOG.error("%s returning 503 for %s", self.server_type, statuses)
            return error(503)
        return resp

    def _quorum_response(self, statuses: list[int], reasons: list[str], bodies: list[bytes],
                         headers: list[dict[str, str]], quorum: int, etag: str | None,
                         avoid: set[int] = frozenset()) -> Response | None:  # type: ignore[assignment]
        for hundred in (200, 300, 400):
            candidates = [(i, s) for i, s in enumerate(statuses) if hundred <= s < hundred + 100]
            if len(candidates) < quorum:
                continue
            usable = [(i, s) for i, s in candidates if i not in avoid]
            if not usable:
                continue
            index, status = max(usable, key=lambda pair: pair[1])
            return self.client_response(status, headers[index], bodies[index], etag)
        return None

    def client_response(self, status: int, backend_headers: dict[str, str], body: bytes,
                        etag: str | None = None) -> Response:
        """A response built from a backend's answer: its headers, and its body or Swift's page."""
        headers = {k: v for k, v in backend_headers.items() if k not in HOP_HEADERS}
        if "etag" in headers:
            headers["etag"] = headers["etag"].strip('"')
        if etag:
            headers["etag"] = etag.strip('"')
        if 200 <= status < 300:
            if status == 204:
                body = b""
            headers.setdefault("content-type", "text/html; charset=UTF-8")
            headers["content-length"] = str(len(body))
            return Response(status, headers, body)
        if status >= 400 and status != 416 and not (status == 400 and body):
            resp = error(status)
            for key in ("x-backend-timestamp", "x-timestamp", "x-account-status", "x-backend-storage-policy-index"):
                if key in headers:
                    resp.headers[key] = headers[key]
            return resp
        headers.setdefault("content-type", "text/html; charset=UTF-8")
        if not body and status in REASONS and REASONS[status][1] and status >= 400:
            return error(status, headers=headers)
        headers["content-length"] = str(len(body))
        return Response(status, headers, body)

    # -- reads ---------------------------------------------------------------------------------
    async def get_or_head(self, req: Request, ring: Any, part: int, path: str, headers: dict[str, str],
                          query: str = "", stream: bool = False) -> Response:
        """GET or HEAD from one replica, moving on to the next node while a node fails.

        A 404 from a primary does not end the search while other primaries are left (the object
        may not have reached every replica yet); handoffs are asked only when a primary failed."""
        method = req.method if req.method in ("GET", "HEAD") else "GET"
        if req.headers.get("x-newest", "").lower() in ("true", "1", "yes", "on", "t", "y"):
            newest = await self._newest(req, method, ring, part, path, headers, query, stream)
            if newest is not None:
                return newest
        nodes = NodeIter(ring, part, self.app.limiter, shuffle=True)
        statuses: list[int] = []
        reasons: list[str] = []
        bodies: list[bytes] = []
        hdrs: list[dict[str, str]] = []
        failures = 0
        for node in nodes:
            if nodes.handoffs_yielded > 0 and failures + nodes.skipped_primaries == 0:
                break
            try:
                resp = await self.app.pool.request(node, part, method, path, headers, None, query)
            except BackendError as exc:
                self.app.limiter.error(node)
                LOG.warning("%s %s to %s: %s", method, path, node_name(node), exc)
                failures += 1
                continue
            if resp.status == 507:
                resp.close()
                self.app.limiter.error_limit(node)
                failures += 1
                continue
            if resp.status >= 500:
                resp.close()
                self.app.limiter.error(node)
                failures += 1
                continue
            if is_good_source(resp.status, self.server_type):
                resume = None
                if stream and method == "GET":
                    resume = self._resumer(nodes, part, path, headers, query, resp)
                return await self._source_response(resp, stream, resume)
            try:
                data = await resp.read()
            except (BackendError, OSError, TimeoutError, asyncio.IncompleteReadError):
                failures += 1
                continue
            statuses.append(resp.status)
            reasons.append(resp.reason)
            bodies.append(data)
            hdrs.append(resp.headers)
            if resp.status not in (404,):
                break  # a definite client error (412, 400 ...): the replicas would say the same
        if not statuses:
            return error(503)
        n = max(len(nodes.primaries), 1)
        while len(statuses) < n:
            statuses.append(503)
            reasons.append("")
            bodies.append(b"")
            hdrs.append({})
        if all(s == statuses[0] for s in statuses if s != 503) and statuses[0] != 503:
            # every node that answered agrees
            return self.client_response(statuses[0], hdrs[0], bodies[0])
        return self.best_response(statuses, reasons, bodies, hdrs)

    def _resumer(self, nodes: NodeIter, part: int, path: str, headers: dict[str, str], query: str,
                 first: BackendResponse) -> Any:
        """How to carry on a download from another node once `sent` bytes went out (None: cannot): the
        rest of the same range, of the same object (If-Match its etag, so not a newer one)."""
        if first.headers.get("content-type", "").startswith("multipart/byteranges") or first.status not in (200, 206):
            return None
        etag = first.headers.get("etag", "").strip('"')
        if first.status == 206:
            try:
                span, _, _total = first.headers["content-range"].split(" ", 1)[1].partition("/")
                start, end = (int(x) for x in span.split("-"))
            except (KeyError, ValueError):
                return None
        else:
            start, end = 0, None

        async def resume(sent: int) -> BackendResponse | None:
            wanted = dict(headers)
            wanted["range"] = f"bytes={start + sent}-{'' if end is None else end}"
            if etag:
                wanted["if-match"] = etag
            for key in ("if-none-match", "if-modified-since", "if-unmodified-since"):
                wanted.pop(key, None)
            for node in nodes:
                try:
                    resp = await self.app.pool.request(node, part, "GET", path, wanted, None, query)
                except BackendError:
                    self.app.limiter.error(node)
                    continue
                if resp.status == 206:
                    LOG.warning("resuming the download of %s at byte %d from %s", path, start + sent, node_name(node))
                    return resp
                resp.close()
                if resp.status == 507:
                    self.app.limiter.error_limit(node)
            return None

        return resume

    async def _resuming_body(self, resp: BackendResponse, resume: Any) -> AsyncIterator[bytes]:
        sent = 0
        current: Any = resp
        try:
            while True:
                try:
                    async for chunk in current.iter_body(self.app.object_chunk_size):
                        sent += len(chunk)
                        yield chunk
                    return
                except (BackendError, TimeoutError, OSError, asyncio.IncompleteReadError) as exc:
                    current.close()
                    if current.node:
                        self.app.limiter.error(current.node)
                    LOG.warning("the download of an object broke off after %d bytes: %s", sent, exc)
                    current = await resume(sent)
                    if current is None:
                        raise
        finally:
            if current is not None:
                current.close()

    async def _newest(self, req: Request, method: str, ring: Any, part: int, path: str, headers: dict[str, str],
                      query: str, stream: bool) -> Response | None:
        """X-Newest: ask every primary at once and answer with the newest good copy (None: no good copy,
        the usual search decides)."""
        nodes = list(NodeIter(ring, part, self.app.limiter, shuffle=False, handoffs=0))

        async def one(node: dict[str, Any]) -> BackendResponse | None:
            try:
                resp = await self.app.pool.request(node, part, method, path, headers, None, query)
            except BackendError:
                self.app.limiter.error(node)
                return None
            if resp.status == 507:
                self.app.limiter.error_limit(node)
            if not is_good_source(resp.status, self.server_type):
                resp.close()
                return None
            return resp

        answers = [r for r in await asyncio.gather(*(one(n) for n in nodes)) if r is not None]
        if not answers:
            return None

        def stamp(resp: Any) -> float:
            value = resp.headers.get("x-backend-timestamp") or resp.headers.get("x-timestamp") or "0"
            try:
                return float(value.split("_")[0])
            except ValueError:
                return 0.0

        answers.sort(key=stamp, reverse=True)
        for other in answers[1:]:
            other.close()
        return await self._source_response(answers[0], stream)

    async def _source_response(self, resp: BackendResponse, stream: bool, resume: Any = None) -> Response:
        headers = {k: v for k, v in resp.headers.items() if k not in HOP_HEADERS}
        if "etag" in headers:
            headers["etag"] = headers["etag"].strip('"')
        if "content-length" in resp.headers:
            headers["content-length"] = resp.headers["content-length"]
        if stream and not resp.done:
            body = resp.iter_body(self.app.object_chunk_size) if resume is None else \
                self._resuming_body(resp, resume)
            return Response(resp.status, headers, body, close=resp.close, file=getattr(resp, "file", None))
        body = await resp.read()
        if "content-length" not in headers:
            headers["content-length"] = str(len(body))
        return Response(resp.status, headers, body)

    # -- CORS ---------------------------------------------------------------------------------
    def is_origin_allowed(self, cors: dict[str, Any], origin: str) -> bool:
        allowed = set()
        if cors.get("allow_origin"):
            allowed.update(a.strip() for a in cors["allow_origin"].split(" ") if a.strip())
        allowed.update(self.app.cors_allow_origin)
        return origin in allowed or "*" in allowed

    async def add_cors(self, req: Request, resp: Response) -> Response:
        """A CORS request (with an Origin): the headers that let the browser read the answer."""
        origin = req.headers.get("origin")
        if not origin or not self.container_name:
            return resp
        info = await self.app.container_info(self.account_name, self.container_name, req)
        cors = info.get("cors") or {}
        if self.app.strict_cors_mode and not self.is_origin_allowed(cors, origin):
            return resp
        if "access-control-expose-headers" not in resp.headers:
            expose = set(EXPOSE_ALWAYS)
            expose.update(self.app.cors_expose_headers)
            for name in resp.headers:
                if name.startswith("x-container-meta") or name.startswith("x-object-meta"):
                    expose.add(name)
            if cors.get("expose_headers"):
                expose.update(h.strip().lower() for h in cors["expose_headers"].split(" ") if h.strip())
            resp.headers["access-control-expose-headers"] = ", ".join(sorted(expose))
        if "access-control-allow-origin" not in resp.headers:
            if cors.get("allow_origin") and cors["allow_origin"].strip() == "*":
                resp.headers["access-control-allow-origin"] = "*"
            else:
                resp.headers["access-control-allow-origin"] = origin
                resp.headers["vary"] = resp.headers["vary"] + ", Origin" if "vary" in resp.headers else "Origin"
        return resp

    async def OPTIONS(self, req: Request) -> Response:
        allow = ", ".join(sorted(self.methods))
        headers = {"allow": allow, "content-length": "0", "content-type": "text/html; charset=UTF-8"}
        origin = req.headers.get("origin")
        if not origin or not self.container_name:
            return Response(200, headers, b"")
        info = await self.app.container_info(self.account_name, self.container_name, req)
        cors = info.get("cors") or {}
        if not self.is_origin_allowed(cors, origin) or \
                req.headers.get("access-control-request-method") not in self.methods:
            return error(401, headers={"allow": allow})
        if cors.get("allow_origin") and cors["allow_origin"].strip() == "*":
            headers["access-control-allow-origin"] = "*"
        else:
            headers["access-control-allow-origin"] = origin
            headers["vary"] = "Origin"
        if cors.get("max_age") is not None:
            headers["access-control-max-age"] = cors["max_age"]
        headers["access-control-allow-methods"] = allow
        wanted = [h.strip() for h in req.headers.get("access-control-request-headers", "").split(",") if h.strip()]
        if wanted:
            headers["access-control-allow-headers"] = ", ".join(dict.fromkeys(wanted))
            headers["vary"] = headers.get("vary", "") and headers["vary"] + ", Access-Control-Request-Headers" \
                or "Access-Control-Request-Headers"
        return Response(200, headers, b"")

    # -- authorization -----------------------------------------------------------------------
    async def authorize(self, req: Request, acl: str | None = None) -> Response | None:
        """The auth middleware's verdict for this request (None: allowed)."""
        authorize = req.environ.get("swift.authorize")
        if authorize is None:
            return None
        req.environ["swift.acl"] = acl
        return await authorize(req)
