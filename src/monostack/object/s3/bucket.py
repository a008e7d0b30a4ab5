"""S3 service and bucket operations: ListBuckets, CreateBucket, HeadBucket, DeleteBucket,
ListObjects (v1 and v2), GetBucketLocation, GetBucketVersioning, GetBucketAcl."""

from __future__ import annotations

import base64
import json
import re
import urllib.parse
from typing import Any

from monostack.object.proxy.http import Response
from monostack.object.s3.errors import S3Error
from monostack.object.s3.middleware import S3Request, status_error
from monostack.object.s3.xml import dumps, element, loads, s3_timestamp, sub

SEGMENTS_SUFFIX = "+segments"
BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")
MAX_KEYS = 1000


def valid_bucket_name(name: str) -> bool:
    if not BUCKET_NAME.match(name) or ".." in name or ".-" in name or "-." in name:
        return False
    return not re.match(r"^\d+\.\d+\.\d+\.\d+$", name)


def owner(s3: S3Request) -> dict[str, str]:
    identity = s3.req.environ.get("keystone.identity") or {}
    project_id, project_name = identity.get("tenant", ("", ""))
    return {"ID": project_id or s3.account, "DisplayName": project_name or project_id or s3.account}


def add_owner(parent: Any, s3: S3Request, tag: str = "Owner") -> None:
    node = sub(parent, tag)
    who = owner(s3)
    sub(node, "ID", who["ID"])
    sub(node, "DisplayName", who["DisplayName"])


async def _json_listing(s3: S3Request, container: str | None, query: dict[str, str]) -> list[dict[str, Any]]:
    query = dict(query, format="json")
    resp = await s3.swift("GET", container, query=query)
    body = await resp.read()
    if resp.status == 204:
        return []
    if not resp.is_success:
        raise status_error(resp.status, container)
    return json.loads(body or b"[]")


async def list_buckets(s3: S3Request) -> Response:
    containers: list[dict[str, Any]] = []
    marker = ""
    while True:
        page = await _json_listing(s3, None, {"marker": marker} if marker else {})
        containers.extend(page)
        if len(page) < 10000:
            break
        marker = page[-1]["name"]
    root = element("ListAllMyBucketsResult")
    add_owner(root, s3)
    buckets = sub(root, "Buckets")
    for item in containers:
        name = item.get("name", "")
        if name.endswith(SEGMENTS_SUFFIX) or not valid_bucket_name(name):
            continue
        bucket = sub(buckets, "Bucket")
        sub(bucket, "Name", name)
        sub(bucket, "CreationDate", s3_timestamp(item.get("last_modified")))
    return s3.response(200, dumps(root) if s3.req.method == "GET" else b"")


async def handle(s3: S3Request) -> Response:
    method = s3.req.method
    params = s3.params
    if "location" in params and method == "GET":
        if not await s3.bucket_exists():
            raise S3Error("NoSuchBucket", BucketName=s3.bucket or "")
        root = element("LocationConstraint", None if s3.api.location == "us-east-1" else s3.api.location)
        return s3.response(200, dumps(root))
    if "versioning" in params:
        if method == "GET":
            if not await s3.bucket_exists():
                raise S3Error("NoSuchBucket", BucketName=s3.bucket or "")
            return s3.response(200, dumps(element("VersioningConfiguration")))
        raise S3Error("NotImplemented", "Bucket versioning is not supported.")
    if "acl" in params:
        if method == "GET":
            if not await s3.bucket_exists():
                raise S3Error("NoSuchBucket", BucketName=s3.bucket or "")
            return s3.response(200, acl_body(s3))
        if method == "PUT":
            return await put_acl(s3)
    if method == "PUT":
        return await create(s3)
    if method == "DELETE":
        return await delete(s3)
    if method == "HEAD":
        resp = await s3.swift("HEAD", s3.bucket)
        await resp.close()
        if not resp.is_success:
            raise status_error(resp.status, s3.bucket)
        return s3.response(200, b"", {"x-amz-bucket-region": s3.api.location})
    if method == "GET":
        return await list_objects(s3)
    raise S3Error("MethodNotAllowed", Method=method, ResourceType="BUCKET")


def acl_body(s3: S3Request) -> bytes:
    root = element("AccessControlPolicy")
    add_owner(root, s3)
    grants = sub(root, "AccessControlList")
    grant = sub(grants, "Grant")
    grantee = sub(grant, "Grantee")
    grantee.set("xmlns:xsi", "http://www.w3.org/2001/XMLSchema-instance")
    grantee.set("xsi:type", "CanonicalUser")
    who = owner(s3)
    sub(grantee, "ID", who["ID"])
    sub(grantee, "DisplayName", who["DisplayName"])
    sub(grant, "Permission", "FULL_CONTROL")
    return dumps(root)


async def put_acl(s3: S3Request) -> Response:
    """Only the canned private ACL (Swift's ACLs are not S3's)."""
    canned = s3.headers.get("x-amz-acl", "private")
    if canned != "private":
        raise S3Error("NotImplemented", "Only the private ACL is supported.")
    body = await s3.req.body.read(65536)
    if body:
        loads(body, "AccessControlPolicy")
    if s3.key:
        resp = await s3.swift("HEAD", s3.bucket, s3.key)
    else:
        resp = await s3.swift("HEAD", s3.bucket)
    await resp.close()
    if not resp.is_success:
        raise status_error(resp.status, s3.bucket, s3.key)
    return s3.response(200)


