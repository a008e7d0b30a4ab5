"""Temporary URLs: ?temp_url_sig=...&temp_url_expires=... (optionally temp_url_prefix,
temp_url_ip_range, filename, inline) give the bearer one method on one object
(or every object under a prefix) until the time given, signed with HMAC-SHA1,
SHA-256 or SHA-512 over "<method>\\n<expires>\\n<path>" with a Temp-URL key of
the account or the container."""

from __future__ import annotations

import calendar
import ipaddress
import os.path
import time
import urllib.parse
from typing import Any

from monostack.object.middleware.digest import (ACCOUNT_SCOPE, const_eq, extract_digest_and_algorithm, get_hmac,
                                                scoped_keys)
from monostack.object.proxy.http import Request, Response, error, http_date

EXPIRES_ISO8601 = "%Y-%m-%dT%H:%M:%SZ"
DISALLOWED_INCOMING = ("x-object-manifest", "x-symlink-target")
INCOMING_REMOVE = ("x-timestamp", "x-open-expired")
OUTGOING_REMOVE_PREFIX = "x-object-meta-"
OUTGOING_ALLOW_PREFIX = "x-object-meta-public-"


def normalize_expires(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        expires = int(value)
    except ValueError:
        try:
            expires = calendar.timegm(time.strptime(value, EXPIRES_ISO8601))
        except ValueError:
            expires = 0
    return 0 if expires < time.time() else expires


def disposition(kind: str, filename: str) -> str:
    return (f'{kind}; filename="{urllib.parse.quote(filename, safe=" /")}"; '
            f"filename*=UTF-8''{urllib.parse.quote(filename)}")


def same_account(account: str) -> Any:
    async def check(req: Request) -> Response | None:
        try:
            _v, acc, _rest = req.split_path(2, 3, True)
        except ValueError:
            return error(401)
        return None if acc == account else error(401)
    return check


def same_container(account: str, container: str) -> Any:
    async def check(req: Request) -> Response | None:
        try:
            _v, acc, cont, _rest = req.split_path(3, 4, True)
        except ValueError:
            return error(401)
        return None if acc == account and cont == container else error(401)
    return check


class TempURL:
    def __init__(self, app: Any, proxy: Any, conf: Any):
        self.app = app
        self.proxy = proxy
        self.methods = [m.upper() for m in conf.object.tempurl_methods]
        self.allowed_digests = [d.lower() for d in conf.object.tempurl_allowed_digests]
        proxy.register_capability("tempurl", methods=self.methods,
                                  incoming_remove_headers=list(INCOMING_REMOVE), incoming_allow_headers=[],
                                  outgoing_remove_headers=["x-object-meta-*"],
                                  outgoing_allow_headers=["x-object-meta-public-*"],
                                  allowed_digests=sorted(self.allowed_digests))

    def _invalid(self, req: Request) -> Response:
        return error(401, None if req.method == "HEAD" else "401 Unauthorized: Temp URL invalid\n")

    async def __call__(self, req: Request) -> Response:
        if req.method == "OPTIONS":
            return await self.app(req)
        params = req.params
        sig = params.get("temp_url_sig")
        raw_expires = params.get("temp_url_expires")
        if sig is None and raw_expires is None:
            return await self.app(req)
        expires = normalize_expires(raw_expires)
        if not sig or not expires:
            return self._invalid(req)
        try:
            algorithm, sig = extract_digest_and_algorithm(sig)
        except ValueError:
            return self._invalid(req)
        if algorithm not in self.allowed_digests:
            return self._invalid(req)
        prefix = params.get("temp_url_prefix")
        if req.method not in self.methods:
            return self._invalid(req)
        try:
            version, account, container, obj = req.split_path(4, 4, True)
        except ValueError:
            return self._invalid(req)
        if version != "v1" or not (obj or "").strip("/"):
            return self._invalid(req)
        ip_range = params.get("temp_url_ip_range")
        if ip_range:
            try:
                if ipaddress.ip_address(req.environ.get("client_addr", "")) not in ipaddress.ip_network(ip_range):
                    return self._invalid(req)
            except ValueError:
                return self._invalid(req)
        keys = await scoped_keys(self.proxy, req, account or "", container or "")
        if not keys:
            return self._invalid(req)
        if prefix is None:
            path = f"/v1/{account}/{container}/{obj}"
        else:
            if not (obj or "").startswith(prefix):
                return self._invalid(req)
            path = f"/v1/{account}/{container}/{prefix}"
        # Signed over the path under the API's root, as Swift has it; clients that take the path from
        # the storage URL sign it with the mount point in front: both are the same object.
        mount = req.environ.get("script_name", "")
        paths = [path, mount + path] if mount else [path]
        if prefix is not None:
            paths = ["prefix:" + p for p in paths]
        methods = ("HEAD", "GET", "POST", "PUT") if req.method == "HEAD" else (req.method,)
        scope = None
        for method in methods:
            for signed_path in paths:
                for key, key_scope in keys:
                    if const_eq(sig, get_hmac(method, signed_path, expires, key, algorithm, ip_range)):
                        scope = key_scope
                        break
                if scope:
                    break
            if scope:
                break
        if scope is None:
            return self._invalid(req)
        if req.method not in ("GET", "HEAD", "OPTIONS"):
            for name in DISALLOWED_INCOMING:
                if name in req.headers:
                    return error(400, f"The header {name.title()!r} is not allowed in this tempurl")
        for name in INCOMING_REMOVE:
            req.headers.pop(name, None)
        req.environ["swift.authorize"] = same_account(account or "") if scope == ACCOUNT_SCOPE else \
            same_container(account or "", container or "")
        req.environ["swift.authorize_override"] = True
        req.environ["remote_user"] = ".wsgi.tempurl"
        req.headers.pop("x-auth-token", None)
        kept = {"temp_url_sig": params["temp_url_sig"], "temp_url_expires": raw_expires or ""}
        for name in ("temp_url_prefix", "filename"):
            if name in params:
                kept[name] = params[name]
        if "inline" in params:
            kept["inline"] = ""
        req.set_params(kept)
        resp = await self.app(req)
        for name in list(resp.headers):
            if name.startswith(OUTGOING_REMOVE_PREFIX) and not name.startswith(OUTGOING_ALLOW_PREFIX):
                del resp.headers[name]
        if req.method in ("GET", "HEAD") and resp.is_success:
            existing = resp.headers.pop("content-disposition", None)
            filename = params.get("filename")
            if "inline" in params:
                value = disposition("inline", filename) if filename else "inline"
            elif filename:
                value = disposition("attachment", filename)
            elif existing:
                value = existing
            else:
                value = disposition("attachment", os.path.basename(req.path.rstrip("/")))
            resp.headers["content-disposition"] = value.replace("\n", "%0A")
            resp.headers["expires"] = http_date(expires)
        return resp
