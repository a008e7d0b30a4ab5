"""S3 multipart uploads, as Swift's s3api keeps them: the upload is a marker object
"<key>/<upload id>" in the container "<bucket>+segments" (holding the metadata
given at initiation), each part the object "<key>/<upload id>/<part number>"
there, and completion writes a static large object manifest at <bucket>/<key>
whose segments are the parts (the S3 etag, md5 of the parts' md5s and "-<count>",
kept beside it)."""

from __future__ import annotations

import hashlib
import json
import urllib.parse
import uuid
from typing import Any

from monostack.object.proxy.http import Body, Response
from monostack.object.s3.bucket import SEGMENTS_SUFFIX, add_owner
from monostack.object.s3.errors import S3Error
from monostack.object.s3.middleware import S3Request, status_error
from monostack.object.s3.obj import S3_ETAG, copy, swift_headers
from monostack.object.s3.xml import dumps, element, loads, s3_timestamp, sub

MIN_PART_SIZE = 5 * 1024 * 1024
MAX_PARTS_LISTING = 1000
MAX_UPLOADS_LISTING = 1000


def _segments(s3: S3Request) -> str:
    return (s3.bucket or "") + SEGMENTS_SUFFIX


def _upload_path(s3: S3Request, upload_id: str) -> str:
    return f"{s3.key}/{upload_id}"


async def _marker(s3: S3Request, upload_id: str) -> Response:
    """The upload's marker object (NoSuchUpload when it is gone)."""
    if not upload_id or "/" in upload_id:
        raise S3Error("NoSuchUpload", UploadId=upload_id)
    resp = await s3.swift("HEAD", _segments(s3), _upload_path(s3, upload_id))
    await resp.close()
    if resp.status == 404:
        raise S3Error("NoSuchUpload", UploadId=upload_id)
    if not resp.is_success:
        raise status_error(resp.status, s3.bucket, s3.key)
    return resp


async def _listing(s3: S3Request, prefix: str, marker: str = "", limit: int = 10000) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    while True:
        query = {"format": "json", "prefix": prefix, "limit": str(min(limit - len(items), 10000))}
        if marker:
            query["marker"] = marker
        resp = await s3.swift("GET", _segments(s3), query=query)
        body = await resp.read()
        if resp.status in (204, 404):
            return items
        if not resp.is_success:
            raise status_error(resp.status, s3.bucket)
        page = json.loads(body or b"[]")
        items.extend(page)
        if len(page) < 10000 or len(items) >= limit:
            return items
        marker = page[-1]["name"]


async def initiate(s3: S3Request) -> Response:
    if not await s3.bucket_exists():
        raise S3Error("NoSuchBucket", BucketName=s3.bucket or "")
    headers = swift_headers(s3)
    headers.pop("etag", None)
    if not await s3.bucket_exists(_segments(s3)):
        made = await s3.swift("PUT", _segments(s3), headers={"content-length": "0"}, body=b"")
        await made.read()
        if not made.is_success and made.status != 202:
            raise status_error(made.status, s3.bucket)
    upload_id = "u" + uuid.uuid4().hex
    headers["content-length"] = "0"
    headers.setdefault("content-type", "application/octet-stream")
    resp = await s3.swift("PUT", _segments(s3), _upload_path(s3, upload_id), headers, b"")
    await resp.read()
    if not resp.is_success:
        raise status_error(resp.status, s3.bucket)
    root = element("InitiateMultipartUploadResult")
    sub(root, "Bucket", s3.bucket)
    sub(root, "Key", s3.key)
    sub(root, "UploadId", upload_id)
    return s3.response(200, dumps(root))


async def handle(s3: S3Request) -> Response:
    method = s3.req.method
    upload_id = s3.params["uploadId"]
    if method == "PUT":
        return await upload_part(s3, upload_id)
    if method == "GET":
        return await list_parts(s3, upload_id)
    if method == "DELETE":
        return await abort(s3, upload_id)
    if method == "POST":
        return await complete(s3, upload_id)
    raise S3Error("MethodNotAllowed", Method=method, ResourceType="UPLOAD")


def _part_number(s3: S3Request) -> int:
    try:
        number = int(s3.params.get("partNumber", ""))
    except ValueError:
        number = 0
    if not 1 <= number <= s3.api.max_parts:
        raise S3Error("InvalidArgument", f"Part number must be an integer between 1 and {s3.api.max_parts}, "
                                         f"inclusive", ArgumentName="partNumber",
                      ArgumentValue=s3.params.get("partNumber", ""))
    return number


