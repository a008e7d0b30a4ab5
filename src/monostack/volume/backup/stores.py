"""Where backups are kept: a flat namespace of objects ("<backup id>/chunk-00000012",
"<backup id>/manifest.json") behind one small interface, so the chunking engine is the same
for every store.

- DirectoryStore: files under <data dir>/backups (each written under a temporary name,
  flushed, then renamed: an object is whole or absent).
- SwiftStore: objects of one container (default "volumebackups") in Object Storage, over
  its HTTP API with the service's token (common.service_auth), the endpoint from the catalog
  (type "object-store"), every upload checked by its ETag (MD5).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import pathlib
import urllib.parse
from typing import Any

import httpx

from monostack.common import errors
from monostack.common.service_auth import ServiceAuth


class BackupStoreError(Exception):
    """The store could not do it; the message goes to the backup's fail_reason."""


class ObjectNotFound(BackupStoreError):
    pass


class BackupStore:
    name = ""

    async def prepare(self) -> None:
        """Make the container / directory if needed."""

    async def put(self, name: str, data: bytes) -> None:
        raise NotImplementedError

    async def get(self, name: str) -> bytes:
        """The object's bytes (ObjectNotFound when it is not there)."""
        raise NotImplementedError

    async def delete(self, name: str) -> None:
        """Idempotent."""
        raise NotImplementedError

    async def list(self, prefix: str = "") -> list[str]:
        """Names starting with prefix, sorted."""
        raise NotImplementedError

    async def close(self) -> None:
        pass


def _check_name(name: str) -> str:
    parts = name.split("/")
    if not name or any(p in ("", ".", "..") for p in parts) or name.startswith("/"):
        raise BackupStoreError(f"bad object name {name!r}")
    return name


class DirectoryStore(BackupStore):
    name = "directory"

    def __init__(self, root: pathlib.Path):
        self.root = pathlib.Path(root)

    async def prepare(self) -> None:
        await asyncio.to_thread(self.root.mkdir, parents=True, exist_ok=True)

    async def put(self, name: str, data: bytes) -> None:
        path = self.root / _check_name(name)

        def write() -> None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".tmp-{path.name}")
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)

        await asyncio.to_thread(write)

    async def get(self, name: str) -> bytes:
        path = self.root / _check_name(name)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            raise ObjectNotFound(f"backup object {name} is missing") from None

    async def delete(self, name: str) -> None:
        path = self.root / _check_name(name)

        def remove() -> None:
            path.unlink(missing_ok=True)
            parent = path.parent
            while parent != self.root and parent.is_dir() and not any(parent.iterdir()):
                parent.rmdir()
                parent = parent.parent

        await asyncio.to_thread(remove)

    async def list(self, prefix: str = "") -> list[str]:
        def scan() -> list[str]:
            out = []
            if not self.root.is_dir():
                return out
            for dirpath, dirs, names in os.walk(self.root):
                dirs[:] = [d for d in dirs if not d.startswith(".")]  # .work: chunks in passing
                for n in names:
                    if n.startswith("."):
                        continue
                    rel = os.path.relpath(os.path.join(dirpath, n), self.root)
                    if rel.startswith(prefix):
                        out.append(rel)
            return sorted(out)

        return await asyncio.to_thread(scan)


class SwiftStore(BackupStore):
    name = "swift"

    def __init__(self, auth: ServiceAuth, container: str = "volumebackups", *, interface: str = "public",
                 client: httpx.AsyncClient | None = None):
        self.auth = auth
        self.container = container
        self.interface = interface
        self.client = client or auth.client

    async def _url(self, name: str = "") -> str:
        try:
            base = await self.auth.endpoint("object-store", self.interface)
        except (httpx.HTTPError, errors.ServiceUnavailable) as err:
            raise BackupStoreError(f"Object Storage cannot be reached (Identity: {err})") from None
        url = f"{base}/{urllib.parse.quote(self.container, safe='')}"
        return f"{url}/{urllib.parse.quote(_check_name(name))}" if name else url

    async def _request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        for attempt in (0, 1):
            try:
                headers = dict(kwargs.pop("headers", {}), **await self.auth.headers())
                response = await self.client.request(method, url, headers=headers,
                                                     timeout=httpx.Timeout(300, connect=10), **kwargs)
            except (httpx.HTTPError, errors.ServiceUnavailable) as err:
                raise BackupStoreError(f"Object Storage is unreachable: {err}") from None
            if response.status_code != 401 or attempt:
                return response
            await self.auth.token(refresh=True)  # the token expired under us: once more with a new one
            kwargs["headers"] = {k: v for k, v in headers.items() if k.lower() != "x-auth-token"}
        raise AssertionError("unreachable")

    async def prepare(self) -> None:
        response = await self._request("PUT", await self._url())
        if response.status_code not in (201, 202):
            raise BackupStoreError(f"cannot create the container {self.container} ({response.status_code})")

    async def put(self, name: str, data: bytes) -> None:
        etag = hashlib.md5(data, usedforsecurity=False).hexdigest()
        response = await self._request("PUT", await self._url(name), content=data,
                                       headers={"ETag": etag, "Content-Type": "application/octet-stream"})
        if response.status_code == 404:  # the container went away: make it, once
            await self.prepare()
            response = await self._request("PUT", await self._url(name), content=data,
                                           headers={"ETag": etag, "Content-Type": "application/octet-stream"})
        if response.status_code != 201:
            raise BackupStoreError(f"storing {name} failed ({response.status_code})")

    async def get(self, name: str) -> bytes:
        response = await self._request("GET", await self._url(name))
        if response.status_code == 404:
            raise ObjectNotFound(f"backup object {name} is missing")
        if response.status_code != 200:
            raise BackupStoreError(f"reading {name} failed ({response.status_code})")
        etag = response.headers.get("etag", "").strip('"')
        if etag and len(etag) == 32 and hashlib.md5(response.content, usedforsecurity=False).hexdigest() != etag:
            raise BackupStoreError(f"backup object {name} arrived corrupt")
        return response.content

    async def delete(self, name: str) -> None:
        response = await self._request("DELETE", await self._url(name))
        if response.status_code not in (204, 404):
            raise BackupStoreError(f"deleting {name} failed ({response.status_code})")

    async def list(self, prefix: str = "") -> list[str]:
        names: list[str] = []
        marker = ""
        while True:
            response = await self._request("GET", await self._url(), params={
                "format": "json", "prefix": prefix, "marker": marker, "limit": 10000})
            if response.status_code == 404:
                return names
            if response.status_code not in (200, 204):
                raise BackupStoreError(f"listing the container {self.container} failed ({response.status_code})")
            page = [o["name"] for o in (response.json() if response.status_code == 200 else [])]
            if not page:
                return names
            names.extend(page)
            marker = page[-1]
