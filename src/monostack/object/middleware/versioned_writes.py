"""Object versioning the Swift way: X-Versions-Location (stack) and X-History-Location (history).

A container names another container of the same account where old versions go,
kept as "<length of name, 3 hex digits><name>/<timestamp>":

- PUT over an existing object first copies the current version there;
- DELETE in stack mode brings the newest old version back (and removes it from
  the versions container); in history mode it copies the current version and
  writes a delete marker, then deletes.

The location is kept as container system metadata, so clients only see the two
headers.  Sub-requests go straight to the proxy (pre-authorized), after the
caller's write access was checked.
"""

from __future__ import annotations

import json
import urllib.parse
from typing import Any, AsyncIterator

from monostack.object.proxy.constraints import MAX_FILE_SIZE
from monostack.object.proxy.http import (Body, HTTPError, Request, Response, error, normalize_timestamp,
                                         parse_http_date, plain, timestamp_now)

DELETE_MARKER_CONTENT_TYPE = "application/x-deleted;swift_versions_deleted=1"
CLIENT_VERSIONS_LOC = "x-versions-location"
CLIENT_HISTORY_LOC = "x-history-location"
SYSMETA_VERSIONS_LOC = "x-container-sysmeta-versions-location"
SYSMETA_VERSIONS_MODE = "x-container-sysmeta-versions-mode"


def versions_prefix(name: str) -> str:
    return f"{len(name):03x}{name}/"


def versions_name(name: str, timestamp: str) -> str:
    return versions_prefix(name) + normalize_timestamp(timestamp)


def check_container_format(value: str) -> str:
    value = urllib.parse.unquote(value)
    if not value:
        raise HTTPError(error(412, "Container name cannot be empty"))
    if "/" in value:
        raise HTTPError(error(412, "Container name cannot contain slashes"))
    return value


