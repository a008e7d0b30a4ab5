"""The S3 API: requests to the s3 mount (path-style: /<bucket>/<key>) are
authenticated with an EC2 credential's signature (checked by Identity, as
Keystone's s3tokens does) and turned into Swift requests on the account of the
credential's project, through the rest of the pipeline (so ACLs, quotas, large
objects all apply).  A bucket is a container; a multipart upload keeps its parts
in "<bucket>+segments" and completes as a static large object, as Swift's s3api
does."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import urllib.parse
from typing import Any, AsyncIterator

from monostack.common import errors as api_errors
from monostack.common.context import RequestContext
from monostack.object.middleware.keystoneauth import identity_from_context
from monostack.object.proxy.http import Body, HTTPError, Request, Response
from monostack.object.s3 import signature
from monostack.object.s3.errors import S3Error

LOG = logging.getLogger(__name__)

NOT_IMPLEMENTED = ("tagging", "lifecycle", "policy", "cors", "website", "replication", "notification",
                   "logging", "encryption", "object-lock", "retention", "legal-hold", "torrent", "restore",
                   "select", "accelerate", "requestPayment", "analytics", "inventory", "metrics",
                   "intelligent-tiering", "ownershipControls", "publicAccessBlock")


def status_error(status: int, bucket: str | None = None, key: str | None = None) -> S3Error:
    """The S3 error for a Swift status."""
    if status in (401, 403):
        return S3Error("AccessDenied")
    if status == 404:
        if key:
            return S3Error("NoSuchKey", Key=key)
        return S3Error("NoSuchBucket", BucketName=bucket or "")
    if status == 409:
        return S3Error("BucketNotEmpty", BucketName=bucket or "") if not key else S3Error("InvalidRequest")
    if status == 411:
        return S3Error("MissingContentLength")
    if status == 412:
        return S3Error("PreconditionFailed", Condition="If-Match")
    if status == 413:
        return S3Error("EntityTooLarge")
    if status == 416:
        return S3Error("InvalidRange")
    if status == 422:
        return S3Error("BadDigest")
    if status == 400:
        return S3Error("InvalidArgument")
    if status == 503:
        return S3Error("ServiceUnavailable")
    return S3Error("InternalError")


class S3Request:
    """One S3 request after authentication: who, which bucket and key, and how to ask Swift."""

    def __init__(self, api: "S3Api", req: Request, account: str, bucket: str | None, key: str | None):
        self.api = api
        self.req = req
        self.account = account
        self.bucket = bucket
        self.key = key
        self.trans_id = req.environ.get("swift.trans_id", "")

    @property
    def params(self) -> dict[str, str]:
        return self.req.params

    @property
    def headers(self) -> dict[str, str]:
        return self.req.headers

    def swift_path(self, container: str | None = None, obj: str | None = None) -> str:
        path = f"/v1/{self.account}"
        if container:
            path += f"/{container}"
            if obj:
                path += f"/{obj}"
        return path

    async def swift(self, method: str, container: str | None = None, obj: str | None = None,
                    headers: dict[str, str] | None = None, body: Body | bytes | None = None,
                    query: dict[str, str] | str | None = None) -> Response:
        if isinstance(query, dict):
            query = urllib.parse.urlencode(query, quote_via=urllib.parse.quote)
        sub = self.req.sub(method, self.swift_path(container, obj), headers or {}, body,
                           query_string=query or "", source="S3")
        try:
            return await self.api.app(sub)
        except HTTPError as exc:
            return exc.response

    async def bucket_exists(self, bucket: str | None = None) -> bool:
        info = await self.api.proxy.container_info(self.account, bucket or self.bucket, self.req)
        return 200 <= info["status"] < 300

    def response(self, status: int = 200, body: bytes = b"", headers: dict[str, str] | None = None,
                 content_type: str | None = "application/xml") -> Response:
        out = {"x-amz-request-id": self.trans_id, "x-amz-id-2": self.trans_id}
        if content_type and body:
            out["content-type"] = content_type
        out.update(headers or {})
        out["content-length"] = str(len(body))
        return Response(status, out, body)


class S3Api:
    def __init__(self, app: Any, proxy: Any, conf: Any, identity: Any):
        self.app = app
        self.proxy = proxy
        self.identity = identity
        self.reseller_prefix = conf.object.reseller_prefix
        self.location = conf.object.s3_location
        self.max_parts = conf.object.s3_max_parts
        proxy.register_capability("s3api", max_bucket_listing=1000, max_parts_listing=1000,
                                  max_upload_part_num=self.max_parts, max_multi_delete_objects=1000,
                                  location=self.location)

    async def __call__(self, req: Request) -> Response:
        if not req.environ.get("s3"):
            return await self.app(req)
        request_id = req.environ.get("swift.trans_id", "")
        try:
            resp = await self.handle(req)
        except S3Error as exc:
            return exc.response(request_id, req.method)
        except HTTPError as exc:
            return status_error(exc.response.status).response(request_id, req.method)
        resp.headers.setdefault("x-amz-request-id", request_id)
        resp.headers.setdefault("x-amz-id-2", request_id)
        return resp

    # -- authentication ------------------------------------------------------------------------
    async def authenticate(self, req: Request) -> str:
        raw = req.environ.get("raw_path") or urllib.parse.quote(req.path)
        signed = signature.parse(req, urllib.parse.quote(req.environ.get("script_name", "")) + raw, raw)
        if signed is None:
            raise S3Error("AccessDenied")
        if self.identity is None:
            raise S3Error("ServiceUnavailable", "Identity is not available to check signatures.")
        creds = {"access": signed.access_key, "signature": signed.signature,
                 "token": base64.urlsafe_b64encode(signed.string_to_sign).decode("ascii")}
        try:
            token = await asyncio.to_thread(self.identity.credentials.authenticate_signed,
                                            {"credentials": creds}, s3=True)
        except api_errors.NotFound:
            raise S3Error("InvalidAccessKeyId", AWSAccessKeyId=signed.access_key) from None
        except api_errors.Unauthorized:
            raise S3Error("SignatureDoesNotMatch", AWSAccessKeyId=signed.access_key,
                          StringToSign=signed.string_to_sign.decode("utf-8", "replace"),
                          SignatureProvided=signed.signature) from None
        except api_errors.APIError:
            raise S3Error("AccessDenied") from None
        ctx: RequestContext = req.environ.get("swift.context") or RequestContext()
        token.to_context(ctx)
        identity = identity_from_context(ctx)
        req.environ["keystone.identity"] = identity
        if signed.payload_hash not in (signature.UNSIGNED,) and not signed.payload_hash.startswith("STREAMING-"):
            req.body = Body(source=_verify_sha256(req.body.chunks(), signed.payload_hash))
        elif signed.payload_hash.startswith("STREAMING-"):
            if "UNSIGNED" not in signed.payload_hash:
                raise S3Error("NotImplemented", "Signed streaming (aws-chunked) uploads are not supported; "
                                                "sign the payload or leave it unsigned.")
            decoded = req.headers.get("x-amz-decoded-content-length")
            if decoded is None:
                raise S3Error("MissingContentLength")
            req.headers["content-length"] = decoded
            req.body = Body(source=_aws_chunked(req.body.chunks()))
        return f"{self.reseller_prefix}{ctx.project_id}"

    # -- dispatch -------------------------------------------------------------------------------
    async def handle(self, req: Request) -> Response:
        from monostack.object.s3 import bucket as bucket_ops
        from monostack.object.s3 import multipart, obj

        for value in list(req.params) + list(req.params.values()):
            try:
                value.encode("utf-8")
            except UnicodeError:
                raise S3Error("InvalidURI") from None
        path = req.path
        bucket, _, key = path.lstrip("/").partition("/")
        account = await self.authenticate(req)
        s3 = S3Request(self, req, account, bucket or None, key or None)
        params = req.params
        for name in NOT_IMPLEMENTED:
            if name in params:
                raise S3Error("NotImplemented", "The requested resource is not implemented.")
        if not bucket:
            if req.method in ("GET", "HEAD"):
                return await bucket_ops.list_buckets(s3)
            raise S3Error("MethodNotAllowed", Method=req.method, ResourceType="SERVICE")
        if not key:
            if "uploads" in params and req.method == "GET":
                return await multipart.list_uploads(s3)
            if "delete" in params and req.method == "POST":
                return await obj.delete_objects(s3)
            return await bucket_ops.handle(s3)
        if len(key.encode("utf-8")) > 1024:
            raise S3Error("KeyTooLongError")
        if "uploads" in params and req.method == "POST":
            return await multipart.initiate(s3)
        if "uploadId" in params:
            return await multipart.handle(s3)
        return await obj.handle(s3)


async def _verify_sha256(chunks: AsyncIterator[bytes], expected: str) -> AsyncIterator[bytes]:
    digest = hashlib.sha256()
    async for chunk in chunks:
        digest.update(chunk)
        yield chunk
    if digest.hexdigest() != expected.lower():
        raise S3Error("XAmzContentSHA256Mismatch", ClientComputedContentSHA256=expected,
                      S3ComputedContentSHA256=digest.hexdigest())


async def _aws_chunked(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """The data of an aws-chunked body: "<hex size>[;chunk-signature=...]\\r\\n<data>\\r\\n" ...,
    then "0\\r\\n" and the trailers."""
    buffer = b""
    source = chunks.__aiter__()
    eof = False

    async def need(n: int) -> bool:
        nonlocal buffer, eof
        while len(buffer) < n and not eof:
            try:
                buffer += await source.__anext__()
            except StopAsyncIteration:
                eof = True
        return len(buffer) >= n

    while True:
        while b"\r\n" not in buffer:
            if eof or len(buffer) > 4096:
                raise S3Error("IncompleteBody")
            await need(len(buffer) + 1)
        line, buffer = buffer.split(b"\r\n", 1)
        try:
            size = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise S3Error("InvalidRequest", "Invalid chunk size in the aws-chunked body") from None
        if size == 0:
            return
        while size:
            if not buffer and not await need(1):
                raise S3Error("IncompleteBody")
            piece, buffer = buffer[:size], buffer[size:]
            size -= len(piece)
            yield piece
        if not await need(2):
            raise S3Error("IncompleteBody")
        buffer = buffer[2:]
