"""The proxy's own small HTTP layer: requests, responses, bodies, Swift's error pages.

The proxy is a chain of middlewares in front of the controllers, as Swift's
WSGI pipeline is, but asynchronous: every layer is `async (Request) -> Response`,
and a middleware that needs another object (an SLO segment, a copy source, a
version) makes a sub-request through the layers below it.  Header names are
kept lower case; header values are "wire strings" (the bytes decoded as
latin-1, as WSGI does), so metadata round-trips byte for byte.  Paths are real
(UTF-8 decoded) strings.
"""

from __future__ import annotations

import email.utils
import random
import time
import urllib.parse
from typing import Any, AsyncIterator, Awaitable, Callable

Handler = Callable[["Request"], Awaitable["Response"]]

# Swift's reason phrases and default explanations (the body of an error page).
REASONS: dict[int, tuple[str, str]] = {
    100: ("Continue", ""), 200: ("OK", ""), 201: ("Created", ""),
    202: ("Accepted", "The request is accepted for processing."), 204: ("No Content", ""),
    206: ("Partial Content", ""), 301: ("Moved Permanently", "The resource has moved permanently."),
    302: ("Found", "The resource has moved temporarily."), 304: ("Not Modified", ""),
    307: ("Temporary Redirect", "The resource has moved temporarily."),
    400: ("Bad Request", "The server could not comply with the request since it is either malformed or "
          "otherwise incorrect."),
    401: ("Unauthorized", "This server could not verify that you are authorized to access the document you "
          "requested."),
    402: ("Payment Required", "Access was denied for financial reasons."),
    403: ("Forbidden", "Access was denied to this resource."),
    404: ("Not Found", "The resource could not be found."),
    405: ("Method Not Allowed", "The method is not allowed for this resource."),
    406: ("Not Acceptable", "The resource is not available in a format acceptable to your browser."),
    408: ("Request Timeout", "The server has waited too long for the request to be sent by the client."),
    409: ("Conflict", "There was a conflict when trying to complete your request."),
    410: ("Gone", "This resource is no longer available."),
    411: ("Length Required", "Content-Length header required."),
    412: ("Precondition Failed", "A precondition for this request was not met."),
    413: ("Request Entity Too Large", "The body of your request was too large for this server."),
    414: ("Request URI Too Long", "The request URI was too long for this server."),
    415: ("Unsupported Media Type", "The request media type is not supported by this server."),
    416: ("Requested Range Not Satisfiable", "The Range requested is not available."),
    417: ("Expectation Failed", "Expectation failed."),
    422: ("Unprocessable Entity", "Unable to process the contained instructions"),
    499: ("Client Disconnect", "The client was disconnected during request."),
    500: ("Internal Error", "The server has either erred or is incapable of performing the requested "
          "operation."),
    501: ("Not Implemented", "The requested method is not implemented by this server."),
    502: ("Bad Gateway", "Bad gateway."),
    503: ("Service Unavailable", "The server is currently unavailable. Please try again at a later time."),
    504: ("Gateway Timeout", "A timeout has occurred speaking to a backend server."),
    507: ("Insufficient Storage", "There was not enough space to save the resource. Drive: unknown"),
}

HTML = "text/html; charset=UTF-8"
PLAIN = "text/plain"



def unwire(value: str) -> str:
    """A header value back to a real string; UnicodeError when it is not UTF-8."""
    return value.encode("latin-1").decode("utf-8")


def quote(path: str, safe: str = "/") -> str:
    return urllib.parse.quote(path, safe=safe)


class ClientDisconnect(Exception):
    """The client went away (or sent less than it announced) while we read its body."""


class ClientTimeout(ClientDisconnect):
    """The client stopped sending its body for longer than the client timeout (408)."""


class HTTPError(Exception):
    """Raised anywhere below the entry point to answer with this response."""

    def __init__(self, response: "Response"):
        super().__init__(response.status)
        self.response = response


