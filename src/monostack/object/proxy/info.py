"""Account and container info: what the proxy knows about an account or a container
(existence, counts, ACLs, metadata, policy), cached the way Swift's proxy caches it.

Swift keeps this in memcache for `recheck_*_existence` seconds; here it is a dict
in the proxy process.  This proxy forgets an entry itself whenever it changes
the account or container (PUT, POST, DELETE), so within one proxy it is never
stale; what another proxy changed shows after the recheck time, as in Swift.
"""

from __future__ import annotations

import time
from typing import Any

POLICY_NAME = "Policy-0"


def split_meta(headers: dict[str, str], server_type: str) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """(other headers, user metadata, system metadata) with the prefixes removed."""
    meta_prefix = f"x-{server_type}-meta-"
    sys_prefix = f"x-{server_type}-sysmeta-"
    meta, sysmeta, other = {}, {}, {}
    for key, value in headers.items():
        if key.startswith(meta_prefix):
            meta[key[len(meta_prefix):]] = value
        elif key.startswith(sys_prefix):
            sysmeta[key[len(sys_prefix):]] = value
        else:
            other[key] = value
    return other, meta, sysmeta


def account_info_from_headers(headers: dict[str, str], status: int) -> dict[str, Any]:
    other, meta, sysmeta = split_meta(headers, "account")
    info = {
        "status": status,
        "container_count": other.get("x-account-container-count"),
        "total_object_count": other.get("x-account-object-count"),
        "bytes": other.get("x-account-bytes-used"),
        "meta": meta,
        "sysmeta": sysmeta,
    }
    if 200 <= status < 300:
        info["account_really_exists"] = other.get("x-backend-fake-account-listing", "").lower() not in (
            "yes", "true", "1", "t", "on")
    return info


def container_info_from_headers(headers: dict[str, str], status: int) -> dict[str, Any]:
    other, meta, sysmeta = split_meta(headers, "container")
    return {
        "status": status,
        "read_acl": other.get("x-container-read"),
        "write_acl": other.get("x-container-write"),
        "sync_key": other.get("x-container-sync-key"),
        "object_count": other.get("x-container-object-count"),
        "bytes": other.get("x-container-bytes-used"),
        "versions": other.get("x-versions-location"),
        "storage_policy": other.get("x-backend-storage-policy-index", "0"),
        "cors": {
            "allow_origin": meta.get("access-control-allow-origin"),
            "expose_headers": meta.get("access-control-expose-headers"),
            "max_age": meta.get("access-control-max-age"),
        },
        "meta": meta,
        "sysmeta": sysmeta,
        "created_at": other.get("x-backend-timestamp") or other.get("x-timestamp"),
        "put_timestamp": other.get("x-backend-put-timestamp") or other.get("x-put-timestamp"),
    }


class InfoCache:
    def __init__(self, account_ttl: float, container_ttl: float, max_entries: int = 100000):
        self.account_ttl = account_ttl
        self.container_ttl = container_ttl
        self.max_entries = max_entries
        self._entries: dict[tuple[str, str | None], tuple[float, dict[str, Any]]] = {}

    def get(self, account: str, container: str | None = None) -> dict[str, Any] | None:
        hit = self._entries.get((account, container))
        if hit is None:
            return None
        if hit[0] < time.monotonic():
            self._entries.pop((account, container), None)
            return None
        return hit[1]

    def set(self, account: str, container: str | None, info: dict[str, Any]) -> None:
        status = info.get("status", 0)
        if status >= 500 or status == 0:
            return
        ttl = self.container_ttl if container is not None else self.account_ttl
        if not 200 <= status < 300:
            ttl = min(ttl, 3.0)  # a 404 is remembered briefly: creations elsewhere show soon
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[(account, container)] = (time.monotonic() + ttl, info)

    def clear(self, account: str, container: str | None = None) -> None:
        self._entries.pop((account, container), None)
