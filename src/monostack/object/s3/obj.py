"""S3 object operations: PutObject, CopyObject, GetObject, HeadObject, DeleteObject,
DeleteObjects, and object ACLs (private only)."""

from __future__ import annotations

import base64
import binascii
import urllib.parse
from typing import Any

from monostack.object.proxy.http import Response, conditional_status, parse_http_date
from monostack.object.s3.bucket import acl_body, put_acl
from monostack.object.s3.errors import S3Error
from monostack.object.s3.middleware import S3Request, status_error
from monostack.object.s3.xml import dumps, element, epoch_to_s3, loads, sub

S3_ETAG = "x-object-sysmeta-s3api-etag"
PASSED_REQUEST = ("content-type", "content-encoding", "content-disposition", "cache-control", "expires",
                  "content-language")
PASSED_RESPONSE = ("content-type", "content-length", "content-range", "content-encoding", "content-disposition",
                   "cache-control", "expires", "content-language", "last-modified", "accept-ranges")
CONDITIONS = ("if-match", "if-none-match", "if-modified-since", "if-unmodified-since", "range")
RESPONSE_OVERRIDES = {"response-content-type": "content-type", "response-content-language": "content-language",
                      "response-expires": "expires", "response-cache-control": "cache-control",
                      "response-content-disposition": "content-disposition",
                      "response-content-encoding": "content-encoding"}
MAX_DELETE = 1000


def swift_headers(s3: S3Request) -> dict[str, str]:
    """The object headers of an S3 write, in Swift's terms."""
    headers = {}
    for name, value in s3.headers.items():
        if name.startswith("x-amz-meta-"):
            headers["x-object-meta-" + name[len("x-amz-meta-"):]] = value
        elif name in PASSED_REQUEST:
            headers[name] = value
    if headers.get("content-encoding", "").lower() == "aws-chunked":
        del headers["content-encoding"]
    md5 = s3.headers.get("content-md5")
    if md5 is not None:
        try:
            raw = base64.b64decode(md5, validate=True)
        except (binascii.Error, ValueError):
            raise S3Error("InvalidDigest", ContentMD5=md5) from None
        if len(raw) != 16:
            raise S3Error("InvalidDigest", ContentMD5=md5)
        headers["etag"] = raw.hex()
    return headers


def s3_response_headers(swift: dict[str, str]) -> dict[str, str]:
    out = {k: v for k, v in swift.items() if k in PASSED_RESPONSE}
    for name, value in swift.items():
        if name.startswith("x-object-meta-"):
            out["x-amz-meta-" + name[len("x-object-meta-"):]] = value
    etag = swift.get(S3_ETAG) or swift.get("etag", "").strip('"')
    if etag:
        out["etag"] = f'"{etag}"'
    return out


async def handle(s3: S3Request) -> Response:
    method = s3.req.method
    if "acl" in s3.params:
        if method == "GET":
            resp = await s3.swift("HEAD", s3.bucket, s3.key)
            await resp.close()
            if not resp.is_success:
                raise status_error(resp.status, s3.bucket, s3.key)
            return s3.response(200, acl_body(s3))
        if method == "PUT":
            return await put_acl(s3)
        raise S3Error("MethodNotAllowed", Method=method, ResourceType="ACL")
    if method in ("GET", "HEAD"):
        return await get(s3)
    if method == "PUT":
        if "x-amz-copy-source" in s3.headers:
            return await copy(s3)
        return await put(s3)
    if method == "DELETE":
        return await delete(s3)
    raise S3Error("MethodNotAllowed", Method=method, ResourceType="OBJECT")


async def _missing(s3: S3Request, status: int, key: str | None = None) -> S3Error:
    if status == 404 and not await s3.bucket_exists():
        return S3Error("NoSuchBucket", BucketName=s3.bucket or "")
    return status_error(status, s3.bucket, key or s3.key)


async def get(s3: S3Request) -> Response:
    # Etag conditions are checked here, against the S3 etag (a multipart upload's is not Swift's).
    headers = {k: v for k, v in s3.headers.items() if k in CONDITIONS and k not in ("if-match", "if-none-match")}
    if "partNumber" in s3.params:
        raise S3Error("NotImplemented", "Part-number reads are not supported.")
    resp = await s3.swift(s3.req.method, s3.bucket, s3.key, headers)
    if resp.is_success:
        etag = resp.headers.get(S3_ETAG) or resp.headers.get("etag", "").strip('"')
        verdict = conditional_status({k: v for k, v in s3.headers.items() if k in ("if-match", "if-none-match")},
                                     etag, None)
        if verdict == 412:
            await resp.close()
            raise S3Error("PreconditionFailed", Condition="If-Match")
        if verdict == 304:
            await resp.close()
            return s3.response(304, b"", s3_response_headers(resp.headers))
    if resp.status == 304:
        await resp.close()
        out = s3_response_headers(resp.headers)
        return s3.response(304, b"", out)
    if not resp.is_success:
        await resp.close()
        if resp.status == 412:
            raise S3Error("PreconditionFailed", Condition="If-Match" if "if-match" in headers
                          else "If-Unmodified-Since")
        if resp.status == 416:
            raise S3Error("InvalidRange", RangeRequested=headers.get("range", ""))
        raise await _missing(s3, resp.status)
    out = s3_response_headers(resp.headers)
    for param, header in RESPONSE_OVERRIDES.items():
        if param in s3.params:
            out[header] = s3.params[param]
    out["x-amz-request-id"] = s3.trans_id
    out["x-amz-id-2"] = s3.trans_id
    resp.headers = out
    return resp