async def upload_part(s3: S3Request, upload_id: str) -> Response:
    number = _part_number(s3)
    await _marker(s3, upload_id)
    name = f"{_upload_path(s3, upload_id)}/{number}"
    if "x-amz-copy-source" in s3.headers:
        return await copy(s3, _segments(s3), name, s3.headers.get("x-amz-copy-source-range"))
    length = s3.req.content_length
    if length is None and not s3.req.chunked:
        raise S3Error("MissingContentLength")
    if length is not None and length > 5 * 1024 ** 3:
        raise S3Error("EntityTooLarge")
    headers = {k: v for k, v in swift_headers(s3).items() if k == "etag"}
    headers["content-type"] = "application/octet-stream"
    if length is not None:
        headers["content-length"] = str(length)
    else:
        headers["transfer-encoding"] = "chunked"
    resp = await s3.swift("PUT", _segments(s3), name, headers, s3.req.body)
    await resp.read()
    if not resp.is_success:
        if resp.status == 422:
            raise S3Error("BadDigest")
        raise status_error(resp.status, s3.bucket, s3.key)
    return s3.response(200, b"", {"etag": f'"{resp.headers.get("etag", "").strip(chr(34))}"'})


def _parts_of(items: list[dict[str, Any]], prefix: str) -> list[tuple[int, dict[str, Any]]]:
    parts = []
    for item in items:
        tail = item.get("name", "")[len(prefix):]
        if tail.isdigit():
            parts.append((int(tail), item))
    return sorted(parts, key=lambda p: p[0])


async def list_parts(s3: S3Request, upload_id: str) -> Response:
    await _marker(s3, upload_id)
    try:
        max_parts = min(int(s3.params.get("max-parts", MAX_PARTS_LISTING)), MAX_PARTS_LISTING)
        after = int(s3.params.get("part-number-marker", 0))
    except ValueError:
        raise S3Error("InvalidArgument", "max-parts and part-number-marker must be integers") from None
    if max_parts < 0 or after < 0:
        raise S3Error("InvalidArgument", "max-parts and part-number-marker must not be negative")
    prefix = _upload_path(s3, upload_id) + "/"
    parts = [p for p in _parts_of(await _listing(s3, prefix), prefix) if p[0] > after]
    truncated = len(parts) > max_parts
    parts = parts[:max_parts]
    root = element("ListPartsResult")
    sub(root, "Bucket", s3.bucket)
    sub(root, "Key", s3.key)
    sub(root, "UploadId", upload_id)
    add_owner(root, s3, "Initiator")
    add_owner(root, s3)
    sub(root, "StorageClass", "STANDARD")
    sub(root, "PartNumberMarker", after)
    sub(root, "NextPartNumberMarker", parts[-1][0] if parts else after)
    sub(root, "MaxParts", max_parts)
    sub(root, "IsTruncated", "true" if truncated else "false")
    for number, item in parts:
        part = sub(root, "Part")
        sub(part, "PartNumber", number)
        sub(part, "LastModified", s3_timestamp(item.get("last_modified")))
        sub(part, "ETag", f'"{item.get("hash", "")}"')
        sub(part, "Size", item.get("bytes", 0))
    return s3.response(200, dumps(root))


async def abort(s3: S3Request, upload_id: str) -> Response:
    await _marker(s3, upload_id)
    prefix = _upload_path(s3, upload_id) + "/"
    for _number, item in _parts_of(await _listing(s3, prefix), prefix):
        resp = await s3.swift("DELETE", _segments(s3), item["name"])
        await resp.read()
    resp = await s3.swift("DELETE", _segments(s3), _upload_path(s3, upload_id))
    await resp.read()
    return s3.response(204)


