"""The Image service as Compute sees it, over its HTTP API (so agents on other
hosts work the same): image lookups with the caller's token (its visibility
rules apply), downloads into this host's cache, and snapshot uploads."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import pathlib
from typing import Any

import httpx

from monostack.common import errors
from monostack.common.service_auth import ServiceAuth

LOG = logging.getLogger(__name__)
CHUNK = 4 * 1024 * 1024


class ImageAPI:
    def __init__(self, auth: ServiceAuth, cache_dir: pathlib.Path):
        self.auth = auth
        self.cache_dir = cache_dir
        self._locks: dict[str, asyncio.Lock] = {}

    async def _url(self) -> str:
        return await self.auth.endpoint("image")

    async def get(self, image_id: str, token: str | None = None) -> dict[str, Any] | None:
        """The image as `token`'s owner sees it (the service's own token when None)."""
        headers = {"X-Auth-Token": token} if token else await self.auth.headers()
        response = await self.auth.client.get(f"{await self._url()}/v2/images/{image_id}", headers=headers)
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise errors.ServiceUnavailable(f"The Image service answered {response.status_code}.")
        return response.json()

    async def cached(self, image: dict[str, Any]) -> pathlib.Path:
        """The image's data in this host's cache, downloaded once (checksum verified)."""
        image_id = image["id"]
        target = self.cache_dir / image_id
        lock = self._locks.setdefault(image_id, asyncio.Lock())
        async with lock:
            if target.exists():
                return target
            await asyncio.to_thread(self.cache_dir.mkdir, parents=True, exist_ok=True)
            partial = target.with_suffix(".part")
            md5 = hashlib.md5(usedforsecurity=False)
            url = f"{await self._url()}/v2/images/{image_id}/file"
            async with self.auth.client.stream("GET", url, headers=await self.auth.headers(),
                                               timeout=httpx.Timeout(600, connect=10)) as response:
                if response.status_code != 200:
                    raise errors.ServiceUnavailable(f"Image {image_id} could not be downloaded "
                                                    f"({response.status_code}).")
                handle = await asyncio.to_thread(open, partial, "wb")
                try:
                    async for chunk in response.aiter_bytes(CHUNK):
                        md5.update(chunk)
                        await asyncio.to_thread(handle.write, chunk)
                    await asyncio.to_thread(os.fsync, handle.fileno())
                finally:
                    await asyncio.to_thread(handle.close)
            if image.get("checksum") and md5.hexdigest() != image["checksum"]:
                partial.unlink(missing_ok=True)
                raise errors.ServiceUnavailable(f"Image {image_id} arrived corrupt (checksum mismatch).")
            await asyncio.to_thread(os.replace, partial, target)
            return target

    async def create(self, token: str, body: dict[str, Any]) -> dict[str, Any]:
        """A queued image owned by the caller's project (snapshots, shelving)."""
        response = await self.auth.client.post(f"{await self._url()}/v2/images", json=body,
                                               headers={"X-Auth-Token": token})
        if response.status_code == 413 or response.status_code == 403:
            raise errors.Forbidden(response.json().get("message", "Image quota exceeded."))
        if response.status_code != 201:
            raise errors.BadRequest(f"The Image service refused the snapshot image: {response.text[:200]}")
        return response.json()

    async def activate_empty(self, image_id: str) -> None:
        """No data, yet active: a volume-backed server's snapshot, whose data are volume snapshots
        its block_device_mapping names (Nova uploads '' for it: Glance v2 has no other way)."""
        headers = {**await self.auth.headers(), "Content-Type": "application/octet-stream"}
        response = await self.auth.client.put(f"{await self._url()}/v2/images/{image_id}/file", content=b"",
                                              headers=headers)
        if response.status_code != 204:
            raise errors.ServiceUnavailable(f"Activating image {image_id} failed ({response.status_code}).")

    async def upload(self, image_id: str, path: pathlib.Path) -> None:
        async def chunks() -> Any:
            handle = await asyncio.to_thread(open, path, "rb")
            try:
                while chunk := await asyncio.to_thread(handle.read, CHUNK):
                    yield chunk
            finally:
                await asyncio.to_thread(handle.close)

        headers = {**await self.auth.headers(), "Content-Type": "application/octet-stream"}
        response = await self.auth.client.put(f"{await self._url()}/v2/images/{image_id}/file", content=chunks(),
                                              headers=headers, timeout=httpx.Timeout(3600, connect=10))
        if response.status_code != 204:
            raise errors.ServiceUnavailable(f"Uploading image {image_id} failed ({response.status_code}).")

    async def delete(self, image_id: str) -> None:
        await self.auth.client.delete(f"{await self._url()}/v2/images/{image_id}", headers=await self.auth.headers())
