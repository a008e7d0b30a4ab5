"""Small helpers shared by the identity managers: filters, extra attributes, booleans."""

from __future__ import annotations

import datetime as dt
from typing import Any, Iterable

from monostack.common import errors

_FALSE_QUERY = {"0", "false", "f", "n", "no", "off"}


def is_truthy(value: Any, field: str) -> bool:
    """A boolean from a JSON body: only real booleans are accepted (Keystone's schema)."""
    if isinstance(value, bool):
        return value
    raise errors.ValidationError(f"Invalid input for field '{field}': {value!r} is not of type 'boolean'.")


def query_bool(value: str | bool) -> bool:
    """A boolean from a query string, as Keystone reads them."""
    if isinstance(value, bool):
        return value
    return value.strip().lower() not in _FALSE_QUERY


def extra_fields(ref: dict[str, Any], known: set[str]) -> dict[str, Any]:
    """Attributes Keystone stores and returns although it does not know them."""
    return {k: v for k, v in ref.items() if k not in known and k != "links"}


def flatten_extra(data: dict[str, Any], extra: dict[str, Any] | None) -> dict[str, Any]:
    if extra:
        for key, value in extra.items():
            data.setdefault(key, value)
    return data


def _match(actual: Any, op: str, wanted: str) -> bool:
    if isinstance(actual, bool):
        return actual == query_bool(wanted)
    if actual is None:
        return op == "eq" and wanted in ("", "None", "null")
    actual_s = str(actual)
    if op == "eq":
        return actual_s == wanted
    if op == "contains":
        return wanted in actual_s
    if op == "icontains":
        return wanted.lower() in actual_s.lower()
    if op == "startswith":
        return actual_s.startswith(wanted)
    if op == "istartswith":
        return actual_s.lower().startswith(wanted.lower())
    if op == "endswith":
        return actual_s.endswith(wanted)
    if op == "iendswith":
        return actual_s.lower().endswith(wanted.lower())
    if op == "iexact":
        return actual_s.lower() == wanted.lower()
    return False


def apply_filters(items: list[dict[str, Any]], filters: dict[str, Any], fields: Iterable[str]) -> list[dict[str, Any]]:
    """Keystone's list filters: `name=x`, `name__contains=x`, `enabled=false`, ..."""
    checks = []
    fields = set(fields)
    for key, value in filters.items():
        if value is None:
            continue
        field, _, op = key.partition("__")
        if field in fields:
            checks.append((field, op or "eq", value))
    if not checks:
        return items
    return [item for item in items if all(_match(item.get(f), op, v) for f, op, v in checks)]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def parse_time(value: Any, field: str) -> dt.datetime | None:
    """An ISO 8601 timestamp from a request, as naive UTC."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise errors.ValidationError(f"Invalid input for field '{field}': not a timestamp.")
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise errors.ValidationError(f"Invalid input for field '{field}': {value!r} is not an ISO 8601 time.") from exc
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return parsed