async def complete(s3: S3Request, upload_id: str) -> Response:
    marker = await _marker(s3, upload_id)
    body = await s3.req.body.read(10 * 1024 * 1024)
    root = loads(body, "CompleteMultipartUpload")
    requested: list[tuple[int, str]] = []
    for node in root.findall("Part"):
        try:
            number = int(node.findtext("PartNumber") or "")
        except ValueError:
            raise S3Error("MalformedXML") from None
        etag = (node.findtext("ETag") or "").strip().strip('"')
        requested.append((number, etag))
    if not requested:
        raise S3Error("MalformedXML")
    numbers = [n for n, _ in requested]
    if numbers != sorted(numbers) or len(set(numbers)) != len(numbers):
        raise S3Error("InvalidPartOrder", UploadId=upload_id)
    prefix = _upload_path(s3, upload_id) + "/"
    uploaded = dict(_parts_of(await _listing(s3, prefix), prefix))
    manifest = []
    digest = hashlib.md5(usedforsecurity=False)
    for index, (number, etag) in enumerate(requested):
        item = uploaded.get(number)
        if item is None or (etag and item.get("hash") != etag):
            raise S3Error("InvalidPart", UploadId=upload_id, PartNumber=str(number), ETag=etag)
        size = int(item.get("bytes", 0))
        if size < MIN_PART_SIZE and index != len(requested) - 1:
            raise S3Error("EntityTooSmall", ProposedSize=str(size), MinSizeAllowed=str(MIN_PART_SIZE))
        manifest.append({"path": f"/{_segments(s3)}/{item['name']}", "etag": item["hash"], "size_bytes": size})
        digest.update(bytes.fromhex(item["hash"]))
    s3_etag = f"{digest.hexdigest()}-{len(requested)}"
    headers = {k: v for k, v in marker.headers.items()
               if k.startswith("x-object-meta-") or k in ("content-type", "content-encoding",
                                                           "content-disposition", "cache-control", "expires")}
    data = json.dumps(manifest).encode("utf-8")
    headers.update({"content-length": str(len(data)), S3_ETAG: s3_etag})
    resp = await s3.swift("PUT", s3.bucket, s3.key, headers, Body(data=data),
                          query={"multipart-manifest": "put"})
    text = await resp.read()
    if not resp.is_success:
        if resp.status == 400:
            raise S3Error("InvalidPart", text.decode("utf-8", "replace")[:500] or None, UploadId=upload_id)
        raise status_error(resp.status, s3.bucket, s3.key)
    # The parts are the large object's segments now: only the marker goes.
    gone = await s3.swift("DELETE", _segments(s3), _upload_path(s3, upload_id))
    await gone.read()
    result = element("CompleteMultipartUploadResult")
    base = s3.req.environ.get("url_root", "")
    sub(result, "Location", f"{base}/{s3.bucket}/{urllib.parse.quote(s3.key or '')}")
    sub(result, "Bucket", s3.bucket)
    sub(result, "Key", s3.key)
    sub(result, "ETag", f'"{s3_etag}"')
    return s3.response(200, dumps(result))


async def list_uploads(s3: S3Request) -> Response:
    if not await s3.bucket_exists():
        raise S3Error("NoSuchBucket", BucketName=s3.bucket or "")
    prefix = s3.params.get("prefix", "")
    key_marker = s3.params.get("key-marker", "")
    id_marker = s3.params.get("upload-id-marker", "")
    try:
        max_uploads = min(int(s3.params.get("max-uploads", MAX_UPLOADS_LISTING)), MAX_UPLOADS_LISTING)
    except ValueError:
        raise S3Error("InvalidArgument", "max-uploads must be an integer") from None
    uploads = []
    for item in await _listing(s3, prefix):
        key, _, upload_id = item["name"].rpartition("/")
        if not key or not upload_id.startswith("u") or upload_id.isdigit():
            continue
        if (key, upload_id) <= (key_marker, id_marker) and key_marker:
            continue
        uploads.append((key, upload_id, item))
    truncated = len(uploads) > max_uploads
    uploads = uploads[:max_uploads]
    root = element("ListMultipartUploadsResult")
    sub(root, "Bucket", s3.bucket)
    sub(root, "KeyMarker", key_marker)
    sub(root, "UploadIdMarker", id_marker)
    sub(root, "NextKeyMarker", uploads[-1][0] if uploads else "")
    sub(root, "NextUploadIdMarker", uploads[-1][1] if uploads else "")
    if prefix:
        sub(root, "Prefix", prefix)
    sub(root, "MaxUploads", max_uploads)
    sub(root, "IsTruncated", "true" if truncated else "false")
    for key, upload_id, item in uploads:
        upload = sub(root, "Upload")
        sub(upload, "Key", key)
        sub(upload, "UploadId", upload_id)
        add_owner(upload, s3, "Initiator")
        add_owner(upload, s3)
        sub(upload, "StorageClass", "STANDARD")
        sub(upload, "Initiated", s3_timestamp(item.get("last_modified")))
    return s3.response(200, dumps(root))
