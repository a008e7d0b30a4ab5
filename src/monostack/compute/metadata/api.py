"""The instance metadata API (what guests reach at 169.254.169.254), as
Nova's nova/api/metadata/handler.py serves it.

No Keystone token: the requester is identified either

* behind the networking service's metadata proxy, by the headers the proxy
  adds: ``X-Instance-ID``, ``X-Tenant-ID`` and ``X-Instance-ID-Signature``
  (hex HMAC-SHA256 of the instance id keyed with the shared secret). A
  missing header is a 400, a wrong signature a 403, an unknown instance or a
  tenant that is not the server's a 404; or
* without those headers, by the address the request comes from: the client
  address, or the first ``X-Forwarded-For`` entry when `use_forwarded_for`
  is set (Nova's [api] use_forwarded_for; only behind a proxy that sets it,
  since anyone can send the header).

A server found is kept `cache_seconds` (Nova's [api]
metadata_cache_expiration, 15 s) so a guest's burst of requests costs one
lookup. Listings are text/plain, meta_data.json and vendor data JSON.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import posixpath
import time
from typing import Awaitable, Callable, Protocol

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp

from monostack.common import http
from monostack.compute.metadata import ec2, password
from monostack.compute.metadata.content import (PASSWORD_ENDPOINT, TEXT, Documents, NotFoundPath,
                                                render_listing)
from monostack.compute.metadata.instance import InstanceMetadata

LOG = logging.getLogger(__name__)

_REASONS = {400: "Bad Request", 403: "Forbidden", 404: "Not Found", 409: "Conflict",
            500: "Internal Server Error"}
_NOT_FOUND = "The resource could not be found."
_UNKNOWN = "An unknown error has occurred. Please try your request again."
_CACHE_SIZE = 4096


class MetadataSource(Protocol):
    """Where the metadata API finds servers (implemented by the compute service)."""

    async def by_instance_id(self, uuid: str) -> InstanceMetadata | None:
        """The server with this uuid, None when there is none."""

    async def by_address(self, address: str) -> InstanceMetadata | None:
        """The server that has this fixed IP address, None when none."""

    async def set_password(self, uuid: str, password: str) -> bool:
        """Store the password the guest POSTed; False (answered 409) when one
        is already set: check and store atomically."""


class _HTTPError(Exception):
    def __init__(self, status: int, explanation: str) -> None:
        super().__init__(explanation)
        self.status = status
        self.explanation = explanation


def _error_response(status: int, explanation: str) -> Response:
    # webob's plain-text error page, which Nova's metadata API answers with.
    body = f"{status} {_REASONS.get(status, '')}\n\n{explanation}\n\n   "
    return Response(body, status_code=status, media_type="text/plain")


def sign_instance_id(instance_id: str, shared_secret: str) -> str:
    """The X-Instance-ID-Signature a metadata proxy sends for this instance."""
    return hmac.new(shared_secret.encode(), instance_id.encode(), hashlib.sha256).hexdigest()


class _Cache:
    """Servers found recently, by lookup key, for a few seconds."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.entries: dict[str, tuple[float, InstanceMetadata]] = {}

    def get(self, key: str) -> InstanceMetadata | None:
        hit = self.entries.get(key)
        if hit is None:
            return None
        if hit[0] < time.monotonic():
            del self.entries[key]
            return None
        return hit[1]

    def put(self, key: str, meta: InstanceMetadata) -> None:
        if self.seconds <= 0:
            return
        if len(self.entries) >= _CACHE_SIZE:
            now = time.monotonic()
            self.entries = {k: v for k, v in self.entries.items() if v[0] >= now}
            while len(self.entries) >= _CACHE_SIZE:
                del self.entries[next(iter(self.entries))]
        self.entries[key] = (time.monotonic() + self.seconds, meta)

    def forget(self, uuid: str) -> None:
        self.entries = {k: v for k, v in self.entries.items() if v[1].uuid != uuid}


