"""Server-side copy: COPY with Destination (and Destination-Account), or PUT with
X-Copy-From (and X-Copy-From-Account).  The source is read through the
pipeline (so a large object is copied as its content, and the caller's read
rights on the source are checked) and streamed into the PUT of the destination."""

from __future__ import annotations

import urllib.parse
from typing import Any

from monostack.object.proxy.constraints import MAX_FILE_SIZE
from monostack.object.proxy.http import Body, HTTPError, Request, Response, error, plain

EXCLUDED_FROM_SOURCE = ("x-static-large-object", "x-object-manifest", "etag", "content-type", "x-timestamp",
                        "x-backend-timestamp", "content-length", "last-modified", "accept-ranges", "x-trans-id",
                        "x-openstack-request-id", "date", "content-range")


def _is_copied_meta(key: str) -> bool:
    return key.startswith(("x-object-meta-", "x-object-sysmeta-", "x-object-transient-sysmeta-")) or \
        key == "x-delete-at"


def check_path_header(req: Request, name: str, error_text: str) -> tuple[str, str]:
    value = urllib.parse.unquote(req.headers[name])
    if not value.startswith("/"):
        value = "/" + value
    parts = value.split("/", 2)
    if len(parts) < 3 or not parts[1] or not parts[2]:
        raise HTTPError(error(412, error_text))
    return parts[1], parts[2]


def check_account(value: str) -> str:
    account = urllib.parse.unquote(value)
    if not account:
        raise HTTPError(error(412, "Account name cannot be empty"))
    if "/" in account:
        raise HTTPError(error(412, "Account name cannot contain slashes"))
    return account


class Copy:
    def __init__(self, app: Any, proxy: Any, conf: Any):
        self.app = app

    async def __call__(self, req: Request) -> Response:
        try:
            _v, _a, _c, obj = req.split_path(4, 4, True)
        except ValueError:
            return await self.app(req)
        if req.method == "PUT" and req.headers.get("x-copy-from"):
            return await self.handle_put(req)
        if req.method == "COPY":
            return await self.handle_copy(req)
        if req.method == "OPTIONS":
            resp = await self.app(req)
            if resp.is_success:
                for key in ("allow", "access-control-allow-methods"):
                    if key in resp.headers and "COPY" not in resp.headers[key]:
                        resp.headers[key] += ", COPY"
            return resp
        return await self.app(req)

    async def handle_copy(self, req: Request) -> Response:
        if not req.headers.get("destination"):
            return error(412, "Destination header required")
        version, account, container, obj = req.split_path(4, 4, True)
        if "destination-account" in req.headers:
            dest_account = check_account(req.headers.pop("destination-account"))
            req.headers["x-copy-from-account"] = urllib.parse.quote(account or "")
            account = dest_account
        dest_container, dest_obj = check_path_header(
            req, "destination", "Destination header must be of the form <container name>/<object name>")
        source = f"/{container}/{obj}"
        req.method = "PUT"
        req.path = f"/{version}/{account}/{dest_container}/{dest_obj}"
        req.headers["content-length"] = "0"
        req.headers["x-copy-from"] = urllib.parse.quote(source)
        del req.headers["destination"]
        return await self.handle_put(req)

    async def handle_put(self, req: Request) -> Response:
        if req.content_length:
            return plain(400, "Copy requests require a zero byte body")
        version, account, _rest = req.split_path(2, 3, True)
        src_account = account
        if req.headers.get("x-copy-from-account"):
            src_account = check_account(req.headers["x-copy-from-account"])
        src_container, src_obj = check_path_header(
            req, "x-copy-from", "X-Copy-From header must be of the form <container name>/<object name>")
        source_path = f"/{version}/{src_account}/{src_container}/{src_obj}"
        params = dict(req.params)
        source_query = ""
        if params.get("multipart-manifest") == "get":
            source_query = "multipart-manifest=get&format=raw"
        get_headers = {k: v for k, v in req.headers.items()
                       if k in ("x-auth-token", "if-match", "if-none-match", "if-modified-since",
                                "if-unmodified-since", "range", "referer")}
        get_headers["x-newest"] = "true"
        source = await self.app(req.sub("GET", source_path, get_headers, query_string=source_query, source="SSC"))
        if source.status >= 300:
            return source
        length = source.headers.get("content-length")
        if length is None or int(length) > MAX_FILE_SIZE:
            await source.close()
            return error(413)
        headers: dict[str, str] = {}
        if req.headers.get("x-fresh-metadata", "").lower() in ("true", "1", "yes", "on", "t"):
            headers.update({k: v for k, v in source.headers.items() if k.startswith("x-object-sysmeta-")})
            headers.update({k: v for k, v in req.headers.items() if k.startswith("x-object-sysmeta-")})
            headers.update(req.headers)
            for key in list(headers):
                if key.startswith("x-object-meta-") and key not in req.headers:
                    del headers[key]
        else:
            headers.update({k: v for k, v in source.headers.items() if k not in EXCLUDED_FROM_SOURCE
                            and not k.startswith("access-control-")})
            headers.update(req.headers)
        sink_params = dict(params)
        if params.get("multipart-manifest") == "get":
            if "x-static-large-object" in source.headers:
                sink_params["multipart-manifest"] = "put"
            if "x-object-manifest" in source.headers:
                sink_params.pop("multipart-manifest", None)
                headers["x-object-manifest"] = source.headers["x-object-manifest"]
        sink_params.pop("version-id", None)
        headers["content-length"] = length
        if source.status == 200 and "x-static-large-object" not in source.headers and \
                ("x-object-manifest" not in source.headers or params.get("multipart-manifest") == "get"):
            headers["etag"] = source.headers.get("etag", "").strip('"')
        else:
            headers.pop("etag", None)
        headers.pop("x-copy-from", None)
        headers.pop("x-copy-from-account", None)
        headers.pop("x-fresh-metadata", None)
        headers.pop("transfer-encoding", None)
        if not req.headers.get("content-type"):
            headers["content-type"] = source.headers.get("content-type", "application/octet-stream")
        put = Request("PUT", req.path, "", headers, Body(source=source.iter_body()), req.environ)
        put.environ["swift.source"] = "SSC"
        if sink_params:
            put.set_params(sink_params)
        try:
            resp = await self.app(put)
        finally:
            await source.close()
        if resp.is_success:
            resp.headers["x-copied-from-account"] = urllib.parse.quote(src_account or "")
            resp.headers["x-copied-from"] = urllib.parse.quote(f"{src_container}/{src_obj}")
            if "last-modified" in source.headers:
                resp.headers["x-copied-from-last-modified"] = source.headers["last-modified"]
            for key, value in headers.items():
                if _is_copied_meta(key):
                    resp.headers[key] = value
        return resp