class Body:
    """A request body: chunks from the client or a middleware, read once."""

    __slots__ = ("_source", "_data", "consumed")

    def __init__(self, source: AsyncIterator[bytes] | None = None, data: bytes | None = None):
        self._source = source
        self._data = data
        self.consumed = False

    @classmethod
    def empty(cls) -> "Body":
        return cls(data=b"")

    async def chunks(self) -> AsyncIterator[bytes]:
        self.consumed = True
        if self._data is not None:
            if self._data:
                yield self._data
            return
        if self._source is not None:
            async for chunk in self._source:
                if chunk:
                    yield chunk

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self.chunks()

    async def read(self, limit: int | None = None) -> bytes:
        """All of it; HTTPError 413 beyond `limit` bytes."""
        if self._data is not None:
            self.consumed = True
            if limit is not None and len(self._data) > limit:
                raise HTTPError(error(413))
            return self._data
        parts = []
        size = 0
        async for chunk in self.chunks():
            size += len(chunk)
            if limit is not None and size > limit:
                raise HTTPError(error(413))
            parts.append(chunk)
        return b"".join(parts)


class Request:
    """One request through the proxy (a client's, or a sub-request of a middleware)."""

    __slots__ = ("method", "path", "query_string", "headers", "body", "environ", "_params", "_split")

    def __init__(self, method: str, path: str, query_string: str = "", headers: dict[str, str] | None = None,
                 body: Body | None = None, environ: dict[str, Any] | None = None):
        self.method = method
        self.path = path
        self.query_string = query_string
        self.headers = headers if headers is not None else {}
        self.body = body if body is not None else Body.empty()
        self.environ = environ if environ is not None else {}
        self._params: dict[str, str] | None = None
        self._split: dict[tuple, list[str | None]] = {}

    # -- query ---------------------------------------------------------------------
    @property
    def params(self) -> dict[str, str]:
        if self._params is None:
            # Bytes that are not UTF-8 stay as surrogates: whoever reads the parameter refuses them (400).
            self._params = dict(urllib.parse.parse_qsl(self.query_string, keep_blank_values=True,
                                                       errors="surrogateescape"))
        return self._params

    def set_params(self, params: dict[str, str]) -> None:
        self._params = dict(params)
        self.query_string = urllib.parse.urlencode(self._params, quote_via=urllib.parse.quote)

    # -- path ----------------------------------------------------------------------
    def split_path(self, minsegs: int = 1, maxsegs: int | None = None,
                   rest_with_last: bool = False) -> list[str | None]:
        """Swift's split_path of this request's path (every middleware asks: remembered per path)."""
        key = (self.path, minsegs, maxsegs, rest_with_last)
        hit = self._split.get(key)
        if hit is None:
            hit = self._split[key] = split_path(self.path, minsegs, maxsegs, rest_with_last)
        return list(hit)

    @property
    def content_length(self) -> int | None:
        value = self.headers.get("content-length")
        if value is None:
            return None
        try:
            length = int(value)
        except ValueError:
            raise HTTPError(error(400, "Invalid Content-Length header value", content_type=PLAIN)) from None
        if length < 0:
            raise HTTPError(error(400, "Invalid Content-Length", content_type=PLAIN))
        return length

    @property
    def chunked(self) -> bool:
        return "chunked" in self.headers.get("transfer-encoding", "").lower()

    @property
    def url_root(self) -> str:
        """scheme://host[:port]<mount> as the client reached us."""
        return self.environ.get("url_root", "")

    @property
    def remote_user(self) -> Any:
        return self.environ.get("remote_user")

    def copy_environ(self) -> dict[str, Any]:
        """The environment a sub-request inherits: who asks, and the hooks that authorize it."""
        keep = ("swift.authorize", "swift.authorize_override", "keystone.identity", "remote_user",
                "reseller_request", "swift.context", "url_root", "client_addr", "swift.trans_id",
                "swift.infocache")
        return {k: self.environ[k] for k in keep if k in self.environ}

    def sub(self, method: str, path: str, headers: dict[str, str] | None = None, body: Body | bytes | None = None,
            query_string: str = "", source: str = "", keep_auth: bool = True, pre_authed: bool = False) -> "Request":
        """A sub-request: as the caller (keep_auth), as nobody in particular (straight to the proxy
        server, below the auth layer), or allowed whatever it is (pre_authed: the caller proved
        its right another way, e.g. a signed form)."""
        environ = self.copy_environ() if keep_auth else {
            k: self.environ[k] for k in ("url_root", "client_addr", "swift.trans_id", "swift.context",
                                         "swift.infocache") if k in self.environ}
        if pre_authed:
            environ["swift.authorize"] = allow_all
            environ["swift.authorize_override"] = True
        environ["swift.source"] = source
        if isinstance(body, (bytes, bytearray)):
            body = Body(data=bytes(body))
        headers = dict(headers or {})
        if keep_auth and "x-auth-token" in self.headers:
            # Made above the auth layer (bulk): the sub-request proves who it is the same way.
            headers.setdefault("x-auth-token", self.headers["x-auth-token"])
        return Request(method, path, query_string, headers, body, environ)


