"""Swift's constraints on names, metadata and objects (the values /info publishes)."""

from __future__ import annotations

import mimetypes
import time

from monostack.object.proxy.http import HTTPError, Request, Response, plain, unwire

MAX_FILE_SIZE = 5368709122
MAX_META_NAME_LENGTH = 128
MAX_META_VALUE_LENGTH = 256
MAX_META_COUNT = 90
MAX_META_OVERALL_SIZE = 4096
MAX_HEADER_SIZE = 8192
MAX_REQUEST_LINE = 8192
MAX_OBJECT_NAME_LENGTH = 1024
CONTAINER_LISTING_LIMIT = 10000
ACCOUNT_LISTING_LIMIT = 10000
MAX_ACCOUNT_NAME_LENGTH = 256
MAX_CONTAINER_NAME_LENGTH = 256
VALID_API_VERSIONS = ["v1", "v1.0"]
EXTRA_HEADER_COUNT = 0
AUTO_CREATE_ACCOUNT_PREFIX = "."

CONSTRAINTS = {
    "max_file_size": MAX_FILE_SIZE,
    "max_meta_name_length": MAX_META_NAME_LENGTH,
    "max_meta_value_length": MAX_META_VALUE_LENGTH,
    "max_meta_count": MAX_META_COUNT,
    "max_meta_overall_size": MAX_META_OVERALL_SIZE,
    "max_header_size": MAX_HEADER_SIZE,
    "max_request_line": MAX_REQUEST_LINE,
    "max_object_name_length": MAX_OBJECT_NAME_LENGTH,
    "container_listing_limit": CONTAINER_LISTING_LIMIT,
    "account_listing_limit": ACCOUNT_LISTING_LIMIT,
    "max_account_name_length": MAX_ACCOUNT_NAME_LENGTH,
    "max_container_name_length": MAX_CONTAINER_NAME_LENGTH,
    "valid_api_versions": VALID_API_VERSIONS,
    "extra_header_count": EXTRA_HEADER_COUNT,
    "auto_create_account_prefix": AUTO_CREATE_ACCOUNT_PREFIX,
}
EXPIRING_OBJECTS_ACCOUNT = ".expiring_objects"


def valid_utf8(text: str) -> bool:
    """A name is valid when it is non-empty, has no NUL and no surrogates."""
    if not text or "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeError:
        return False
    return True


def check_metadata(req: Request, target: str) -> Response | None:
    """400 for metadata Swift refuses (names, values, counts, total size)."""
    prefix = f"x-{target}-meta-"
    count = 0
    size = 0
    for key, value in req.headers.items():
        if len(value) > MAX_HEADER_SIZE:
            return plain(400, f"Header value too long: {key[:MAX_META_NAME_LENGTH]}")
        if not key.startswith(prefix):
            continue
        name = key[len(prefix):]
        if not name:
            return plain(400, "Metadata name cannot be empty")
        if target in ("account", "container"):
            try:
                unwire(name)
                unwire(value)
            except UnicodeError:
                return plain(400, "Metadata must be valid UTF-8")
        count += 1
        size += len(name) + len(value)
        if len(name) > MAX_META_NAME_LENGTH:
            return plain(400, f"Metadata name too long: {prefix}{name}")
        if len(value) > MAX_META_VALUE_LENGTH:
            return plain(400, f"Metadata value longer than {MAX_META_VALUE_LENGTH}: {prefix}{name}")
        if count > MAX_META_COUNT:
            return plain(400, f"Too many metadata items; max {MAX_META_COUNT}")
        if size > MAX_META_OVERALL_SIZE:
            return plain(400, f"Total metadata too large; max {MAX_META_OVERALL_SIZE}")
    return None


def check_delete_headers(req: Request, now: float | None = None) -> None:
    """X-Delete-After becomes X-Delete-At; both must be integers in the future (400 otherwise)."""
    now = float(req.headers.get("x-timestamp") or now or time.time())
    if "x-delete-after" in req.headers:
        try:
            after = int(req.headers["x-delete-after"])
        except ValueError:
            raise HTTPError(plain(400, "Non-integer X-Delete-After")) from None
        at = int(now + after)
        if at <= now:
            raise HTTPError(plain(400, "X-Delete-After in past"))
        req.headers["x-delete-at"] = str(at)
        del req.headers["x-delete-after"]
    if "x-delete-at" in req.headers:
        try:
            at = int(req.headers["x-delete-at"])
        except ValueError:
            raise HTTPError(plain(400, "Non-integer X-Delete-At")) from None
        if at <= now:
            raise HTTPError(plain(400, "X-Delete-At in past"))
        req.headers["x-delete-at"] = f"{at:010d}" if at < 10 ** 10 else str(at)


def update_content_type(req: Request, object_name: str) -> None:
    """A missing Content-Type (or X-Detect-Content-Type: true) is guessed from the name."""
    detect = req.headers.get("x-detect-content-type", "").lower() in ("1", "true", "yes", "on", "t", "y")
    if detect or not req.headers.get("content-type"):
        guessed, _ = mimetypes.guess_type(object_name)
        req.headers["content-type"] = guessed or "application/octet-stream"
        req.headers.pop("x-detect-content-type", None)


def check_object_creation(req: Request, object_name: str) -> Response | None:
    length = req.content_length
    if length is not None and length > MAX_FILE_SIZE:
        return plain(413, "Your request is too large.")
    te = req.headers.get("transfer-encoding")
    if te is not None and te.lower() not in ("chunked", "identity"):
        return plain(501, "Unsupported Transfer-Coding header value specified in Transfer-Encoding header")
    if length is None and not req.chunked:
        return plain(411, "Missing Content-Length header.")
    if len(object_name) > MAX_OBJECT_NAME_LENGTH:
        return plain(400, f"Object name length of {len(object_name)} longer than {MAX_OBJECT_NAME_LENGTH}")
    if "content-type" not in req.headers:
        return plain(400, "No content type")
    check_delete_headers(req)
    try:
        content_type = unwire(req.headers["content-type"])
    except UnicodeError:
        return plain(400, "Invalid Content-Type")
    if not valid_utf8(content_type):
        return plain(400, "Invalid Content-Type")
    if ";" in content_type and not req.environ.get("swift.content_type_overridden"):
        for param in content_type.split(";")[1:]:
            if param.lstrip().startswith("swift_"):
                return plain(400, "Invalid Content-Type, swift_* is not a valid parameter name.")
    return check_metadata(req, "object")
