"""Request-checking pieces the Compute API modules share: Nova's JSON Schema
parameter types (names, booleans, integers, metadata, tags), query-string
checks, limit/marker pages and the 404 of a route a microversion lacks."""

from __future__ import annotations

import datetime
from typing import Any, Callable, Sequence

from fastapi import Request

from monostack.common import errors, pagination
from monostack.compute.api import common

# Nova's [api] max_limit: the largest page a list returns.
MAX_LIMIT = 1000

# Printable characters, not starting or ending with whitespace (Nova's "name" format).
_CONTROL = r"\x00-\x1f\x7f-\x9f\u2028\u2029"
NAME_PATTERN = rf"^(?![\s{_CONTROL}])[^{_CONTROL}]*(?<![\s{_CONTROL}])$"
AZ_NAME_PATTERN = rf"^(?![\s{_CONTROL}])[^:{_CONTROL}]*(?<![\s{_CONTROL}])$"

name = {"type": "string", "minLength": 1, "maxLength": 255, "pattern": NAME_PATTERN}
az_name = {"type": "string", "minLength": 1, "maxLength": 255, "pattern": AZ_NAME_PATTERN}
description = {"type": ["string", "null"], "minLength": 0, "maxLength": 255, "pattern": rf"^[^{_CONTROL}]*$"}

_TRUE = ("True", "TRUE", "true", "1", "ON", "On", "on", "YES", "Yes", "yes", "y", "t")
_FALSE = ("False", "FALSE", "false", "0", "OFF", "Off", "off", "NO", "No", "no", "n", "f")
boolean = {"type": ["boolean", "string"],
           "enum": [True, False, *(v for v in _TRUE + _FALSE if v not in ("y", "t", "n", "f"))]}

positive_integer = {"type": ["integer", "string"], "pattern": "^[0-9]*$", "minimum": 1, "minLength": 1}
non_negative_integer = {"type": ["integer", "string"], "pattern": "^[0-9]*$", "minimum": 0, "minLength": 1}
fqdn = {"type": "string", "pattern": "^[a-zA-Z0-9-._]*$", "minLength": 1, "maxLength": 255}

METADATA_KEY = "^[a-zA-Z0-9-_:. ]{1,255}$"
metadata = {"type": "object", "patternProperties": {METADATA_KEY: {"type": "string", "maxLength": 255}},
            "additionalProperties": False}
metadata_with_null = {"type": "object",
                      "patternProperties": {METADATA_KEY: {"type": ["string", "null"], "maxLength": 255}},
                      "additionalProperties": False}

MAX_TAG_LENGTH = 60
MAX_TAG_COUNT = 50
tag = {"type": "string", "pattern": "^[^,/]*$", "minLength": 1, "maxLength": MAX_TAG_LENGTH}


def to_bool(value: Any, *, strict: bool = False, field: str = "value") -> bool:
    """oslo's bool_from_string: strict raises 400 for anything not boolean-like."""
    if isinstance(value, bool):
        return value
    text = str(value).strip()
    if text.lower() in {v.lower() for v in _TRUE}:
        return True
    if text.lower() in {v.lower() for v in _FALSE} or not strict:
        return False
    raise errors.BadRequest(f"Invalid value '{value}' for {field}: it must be a boolean-like string")


def require_version(request: Request, minimum: str, maximum: str | None = None) -> None:
    """Routes a microversion does not have are Nova's plain 404."""
    if not common.version(request).matches(minimum=minimum, maximum=maximum):
        raise errors.NotFound("The resource could not be found.")


def check_query(request: Request, allowed: set[str], *, strict_from: str | None = "2.75") -> None:
    """From `strict_from` on, Nova answers unknown query parameters with 400 (before: ignored)."""
    if strict_from is None or not common.at_least(request, strict_from):
        return
    unknown = sorted({k for k in request.query_params.keys() if k not in allowed})
    if unknown:
        names = ", ".join(f"'{k}'" for k in unknown)
        verb = "were" if len(unknown) > 1 else "was"
        raise errors.BadRequest(f"Invalid input for query parameters {unknown[0]}. Value: "
                                f"{request.query_params.get(unknown[0])}. Additional properties are not "
                                f"allowed ({names} {verb} unexpected)")


def query_value(request: Request, key: str) -> str | None:
    """The first value of a query parameter (Nova reads `req.GET[key]`, i.e. one of them)."""
    values = request.query_params.getlist(key)
    return values[0] if values else None


def validate_integer(value: Any, field: str, *, minimum: int | None = None) -> int:
    """Nova's utils.validate_integer (400 "Invalid input received: ...")."""
    try:
        number = int(str(value))
    except (TypeError, ValueError):
        raise errors.BadRequest(f"Invalid input received: {field} must be an integer") from None
    if minimum is not None and number < minimum:
        raise errors.BadRequest(f"Invalid input received: {field} must be >= {minimum}")
    return number


def page_request(request: Request) -> pagination.PageRequest:
    """limit (a non-negative integer; 0 or absent: the maximum) and marker."""
    limit_text = query_value(request, "limit")
    limit = MAX_LIMIT
    if limit_text is not None:
        limit = validate_integer(limit_text, "limit", minimum=0) or MAX_LIMIT
    return pagination.PageRequest(limit=min(limit, MAX_LIMIT), marker=query_value(request, "marker"))


def offset_limit(request: Request, items: Sequence[Any]) -> list[Any]:
    """Nova's `limited`: offset and limit (no marker) over a list."""
    offset = validate_integer(query_value(request, "offset") or 0, "offset", minimum=0)
    limit_text = query_value(request, "limit")
    limit = MAX_LIMIT
    if limit_text is not None:
        limit = min(validate_integer(limit_text, "limit", minimum=0) or MAX_LIMIT, MAX_LIMIT)
    return list(items[offset:offset + limit])


def next_links(request: Request, collection: str, page: pagination.PageRequest, items: Sequence[Any],
               key: Callable[[Any], str]) -> list[dict[str, str]]:
    """The `<collection>_links` of a full page: a `next` link whose marker is the last item."""
    if not items or page.limit is None or len(items) != page.limit:
        return []
    return common.collection_next(request, collection, key(items[-1]), page.limit)


def parse_isotime(value: str, field: str) -> datetime.datetime:
    """An ISO 8601 time from the query (changes-since, ...), as naive UTC; 400 if malformed."""
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise errors.BadRequest(f"Invalid input for query parameters {field}. Value: {value}. "
                                f"'{value}' is not a 'date-time'") from None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    return parsed
