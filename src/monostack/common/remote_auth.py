"""Token validation for a service running on another host than Identity.

Like keystonemiddleware's auth_token: the service authenticates as its own
service user, asks Identity (GET /v3/auth/tokens) about each new token and
caches the answer.  Two things make it cheaper than that:
  - when the host has the Fernet keys, a token that does not decrypt or has
    expired is refused locally, without a network round trip;
  - the cache is dropped whenever Identity announces a change on the bus
    (`invalidate`, subscribed to identity.* notifications), so a revocation
    shows at once rather than after the cache time.
"""

from __future__ import annotations

import collections
import datetime as dt
import logging
import time
from typing import Any

import httpx

from monostack.common import errors
from monostack.common.auth import fill_context
from monostack.common.context import RequestContext
from monostack.common.service_auth import ServiceAuth, epoch

LOG = logging.getLogger(__name__)


class RemoteValidator:
    def __init__(self, identity_url: str, *, username: str, password: str, project_name: str,
                 user_domain_id: str = "default", project_domain_id: str = "default",
                 key_repository: Any = None, cache_time: float = 300.0, cache_size: int = 10000):
        self.identity_url = identity_url.rstrip("/")
        self.keys = key_repository
        self.cache_time = cache_time
        self.cache_size = cache_size
        self._cache: collections.OrderedDict[str, tuple[float, dict[str, Any]]] = collections.OrderedDict()
        self._client = httpx.AsyncClient(timeout=30)
        self._service = ServiceAuth(identity_url, username=username, password=password, project_name=project_name,
                                    user_domain_id=user_domain_id, project_domain_id=project_domain_id,
                                    client=self._client)

    async def close(self) -> None:
        await self._client.aclose()

    def invalidate(self, *_args: Any, **_kwargs: Any) -> None:
        """Forget every cached answer (called on Identity's notifications)."""
        self._cache.clear()

    async def _token(self, refresh: bool = False) -> str:
        return await self._service.token(refresh)

    def _locally_invalid(self, token: str) -> bool:
        if self.keys is None:
            return False
        from monostack.identity import token_format as tf
        from monostack.identity.fernet import InvalidToken
        try:
            payload = tf.unpack(self.keys.decrypt(token))
        except (InvalidToken, tf.MalformedToken, ValueError, TypeError, UnicodeError):
            return True
        return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) >= payload.expires_at

    async def validated(self, token: str) -> dict[str, Any]:
        now = time.monotonic()
        hit = self._cache.get(token)
        if hit is not None and hit[0] > now and epoch(hit[1]["expires_at"]) > time.time():
            return hit[1]
        if not token or len(token) > 1024 or self._locally_invalid(token):
            raise errors.Unauthorized("The request you have made requires authentication.")
        for attempt in range(2):
            response = await self._client.get(f"{self.identity_url}/v3/auth/tokens", headers={
                "X-Auth-Token": await self._token(refresh=attempt > 0), "X-Subject-Token": token})
            if response.status_code != 401:
                break
        if response.status_code == 404:
            raise errors.Unauthorized("The request you have made requires authentication.")
        if response.status_code != 200:
            LOG.warning("Identity answered %s to a token validation", response.status_code)
            raise errors.ServiceUnavailable("Identity could not validate the token.")
        body = response.json()["token"]
        self._cache[token] = (now + self.cache_time, body)
        if len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return body

    async def authenticate(self, token: str, ctx: RequestContext) -> None:
        fill_context(ctx, await self.validated(token), token)