async def create(s3: S3Request) -> Response:
    bucket = s3.bucket or ""
    if not valid_bucket_name(bucket):
        raise S3Error("InvalidBucketName", BucketName=bucket)
    body = await s3.req.body.read(65536)
    if body:
        root = loads(body, "CreateBucketConfiguration")
        location = root.findtext("LocationConstraint")
        if location and location not in (s3.api.location, "us-east-1"):
            pass  # one region here: any constraint lands in it, as a single-region S3 would
    acl = s3.headers.get("x-amz-acl")
    if acl and acl != "private":
        raise S3Error("NotImplemented", "Only the private ACL is supported.")
    resp = await s3.swift("PUT", bucket, headers={"content-length": "0"}, body=b"")
    await resp.read()
    if resp.status == 202:
        raise S3Error("BucketAlreadyOwnedByYou", BucketName=bucket)
    if not resp.is_success:
        raise status_error(resp.status, bucket)
    return s3.response(200, b"", {"location": f"/{bucket}"})


async def delete(s3: S3Request) -> Response:
    bucket = s3.bucket or ""
    resp = await s3.swift("DELETE", bucket)
    await resp.read()
    if resp.status == 409:
        raise S3Error("BucketNotEmpty", BucketName=bucket)
    if not resp.is_success:
        raise status_error(resp.status, bucket)
    segments = await s3.swift("DELETE", bucket + SEGMENTS_SUFFIX)
    await segments.read()
    return s3.response(204)


def _decode_token(token: str) -> str:
    try:
        return base64.b64decode(token.encode("ascii"), validate=True).decode("utf-8")
    except (ValueError, UnicodeError):
        raise S3Error("InvalidArgument", "The continuation token provided is incorrect",
                      ArgumentName="continuation-token") from None


async def list_objects(s3: S3Request) -> Response:
    params = s3.params
    v2 = params.get("list-type") == "2"
    try:
        max_keys = int(params.get("max-keys", MAX_KEYS))
    except ValueError:
        raise S3Error("InvalidArgument", "Provided max-keys not an integer or within integer range",
                      ArgumentName="max-keys") from None
    if max_keys < 0:
        raise S3Error("InvalidArgument", "Argument maxKeys must be an integer between 0 and 2147483647",
                      ArgumentName="max-keys")
    max_keys = min(max_keys, MAX_KEYS)
    encoding = params.get("encoding-type")
    if encoding and encoding != "url":
        raise S3Error("InvalidArgument", "Invalid Encoding Method specified in Request",
                      ArgumentName="encoding-type")
    prefix = params.get("prefix", "")
    delimiter = params.get("delimiter", "")
    if v2:
        token = params.get("continuation-token")
        marker = _decode_token(token) if token is not None else params.get("start-after", "")
    else:
        marker = params.get("marker", "")
    query = {"limit": str(max_keys + 1)}
    if prefix:
        query["prefix"] = prefix
    if delimiter:
        query["delimiter"] = delimiter
    if marker:
        if delimiter and len(delimiter) == 1 and marker.endswith(delimiter):
            # A common prefix as marker: past everything under it, not into it.
            query["marker"] = marker[:-1] + chr(ord(delimiter) + 1)
        else:
            query["marker"] = marker
    if not await s3.bucket_exists():
        raise S3Error("NoSuchBucket", BucketName=s3.bucket or "")
    items = await _json_listing(s3, s3.bucket, query) if max_keys > 0 else []
    truncated = len(items) > max_keys
    items = items[:max_keys]

    def enc(value: str) -> str:
        return urllib.parse.quote(value, safe="/") if encoding == "url" else value

    root = element("ListBucketResult")
    sub(root, "Name", s3.bucket)
    sub(root, "Prefix", enc(prefix))
    if v2:
        if "start-after" in params:
            sub(root, "StartAfter", enc(params["start-after"]))
        if "continuation-token" in params:
            sub(root, "ContinuationToken", params["continuation-token"])
        sub(root, "KeyCount", len(items))
    else:
        sub(root, "Marker", enc(marker))
    next_marker = None
    if truncated and items:
        next_marker = items[-1].get("name") or items[-1].get("subdir")
    if not v2 and truncated and delimiter:
        sub(root, "NextMarker", enc(items[-1].get("name") or items[-1].get("subdir", "")))
    if v2 and truncated and next_marker is not None:
        sub(root, "NextContinuationToken", base64.b64encode(next_marker.encode("utf-8")).decode("ascii"))
    sub(root, "MaxKeys", max_keys)
    if delimiter:
        sub(root, "Delimiter", enc(delimiter))
    if encoding:
        sub(root, "EncodingType", encoding)
    sub(root, "IsTruncated", "true" if truncated else "false")
    fetch_owner = not v2 or params.get("fetch-owner") == "true"
    for item in items:
        if "subdir" in item:
            continue
        contents = sub(root, "Contents")
        sub(contents, "Key", enc(item["name"]))
        sub(contents, "LastModified", s3_timestamp(item.get("last_modified")))
        etag = item.get("s3_etag") or item.get("hash", "").split(";")[0].strip()
        sub(contents, "ETag", f'"{etag}"')
        sub(contents, "Size", item.get("bytes", 0))
        if fetch_owner:
            add_owner(contents, s3)
        sub(contents, "StorageClass", "STANDARD")
    for item in items:
        if "subdir" in item:
            common = sub(root, "CommonPrefixes")
            sub(common, "Prefix", enc(item["subdir"]))
    return s3.response(200, dumps(root))
