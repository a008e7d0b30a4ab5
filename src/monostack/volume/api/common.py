"""What every Block Storage API module shares: the service, the caller, the
microversion, policy checks, body parsing and validation, links, Cinder's time format."""

from __future__ import annotations

import datetime
from typing import Any

import orjson
from fastapi import Request

from monostack.common import errors
from monostack.common.context import RequestContext
from monostack.common.http import base_url
from monostack.common.microversion import Microversions, Version
from monostack.common.versioned_api import ServiceRequests

# Cinder 3.0 to 3.70 (Zed's maximum); without a header, 3.0.
MICROVERSIONS = Microversions("volume", Version(3, 0), Version(3, 70))


_REQUESTS = ServiceRequests("volume", MICROVERSIONS)
svc = _REQUESTS.svc  # the VolumeService (monostack.volume.service)
version = _REQUESTS.version
at_least = _REQUESTS.at_least
authorize = _REQUESTS.authorize
allowed = _REQUESTS.allowed


def project_of(request: Request, ctx: RequestContext) -> str:
    """The project the URL named (/v3/{project_id}/...), else the caller's."""
    return request.scope.get("state", {}).get("url_project_id") or ctx.project_id or ""


def links(request: Request, ctx: RequestContext, collection: str, id_: str) -> list[dict[str, str]]:
    root, project = base_url(request), project_of(request, ctx)
    return [{"href": f"{root}/v3/{project}/{collection}/{id_}", "rel": "self"},
            {"href": f"{root}/{project}/{collection}/{id_}", "rel": "bookmark"}]


def next_links(request: Request, ctx: RequestContext, collection: str, rows: list[Any], limit: int | None,
               key: str = "id") -> list[dict[str, str]]:
    """`<collection>_links` with the next page's URL when this page is full."""
    if limit is None or not rows or len(rows) < limit:
        return []
    import urllib.parse
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "marker"]
    params.append(("marker", str(getattr(rows[-1], key))))
    href = f"{base_url(request)}/v3/{project_of(request, ctx)}/{collection}?{urllib.parse.urlencode(params)}"
    return [{"href": href, "rel": "next"}]


def paginate(request: Request, rows: list[Any], *, default_limit: int | None = None,
             key: str = "id") -> tuple[list[Any], int | None]:
    """limit/marker over an already sorted list: Cinder's 400s for a bad limit, 404 for a bad marker."""
    params = request.query_params
    limit: int | None = default_limit
    if "limit" in params:
        try:
            limit = int(params["limit"])
        except ValueError:
            raise errors.BadRequest("Invalid input received: limit param must be an integer") from None
        if limit < 0:
            raise errors.BadRequest("Invalid input received: limit param must be positive")
    max_limit = svc(request).conf.volume.osapi_max_limit
    if limit is None or limit > max_limit:
        limit = None if limit is None and len(rows) <= max_limit else max_limit
    start = 0
    if "offset" in params:
        try:
            start = int(params["offset"])
        except ValueError:
            raise errors.BadRequest("Invalid input received: offset param must be an integer") from None
        if start < 0:
            raise errors.BadRequest("Invalid input received: offset param must be positive")
    marker = params.get("marker")
    if marker:
        for index, row in enumerate(rows):
            if str(getattr(row, key)) == marker:
                start += index + 1
                break
        else:
            raise errors.NotFound(f"Marker {marker} could not be found.")
    end = len(rows) if limit is None else start + limit
    return rows[start:end], limit


def sort_rows(request: Request, rows: list[Any], allowed: tuple[str, ...]) -> list[Any]:
    """`sort=key:dir,...` (or sort_key/sort_dir) over rows already read (types, group types)."""
    from monostack.volume.service.volumes import parse_sort
    keys = parse_sort(dict(request.query_params))
    for key, direction in reversed(keys):  # stable sorts, the last key first
        if key not in allowed:
            raise errors.BadRequest(f"Invalid input received: Invalid sort key {key}")
        rows = sorted(rows, key=lambda r: (getattr(r, key) is None, getattr(r, key) or ""),
                      reverse=direction == "desc")
    return rows


def isotime(value: datetime.datetime | None) -> str | None:
    """Cinder's timestamps: microseconds, no zone (2013-02-25T02:40:21.000000)."""
    if value is None:
        return None
    return value.strftime("%Y-%m-%dT%H:%M:%S.%f")


async def json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        raise errors.BadRequest("Missing request body.")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise errors.BadRequest("Malformed request body") from None
    if not isinstance(body, dict):
        raise errors.BadRequest("Malformed request body")
    return body


def entity(body: dict[str, Any], key: str) -> dict[str, Any]:
    """The body's `key` object, or Cinder's 400."""
    value = body.get(key)
    if not isinstance(value, dict):
        raise errors.BadRequest(f"Missing required element '{key}' in request body.")
    return value


def validate(body: Any, schema: dict[str, Any]) -> None:
    """Cinder validates bodies with JSON Schema; its 400 names the field and the rule broken."""
    from monostack.common.validation import error as schema_error

    error = schema_error(schema, body)
    if error is None:
        return
    path = "/".join(str(p) for p in error.path)
    raise errors.BadRequest(f"Invalid input for field/attribute {path or 'body'}. Value: {error.instance}. "
                            f"{error.message}")


# Schema pieces Cinder uses (cinder/api/validation/parameter_types.py).
NAME = {"type": ["string", "null"], "maxLength": 255}
DESCRIPTION = {"type": ["string", "null"], "maxLength": 255}
METADATA = {"type": ["object", "null"], "patternProperties": {"^[a-zA-Z0-9-_:. /]{1,255}$": {
    "type": "string", "maxLength": 255}}, "additionalProperties": False}
SIZE = {"type": ["integer", "string"], "pattern": "^[0-9]+$", "minimum": 1, "maximum": 2147483647}
BOOL = {"type": ["boolean", "string"], "enum": [True, False, "True", "False", "true", "false", "TRUE", "FALSE",
                                                "1", "0", "yes", "no", "y", "n", "on", "off", "t", "f"]}


def size_of(value: Any, field: str = "size") -> int:
    """A size Cinder accepts (integer, or a string of digits), >= 1."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise errors.BadRequest(f"Invalid input for field/attribute {field}. Value: {value}. {value!r} is not "
                                f"of type 'integer', 'string'")
    if isinstance(value, str):
        if not value.isdigit():
            raise errors.BadRequest(f"Invalid input for field/attribute {field}. Value: {value}. {value!r} does "
                                    f"not match '^[0-9]+$'")
        value = int(value)
    if value < 1:
        raise errors.BadRequest(f"Invalid input for field/attribute {field}. Value: {value}. {value} is less than "
                                f"the minimum of 1")
    if value > 2147483647:
        raise errors.BadRequest(f"Invalid input for field/attribute {field}. Value: {value}. {value} is greater "
                                f"than the maximum of 2147483647")
    return value