async def allow_all(_req: "Request") -> None:
    return None


class Response:
    """Status, headers (lower-case names) and a body: bytes, or an async iterator of chunks."""

    __slots__ = ("status", "headers", "body", "_close", "reason", "_file")

    def __init__(self, status: int = 200, headers: dict[str, str] | None = None,
                 body: bytes | AsyncIterator[bytes] | None = b"", close: Callable[[], Any] | None = None,
                 reason: str | None = None, file: Any = None):
        self.status = status
        self.headers = headers if headers is not None else {}
        self.body = body if body is not None else b""
        self._close = close
        self.reason = reason
        # A storage server's FileBody holding exactly the bytes of `body` (a local replica), for a
        # zero-copy send; tied to this body object, so a layer that replaces the body drops it.
        self._file = (file, self.body) if file is not None else None

    @property
    def file(self) -> Any:
        """The FileBody to send instead of iterating `body`, while `body` is still its bytes."""
        if self._file is not None and self._file[1] is self.body:
            return self._file[0]
        return None

    @property
    def is_success(self) -> bool:
        return 200 <= self.status < 300

    async def read(self) -> bytes:
        """The whole body (for small bodies: listings, manifests, errors)."""
        if isinstance(self.body, (bytes, bytearray)):
            return bytes(self.body)
        parts = []
        try:
            async for chunk in self.body:
                parts.append(chunk)
        finally:
            await self.close()
        self.body = b"".join(parts)
        return self.body

    async def iter_body(self) -> AsyncIterator[bytes]:
        if isinstance(self.body, (bytes, bytearray)):
            if self.body:
                yield bytes(self.body)
            return
        try:
            async for chunk in self.body:
                yield chunk
        finally:
            await self.close()

    async def close(self) -> None:
        """Release what produces the body (a backend connection) without reading it."""
        close, self._close = self._close, None
        if close is not None:
            result = close()
            if hasattr(result, "__await__"):
                await result
        if not isinstance(self.body, (bytes, bytearray)) and hasattr(self.body, "aclose"):
            await self.body.aclose()  # type: ignore[union-attr]

    def set_body(self, body: bytes) -> None:
        self.body = body
        self.headers["content-length"] = str(len(body))


def error(status: int, body: str | bytes | None = None, headers: dict[str, str] | None = None,
          content_type: str | None = None) -> Response:
    """Swift's response for a status: its HTML explanation unless a body is given."""
    out = {"content-type": content_type or HTML}
    if headers:
        out.update(headers)
    if body is None:
        title, explanation = REASONS.get(status, ("Unknown", ""))
        data = f"<html><h1>{title}</h1><p>{explanation}</p></html>".encode() if explanation else b""
    else:
        data = body.encode("utf-8") if isinstance(body, str) else body
    out["content-length"] = str(len(data))
    return Response(status, out, data)


def plain(status: int, text: str) -> Response:
    """An error with a plain-text explanation, as Swift's constraint checks give."""
    return error(status, text, content_type=PLAIN)


def split_path(path: str, minsegs: int = 1, maxsegs: int | None = None,
               rest_with_last: bool = False) -> list[str | None]:
    """Swift's split_path: '/v1/a/c/o' -> ['v1', 'a', 'c', 'o'], ValueError when malformed."""
    if not maxsegs:
        maxsegs = minsegs
    if minsegs > maxsegs:
        raise ValueError("minsegs > maxsegs")
    if rest_with_last:
        segs = path.split("/", maxsegs)
        minsegs += 1
        maxsegs += 1
        count = len(segs)
        if segs[0] or count < minsegs or count > maxsegs or "" in segs[1:minsegs]:
            raise ValueError(f"Invalid path: {quote(path)}")
    else:
        minsegs += 1
        maxsegs += 1
        segs = path.split("/", maxsegs)
        count = len(segs)
        if (segs[0] or count < minsegs or count > maxsegs + 1 or "" in segs[1:minsegs]
                or (count == maxsegs + 1 and segs[maxsegs])):
            raise ValueError(f"Invalid path: {quote(path)}")
    result: list[str | None] = list(segs[1:maxsegs])
    result.extend([None] * (maxsegs - 1 - len(result)))
    return result


