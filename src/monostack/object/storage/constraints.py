"""Swift's limits, as the backend servers enforce them (the proxy checks them first for clients;
the servers check again: they must never store what the API would refuse)."""

from __future__ import annotations

import time

MAX_FILE_SIZE = 5368709122
MAX_META_NAME_LENGTH = 128
MAX_META_VALUE_LENGTH = 256
MAX_META_COUNT = 90
MAX_META_OVERALL_SIZE = 4096
MAX_HEADER_SIZE = 8192
MAX_OBJECT_NAME_LENGTH = 1024
CONTAINER_LISTING_LIMIT = 10000
ACCOUNT_LISTING_LIMIT = 10000
MAX_ACCOUNT_NAME_LENGTH = 256
MAX_CONTAINER_NAME_LENGTH = 256
AUTO_CREATE_ACCOUNT_PREFIX = "."
EXPIRING_OBJECTS_ACCOUNT = ".expiring_objects"
RESERVED = "\x00"

# Headers the object server keeps with an object besides its metadata (Swift's allowed_headers).
ALLOWED_HEADERS = frozenset(("content-disposition", "content-encoding", "x-delete-at", "x-object-manifest",
                             "x-static-large-object", "cache-control", "content-language", "expires",
                             "x-robots-tag"))


def _utf8(value: str) -> bool:
    try:
        value.encode("latin-1").decode("utf-8")
        return True
    except UnicodeError:
        return False


def check_metadata(headers: dict[str, str], target: str) -> str | None:
    """The problem with the X-<target>-Meta-* headers, or None."""
    prefix = f"x-{target}-meta-"
    count = size = 0
    for key, value in headers.items():
        if len(value) > MAX_HEADER_SIZE:
            return f"Header value too long: {key[:MAX_META_NAME_LENGTH]}"
        if not key.startswith(prefix):
            continue
        name = key[len(prefix):]
        if not name:
            return "Metadata name cannot be empty"
        if target in ("account", "container") and not (_utf8(name) and _utf8(value)):
            return "Metadata must be valid UTF-8"
        count += 1
        size += len(name) + len(value)
        if len(name) > MAX_META_NAME_LENGTH:
            return f"Metadata name too long: {prefix}{name}"
        if len(value) > MAX_META_VALUE_LENGTH:
            return f"Metadata value longer than {MAX_META_VALUE_LENGTH}: {prefix}{name}"
        if count > MAX_META_COUNT:
            return f"Too many metadata items; max {MAX_META_COUNT}"
        if size > MAX_META_OVERALL_SIZE:
            return f"Total metadata too large; max {MAX_META_OVERALL_SIZE}"
    return None


def check_delete_at(headers: dict[str, str], now: float | None = None, replication: bool = False) -> str | None:
    value = headers.get("x-delete-at")
    if value is None:
        return None
    try:
        delete_at = int(value)
    except ValueError:
        return "Non-integer X-Delete-At"
    if not replication and delete_at < (now if now is not None else time.time()):
        return "X-Delete-At in past"
    return None


def normalize_delete_at(value: float | int | str) -> str:
    return "%010d" % min(max(0, int(float(value))), 9999999999)
