"""Helpers every Identity route module uses: links, bodies, policy targets."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from monostack.common import errors
from monostack.common.http import base_url
from monostack.identity.service import IdentityService


def svc(request: Request) -> IdentityService:
    return request.app.state.identity


def v3_url(request: Request, path: str = "") -> str:
    return f"{base_url(request)}/v3{path}"


def with_link(request: Request, collection: str, entity: dict[str, Any]) -> dict[str, Any]:
    entity["links"] = {"self": v3_url(request, f"/{collection}/{entity['id']}")}
    return entity


def one(request: Request, key: str, collection: str, entity: dict[str, Any]) -> dict[str, Any]:
    return {key: with_link(request, collection, entity)}


def many(request: Request, key: str, collection: str, entities: list[dict[str, Any]],
         *, truncated_limit: int = 0) -> dict[str, Any]:
    body: dict[str, Any] = {key: [with_link(request, collection, e) for e in entities]}
    if truncated_limit and len(entities) > truncated_limit:
        body[key] = body[key][:truncated_limit]
        body["truncated"] = True
    self_url = str(request.url)
    body["links"] = {"self": self_url, "previous": None, "next": None}
    return body


def member(body: Any, key: str) -> dict[str, Any]:
    """The `{"key": {...}}` object of a request body, or 400."""
    if not isinstance(body, dict) or not isinstance(body.get(key), dict):
        raise errors.ValidationError(f"Invalid input for field '{key}': '{key}' is a required property")
    return body[key]


def query(request: Request) -> dict[str, str]:
    return dict(request.query_params)