# -- timestamps ------------------------------------------------------------------------
def timestamp_now() -> str:
    """Swift's normalized X-Timestamp: 10 digits, a dot, 5 digits."""
    return f"{time.time():016.5f}"


def normalize_timestamp(value: str | float) -> str:
    return f"{float(value):016.5f}"


def http_date(epoch: float) -> str:
    return email.utils.formatdate(epoch, usegmt=True)


def last_modified_from_timestamp(ts: str | float) -> str:
    """Last-Modified is the X-Timestamp rounded up to the second (as Swift does)."""
    value = float(ts)
    whole = int(value)
    return http_date(whole if value == whole else whole + 1)


def parse_http_date(value: str) -> float | None:
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed is None:
        return None
    return parsed.timestamp()


# -- ranges ----------------------------------------------------------------------------
def parse_range(value: str | None) -> list[tuple[int | None, int | None]] | None:
    """'bytes=0-9,-5,10-' -> [(0, 9), (None, 5), (10, None)]; None when not a valid Range (ignored)."""
    if not value:
        return None
    unit, _, spec = value.partition("=")
    if unit.strip().lower() != "bytes" or not spec.strip():
        return None
    ranges: list[tuple[int | None, int | None]] = []
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        first, dash, last = part.partition("-")
        if not dash:
            return None
        first, last = first.strip(), last.strip()
        try:
            if first:
                start = int(first)
                end = int(last) if last else None
                if start < 0 or (end is not None and end < start):
                    return None
                ranges.append((start, end))
            elif last:
                suffix = int(last)
                if suffix < 0:
                    return None
                ranges.append((None, suffix))
            else:
                return None
        except ValueError:
            return None
    if not ranges or len(ranges) > 50:
        return None
    return ranges


def ranges_for_length(ranges: list[tuple[int | None, int | None]], length: int) -> list[tuple[int, int]]:
    """Satisfiable half-open [start, end) ranges for an entity of `length` bytes ([] means 416)."""
    result = []
    for start, end in ranges:
        if start is None:
            if end == 0:
                continue
            begin = max(0, length - (end or 0))
            if length == 0:
                continue
            result.append((begin, length))
        else:
            if start >= length:
                continue
            stop = length if end is None else min(end + 1, length)
            result.append((start, stop))
    return result


def content_range(start: int, stop: int, length: int) -> str:
    return f"bytes {start}-{stop - 1}/{length}"


def new_boundary() -> str:
    return f"{random.getrandbits(128):032x}"


def multipart_headers(boundary: str, content_type: str, start: int, stop: int, length: int) -> bytes:
    return (f"--{boundary}\r\nContent-Type: {content_type}\r\n"
            f"Content-Range: {content_range(start, stop, length)}\r\n\r\n").encode("latin-1")


def multipart_length(boundary: str, content_type: str, spans: list[tuple[int, int]], length: int) -> int:
    total = 0
    for start, stop in spans:
        total += len(multipart_headers(boundary, content_type, start, stop, length)) + (stop - start) + 2
    return total + len(boundary) + 4


# -- conditional requests -----------------------------------------------------------------
def _etag_list(value: str | None) -> list[str] | None:
    if value is None:
        return None
    return [tag.strip().strip('"') if tag.strip() != "*" else "*"
            for tag in value.split(",") if tag.strip()]


def conditional_status(headers: dict[str, str], etag: str | None, last_modified: float | None,
                       exists: bool = True) -> int | None:
    """304 or 412 when the request's conditions do not hold for this entity (swob's order)."""
    if_none_match = _etag_list(headers.get("if-none-match"))
    if_match = _etag_list(headers.get("if-match"))
    if not exists:
        return 412 if if_match is not None and "*" in if_match else None
    if etag and if_none_match is not None and (etag in if_none_match or "*" in if_none_match):
        return 304
    if etag and if_match is not None and etag not in if_match and "*" not in if_match:
        return 412
    if last_modified is not None:
        since = headers.get("if-modified-since")
        if since:
            when = parse_http_date(since)
            if when is not None and int(last_modified) <= when:
                return 304
        until = headers.get("if-unmodified-since")
        if until:
            when = parse_http_date(until)
            if when is not None and int(last_modified) > when:
                return 412
    return None
