"""FormPost: browsers upload straight into a container with an HTML form
(multipart/form-data), signed with a Temp-URL key over
"<path>\\n<redirect>\\n<max_file_size>\\n<max_file_count>\\n<expires>"."""

from __future__ import annotations

import hashlib
import hmac
import time
import urllib.parse
from typing import Any, AsyncIterator

from monostack.object.middleware.digest import const_eq, extract_digest_and_algorithm, keys_from_meta
from monostack.object.middleware.multipart import MimeInvalid, MultipartReader, parse_header_params
from monostack.object.proxy.constraints import VALID_API_VERSIONS
from monostack.object.proxy.http import REASONS, Body, Request, Response, error

MAX_VALUE_LENGTH = 4096


class FormInvalid(Exception):
    pass


class FormUnauthorized(Exception):
    pass


class _Capped:
    """The file's bytes, refusing more than max_file_size."""

    def __init__(self, body: AsyncIterator[bytes], limit: int):
        self.body = body
        self.limit = limit
        self.received = 0
        self.exceeded = False

    async def chunks(self) -> AsyncIterator[bytes]:
        async for chunk in self.body:
            self.received += len(chunk)
            if self.received > self.limit:
                self.exceeded = True
                raise EOFError("max_file_size exceeded")
            yield chunk


def _status(code: int) -> str:
    return f"{code} {REASONS.get(code, ('Unknown', ''))[0]}"