async def put(s3: S3Request) -> Response:
    headers = swift_headers(s3)
    length = s3.req.content_length
    if length is None and not s3.req.chunked:
        raise S3Error("MissingContentLength")
    if length is not None:
        headers["content-length"] = str(length)
    else:
        headers["transfer-encoding"] = "chunked"
    if length is not None and length > 5 * 1024 ** 3:
        raise S3Error("EntityTooLarge")
    resp = await s3.swift("PUT", s3.bucket, s3.key, headers, s3.req.body)
    await resp.read()
    if not resp.is_success:
        if resp.status == 422:
            raise S3Error("BadDigest", ExpectedDigest=s3.headers.get("content-md5", ""))
        raise await _missing(s3, resp.status)
    return s3.response(200, b"", {"etag": f'"{resp.headers.get("etag", "").strip(chr(34))}"'})


def copy_source(s3: S3Request) -> tuple[str, str]:
    source = urllib.parse.unquote(s3.headers["x-amz-copy-source"])
    source = source.split("?", 1)[0].lstrip("/")
    bucket, _, key = source.partition("/")
    if not bucket or not key:
        raise S3Error("InvalidArgument", "Copy Source must mention the source bucket and key: "
                                         "sourcebucket/sourcekey", ArgumentName="x-amz-copy-source",
                      ArgumentValue=s3.headers["x-amz-copy-source"])
    return bucket, key


def copy_conditions(s3: S3Request) -> dict[str, str]:
    out = {}
    for name in ("if-match", "if-none-match", "if-modified-since", "if-unmodified-since"):
        value = s3.headers.get(f"x-amz-copy-source-{name}")
        if value:
            out[name] = value
    return out


async def copy(s3: S3Request, target_container: str | None = None, target_obj: str | None = None,
               range_header: str | None = None) -> Response:
    src_bucket, src_key = copy_source(s3)
    directive = s3.headers.get("x-amz-metadata-directive", "COPY").upper()
    if directive not in ("COPY", "REPLACE"):
        raise S3Error("InvalidArgument", "Unknown metadata directive.", ArgumentName="x-amz-metadata-directive",
                      ArgumentValue=directive)
    container = target_container or s3.bucket
    obj = target_obj or s3.key
    if target_obj is None and src_bucket == s3.bucket and src_key == s3.key and directive == "COPY":
        raise S3Error("InvalidRequest", "This copy request is illegal because it is trying to copy an object to "
                                        "itself without changing the object's metadata, storage class, website "
                                        "redirect location or encryption attributes.")
    headers = {"x-copy-from": urllib.parse.quote(f"/{src_bucket}/{src_key}"), "content-length": "0"}
    headers.update(copy_conditions(s3))
    if range_header:
        headers["range"] = range_header
    if directive == "REPLACE" and target_obj is None:
        headers.update(swift_headers(s3))
        headers["x-fresh-metadata"] = "true"
        headers.pop("etag", None)
    resp = await s3.swift("PUT", container, obj, headers, b"")
    await resp.read()
    if not resp.is_success:
        if resp.status == 412:
            raise S3Error("PreconditionFailed", Condition="x-amz-copy-source-If-Match")
        if resp.status == 404:
            source_exists = await s3.bucket_exists(src_bucket)
            if not source_exists:
                raise S3Error("NoSuchBucket", BucketName=src_bucket)
            if not await s3.bucket_exists(container):
                raise S3Error("NoSuchBucket", BucketName=container or "")
            raise S3Error("NoSuchKey", Key=src_key)
        if resp.status == 416:
            raise S3Error("InvalidRange")
        raise status_error(resp.status, container, obj)
    etag = resp.headers.get("etag", "").strip('"')
    when = parse_http_date(resp.headers.get("last-modified", "")) or 0
    root = element("CopyPartResult" if target_obj else "CopyObjectResult")
    sub(root, "LastModified", epoch_to_s3(when))
    sub(root, "ETag", f'"{etag}"')
    return s3.response(200, dumps(root))


async def _delete_one(s3: S3Request, key: str) -> int:
    head = await s3.swift("HEAD", s3.bucket, key, query={"multipart-manifest": "get"})
    await head.close()
    query = {"multipart-manifest": "delete"} if head.is_success and \
        head.headers.get("x-static-large-object", "").lower() == "true" else None
    resp = await s3.swift("DELETE", s3.bucket, key, query=query)
    await resp.read()
    return resp.status


async def delete(s3: S3Request) -> Response:
    status = await _delete_one(s3, s3.key or "")
    if status == 404:
        if not await s3.bucket_exists():
            raise S3Error("NoSuchBucket", BucketName=s3.bucket or "")
    elif not 200 <= status < 300:
        raise status_error(status, s3.bucket, s3.key)
    return s3.response(204)


async def delete_objects(s3: S3Request) -> Response:
    body = await s3.req.body.read(1024 * 1024)
    root = loads(body, "Delete")
    quiet = (root.findtext("Quiet") or "").lower() == "true"
    keys: list[Any] = []
    for node in root.findall("Object"):
        key = node.findtext("Key")
        if key is None:
            raise S3Error("MalformedXML")
        keys.append(key)
    if len(keys) > MAX_DELETE:
        raise S3Error("MalformedXML")
    if not await s3.bucket_exists():
        raise S3Error("NoSuchBucket", BucketName=s3.bucket or "")
    result = element("DeleteResult")
    for key in keys:
        status = await _delete_one(s3, key)
        if 200 <= status < 300 or status == 404:
            if not quiet:
                deleted = sub(result, "Deleted")
                sub(deleted, "Key", key)
        else:
            error = status_error(status, s3.bucket, key)
            failed = sub(result, "Error")
            sub(failed, "Key", key)
            sub(failed, "Code", error.code)
            sub(failed, "Message", error.message)
    return s3.response(200, dumps(result))
