"""Authentication of API requests: X-Auth-Token -> request context.

Every service's routes depend on `authenticated`.  It asks the app's token
validator (`app.state.validator`) to fill the request context from the token.
In the all-in-one the validator is Identity's own token manager, called in
process (a cached token costs a dict lookup); a service split onto another
host gets a validator that asks Identity over HTTP and caches the answer.
"""

from __future__ import annotations

from typing import Any, Protocol

from fastapi import Request

from monostack.common import errors
from monostack.common.context import RequestContext
from monostack.common.http import request_context


class TokenValidator(Protocol):
    async def authenticate(self, token: str, ctx: RequestContext) -> None:
        """Fill ctx from a valid token; raise errors.Unauthorized otherwise."""


def unauthorized(request: Request, message: str = "The request you have made requires authentication.") -> errors.Unauthorized:
    identity_uri = getattr(request.app.state, "identity_uri", "")
    return errors.Unauthorized(message, headers={"WWW-Authenticate": f'Keystone uri="{identity_uri}"'})


async def authenticated(request: Request) -> RequestContext:
    """FastAPI dependency: the caller's context, or 401."""
    ctx = request_context(request)
    token = request.headers.get("x-auth-token")
    if not token:
        raise unauthorized(request)
    validator: TokenValidator = request.app.state.validator
    await validator.authenticate(token, ctx)
    return ctx


def fill_context(ctx: RequestContext, token: dict[str, Any], token_id: str) -> RequestContext:
    """A request context from a Keystone token body (`{"token": {...}}`'s inside)."""
    user = token["user"]
    ctx.user_id = user["id"]
    ctx.user_name = user.get("name")
    ctx.user_domain_id = (user.get("domain") or {}).get("id")
    ctx.roles = [r["name"] for r in token.get("roles", [])]
    ctx.audit_ids = list(token.get("audit_ids", []))
    ctx.auth_token = token_id
    if "project" in token:
        ctx.project_id = token["project"]["id"]
        ctx.project_name = token["project"].get("name")
        ctx.project_domain_id = (token["project"].get("domain") or {}).get("id")
    elif "domain" in token:
        ctx.domain_id = token["domain"]["id"]
        ctx.domain_name = token["domain"].get("name")
    elif "system" in token:
        ctx.system_scope = "all" if token["system"].get("all") else None
    ctx.application_credential_id = (token.get("application_credential") or {}).get("id")
    ctx.trust_id = (token.get("OS-TRUST:trust") or {}).get("id")
    return ctx
