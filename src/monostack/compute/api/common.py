"""What every Compute API module shares: the service, the caller, the
microversion, policy checks, links and Nova's time format."""

from __future__ import annotations

import datetime
from typing import Any

from fastapi import Request

from monostack.common import errors
from monostack.common.context import RequestContext
from monostack.common.http import base_url
from monostack.common.microversion import Microversions, Version

# Nova 2.1 up to 2.96 (pinned_availability_zone in server show); without a header, 2.1.
MICROVERSIONS = Microversions("compute", Version(2, 1), Version(2, 96),
                              legacy_header="x-openstack-nova-api-version")


def svc(request: Request) -> Any:
    """The ComputeService (monostack.compute.service)."""
    return request.app.state.compute


def version(request: Request) -> Version:
    """The microversion the request negotiated (set by MicroversionLayer)."""
    return request.scope.get("state", {}).get("microversion", MICROVERSIONS.minimum)


def at_least(request: Request, wanted: str) -> bool:
    return version(request).matches(minimum=wanted)


def authorize(request: Request, ctx: RequestContext, rule: str, target: dict[str, Any] | None = None) -> None:
    """403 unless the rule (`os_compute_api:...`) allows the caller on the target."""
    target = target if target is not None else {"project_id": ctx.project_id, "user_id": ctx.user_id}
    svc(request).policy.authorize(ctx, rule, target)


def allowed(request: Request, ctx: RequestContext, rule: str, target: dict[str, Any] | None = None) -> bool:
    target = target if target is not None else {"project_id": ctx.project_id, "user_id": ctx.user_id}
    return svc(request).policy.check(ctx, rule, target)


def links(request: Request, collection: str, id_: str | int) -> list[dict[str, str]]:
    """self (versioned) and bookmark (unversioned) links, as Nova renders them."""
    root = base_url(request)
    return [{"rel": "self", "href": f"{root}/v2.1/{collection}/{id_}"},
            {"rel": "bookmark", "href": f"{root}/{collection}/{id_}"}]


def collection_next(request: Request, collection: str, marker: str, limit: int | None) -> list[dict[str, str]]:
    """The `<collection>_links` of a full page."""
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "marker"]
    params.append(("marker", marker))
    query = "&".join(f"{k}={v}" for k, v in params)
    return [{"rel": "next", "href": f"{base_url(request)}/v2.1/{collection}?{query}"}]


def isotime(value: datetime.datetime | None) -> str | None:
    """Nova's timestamps: second precision, UTC, 'Z'."""
    if value is None:
        return None
    return value.replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def isotime_micro(value: datetime.datetime | None) -> str | None:
    """Timestamps with microseconds and no zone (instance actions, migrations, os-services)."""
    if value is None:
        return None
    return value.strftime("%Y-%m-%dT%H:%M:%S.%f")


async def json_body(request: Request) -> dict[str, Any]:
    import orjson
    raw = await request.body()
    if not raw:
        raise errors.BadRequest("The request body is empty or malformed.")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise errors.BadRequest("Malformed request body") from None
    if not isinstance(body, dict):
        raise errors.BadRequest("Malformed request body")
    return body


def require(body: dict[str, Any], key: str) -> Any:
    if key not in body:
        raise errors.BadRequest(f"Invalid input for field/attribute {key}. Value: {body}. "
                                f"'{key}' is a required property")
    return body[key]


def validate(body: Any, schema: dict[str, Any]) -> None:
    """Nova validates request bodies with JSON Schema; its 400 names the field and the rule broken."""
    from monostack.common.validation import error as schema_error

    error = schema_error(schema, body)
    if error is None:
        return
    path = "/".join(str(p) for p in error.path)
    if error.validator == "required" or not path:
        raise errors.BadRequest(f"Invalid input for field/attribute {path or 'body'}. "
                                f"Value: {error.instance}. {error.message}")
    raise errors.BadRequest(f"Invalid input for field/attribute {path}. Value: {error.instance}. {error.message}")