class MetadataHandler:
    def __init__(self, source: MetadataSource, *, shared_secret: str, use_forwarded_for: bool,
                 cache_seconds: float) -> None:
        self.source = source
        self.shared_secret = shared_secret
        self.use_forwarded_for = use_forwarded_for
        self.cache = _Cache(cache_seconds)

    async def _find(self, key: str, lookup: Callable[[str], Awaitable[InstanceMetadata | None]],
                    arg: str) -> InstanceMetadata | None:
        meta = self.cache.get(key)
        if meta is not None:
            return meta
        try:
            meta = await lookup(arg)
        except Exception:
            LOG.exception("failed to get metadata for %s", key)
            raise _HTTPError(500, _UNKNOWN) from None
        if meta is not None:
            self.cache.put(key, meta)
        return meta

    async def identify(self, request: Request) -> tuple[InstanceMetadata, str | None]:
        """The requesting server and its address."""
        headers = request.headers
        if any(h in headers for h in ("x-instance-id", "x-tenant-id", "x-instance-id-signature")):
            return await self._by_proxy_headers(request)
        address = request.client.host if request.client else None
        if self.use_forwarded_for and headers.get("x-forwarded-for"):
            address = headers["x-forwarded-for"].split(",")[0].strip()
        if not address:
            raise _HTTPError(404, _NOT_FOUND)
        meta = await self._find(f"address-{address}", self.source.by_address, address)
        if meta is None:
            LOG.error("Failed to get metadata for IP %s: no metadata", address)
            raise _HTTPError(404, _NOT_FOUND)
        return meta, address

    async def _by_proxy_headers(self, request: Request) -> tuple[InstanceMetadata, str | None]:
        headers = request.headers
        instance_ids = headers.getlist("x-instance-id")
        tenant_ids = headers.getlist("x-tenant-id")
        signature = headers.get("x-instance-id-signature")
        if not instance_ids:
            raise _HTTPError(400, "X-Instance-ID header is missing from request.")
        if signature is None:
            raise _HTTPError(400, "X-Instance-ID-Signature header is missing from request.")
        if not tenant_ids:
            raise _HTTPError(400, "X-Tenant-ID header is missing from request.")
        if len(instance_ids) > 1:
            raise _HTTPError(400, "Multiple X-Instance-ID headers found within request.")
        if len(tenant_ids) > 1:
            raise _HTTPError(400, "Multiple X-Tenant-ID headers found within request.")
        instance_id, tenant_id = instance_ids[0], tenant_ids[0]
        address = headers.get("x-forwarded-for")
        expected = sign_instance_id(instance_id, self.shared_secret)
        if not signature or not hmac.compare_digest(expected, signature):
            LOG.warning("X-Instance-ID-Signature %s does not match the expected signature for id "
                        "%s. Request from %s", signature, instance_id, address)
            raise _HTTPError(403, "Invalid proxy request signature.")
        meta = await self._find(f"instance-{instance_id}", self.source.by_instance_id, instance_id)
        if meta is None:
            LOG.error("Failed to get metadata for instance id: %s", instance_id)
            raise _HTTPError(404, _NOT_FOUND)
        if meta.project_id != tenant_id:
            LOG.warning("Tenant_id %s does not match tenant_id of instance %s.", tenant_id,
                        instance_id)
            raise _HTTPError(404, _NOT_FOUND)
        return meta, address

    async def password_endpoint(self, request: Request, meta: InstanceMetadata) -> Response:
        # Read fresh, not from the cache: a password POSTed a moment ago counts.
        try:
            fresh = await self.source.by_instance_id(meta.uuid)
        except Exception:
            LOG.exception("failed to get metadata for instance %s", meta.uuid)
            raise _HTTPError(500, _UNKNOWN) from None
        if fresh is None:
            raise _HTTPError(404, _NOT_FOUND)
        if request.method == "GET":
            return Response(fresh.password or "", media_type="text/plain")
        if request.method != "POST":
            raise _HTTPError(400, "GET and POST only are supported.")
        try:
            value = password.check_post(fresh.password, await request.body())
        except password.PasswordError as exc:
            raise _HTTPError(exc.status, exc.message) from None
        try:
            stored = await self.source.set_password(meta.uuid, value)
        except Exception:
            LOG.exception("failed to store the password of instance %s", meta.uuid)
            raise _HTTPError(500, _UNKNOWN) from None
        if not stored:
            raise _HTTPError(409, password.CONFLICT)
        self.cache.forget(meta.uuid)
        LOG.info("password of instance %s set by the guest", meta.uuid)
        return Response(b"", media_type="text/plain")

    async def handle(self, request: Request) -> Response:
        path = request.path_params.get("path", "")
        try:
            if posixpath.normpath("/" + path.lstrip("/")) == "/":
                # The EC2 version list, without asking who is calling.
                return Response(render_listing(ec2.VERSIONS + ["latest"]), media_type="text/plain")
            meta, address = await self.identify(request)
            try:
                item = Documents(meta, address=address).lookup(path)
            except NotFoundPath:
                raise _HTTPError(404, _NOT_FOUND) from None
            if item is PASSWORD_ENDPOINT:
                return await self.password_endpoint(request, meta)
            return Response(item.body, headers={"content-type": item.content_type or TEXT})
        except _HTTPError as exc:
            return _error_response(exc.status, exc.explanation)


def build_app(source: MetadataSource, *, shared_secret: str, use_forwarded_for: bool = False,
              cache_seconds: float = 15.0) -> ASGIApp:
    """The metadata API as an ASGI app (serve it at the root of its own
    listener, or mount it: paths are relative to the mount point). Plain
    Starlette in the shared middleware (request ids, access log): every path
    belongs to the metadata tree, so no OpenAPI or health-check routes."""
    handler = MetadataHandler(source, shared_secret=shared_secret,
                              use_forwarded_for=use_forwarded_for, cache_seconds=cache_seconds)
    app = Starlette(routes=[Route("/{path:path}", handler.handle,
                                  methods=["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"])])
    return http.ApiMiddleware(app, service="metadata", error_format=http.nova_error,
                              max_body_size=65536)
