"""Expiring objects (X-Delete-At, X-Delete-After).

As Swift: the object servers put a task in the hidden account `.expiring_objects`
for every write with X-Delete-At (the proxy tells them which container servers
hold the task's container: X-Delete-At-Container/-Host/-Device/-Partition), one
container per day (spread over a hundred), task names
"<delete_at>-<account>/<container>/<object>".  The object
servers already answer 404 for an object past its time; the expirer makes it
really go: every `expirer_interval` seconds it walks the due buckets and DELETEs
each object through the proxy with X-If-Delete-At (so an object rewritten since
with another expiry, or none, is left alone), then drops the task.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import urllib.parse
from typing import TYPE_CHECKING, Any

from monostack.common.context import RequestContext, use_context
from monostack.object.proxy.constraints import EXPIRING_OBJECTS_ACCOUNT
from monostack.object.proxy.http import Request, normalize_timestamp, split_path, timestamp_now

if TYPE_CHECKING:
    from monostack.object.proxy.server import ProxyApp

LOG = logging.getLogger(__name__)



def parse_task(name: str) -> tuple[int, str, str, str]:
    stamp, _, target = name.partition("-")
    account, container, obj = split_path("/" + target, 3, 3, True)
    return int(float(stamp)), account or "", container or "", obj or ""


class ExpirerQueue:
    """Removes tasks once done (the object servers add them, told where by the proxy)."""

    def __init__(self, app: "ProxyApp"):
        self.app = app

    async def remove(self, req: Request, container: str, name: str) -> int:
        from monostack.object.proxy.container import ContainerController

        controller = ContainerController(self.app, EXPIRING_OBJECTS_ACCOUNT, container)
        part, nodes = self.app.container_ring.get_nodes(EXPIRING_OBJECTS_ACCOUNT, container)
        headers = {"x-timestamp": timestamp_now(), "x-trans-id": req.environ.get("swift.trans_id", "-"),
                   "x-backend-storage-policy-index": "0"}
        resp = await controller.make_requests(req, self.app.container_ring, part, "DELETE",
                                              f"/{EXPIRING_OBJECTS_ACCOUNT}/{container}/{name}",
                                              [dict(headers) for _ in nodes])
        return resp.status


class Expirer:
    """The background task that deletes what is due."""

    def __init__(self, app: "ProxyApp", interval: float, concurrency: int = 16):
        self.app = app
        self.interval = interval
        self.concurrency = concurrency
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
            self._task = None

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            ctx = RequestContext.service()
            with use_context(ctx):
                try:
                    await self.run_once()
                except asyncio.CancelledError:
                    raise
                except Exception:  # the next pass tries again
                    LOG.exception("expirer pass failed")

    def _request(self, method: str, path: str, query: str = "", headers: dict[str, str] | None = None) -> Request:
        return Request(method, path, query, headers or {}, environ={"swift.trans_id": f"tx-expirer-{time.time():.0f}",
                                                                   "swift.source": "EX"})

    async def _listing(self, path: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        marker = ""
        while True:
            query = "format=json" + (f"&marker={urllib.parse.quote(marker, safe='')}" if marker else "")
            resp = await self.app(self._request("GET", path, query))
            body = await resp.read()
            if resp.status == 204 or not resp.is_success:
                return items
            page = json.loads(body or b"[]")
            if not page:
                return items
            items.extend(page)
            marker = page[-1].get("name") or page[-1].get("subdir")
            if len(page) < 10000:
                return items

    async def run_once(self, now: float | None = None) -> int:
        """One pass; the number of objects it expired."""
        now = time.time() if now is None else now
        expired = 0
        queue = ExpirerQueue(self.app)
        limit = asyncio.Semaphore(self.concurrency)
        for entry in await self._listing(f"/v1/{EXPIRING_OBJECTS_ACCOUNT}"):
            bucket = entry["name"]
            try:
                if int(bucket) > now:
                    break
            except ValueError:
                continue
            tasks = await self._listing(f"/v1/{EXPIRING_OBJECTS_ACCOUNT}/{bucket}")
            remaining = len(tasks)

            async def expire(name: str) -> bool:
                async with limit:
                    try:
                        delete_at, account, container, obj = parse_task(name)
                    except ValueError:
                        await queue.remove(self._request("DELETE", "/"), bucket, name)
                        return False
                    if delete_at > now:
                        return False
                    resp = await self.app(self._request(
                        "DELETE", f"/v1/{account}/{container}/{obj}",
                        headers={"x-if-delete-at": str(delete_at), "x-timestamp": normalize_timestamp(delete_at),
                                 "x-backend-clean-expiring-object-queue": "no"}))
                    await resp.read()
                    if resp.is_success or resp.status in (404, 412):
                        await queue.remove(self._request("DELETE", "/"), bucket, name)
                        return resp.is_success
                    LOG.warning("could not expire %s/%s/%s: %s", account, container, obj, resp.status)
                    return False

            results = await asyncio.gather(*(expire(t["name"]) for t in tasks))
            expired += sum(1 for done in results if done)
            remaining -= sum(1 for t in tasks if parse_due(t["name"], now))
            if remaining <= 0:
                resp = await self.app(self._request("DELETE", f"/v1/{EXPIRING_OBJECTS_ACCOUNT}/{bucket}"))
                await resp.read()
        if expired:
            LOG.info("expired %d objects", expired)
        return expired


def parse_due(name: str, now: float) -> bool:
    try:
        return parse_task(name)[0] <= now
    except ValueError:
        return True
