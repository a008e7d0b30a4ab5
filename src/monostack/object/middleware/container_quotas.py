"""Container quotas: X-Container-Meta-Quota-Bytes and X-Container-Meta-Quota-Count,
set by the container's owner, checked on every object PUT (413 "Upload exceeds quota.")."""

from __future__ import annotations

from typing import Any

from monostack.object.proxy.http import Request, Response, error


class ContainerQuotas:
    def __init__(self, app: Any, proxy: Any, conf: Any):
        self.app = app
        self.proxy = proxy
        proxy.register_capability("container_quotas")

    async def _exceeded(self, req: Request, info: dict[str, Any]) -> Response:
        # Whoever could not have written here learns nothing about the container.
        authorize = req.environ.get("swift.authorize")
        if authorize is not None:
            req.environ["swift.acl"] = info.get("write_acl")
            denial = await authorize(req)
            if denial is not None:
                return denial
        return error(413, "Upload exceeds quota.")

    async def __call__(self, req: Request) -> Response:
        try:
            _v, account, container, obj = req.split_path(3, 4, True)
        except ValueError:
            return await self.app(req)
        if not obj and req.method in ("PUT", "POST"):
            value = req.headers.get("x-container-meta-quota-bytes")
            if value and not value.isdigit():
                return error(400, "Invalid bytes quota.")
            value = req.headers.get("x-container-meta-quota-count")
            if value and not value.isdigit():
                return error(400, "Invalid count quota.")
        elif obj and req.method == "PUT":
            info = await self.proxy.container_info(account, container, req)
            meta = info.get("meta", {})
            if 200 <= info["status"] < 300 and ("quota-bytes" in meta or "quota-count" in meta):
                # The quota is checked against what the container holds now, not a cached count.
                info = await self.proxy.container_info(account, container, req, fresh=True)
                meta = info.get("meta", {})
                quota = meta.get("quota-bytes", "")
                if quota.isdigit() and info.get("bytes") is not None:
                    if int(quota) < int(info["bytes"]) + (req.content_length or 0):
                        return await self._exceeded(req, info)
                quota = meta.get("quota-count", "")
                if quota.isdigit() and info.get("object_count") is not None:
                    if int(quota) < int(info["object_count"]) + 1:
                        return await self._exceeded(req, info)
        return await self.app(req)
