"""Dynamic large objects (DLO): an object with X-Object-Manifest: <container>/<prefix>
is the concatenation, in name order, of the objects of that container whose
names start with the prefix (listed at each GET, with the caller's rights).
Its etag is the md5 of the segments' etags."""

from __future__ import annotations

import hashlib
import json
import urllib.parse
from typing import Any

from monostack.object.middleware.segments import Segment, large_object_response
from monostack.object.proxy.constraints import CONTAINER_LISTING_LIMIT
from monostack.object.proxy.http import HTTPError, Request, Response, error

CONDITIONAL = ("if-match", "if-none-match", "if-modified-since", "if-unmodified-since", "range")


class DynamicLargeObject:
    def __init__(self, app: Any, proxy: Any, conf: Any):
        self.app = app
        self.max_get_time = conf.object.max_get_time
        proxy.register_capability("dlo", max_segments=CONTAINER_LISTING_LIMIT)

    async def __call__(self, req: Request) -> Response:
        try:
            version, account, container, obj = req.split_path(4, 4, True)
        except ValueError:
            return await self.app(req)
        if req.method == "PUT" and "x-object-manifest" in req.headers:
            value = urllib.parse.unquote(req.headers["x-object-manifest"])
            seg_container, _, prefix = value.partition("/")
            if not seg_container or not _ or value.startswith("/") or "?" in value or "&" in value:
                return error(400, "X-Object-Manifest must be in the format container/prefix")
            return await self.app(req)
        if req.method not in ("GET", "HEAD") or req.params.get("multipart-manifest") == "get":
            return await self.app(req)
        resp = await self.app(req)
        manifest = resp.headers.get("x-object-manifest")
        if not manifest or not (resp.is_success or resp.status in (304, 412, 416)):
            return resp
        try:
            return await self._large_object(req, resp, version or "v1", account or "", manifest)
        except HTTPError as exc:
            return exc.response

    async def _listing(self, req: Request, path: str, prefix: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        marker = ""
        while True:
            query = "format=json&prefix=" + urllib.parse.quote(prefix, safe="")
            if marker:
                query += "&marker=" + urllib.parse.quote(marker, safe="")
            resp = await self.app(req.sub("GET", path, {}, query_string=query, source="DLO"))
            body = await resp.read()
            if resp.status == 204:
                return items
            if not resp.is_success:
                if resp.status in (401, 403, 404):
                    raise HTTPError(error(resp.status))
                raise HTTPError(error(500))
            page = json.loads(body or b"[]")
            if not page:
                return items
            items.extend(page)
            if len(page) < CONTAINER_LISTING_LIMIT:
                return items
            marker = page[-1]["name"]

    async def _large_object(self, req: Request, resp: Response, version: str, account: str,
                            manifest: str) -> Response:
        if resp.status != 200 or (req.method == "HEAD" and any(h in req.headers for h in CONDITIONAL)):
            # The manifest object's own answer to the conditions does not count: ask again without them.
            await resp.close()
            clean = {k: v for k, v in req.headers.items() if k not in CONDITIONAL}
            resp = await self.app(req.sub(req.method, req.path, clean, query_string=req.query_string,
                                          source="DLO"))
            if not resp.is_success or not resp.headers.get("x-object-manifest"):
                return resp
        await resp.close()
        value = urllib.parse.unquote(manifest)
        container, _, prefix = value.partition("/")
        listing = await self._listing(req, f"/{version}/{account}/{container}", prefix)
        digest = hashlib.md5(usedforsecurity=False)
        segments = []
        total = 0
        for item in listing:
            if "name" not in item:
                continue
            size = int(item["bytes"])
            digest.update(item["hash"].strip('"').encode("ascii"))
            segments.append(Segment(f"/{version}/{account}/{container}/{item['name']}", size, size=size))
            total += size
        headers = {k: v for k, v in resp.headers.items() if k not in ("content-length", "etag")}
        return large_object_response(self.app, req, headers, segments, total, digest.hexdigest(), "DLO",
                                     self.max_get_time)
