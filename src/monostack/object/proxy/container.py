"""/v1/<account>/<container>: create (PUT), list (GET), statistics (HEAD), metadata and
ACLs (POST), delete (DELETE: 409 while it holds objects)."""

from __future__ import annotations

from typing import Any

from monostack.object.proxy import constraints
from monostack.object.proxy.base import Controller
from monostack.object.proxy.http import HTTPError, Request, Response, error, plain, timestamp_now
from monostack.object.proxy.info import POLICY_NAME, container_info_from_headers
from monostack.object.proxy.listing import format_listing, listing_content_type
from monostack.object.proxy.server import OWNER_HEADERS

LISTING_PARAMS = ("marker", "end_marker", "prefix", "delimiter", "path", "format", "reverse", "limit")


class ContainerController(Controller):
    server_type = "container"
    pass_through_headers = ("x-container-read", "x-container-write", "x-container-sync-key",
                            "x-container-sync-to", "x-versions-location")
    methods = ("GET", "HEAD", "PUT", "POST", "DELETE", "OPTIONS")
    delayed_denial = ("GET", "HEAD")

    def x_remove_headers(self) -> tuple[str, ...]:
        return ("x-remove-container-read", "x-remove-container-write", "x-remove-versions-location",
                "x-remove-container-sync-key", "x-remove-container-sync-to")

    @property
    def path(self) -> str:
        return f"/{self.account_name}/{self.container_name}"

    def _policy_index(self, req: Request) -> int | None:
        name = req.headers.get("x-storage-policy")
        if not name:
            return None
        if name.strip().lower() != POLICY_NAME.lower():
            raise HTTPError(plain(400, f"Invalid X-Storage-Policy '{name}'"))
        return 0

    def _clean_acls(self, req: Request) -> Response | None:
        clean = req.environ.get("swift.clean_acl")
        if clean is None:
            return None
        for header in ("x-container-read", "x-container-write"):
            if header in req.headers:
                try:
                    req.headers[header] = clean(header, req.headers[header])
                except ValueError as exc:
                    return error(400, str(exc))
        return None

    def _name_too_long(self) -> Response | None:
        limit = constraints.MAX_CONTAINER_NAME_LENGTH
        if self.account_name.startswith(constraints.AUTO_CREATE_ACCOUNT_PREFIX):
            limit *= 2
        assert self.container_name is not None
        if len(self.container_name) > limit:
            return error(400, f"Container name length of {len(self.container_name)} longer than {limit}")
        return None

    def _strip_owner_headers(self, req: Request) -> None:
        if not req.environ.get("swift_owner"):
            for name in OWNER_HEADERS:
                req.headers.pop(name, None)

    def _backend_requests(self, req: Request, count: int, account_part: int | None,
                          accounts: list[dict[str, Any]], policy_index: int | None = None) -> list[dict[str, str]]:
        if policy_index is None:
            additional = {"x-backend-storage-policy-default": "0"}
        else:
            additional = {"x-backend-storage-policy-index": str(policy_index)}
        additional["x-timestamp"] = timestamp_now()
        headers = [self.backend_headers(req, additional, transfer=True) for _ in range(count)]
        for i, node in enumerate(accounts):
            h = headers[i % count]
            h["x-account-partition"] = str(account_part)
            h["x-account-host"] = _csv_append(h.get("x-account-host"), f"{node['ip']}:{node['port']}")
            h["x-account-device"] = _csv_append(h.get("x-account-device"), node["device"])
        return headers

    async def _account_nodes(self, req: Request, autocreate: bool) -> tuple[int | None, list[dict[str, Any]]]:
        info = await self.app.account_info(self.account_name, req)
        exists = 200 <= info["status"] < 300 and info.get("account_really_exists", True)
        if not exists and autocreate and self.app.account_autocreate:
            if not await self.app.autocreate_account(req, self.account_name):
                raise HTTPError(error(503))
            info = await self.app.account_info(self.account_name, req, fresh=True)
            exists = 200 <= info["status"] < 300
        if not exists:
            return None, []
        part, nodes = self.app.account_ring.get_nodes(self.account_name)
        return part, nodes

    # -- reads ----------------------------------------------------------------------------------
    async def GETorHEAD(self, req: Request) -> Response:
        content_type = listing_content_type(req) if req.method in ("GET", "HEAD") else "text/plain"
        can_vary = "format" not in req.params
        params = {k: v for k, v in req.params.items() if k in LISTING_PARAMS}
        for name, value in params.items():
            try:
                value.encode("utf-8")
            except UnicodeError:
                return plain(400, f'"{name}" parameter not valid UTF-8')
        limit = params.get("limit")
        if limit and limit.isdigit() and int(limit) > constraints.CONTAINER_LISTING_LIMIT:
            return error(412, f"Maximum limit is {constraints.CONTAINER_LISTING_LIMIT}")
        delimiter = params.get("delimiter")
        if delimiter and (len(delimiter) > 1 or ord(delimiter) > 254):
            return error(412, "Bad delimiter")
        params["format"] = "json"
        from urllib.parse import quote

        query = "&".join(f"{k}={quote(v, safe='')}" for k, v in params.items()) if req.method == "GET" else \
            "format=json"
        part = self.app.container_ring.get_part(self.account_name, self.container_name)
        resp = await self.get_or_head(req, self.app.container_ring, part, self.path,
                                      self.backend_headers(req), query)
        if resp.status < 500:
            self.app.infocache.set(self.account_name, self.container_name,
                                   container_info_from_headers(resp.headers, resp.status))
        if "swift.authorize" in req.environ:
            denial = await self.authorize(req, resp.headers.get("x-container-read"))
            if denial is not None:
                return denial
        if not req.environ.get("swift_owner"):
            for name in OWNER_HEADERS:
                resp.headers.pop(name, None)
        if 200 <= resp.status < 300:
            resp.headers["accept-ranges"] = "bytes"
            resp.headers["x-storage-policy"] = POLICY_NAME
            resp = format_listing(req, resp, content_type, self.account_name, self.container_name, can_vary)
        return resp

    async def GET(self, req: Request) -> Response:
        return await self.GETorHEAD(req)

    async def HEAD(self, req: Request) -> Response:
        return await self.GETorHEAD(req)

    # -- writes ---------------------------------------------------------------------------------
    async def PUT(self, req: Request) -> Response:
        bad = self._clean_acls(req) or constraints.check_metadata(req, "container")
        if bad:
            return bad
        policy_index = self._policy_index(req)
        self._strip_owner_headers(req)
        too_long = self._name_too_long()
        if too_long:
            return too_long
        account_part, accounts = await self._account_nodes(req, autocreate=True)
        if not accounts:
            return error(404)
        part, nodes = self.app.container_ring.get_nodes(self.account_name, self.container_name)
        headers = self._backend_requests(req, len(nodes), account_part, accounts, policy_index)
        resp = await self.make_requests(req, self.app.container_ring, part, "PUT", self.path, headers)
        self.app.infocache.clear(self.account_name, self.container_name)
        self.app.infocache.clear(self.account_name)
        return resp

    async def POST(self, req: Request) -> Response:
        bad = self._clean_acls(req) or constraints.check_metadata(req, "container")
        if bad:
            return bad
        if req.headers.get("x-storage-policy"):
            # the policy of a container is fixed when it is made
            self._policy_index(req)
        self._strip_owner_headers(req)
        account_part, accounts = await self._account_nodes(req, autocreate=False)
        if not accounts:
            return error(404)
        part, nodes = self.app.container_ring.get_nodes(self.account_name, self.container_name)
        headers = self.backend_headers(req, {"x-timestamp": timestamp_now()}, transfer=True)
        self.app.infocache.clear(self.account_name, self.container_name)
        resp = await self.make_requests(req, self.app.container_ring, part, "POST", self.path,
                                        [dict(headers) for _ in nodes])
        self.app.infocache.clear(self.account_name, self.container_name)
        return resp

    async def DELETE(self, req: Request) -> Response:
        account_part, accounts = await self._account_nodes(req, autocreate=False)
        if not accounts:
            return error(404)
        part, nodes = self.app.container_ring.get_nodes(self.account_name, self.container_name)
        headers = self._backend_requests(req, len(nodes), account_part, accounts)
        self.app.infocache.clear(self.account_name, self.container_name)
        resp = await self.make_requests(req, self.app.container_ring, part, "DELETE", self.path, headers)
        self.app.infocache.clear(self.account_name, self.container_name)
        self.app.infocache.clear(self.account_name)
        if resp.status == 202:  # no server had the container
            return error(404)
        return resp


def _csv_append(existing: str | None, value: str) -> str:
    return f"{existing},{value}" if existing else value
