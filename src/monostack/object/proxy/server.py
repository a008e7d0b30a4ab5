"""The proxy server: the bottom of the pipeline, routing /v1/<account>[/<container>[/<object>]]
to its controller after the auth middleware's first say, and /info."""

from __future__ import annotations

import concurrent.futures
import json
import logging
from typing import Any

from monostack.object.proxy import constraints
from monostack.object.proxy.backend import BackendPool
from monostack.object.proxy.http import (HTTPError, Request, Response, error, plain, quote,
                                         split_path, timestamp_now)
from monostack.object.proxy.info import InfoCache, account_info_from_headers, container_info_from_headers
from monostack.object.proxy.nodes import ErrorLimiter

LOG = logging.getLogger(__name__)

SWIFT_VERSION = "2.35.0"
POLICIES = [{"name": "Policy-0", "aliases": "Policy-0", "default": True}]
OWNER_HEADERS = ("x-container-read", "x-container-write", "x-container-sync-key", "x-container-sync-to",
                 "x-account-meta-temp-url-key", "x-account-meta-temp-url-key-2",
                 "x-container-meta-temp-url-key", "x-container-meta-temp-url-key-2", "x-account-access-control")


class Rings:
    """The three rings, each re-read by the Ring itself when its file changes."""

    def __init__(self, rings_dir: str):
        from monostack.object.ring import Ring

        self.account = Ring.load(f"{rings_dir}/account.ring.gz")
        self.container = Ring.load(f"{rings_dir}/container.ring.gz")
        self.object = Ring.load(f"{rings_dir}/object.ring.gz")


