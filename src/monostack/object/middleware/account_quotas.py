"""Account quotas: X-Account-Quota-Bytes / X-Account-Quota-Count (and the legacy
X-Account-Meta-Quota-Bytes), set only by a reseller admin, kept as system
metadata, checked on every object PUT (413 "Upload exceeds quota.")."""

from __future__ import annotations

from typing import Any

from monostack.object.proxy.http import HTTPError, Request, Response, error
from monostack.object.proxy.info import POLICY_NAME

POLICY_INDEX = 0


class AccountQuotas:
    def __init__(self, app: Any, proxy: Any, conf: Any):
        self.app = app
        self.proxy = proxy
        proxy.register_capability("account_quotas")

    def _translate(self, req: Request, kind: str) -> None:
        """X-Account-<kind>[-Policy-<name>] from a reseller -> system metadata; from anyone else: 403."""
        quotas: dict[int | None, str | None] = {None: req.headers.get(f"x-account-{kind}")}
        if req.headers.get(f"x-remove-account-{kind}"):
            quotas[None] = ""
        tail = f"account-{kind}-policy-{POLICY_NAME.lower()}"
        if req.headers.get(f"x-remove-{tail}"):
            quotas[POLICY_INDEX] = ""
        else:
            quotas[POLICY_INDEX] = req.headers.pop(f"x-{tail}", None)
        if req.environ.get("reseller_request") is True:
            if any(q and not q.isdigit() for q in quotas.values()):
                raise HTTPError(error(400))
            for index, quota in quotas.items():
                if quota is None:
                    continue
                name = f"x-account-sysmeta-{kind}" if index is None else f"x-account-sysmeta-{kind}-policy-{index}"
                req.headers[name] = quota
        elif any(q is not None for q in quotas.values()):
            raise HTTPError(error(403))

    async def _account(self, req: Request) -> Response:
        if req.method in ("POST", "PUT"):
            for legacy in ("x-account-meta-quota-bytes", "x-remove-account-meta-quota-bytes"):
                value = req.headers.get(legacy)
                new = legacy.replace("-meta-", "-")
                if value is not None and not req.headers.get(new):
                    req.headers[new] = value
            try:
                self._translate(req, "quota-bytes")
                self._translate(req, "quota-count")
            except HTTPError as exc:
                return exc.response
        resp = await self.app(req)
        for kind in ("quota-bytes", "quota-count"):
            value = resp.headers.get(f"x-account-sysmeta-{kind}")
            if value:
                resp.headers[f"x-account-{kind}"] = value
            value = resp.headers.get(f"x-account-sysmeta-{kind}-policy-{POLICY_INDEX}")
            if value:
                resp.headers[f"x-account-{kind}-policy-{POLICY_NAME.lower()}"] = value
        return resp

    @staticmethod
    def _over(info: dict[str, Any], length: int) -> str | None:
        """The 413's body when this upload would exceed a quota of the account."""
        sysmeta, meta = info.get("sysmeta", {}), info.get("meta", {})
        used = int(info.get("bytes") or 0)
        count = int(info.get("total_object_count") or 0)
        quota = _int(sysmeta.get("quota-bytes", meta.get("quota-bytes", -1)))
        if 0 <= quota < used + length:
            return "Upload exceeds quota."
        quota = _int(sysmeta.get("quota-count", -1))
        if 0 <= quota < count + 1:
            return "Upload exceeds quota."
        quota = _int(sysmeta.get(f"quota-bytes-policy-{POLICY_INDEX}", -1))
        if 0 <= quota < used + length:
            return "Upload exceeds policy quota."
        quota = _int(sysmeta.get(f"quota-count-policy-{POLICY_INDEX}", -1))
        if 0 <= quota < count + 1:
            return "Upload exceeds policy quota."
        return None

    async def __call__(self, req: Request) -> Response:
        try:
            _v, account, container, obj = req.split_path(2, 4, True)
        except ValueError:
            return await self.app(req)
        if not container:
            return await self._account(req)
        if not (req.method == "PUT" and obj) or req.environ.get("reseller_request") is True:
            return await self.app(req)
        info = await self.proxy.account_info(account, req)
        if not any(k.startswith(("quota-bytes", "quota-count")) for k in info.get("sysmeta", {})) and \
                "quota-bytes" not in info.get("meta", {}):
            return await self.app(req)
        info = await self.proxy.account_info(account, req, fresh=True)
        body = self._over(info, req.content_length or 0)
        if body is None:
            return await self.app(req)
        over = error(413, body)
        authorize = req.environ.get("swift.authorize")
        if authorize is None:
            return over

        # Over quota, but those who may not write here at all get their 403/401 first.
        async def reject(request: Request) -> Response | None:
            denial = await authorize(request)
            return denial if denial is not None else over

        req.environ["swift.authorize"] = reject
        try:
            return await self.app(req)
        finally:
            req.environ["swift.authorize"] = authorize


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1
