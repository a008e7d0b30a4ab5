"""Helpers shared by the extras route modules (endpoint filter, policies, limits, ...)."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response

from monostack.common import errors

GET_HEAD = ["GET", "HEAD"]


def or_head(request: Request, body: dict[str, Any]) -> Any:
    """Keystone answers HEAD like GET, without the body."""
    if request.method == "HEAD":
        return Response(status_code=200)
    return body


def no_content() -> Response:
    return Response(status_code=204)


def field(body: Any, key: str) -> Any:
    """`body[key]` of a JSON object body (its type is the manager's to check), or 400."""
    if not isinstance(body, dict) or key not in body:
        raise errors.ValidationError(f"Invalid input for field '{key}': '{key}' is a required property")
    return body[key]


def drop_none(target: dict[str, Any]) -> dict[str, Any]:
    """Policy targets without None values: oslo.policy would match "None" against an unset credential."""
    return {k: v for k, v in target.items() if v is not None}