class ProxyApp:
    def __init__(self, conf: Any, rings: Any, pool: BackendPool | None = None):
        section = conf.object
        self.conf = conf
        self.rings = rings
        self.pool = pool or BackendPool(conn_timeout=section.conn_timeout, node_timeout=section.node_timeout)
        self.limiter = ErrorLimiter(section.error_suppression_interval, section.error_suppression_limit)
        self.infocache = InfoCache(section.recheck_account_existence, section.recheck_container_existence)
        self.post_quorum_timeout = section.post_quorum_timeout
        self.object_chunk_size = section.object_chunk_size
        self.client_chunk_size = section.client_chunk_size
        self.account_autocreate = section.account_autocreate
        self.allow_account_management = section.allow_account_management
        self.cors_allow_origin = [o for o in section.cors_allow_origin if o]
        self.cors_expose_headers = [h.lower() for h in section.cors_expose_headers if h]
        self.strict_cors_mode = section.strict_cors_mode
        self.expiring_objects_container_divisor = section.expiring_objects_container_divisor
        # The threads that hash object bodies sent to object servers of this process (obj.py).
        self.hash_workers = concurrent.futures.ThreadPoolExecutor(256, thread_name_prefix="object-proxy-md5")
        # What /info publishes: the middlewares add their sections.
        self.capabilities: dict[str, Any] = {"swift": {
            "version": SWIFT_VERSION, **constraints.CONSTRAINTS,
            "policies": POLICIES, "strict_cors_mode": self.strict_cors_mode,
            "allow_account_management": self.allow_account_management,
            "account_autocreate": self.account_autocreate,
        }}

    def register_capability(self, name: str, **values: Any) -> None:
        self.capabilities[name] = values

    # -- rings -------------------------------------------------------------------------------
    @property
    def account_ring(self) -> Any:
        return self.rings.account

    @property
    def container_ring(self) -> Any:
        return self.rings.container

    @property
    def object_ring(self) -> Any:
        return self.rings.object

    # -- entry ---------------------------------------------------------------------------------
    async def __call__(self, req: Request) -> Response:
        try:
            return await self.handle(req)
        except HTTPError as exc:
            return exc.response

    async def handle(self, req: Request) -> Response:
        if req.path == "/info":
            return await self.info(req)
        if req.headers.get("content-length", "0").startswith("-"):
            return plain(400, "Invalid Content-Length")
        if not constraints.valid_utf8(req.path):
            return plain(412, "Invalid UTF8 or contains NULL")
        try:
            version, account, container, obj = split_path(req.path, 1, 4, True)
        except ValueError:
            return error(404)
        if account and version not in constraints.VALID_API_VERSIONS:
            return error(400)
        from monostack.object.proxy.account import AccountController
        from monostack.object.proxy.container import ContainerController
        from monostack.object.proxy.obj import ObjectController

        controller: Any
        if obj and container and account:
            controller = ObjectController(self, account, container, obj)
        elif container and account and not obj:
            controller = ContainerController(self, account, container)
        elif account and not container and not obj:
            controller = AccountController(self, account)
        else:
            return plain(412, "Bad URL")
        if req.method not in controller.methods:
            return error(405, headers={"allow": ", ".join(sorted(controller.methods))})
        handler = getattr(controller, req.method)
        authorize = req.environ.get("swift.authorize")
        if authorize is not None and req.method != "OPTIONS":
            req.environ["swift.acl"] = None
            denial = await authorize(req)
            if denial is None:
                # Allowed without looking at ACLs: the controller need not ask again.
                del req.environ["swift.authorize"]
                try:
                    return await self._run(controller, handler, req)
                finally:
                    req.environ["swift.authorize"] = authorize
            if req.method not in controller.delayed_denial:
                return denial
        return await self._run(controller, handler, req)

    async def _run(self, controller: Any, handler: Any, req: Request) -> Response:
        resp = await handler(req)
        if req.headers.get("origin") and req.method != "OPTIONS" and controller.container_name:
            resp = await controller.add_cors(req, resp)
        return resp

    async def info(self, req: Request) -> Response:
        if req.method == "OPTIONS":
            return Response(200, {"allow": "GET, HEAD, OPTIONS", "content-length": "0",
                                  "content-type": "text/html; charset=UTF-8"}, b"")
        if req.method not in ("GET", "HEAD"):
            return error(405, headers={"allow": "GET, HEAD, OPTIONS"})
        body = json.dumps(self.capabilities, sort_keys=True).encode()
        return Response(200, {"content-type": "application/json; charset=UTF-8",
                              "content-length": str(len(body))}, b"" if req.method == "HEAD" else body)

    # -- account and container info --------------------------------------------------------------
    async def account_info(self, account: str, req: Request | None = None, fresh: bool = False) -> dict[str, Any]:
        if not fresh:
            cached = self.infocache.get(account)
            if cached is not None:
                return cached
        from monostack.object.proxy.account import AccountController

        controller = AccountController(self, account)
        head = Request("HEAD", f"/v1/{account}", environ={"swift.trans_id": (req.environ.get("swift.trans_id")
                                                                           if req else "-")})
        part = self.account_ring.get_part(account)
        resp = await controller.get_or_head(head, self.account_ring, part, f"/{account}",
                                            controller.backend_headers(head))
        info = account_info_from_headers(resp.headers, resp.status)
        self.infocache.set(account, None, info)
        return info

    async def container_info(self, account: str, container: str, req: Request | None = None,
                             fresh: bool = False) -> dict[str, Any]:
        if not fresh:
            cached = self.infocache.get(account, container)
            if cached is not None:
                return cached
        from monostack.object.proxy.container import ContainerController

        controller = ContainerController(self, account, container)
        head = Request("HEAD", f"/v1/{account}/{container}",
                       environ={"swift.trans_id": req.environ.get("swift.trans_id") if req else "-"})
        part = self.container_ring.get_part(account, container)
        resp = await controller.get_or_head(head, self.container_ring, part, f"/{account}/{container}",
                                            controller.backend_headers(head))
        info = container_info_from_headers(resp.headers, resp.status)
        self.infocache.set(account, container, info)
        return info

    async def autocreate_account(self, req: Request, account: str) -> bool:
        from monostack.object.proxy.account import AccountController

        controller = AccountController(self, account)
        part, nodes = self.account_ring.get_nodes(account)
        headers = {"x-timestamp": timestamp_now(), "x-trans-id": req.environ.get("swift.trans_id", "-")}
        headers.update({k: v for k, v in req.headers.items() if k.startswith("x-account-sysmeta-")})
        resp = await controller.make_requests(req, self.account_ring, part, "PUT", f"/{account}",
                                              [dict(headers) for _ in nodes])
        self.infocache.clear(account)
        if resp.is_success:
            LOG.info("autocreated account %s", quote(account))
            return True
        LOG.warning("could not autocreate account %s (%s)", quote(account), resp.status)
        return False

    def close(self) -> None:
        self.pool.close()
        self.hash_workers.shutdown(wait=False, cancel_futures=True)