class FormPost:
    def __init__(self, app: Any, proxy: Any, conf: Any):
        self.app = app
        self.proxy = proxy
        self.allowed_digests = [d.lower() for d in conf.object.tempurl_allowed_digests]
        proxy.register_capability("formpost", allowed_digests=sorted(self.allowed_digests))

    async def __call__(self, req: Request) -> Response:
        if req.method != "POST":
            return await self.app(req)
        kind, attrs = parse_header_params(req.headers.get("content-type", ""))
        if kind != "multipart/form-data" or "boundary" not in attrs:
            return await self.app(req)
        try:
            return await self._translate(req, attrs["boundary"].encode("utf-8"))
        except MimeInvalid:
            return error(400, "FormPost: invalid starting boundary", content_type="text/plain")
        except (FormInvalid, EOFError) as exc:
            return error(400, f"FormPost: {exc}", content_type="text/plain")
        except FormUnauthorized as exc:
            return error(401, f"FormPost: {str(exc).title()}")

    async def _keys(self, req: Request) -> list[str]:
        parts = req.path.split("/", 4)
        if len(parts) < 4 or parts[0] or parts[1] not in VALID_API_VERSIONS or not parts[2] or not parts[3]:
            return []
        account_info = await self.proxy.account_info(parts[2], req)
        container_info = await self.proxy.container_info(parts[2], parts[3], req)
        return keys_from_meta(account_info.get("meta", {})) + keys_from_meta(container_info.get("meta", {}))

    async def _translate(self, req: Request, boundary: bytes) -> Response:
        keys = await self._keys(req)
        status, message = "", ""
        attributes: dict[str, str] = {}
        sub_headers: dict[str, str] = {}
        resp_body = b""
        file_count = 0
        async for headers, body in MultipartReader(req.body.chunks(), boundary).parts():
            disp, attrs = parse_header_params(headers.get("content-disposition", ""))
            if disp == "form-data" and attrs.get("filename"):
                file_count += 1
                try:
                    if file_count > int(attributes.get("max_file_count") or 0):
                        status, message = _status(400), "max file count exceeded"
                        break
                except ValueError:
                    raise FormInvalid("max_file_count not an integer") from None
                file_attributes = dict(attributes)
                file_attributes["filename"] = attrs["filename"] or "filename"
                if "content-type" not in attributes and "content-type" in headers:
                    file_attributes["content-type"] = headers["content-type"] or "application/octet-stream"
                if "content-encoding" not in attributes and "content-encoding" in headers:
                    file_attributes["content-encoding"] = headers["content-encoding"]
                code, sub_headers, resp_body = await self._upload(req, file_attributes, body, keys)
                status = _status(code)
                if not 200 <= code < 300:
                    break
            else:
                data = b""
                async for chunk in body:
                    if len(data) < MAX_VALUE_LENGTH:
                        data += chunk[:MAX_VALUE_LENGTH - len(data)]
                if "name" in attrs:
                    attributes[attrs["name"].lower()] = data.decode("utf-8").rstrip("\r\n--")
        if not status:
            status, message = _status(400), "no files to process"
        code = int(status.split(" ", 1)[0])
        out = {k: v for k, v in sub_headers.items() if k.startswith("access-control")}
        redirect = attributes.get("redirect")
        if not redirect:
            text = status + (f"\r\nFormPost: {message.title()}" if message else "")
            data = text.encode("utf-8")
            if not 200 <= code < 300 and resp_body:
                data = resp_body
            out.update({"content-type": "text/plain", "content-length": str(len(data))})
            return Response(code, out, data)
        redirect += "&" if "?" in redirect else "?"
        redirect += f"status={urllib.parse.quote(str(code))}&message={urllib.parse.quote(message)}"
        data = f'<html><body><p><a href="{redirect}">Click to continue...</a></p></body></html>'.encode()
        out.update({"location": redirect, "content-length": str(len(data)), "content-type": "text/html; charset=UTF-8"})
        return Response(303, out, data)

    async def _upload(self, req: Request, attributes: dict[str, str], body: AsyncIterator[bytes],
                      keys: list[str]) -> tuple[int, dict[str, str], bytes]:
        if not keys:
            raise FormUnauthorized("invalid signature")
        try:
            max_file_size = int(attributes.get("max_file_size") or 0)
        except ValueError:
            raise FormInvalid("max_file_size not an integer") from None
        path = req.path
        if not path.endswith("/") and path.count("/") < 4:
            path += "/"
        path += attributes["filename"] or "filename"
        headers: dict[str, str] = {"transfer-encoding": "chunked"}
        if "x_delete_at" in attributes:
            try:
                headers["x-delete-at"] = str(int(attributes["x_delete_at"]))
            except ValueError:
                raise FormInvalid("x_delete_at not an integer: Unix timestamp required.") from None
        if "x_delete_after" in attributes:
            try:
                headers["x-delete-after"] = str(int(attributes["x_delete_after"]))
            except ValueError:
                raise FormInvalid("x_delete_after not an integer: Number of seconds required.") from None
        if "content-type" in attributes:
            headers["content-type"] = attributes["content-type"] or "application/octet-stream"
        if "content-encoding" in attributes:
            headers["content-encoding"] = attributes["content-encoding"]
        try:
            if int(attributes.get("expires") or 0) < time.time():
                raise FormUnauthorized("form expired")
        except ValueError:
            raise FormInvalid("expired not an integer") from None
        rest = "\n".join(("", attributes.get("redirect") or "", attributes.get("max_file_size") or "0",
                          attributes.get("max_file_count") or "0", attributes.get("expires") or "0"))
        # The path under the API's root, or (from the storage URL) with the mount point in front.
        mount = req.environ.get("script_name", "")
        messages = [req.path + rest] + ([mount + req.path + rest] if mount else [])
        try:
            algorithm, signature = extract_digest_and_algorithm(attributes.get("signature", ""))
        except ValueError:
            raise FormUnauthorized("invalid signature") from None
        if algorithm not in self.allowed_digests:
            raise FormUnauthorized("invalid signature")
        valid = any(const_eq(hmac.new(key.encode("utf-8"), message.encode("utf-8"),
                                      getattr(hashlib, algorithm)).hexdigest(), signature)
                    for key in keys for message in messages)
        if not valid:
            raise FormUnauthorized("invalid signature")
        capped = _Capped(body, max_file_size)
        # Pre-authorized: the signature is the permission.
        sub = req.sub("PUT", path, headers, Body(source=capped.chunks()), source="FP", keep_auth=False, pre_authed=True)
        resp = await self.app(sub)
        data = await resp.read()
        if capped.exceeded:
            raise EOFError("max_file_size exceeded")
        return resp.status, resp.headers, data
