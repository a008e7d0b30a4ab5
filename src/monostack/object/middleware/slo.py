"""Static large objects (SLO): a manifest listing segments (with their etag and size,
optionally a byte range, or inline data), checked when it is stored.

- PUT ?multipart-manifest=put: the segments are HEADed (as the caller), checked
  against what the manifest says; the stored manifest records each segment's
  name, size and etag, and the large object's etag (md5 of the segments' etags)
  and size as system metadata.
- GET/HEAD: the concatenation of the segments (ranges and conditions apply to
  the whole); ?multipart-manifest=get gives the manifest itself (&format=raw in
  the form it was PUT).
- DELETE ?multipart-manifest=delete: the segments and the manifest.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import datetime
import hashlib
import json
import mimetypes
import urllib.parse
from typing import Any

from monostack.object.middleware.bulk import Bulk, heartbeat_response, out_content_type, response_body
from monostack.object.middleware.segments import Segment, large_object_response
from monostack.object.proxy.http import (REASONS, Body, HTTPError, Request, Response, error, parse_http_date,
                                         parse_range, ranges_for_length)
from monostack.object.proxy.obj import clean_content_type

SYSMETA_SLO_ETAG = "x-object-sysmeta-slo-etag"
SYSMETA_SLO_SIZE = "x-object-sysmeta-slo-size"
OVERRIDE_ETAG = "x-object-sysmeta-container-update-override-etag"
SLO_KEYS = {"data": set(), "path": {"range", "etag", "size_bytes"}}
CONDITIONAL = ("if-match", "if-none-match", "if-modified-since", "if-unmodified-since", "range")
MAX_DEPTH = 10


def is_true(value: str | None) -> bool:
    return (value or "").strip().lower() in ("true", "1", "yes", "on", "t", "y")


def _b64(data: Any) -> bytes:
    if not isinstance(data, str):
        raise ValueError("not a string")
    stripped = "".join(data.split())
    if len(stripped) % 4:
        stripped += "=" * (-len(stripped) % 4)
    return base64.b64decode(stripped, validate=True)


def parse_manifest(body: bytes, req_path: str) -> list[dict[str, Any]]:
    """The manifest a client PUT, checked for form (400 with Swift's messages)."""
    try:
        data = json.loads(body)
    except ValueError:
        raise HTTPError(error(400, "Manifest must be valid JSON.\n")) from None
    if not isinstance(data, list):
        raise HTTPError(error(400, "Manifest must be a list.\n"))
    _v, account, _rest = req_path.split("/", 3)[1:4] if req_path.count("/") >= 3 else ("", "", "")
    problems: list[str] = []
    for index, seg in enumerate(data):
        if not isinstance(seg, dict):
            problems.append(f"Index {index}: not a JSON object")
            continue
        kind = next((k for k in SLO_KEYS if k in seg), None)
        if kind is None:
            problems.append(f"Index {index}: expected keys to include one of 'data' or 'path'")
            continue
        extra = sorted(k for k in seg if k not in SLO_KEYS[kind] | {kind})
        if extra:
            problems.append(f"Index {index}: extraneous keys {', '.join(json.dumps(k) for k in extra)}")
            continue
        if kind == "path":
            if not isinstance(seg["path"], str):
                problems.append(f'Index {index}: "path" must be a string')
                continue
            if not (seg.get("etag") is None or isinstance(seg["etag"], str)):
                problems.append(f'Index {index}: "etag" must be a string or null (if provided)')
                continue
            if "/" not in seg["path"].strip("/"):
                problems.append(f"Index {index}: path does not refer to an object. Path must be of the form "
                                "/container/object.")
                continue
            size = seg.get("size_bytes")
            if size is not None:
                try:
                    size = int(size)
                    seg["size_bytes"] = size
                except (TypeError, ValueError):
                    problems.append(f"Index {index}: invalid size_bytes")
                    continue
                if size < 1 and index != len(data) - 1:
                    problems.append(f"Index {index}: too small; each segment must be at least 1 byte.")
                    continue
            if f"/v1/{account}/{seg['path'].lstrip('/')}" == req_path:
                problems.append(f"Index {index}: manifest must not include itself as a segment")
                continue
            if seg.get("range"):
                ranges = parse_range(f"bytes={seg['range']}")
                if ranges is None:
                    problems.append(f"Index {index}: invalid range")
                    continue
                if len(ranges) > 1:
                    problems.append(f"Index {index}: multiple ranges (only one allowed)")
                    continue
                seg["range"] = ranges
                if size is not None and len(ranges_for_length(ranges, size)) != 1:
                    problems.append(f"Index {index}: unsatisfiable range")
                    continue
        else:
            try:
                raw = _b64(seg["data"])
            except (ValueError, binascii.Error):
                problems.append(f"Index {index}: data must be valid base64")
                continue
            if not raw:
                problems.append(f"Index {index}: too small; each segment must be at least 1 byte.")
                continue
            seg["data"] = base64.b64encode(raw).decode("ascii")
    if data and all("data" in d for d in data if isinstance(d, dict)):
        problems.append("Inline data segments require at least one object-backed segment.")
    if problems:
        raise HTTPError(error(400, "".join(p + "\n" for p in problems), content_type="text/plain"))
    return data


def segment_length(seg: dict[str, Any]) -> int:
    if "data" in seg:
        return len(base64.b64decode(seg["data"]))
    if seg.get("range"):
        first, last = (int(x) for x in seg["range"].split("-"))
        return last - first + 1
    return int(seg["bytes"])


def slo_etag_of(segments: list[dict[str, Any]]) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    for seg in segments:
        if "data" in seg:
            part = hashlib.md5(base64.b64decode(seg["data"]), usedforsecurity=False).hexdigest()
        elif seg.get("range"):
            part = f"{seg['hash']}:{seg['range']};"
        else:
            part = seg["hash"]
        digest.update(part.encode("ascii"))
    return digest.hexdigest()


def cut(segments: list[Segment], start: int, stop: int) -> list[Segment]:
    """The segments giving bytes [start, stop) of their concatenation."""
    out = []
    position = 0
    for seg in segments:
        seg_start, seg_stop = position, position + seg.length
        position = seg_stop
        if seg_stop <= start or seg_start >= stop:
            continue
        first = max(start, seg_start) - seg_start
        last = min(stop, seg_stop) - seg_start
        if seg.data is not None:
            out.append(Segment(seg.path, last - first, data=seg.data[first:last]))
        else:
            out.append(Segment(seg.path, last - first, offset=seg.offset + first,
                               etag=seg.etag if first == 0 and last == seg.length else None,
                               size=seg.size if first == 0 and last == seg.length else None))
    return out


class StaticLargeObject:
    def __init__(self, app: Any, proxy: Any, conf: Any):
        self.app = app
        section = conf.object
        self.max_manifest_segments = section.max_manifest_segments
        self.max_manifest_size = section.max_manifest_size
        self.max_get_time = section.max_get_time
        self.concurrency = 4
        self.deleter = Bulk(app, proxy, conf)
        proxy.register_capability("slo", max_manifest_segments=self.max_manifest_segments,
                                  max_manifest_size=self.max_manifest_size, yield_frequency=10,
                                  min_segment_size=1, allow_async_delete=False)

    async def __call__(self, req: Request) -> Response:
        if req.environ.get("swift.slo_override"):
            return await self.app(req)
        try:
            version, account, container, obj = req.split_path(4, 4, True)
        except ValueError:
            return await self.app(req)
        try:
            manifest = req.params.get("multipart-manifest")
            if req.method == "PUT" and manifest == "put":
                return await self.put_manifest(req, version or "v1", account or "")
            if req.method == "DELETE" and manifest == "delete":
                return await self.delete_manifest(req, version or "v1", account or "", container or "", obj or "")
            if req.method in ("GET", "HEAD"):
                return await self.get_or_head(req, version or "v1", account or "")
            if "x-static-large-object" in req.headers:
                return error(400, "X-Static-Large-Object is a reserved header. To create a static large object "
                                  "add query param multipart-manifest=put.")
        except HTTPError as exc:
            return exc.response
        return await self.app(req)

    # -- PUT --------------------------------------------------------------------------------------
    async def put_manifest(self, req: Request, version: str, account: str) -> Response:
        if req.headers.get("x-copy-from"):
            return error(405, "Multipart Manifest PUTs cannot be COPY requests")
        length = req.content_length
        if length is None and not req.chunked:
            return error(411)
        if length is not None and length > self.max_manifest_size:
            return error(413, f"Manifest File > {self.max_manifest_size} bytes")
        try:
            body = await req.body.read(self.max_manifest_size)
        except HTTPError:
            return error(413, f"Manifest File > {self.max_manifest_size} bytes")
        parsed = parse_manifest(body, req.path)
        object_segments = [s for s in parsed if "path" in s]
        if len(object_segments) > self.max_manifest_segments:
            return error(413, f"Number of object-backed segments must be <= {self.max_manifest_segments}")
        fmt = out_content_type(req) or "text/plain"
        paths = list(dict.fromkeys(s["path"] for s in object_segments))
        limit = asyncio.Semaphore(self.concurrency)

        async def head(path: str) -> tuple[str, Response]:
            async with limit:
                sub = req.sub("HEAD", f"/{version}/{account}/{path.lstrip('/')}", {}, source="SLO")
                resp = await self(sub)
                await resp.close()
                return path, resp

        heads = dict(await asyncio.gather(*(head(p) for p in paths)))
        problems: list[list[str]] = []
        stored: list[dict[str, Any]] = []
        total = 0
        for index, seg in enumerate(parsed):
            if "data" in seg:
                stored.append({"data": seg["data"]})
                total += len(base64.b64decode(seg["data"]))
                continue
            name = seg["path"]
            resp = heads[name]
            quoted = urllib.parse.quote(name)
            if not resp.is_success:
                problems.append([quoted, f"{resp.status} {_reason(resp.status)}"])
                continue
            size = int(resp.headers.get("content-length", "0"))
            etag = resp.headers.get("etag", "").strip('"')
            length_of_seg = size
            seg_range = None
            if seg.get("range"):
                spans = ranges_for_length(seg["range"], size)
                if not spans:
                    problems.append([quoted, "Unsatisfiable Range"])
                elif spans != [(0, size)]:
                    seg_range = f"{spans[0][0]}-{spans[0][1] - 1}"
                    length_of_seg = spans[0][1] - spans[0][0]
            if length_of_seg < 1 and index != len(parsed) - 1:
                problems.append([quoted, "Too small; each segment must be at least 1 byte."])
            if seg.get("size_bytes") is not None and seg["size_bytes"] != size:
                problems.append([quoted, "Size Mismatch"])
            if seg.get("etag") is not None and seg["etag"].strip('"') != etag:
                problems.append([quoted, "Etag Mismatch"])
            when = parse_http_date(resp.headers.get("last-modified", "")) or 0
            modified = datetime.datetime.fromtimestamp(when, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")
            entry: dict[str, Any] = {"name": "/" + name.lstrip("/"), "bytes": size, "hash": etag,
                                     "content_type": resp.headers.get("content-type", ""),
                                     "last_modified": modified}
            if seg_range:
                entry["range"] = seg_range
            if is_true(resp.headers.get("x-static-large-object")):
                entry["sub_slo"] = True
            stored.append(entry)
            total += length_of_seg
        if problems:
            return Response(400, {"content-type": fmt}, response_body(fmt, {}, problems, "upload"))
        slo_etag = slo_etag_of(stored)
        client_etag = req.headers.get("etag", "").strip('"')
        if client_etag and client_etag != slo_etag:
            return error(422)
        data = json.dumps(stored).encode("utf-8")
        manifest_etag = hashlib.md5(data, usedforsecurity=False).hexdigest()
        headers = dict(req.headers)
        for key in ("content-length", "transfer-encoding", "etag"):
            headers.pop(key, None)
        content_type = headers.get("content-type")
        if not content_type:
            guessed, _ = mimetypes.guess_type(req.path)
            content_type = guessed or "application/octet-stream"
        headers.update({SYSMETA_SLO_ETAG: slo_etag, SYSMETA_SLO_SIZE: str(total), "x-static-large-object": "True",
                        "etag": manifest_etag, "content-length": str(len(data)),
                        "content-type": f"{content_type};swift_bytes={total}",
                        OVERRIDE_ETAG: f"{manifest_etag}; slo_etag={slo_etag}"})
        put = Request("PUT", req.path, "", headers, Body(data=data), req.environ)
        put.environ["swift.content_type_overridden"] = True
        resp = await self.app(put)
        if resp.is_success:
            resp.headers["etag"] = f'"{slo_etag}"'
        return resp

    # -- DELETE -----------------------------------------------------------------------------------
    async def _manifest(self, req: Request, path: str) -> list[dict[str, Any]]:
        resp = await self.app(req.sub("GET", path, {}, query_string="multipart-manifest=get", source="SLO"))
        body = await resp.read()
        if resp.is_success:
            if is_true(resp.headers.get("x-static-large-object")):
                try:
                    return json.loads(body)
                except ValueError:
                    raise HTTPError(error(500, "Unable to load SLO manifest")) from None
            raise HTTPError(error(400, "Not an SLO manifest"))
        if resp.status == 404:
            raise HTTPError(error(404, "SLO manifest not found"))
        if resp.status == 401:
            raise HTTPError(error(401, "401 Unauthorized"))
        raise HTTPError(error(500, "Unable to load SLO manifest or segment."))

    async def delete_manifest(self, req: Request, version: str, account: str, container: str,
                              obj: str) -> Response:
        fmt = out_content_type(req)
        req.headers.pop("content-type", None)

        async def items() -> Any:
            queue: list[dict[str, Any]] = [{"sub_slo": True, "name": f"/{container}/{obj}"}]
            while queue:
                if len(queue) > self.max_manifest_segments * 10:
                    raise HTTPError(error(400, "Too many buffered slo segments to delete."))
                seg = queue.pop(0)
                if "data" in seg:
                    continue
                if seg.get("sub_slo"):
                    try:
                        queue.extend(await self._manifest(req, f"/{version}/{account}/{seg['name'].lstrip('/')}"))
                    except HTTPError as exc:
                        body = exc.response.body
                        seg["error"] = {"code": exc.response.status,
                                        "message": body.decode("utf-8", "replace") if isinstance(body, bytes)
                                        else ""}
                    seg["sub_slo"] = False
                    queue.append(seg)
                else:
                    yield seg

        return heartbeat_response(fmt, lambda: self.deleter.delete(req, items(), fmt, source="SLO"))

    # -- GET / HEAD -------------------------------------------------------------------------------
    async def _expand(self, req: Request, version: str, account: str, manifest: list[dict[str, Any]],
                      depth: int = 0) -> list[Segment]:
        if depth > MAX_DEPTH:
            raise HTTPError(error(409, "Max recursion depth exceeded on SLO manifest"))
        out: list[Segment] = []
        for seg in manifest:
            if "data" in seg:
                data = base64.b64decode(seg["data"])
                out.append(Segment("", len(data), data=data))
                continue
            path = f"/{version}/{account}/{seg['name'].lstrip('/')}"
            length = segment_length(seg)
            first = int(seg["range"].split("-")[0]) if seg.get("range") else 0
            if seg.get("sub_slo"):
                sub = await self._manifest(req, path)
                inner = await self._expand(req, version, account, sub, depth + 1)
                out.extend(cut(inner, first, first + length))
            else:
                whole = not seg.get("range")
                out.append(Segment(path, length, offset=first, etag=seg.get("hash") if whole else None,
                                   size=int(seg["bytes"]) if whole and "bytes" in seg else None))
        return out

    async def get_or_head(self, req: Request, version: str, account: str) -> Response:
        manifest_get = req.params.get("multipart-manifest") == "get"
        resp = await self.app(req)
        if not is_true(resp.headers.get("x-static-large-object")):
            return resp
        if manifest_get:
            if req.method == "HEAD" or not resp.is_success:
                return resp
            body = await resp.read()
            if req.params.get("format") == "raw":
                try:
                    segments = json.loads(body)
                except ValueError:
                    return error(500, "Unable to load SLO manifest")
                for seg in segments:
                    if "data" in seg:
                        continue
                    seg.pop("content_type", None)
                    seg.pop("last_modified", None)
                    seg.pop("sub_slo", None)
                    seg["path"] = seg.pop("name", None)
                    seg["size_bytes"] = seg.pop("bytes", None)
                    seg["etag"] = seg.pop("hash", None)
                body = json.dumps(segments, sort_keys=True).encode("utf-8")
                resp.headers["etag"] = hashlib.md5(body, usedforsecurity=False).hexdigest()
            else:
                resp.headers["content-type"] = "application/json; charset=utf-8"
            resp.set_body(body)
            return resp
        # The large object itself: ranges and conditions apply to it, not to the manifest.
        headers_only = req.method == "HEAD"
        if resp.status != 200 or (headers_only and any(h in req.headers for h in CONDITIONAL)):
            await resp.close()
            clean = {k: v for k, v in req.headers.items() if k not in CONDITIONAL}
            resp = await self.app(req.sub(req.method, req.path, clean, query_string=req.query_string,
                                          source="SLO"))
            if not resp.is_success or not is_true(resp.headers.get("x-static-large-object")):
                return resp
        manifest_etag = resp.headers.get("etag", "").strip('"')
        slo_etag = resp.headers.get(SYSMETA_SLO_ETAG)
        slo_size = resp.headers.get(SYSMETA_SLO_SIZE)
        segments: list[Segment] = []
        if not headers_only or not slo_etag or slo_size is None:
            body = await resp.read()
            try:
                manifest = json.loads(body)
            except ValueError:
                return error(500, "Unable to load SLO manifest")
            if not slo_etag or slo_size is None:
                slo_etag = slo_etag_of(manifest)
                slo_size = str(sum(segment_length(s) for s in manifest))
            if not headers_only:
                segments = await self._expand(req, version, account, manifest)
        else:
            await resp.close()
        headers = {k: v for k, v in resp.headers.items() if k not in ("content-length", "etag")}
        headers["x-manifest-etag"] = manifest_etag
        if "content-type" in headers:
            headers["content-type"] = clean_content_type(headers["content-type"])
        return large_object_response(self.app, req, headers, segments, int(slo_size), slo_etag, "SLO",
                                     self.max_get_time)


def _reason(status: int) -> str:
    return REASONS.get(status, ("Unknown", ""))[0]
