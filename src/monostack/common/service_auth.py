"""A service's own Keystone session: a project-scoped token for the cloud's
service user, renewed before it expires, and the endpoints of its catalog.

What one service uses to call another over HTTP (the compute agent fetching
images from the Image service, the scheduler calling Placement, a remote
service validating tokens), so it works the same when the services run on
other hosts.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from typing import Any

import httpx

from monostack.common import errors


def epoch(timestamp: str) -> float:
    return dt.datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()


class ServiceAuth:
    def __init__(self, identity_url: str, *, username: str, password: str, project_name: str,
                 user_domain_id: str = "default", project_domain_id: str = "default",
                 region: str | None = None, client: httpx.AsyncClient | None = None):
        self.identity_url = identity_url.rstrip("/")
        self.region = region
        self._auth = {"identity": {"methods": ["password"], "password": {"user": {
            "name": username, "domain": {"id": user_domain_id}, "password": password}}},
            "scope": {"project": {"name": project_name, "domain": {"id": project_domain_id}}}}
        self.client = client or httpx.AsyncClient(timeout=60)
        self._token: str | None = None
        self._expires = 0.0
        self._catalog: list[dict[str, Any]] = []
        self.project_id: str | None = None
        self.user_id: str | None = None
        self._lock = asyncio.Lock()

    async def close(self) -> None:
        await self.client.aclose()

    async def token(self, refresh: bool = False) -> str:
        async with self._lock:
            if refresh or self._token is None or time.time() > self._expires - 120:
                response = await self.client.post(f"{self.identity_url}/v3/auth/tokens",
                                                  json={"auth": self._auth})
                if response.status_code != 201:
                    raise errors.ServiceUnavailable("This service cannot authenticate to Identity.")
                body = response.json()["token"]
                self._token = response.headers["x-subject-token"]
                self._expires = epoch(body["expires_at"])
                self._catalog = body.get("catalog", [])
                self.project_id = body["project"]["id"]
                self.user_id = body["user"]["id"]
            return self._token

    async def endpoint(self, service_type: str, interface: str = "public") -> str:
        """The URL of a service from the catalog (ServiceUnavailable when it is not there)."""
        await self.token()
        for service in self._catalog:
            if service["type"] != service_type:
                continue
            for endpoint in service["endpoints"]:
                if endpoint["interface"] == interface and (self.region is None or
                                                           endpoint.get("region_id") == self.region):
                    return endpoint["url"].rstrip("/")
        raise errors.ServiceUnavailable(f"No {service_type} service in the catalog.")

    async def headers(self) -> dict[str, str]:
        return {"X-Auth-Token": await self.token()}