class VersionedWrites:
    def __init__(self, app: Any, proxy: Any, conf: Any):
        self.app = app
        self.proxy = proxy
        proxy.register_capability("versioned_writes", allowed_flags=["x-versions-location", "x-history-location"])

    async def __call__(self, req: Request) -> Response:
        try:
            version, account, container, obj = req.split_path(3, 4, True)
        except ValueError:
            return await self.app(req)
        try:
            if container and not obj:
                return await self.container_request(req)
            if obj and req.method in ("PUT", "DELETE"):
                return await self.object_request(req, version, account, container, obj)
        except HTTPError as exc:
            return exc.response
        return await self.app(req)

    # -- containers ----------------------------------------------------------------------------
    async def container_request(self, req: Request) -> Response:
        h = req.headers
        if CLIENT_VERSIONS_LOC in h and CLIENT_HISTORY_LOC in h:
            if not h[CLIENT_HISTORY_LOC]:
                del h[CLIENT_HISTORY_LOC]
            elif h[CLIENT_VERSIONS_LOC]:
                return plain(400, f"Only one of {CLIENT_VERSIONS_LOC} or {CLIENT_HISTORY_LOC} may be specified")
            else:
                del h[CLIENT_VERSIONS_LOC]
        if CLIENT_VERSIONS_LOC in h or CLIENT_HISTORY_LOC in h:
            if CLIENT_VERSIONS_LOC in h:
                value, mode = h[CLIENT_VERSIONS_LOC], "stack"
            else:
                value, mode = h[CLIENT_HISTORY_LOC], "history"
            if not value:
                h["x-remove-versions-location"] = "x"
            else:
                h[SYSMETA_VERSIONS_LOC] = check_container_format(value)
                h[SYSMETA_VERSIONS_MODE] = mode
                h[CLIENT_VERSIONS_LOC] = ""
                h.pop(CLIENT_HISTORY_LOC, None)
                h.pop("x-remove-versions-location", None)
                h.pop("x-remove-history-location", None)
        if h.get("x-remove-versions-location") or h.get("x-remove-history-location"):
            h.update({CLIENT_VERSIONS_LOC: "", SYSMETA_VERSIONS_LOC: "", SYSMETA_VERSIONS_MODE: ""})
            h.pop("x-remove-versions-location", None)
            h.pop("x-remove-history-location", None)
            h.pop(CLIENT_HISTORY_LOC, None)
        resp = await self.app(req)
        location = resp.headers.get(SYSMETA_VERSIONS_LOC)
        if location:
            mode = resp.headers.get(SYSMETA_VERSIONS_MODE)
            resp.headers[CLIENT_HISTORY_LOC if mode == "history" else CLIENT_VERSIONS_LOC] = location
        elif not resp.headers.get(CLIENT_VERSIONS_LOC):
            resp.headers.pop(CLIENT_VERSIONS_LOC, None)
        return resp

    # -- objects --------------------------------------------------------------------------------
    async def object_request(self, req: Request, version: str | None, account: str | None,
                             container: str | None, obj: str) -> Response:
        info = await self.proxy.container_info(account, container, req)
        sysmeta = info.get("sysmeta", {})
        location = sysmeta.get("versions-location") or info.get("versions")
        mode = sysmeta.get("versions-mode") or "stack"
        if not location or not 200 <= info["status"] < 300:
            return await self.app(req)
        versions = urllib.parse.unquote(location).split("/")[0]
        base = f"/{version}/{account}"
        if req.method == "PUT":
            await self._copy_current(req, info, base, versions, f"{base}/{container}/{obj}", obj)
            return await self.app(req)
        if mode == "history":
            await self._copy_current(req, info, base, versions, f"{base}/{container}/{obj}", obj)
            put = req.sub("PUT", f"{base}/{versions}/{versions_name(obj, timestamp_now())}",
                          {"content-type": DELETE_MARKER_CONTENT_TYPE, "content-length": "0"}, b"", source="VW",
                          keep_auth=False)
            put.environ["swift.content_type_overridden"] = True  # its swift_* parameter is ours
            await self._check(await self.app(put))
            return await self.app(req)
        return await self._delete_pop(req, info, base, versions, container or "", obj)

    async def _authorize_write(self, req: Request, info: dict[str, Any]) -> None:
        authorize = req.environ.get("swift.authorize")
        if authorize is not None:
            req.environ["swift.acl"] = info.get("write_acl")
            denial = await authorize(req)
            if denial is not None:
                raise HTTPError(denial)

    async def _check(self, resp: Response) -> None:
        if resp.is_success:
            await resp.close()
            return
        await resp.close()
        if 400 <= resp.status < 500:
            raise HTTPError(error(412))
        raise HTTPError(error(503))

    async def _source(self, req: Request, path: str) -> Response:
        resp = await self.app(req.sub("GET", path, {"x-newest": "true"}, source="VW", keep_auth=False))
        if resp.is_success:
            length = resp.headers.get("content-length")
            if length is None or int(length) > MAX_FILE_SIZE:
                await resp.close()
                raise HTTPError(error(413))
        return resp

    async def _put_version(self, req: Request, path: str, source: Response) -> Response:
        headers = {k: v for k, v in source.headers.items()
                   if k not in ("x-timestamp", "last-modified", "accept-ranges", "x-trans-id",
                                "x-openstack-request-id", "content-range")}
        slo_size = headers.get("x-object-sysmeta-slo-size")
        if slo_size:
            headers["content-type"] = headers.get("content-type", "") + "; swift_bytes=" + slo_size
        put = req.sub("PUT", path, headers, Body(source=source.iter_body()), source="VW", keep_auth=False)
        put.environ["swift.content_type_overridden"] = True
        try:
            return await self.app(put)
        finally:
            await source.close()

    async def _copy_current(self, req: Request, info: dict[str, Any], base: str, versions: str, path: str,
                            obj: str) -> None:
        await self._authorize_write(req, info)
        current = await self._source(req, path)
        if current.status == 404:
            await current.close()
            return
        await self._check_keep(current)
        stamp = current.headers.get("x-timestamp") or str(parse_http_date(current.headers.get("last-modified", ""))
                                                          or 0)
        put = await self._put_version(req, f"{base}/{versions}/{versions_name(obj, stamp)}", current)
        await self._check(put)

    async def _check_keep(self, resp: Response) -> None:
        """Like _check, but a good response stays open (its body is read next)."""
        if not resp.is_success:
            await self._check(resp)

    async def _listing(self, req: Request, base: str, versions: str, prefix: str) -> AsyncIterator[dict[str, Any]]:
        marker = ""
        while True:
            query = "format=json&reverse=on&prefix=" + urllib.parse.quote(prefix, safe="")
            if marker:
                query += "&marker=" + urllib.parse.quote(marker, safe="")
            resp = await self.app(req.sub("GET", f"{base}/{versions}", {}, query_string=query, source="VW",
                                          keep_auth=False))
            body = await resp.read()
            if resp.status == 404:
                return
            if not resp.is_success:
                raise HTTPError(error(500))
            page = json.loads(body or b"[]") if resp.status != 204 else []
            if not page:
                return
            for item in page:
                yield item
            marker = page[-1]["name"]

    async def _delete_pop(self, req: Request, info: dict[str, Any], base: str, versions: str, container: str,
                          obj: str) -> Response:
        authed = False
        target = req
        listing = self._listing(req, base, versions, versions_prefix(obj))
        async for previous in listing:
            if not authed:
                await self._authorize_write(req, info)
                authed = True
            if previous.get("content_type") == DELETE_MARKER_CONTENT_TYPE:
                head = await self.app(req.sub("HEAD", req.path, {"x-newest": "true"}, source="VW", keep_auth=False))
                await head.close()
                if head.status != 404:
                    await self._check(head)
                    break
                async for restore in listing:
                    if restore.get("content_type") == DELETE_MARKER_CONTENT_TYPE:
                        break
                    restored = await self._restore(req, base, versions, container, obj, restore["name"])
                    if not restored:
                        continue
                    old = await self.app(req.sub("DELETE", restored, {}, source="VW", keep_auth=False))
                    await old.close()
                    if old.status != 404:
                        await self._check(old)
                    break
                target = req.sub("DELETE", f"{base}/{versions}/{previous['name']}", {}, source="VW", keep_auth=False)
            else:
                restored = await self._restore(req, base, versions, container, obj, previous["name"])
                if not restored:
                    continue
                target = req.sub("DELETE", restored, {}, source="VW", keep_auth=False)
            target.headers.pop("x-if-delete-at", None)
            break
        await listing.aclose()
        return await self.app(target)

    async def _restore(self, req: Request, base: str, versions: str, container: str, obj: str,
                       name: str) -> str | None:
        path = f"{base}/{versions}/{name}"
        source = await self._source(req, path)
        if source.status == 404:
            await source.close()
            return None
        await self._check_keep(source)
        put = await self._put_version(req, f"{base}/{container}/{obj}", source)
        await self._check(put)
        return path
