"""What Nova's proxies to the Networking service share (security groups, floating IPs, networks:
deprecated from 2.36, where Nova answers 404): the Networking API called with the caller's token,
its 404 kept as Nova's itemNotFound and other errors turned into Nova's 400."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from monostack.common import errors
from monostack.common.context import RequestContext
from monostack.compute.api.common import at_least, svc

NOT_FOUND = "The resource could not be found."


def network(request: Request) -> Any:
    """The Networking client, or Nova's 404 from 2.36 on and in a cloud without Networking."""
    if at_least(request, "2.36"):
        raise errors.NotFound(NOT_FOUND)
    client = svc(request).network
    if not client.has_networking:
        raise errors.NotFound(NOT_FOUND)
    return client


async def call(request: Request, ctx: RequestContext, method: str, path: str, **kwargs: Any) -> Any:
    """The Networking service's answer (parsed), as the caller; its errors as Nova's."""
    response = await raw(request, ctx, method, path, **kwargs)
    if response.status_code == 404:
        raise errors.NotFound(message(response) or NOT_FOUND)
    if response.status_code >= 400:  # Nova's proxy answers 400 for a group in use or a duplicate rule too
        raise errors.BadRequest(message(response))
    return response.json() if response.content else None


async def raw(request: Request, ctx: RequestContext, method: str, path: str, **kwargs: Any) -> Any:
    """The Networking service's response itself, for callers that map its errors their own way."""
    return await network(request)._call(method, path, token=ctx.auth_token, **kwargs)


def message(response: Any) -> str:
    try:
        return response.json()["NeutronError"]["message"]
    except Exception:
        return ""


def action_argument(request: Request, action: str, args: Any, key: str) -> str:
    """The one argument of a server action of these proxies (addFloatingIp's address, addFixedIp's
    networkId, ...); those actions are gone from 2.44 (Nova's 404)."""
    if at_least(request, "2.44"):
        raise errors.NotFound(NOT_FOUND)
    network(request)
    if not isinstance(args, dict) or not isinstance(args.get(key), str) or not args[key]:
        raise errors.BadRequest(f"Invalid input for field/attribute {action}. '{key}' is a required property")
    return args[key]
