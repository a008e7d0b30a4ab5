"""The in-process token validator used by every service of an all-in-one cloud."""

from __future__ import annotations

from monostack.common import errors
from monostack.common.context import RequestContext
from monostack.common.http import run_blocking
from monostack.identity.service import IdentityService
from monostack.identity.service.tokens import ValidatedToken


class LocalValidator:
    def __init__(self, identity: IdentityService):
        self.identity = identity

    async def validated(self, token: str) -> ValidatedToken:
        tokens = self.identity.tokens
        hit = tokens.cached(token)
        if hit is not None:
            return hit
        try:
            return await run_blocking(tokens.validate, token)
        except errors.NotFound:
            raise errors.Unauthorized("The request you have made requires authentication.") from None

    async def authenticate(self, token: str, ctx: RequestContext) -> None:
        (await self.validated(token)).to_context(ctx)
