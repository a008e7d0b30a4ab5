"""What every Compute API module shares: the service, the caller, the
microversion, policy checks, links and Nova's time format."""

from __future__ import annotations

import datetime
from typing import Any

from fastapi import Request

from monostack.common import errors
from monostack.common.http import base_url
from monostack.common.microversion import Microversions, Version
from monostack.common.versioned_api import ServiceRequests

# Nova 2.1 up to 2.96 (pinned_availability_zone in server show); without a header, 2.1.
MICROVERSIONS = Microversions("compute", Version(2, 1), Version(2, 96),
                              legacy_header="x-openstack-nova-api-version")


_REQUESTS = ServiceRequests("compute", MICROVERSIONS)
svc = _REQUESTS.svc  # the ComputeService (monostack.compute.service)
version = _REQUESTS.version
at_least = _REQUESTS.at_least
authorize = _REQUESTS.authorize  # rules `os_compute_api:...`
allowed = _REQUESTS.allowed


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
