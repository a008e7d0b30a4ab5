"""Container stats to the account servers: what the container server sends after a container
changes (debounced, a moment later, with everything that changed in between) and what the
container updater sends for every container whose last report did not get through."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable

from monostack.object.proxy.backend import BackendError, BackendPool
from monostack.object.ring.ring import Ring
from monostack.object.storage.container_db import ContainerBroker

LOG = logging.getLogger(__name__)


def account_update_headers(info: dict[str, Any], trans_id: str = "-") -> dict[str, str]:
    return {"X-Put-Timestamp": info["put_timestamp"], "X-Delete-Timestamp": info["delete_timestamp"],
            "X-Object-Count": str(info["object_count"]), "X-Bytes-Used": str(info["bytes_used"]),
            "X-Backend-Storage-Policy-Index": str(info.get("storage_policy_index", 0)), "X-Trans-Id": trans_id,
            "User-Agent": "container-updater"}


async def send_account_update(pool: BackendPool, nodes: list[dict[str, Any]], partition: int | str,
                              account: str, container: str, headers: dict[str, str]) -> list[int | None]:
    """PUT the container row to each account node; the statuses (None: unreachable)."""
    async def one(node: dict[str, Any]) -> int | None:
        try:
            response = await pool.request(node, partition, "PUT", f"/{account}/{container}", headers=headers)
            await response.read()
            return response.status
        except (BackendError, OSError, asyncio.TimeoutError) as exc:
            LOG.warning("account update of %s/%s to %s:%s/%s failed: %s", account, container, node.get("ip"),
                        node.get("port"), node.get("device"), exc)
            return None
    return list(await asyncio.gather(*(one(node) for node in nodes)))


class AccountReporter:
    """Reports a container database's stats to the account ring's nodes of its account."""

    def __init__(self, account_ring: Callable[[], Ring | None], pool: BackendPool,
                 run: Callable[..., Any]):
        self.account_ring = account_ring
        self.pool = pool
        self.run = run  # runs blocking work on a worker thread

    async def report(self, broker: ContainerBroker, force: bool = False) -> bool:
        """True when every account server has the current stats (or nothing needed sending)."""
        ring = self.account_ring()
        if ring is None:
            return False
        info = await self.run(broker.get_info)
        if not force and not ContainerBroker.needs_report(info):
            return True
        partition, nodes = ring.get_nodes(info["account"])
        statuses = await send_account_update(self.pool, nodes, partition, info["account"], info["container"],
                                             account_update_headers(info))
        if all(status is not None and 200 <= status < 300 for status in statuses):
            await self.run(broker.reported, info["put_timestamp"], info["delete_timestamp"], info["object_count"],
                           info["bytes_used"])
            return True
        return False
