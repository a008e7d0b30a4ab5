"""/v1/<account>: listing and statistics (GET, HEAD), metadata (POST); PUT and DELETE
only when the operator allows account management."""

from __future__ import annotations

import json

from monostack.object.proxy import constraints
from monostack.object.proxy.base import Controller
from monostack.object.proxy.http import Request, Response, error, plain, timestamp_now
from monostack.object.proxy.listing import format_listing, listing_content_type
from monostack.object.proxy.server import OWNER_HEADERS


class AccountController(Controller):
    server_type = "account"

    @property
    def methods(self) -> tuple[str, ...]:  # type: ignore[override]
        if self.app.allow_account_management:
            return ("GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS")
        return ("GET", "HEAD", "POST", "OPTIONS")

    def _name_too_long(self) -> Response | None:
        limit = constraints.MAX_ACCOUNT_NAME_LENGTH
        if self.account_name.startswith(constraints.AUTO_CREATE_ACCOUNT_PREFIX):
            limit *= 2
        if len(self.account_name) > limit:
            return plain(400, f"Account name length of {len(self.account_name)} longer than {limit}")
        return None

    def _fake_listing(self, req: Request) -> Response:
        """An account that does not exist yet but would be made on first write: an empty one."""
        headers = {"x-account-container-count": "0", "x-account-object-count": "0", "x-account-bytes-used": "0",
                   "x-timestamp": timestamp_now(), "x-put-timestamp": timestamp_now(),
                   "x-backend-fake-account-listing": "yes", "content-type": "application/json; charset=utf-8"}
        body = b"[]"
        headers["content-length"] = str(len(body))
        return Response(200, headers, body if req.method == "GET" else b"")

    async def GETorHEAD(self, req: Request) -> Response:
        too_long = self._name_too_long()
        if too_long:
            return too_long
        content_type = listing_content_type(req)
        can_vary = "format" not in req.params
        params = dict(req.params)
        for name, value in params.items():
            try:
                value.encode("utf-8")
            except UnicodeError:
                return plain(400, f'"{name}" parameter not valid UTF-8')
        limit = params.get("limit")
        if limit is not None and limit.isdigit() and int(limit) > constraints.ACCOUNT_LISTING_LIMIT:
            return plain(412, f"Maximum limit is {constraints.ACCOUNT_LISTING_LIMIT}")
        delimiter = params.get("delimiter")
        if delimiter and (len(delimiter) > 1 or ord(delimiter) > 254):
            return plain(412, "Bad delimiter")
        params["format"] = "json"
        query = "&".join(f"{k}={_q(v)}" for k, v in params.items())
        part = self.app.account_ring.get_part(self.account_name)
        resp = await self.get_or_head(req, self.app.account_ring, part, f"/{self.account_name}",
                                      self.backend_headers(req, additional=_forwarded(req)), query)
        if resp.status == 404:
            if resp.headers.get("x-account-status", "").lower() == "deleted":
                resp = error(410)
            elif self.app.account_autocreate:
                resp = self._fake_listing(req)
        from monostack.object.proxy.info import account_info_from_headers

        if resp.status < 500:
            self.app.infocache.set(self.account_name, None, account_info_from_headers(resp.headers, resp.status))
        resp.headers.pop("x-backend-fake-account-listing", None)
        if not req.environ.get("swift_owner"):
            for name in OWNER_HEADERS:
                resp.headers.pop(name, None)
        else:
            _acl_from_sysmeta(resp)
        if resp.status in (200, 204):
            resp.headers["accept-ranges"] = "bytes"
            resp = format_listing(req, resp, content_type, self.account_name, None, can_vary)
        return resp

    async def GET(self, req: Request) -> Response:
        return await self.GETorHEAD(req)

    async def HEAD(self, req: Request) -> Response:
        return await self.GETorHEAD(req)

    async def POST(self, req: Request) -> Response:
        too_long = self._name_too_long()
        if too_long:
            return too_long
        bad = constraints.check_metadata(req, "account")
        if bad:
            return bad
        part, nodes = self.app.account_ring.get_nodes(self.account_name)
        headers = self.backend_headers(req, {"x-timestamp": timestamp_now()}, transfer=True)
        self.app.infocache.clear(self.account_name)
        resp = await self.make_requests(req, self.app.account_ring, part, "POST", f"/{self.account_name}",
                                        [dict(headers) for _ in nodes])
        if resp.status == 404 and self.app.account_autocreate:
            await self.app.autocreate_account(req, self.account_name)
            headers["x-timestamp"] = timestamp_now()
            resp = await self.make_requests(req, self.app.account_ring, part, "POST", f"/{self.account_name}",
                                            [dict(headers) for _ in nodes])
        self.app.infocache.clear(self.account_name)
        _acl_from_sysmeta(resp)
        return resp

    async def PUT(self, req: Request) -> Response:
        if not self.app.allow_account_management:
            return error(405, headers={"allow": "GET, HEAD, OPTIONS, POST"})
        too_long = self._name_too_long()
        if too_long:
            return too_long
        bad = constraints.check_metadata(req, "account")
        if bad:
            return bad
        part, nodes = self.app.account_ring.get_nodes(self.account_name)
        headers = self.backend_headers(req, {"x-timestamp": timestamp_now()}, transfer=True)
        self.app.infocache.clear(self.account_name)
        resp = await self.make_requests(req, self.app.account_ring, part, "PUT", f"/{self.account_name}",
                                        [dict(headers) for _ in nodes])
        self.app.infocache.clear(self.account_name)
        return resp

    async def DELETE(self, req: Request) -> Response:
        if req.query_string:
            return error(400)  # a typo of a middleware's query must not delete the account
        if not self.app.allow_account_management:
            return error(405, headers={"allow": "GET, HEAD, OPTIONS, POST"})
        part, nodes = self.app.account_ring.get_nodes(self.account_name)
        headers = self.backend_headers(req, {"x-timestamp": timestamp_now()})
        self.app.infocache.clear(self.account_name)
        resp = await self.make_requests(req, self.app.account_ring, part, "DELETE", f"/{self.account_name}",
                                        [dict(headers) for _ in nodes])
        self.app.infocache.clear(self.account_name)
        return resp


def _forwarded(req: Request) -> dict[str, str]:
    """Client headers a listing backend honours."""
    return {k: v for k, v in req.headers.items() if k in ("if-match", "if-none-match", "if-modified-since",
                                                          "if-unmodified-since")}


def _q(value: str) -> str:
    from urllib.parse import quote

    return quote(value, safe="")


def _acl_from_sysmeta(resp: Response) -> None:
    """Account ACLs are kept in system metadata and shown as X-Account-Access-Control."""
    raw = resp.headers.pop("x-account-sysmeta-core-access-control", None)
    if raw:
        try:
            acl = json.loads(raw)
        except ValueError:
            return
        if acl:
            resp.headers["x-account-access-control"] = json.dumps(acl, separators=(",", ":"), sort_keys=True)
