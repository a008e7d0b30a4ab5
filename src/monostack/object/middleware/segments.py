"""Serving a large object (SLO or DLO) from its segments: conditional requests and
ranges (single and multiple) over the whole, each segment fetched through the
pipeline as the caller (so segment ACLs apply), checked against what the
manifest says it is."""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Any, AsyncIterator

from monostack.object.proxy.http import (Request, Response, content_range, error, multipart_headers,
                                         multipart_length, new_boundary, parse_http_date, parse_range,
                                         ranges_for_length, conditional_status)

LOG = logging.getLogger(__name__)


class SegmentError(Exception):
    """A segment is missing or not what the manifest says: the download cannot go on."""


@dataclasses.dataclass
class Segment:
    path: str  # /v1/<account>/<container>/<object>
    length: int  # bytes of the large object this segment gives
    offset: int = 0  # where in the segment object they start (a ranged SLO segment)
    etag: str | None = None  # expected etag of the whole segment object
    size: int | None = None  # expected size of the whole segment object
    data: bytes | None = None  # an inline SLO data segment


async def iter_segments(app: Any, req: Request, segments: list[Segment], start: int, stop: int,
                        deadline: float, source: str) -> AsyncIterator[bytes]:
    """The bytes [start, stop) of the concatenation of the segments."""
    position = 0
    for seg in segments:
        seg_start, seg_stop = position, position + seg.length
        position = seg_stop
        if seg_stop <= start or seg.length == 0:
            continue
        if seg_start >= stop:
            break
        first = max(start, seg_start) - seg_start
        last = min(stop, seg_stop) - seg_start  # exclusive, within the segment's bytes
        if seg.data is not None:
            yield seg.data[first:last]
            continue
        if time.monotonic() > deadline:
            raise SegmentError("max LO GET time exceeded")
        whole = seg.offset == 0 and first == 0 and last == seg.length and \
            (seg.size is None or seg.size == seg.length)
        headers = {}
        if not whole:
            headers["range"] = f"bytes={seg.offset + first}-{seg.offset + last - 1}"
        sub = req.sub("GET", seg.path, headers, source=source)
        resp = await app(sub)
        if not resp.is_success:
            await resp.close()
            raise SegmentError(f"got {resp.status} while retrieving {seg.path}")
        if whole and seg.etag and resp.headers.get("etag", "").strip('"') != seg.etag:
            await resp.close()
            raise SegmentError(f"object segment no longer valid: {seg.path} etag: "
                               f"{resp.headers.get('etag')} != {seg.etag}")
        if whole and seg.size is not None and resp.headers.get("content-length") not in (None, str(seg.size)):
            await resp.close()
            raise SegmentError(f"object segment no longer valid: {seg.path} size: "
                               f"{resp.headers.get('content-length')} != {seg.size}")
        received = 0
        async for chunk in resp.iter_body():
            received += len(chunk)
            yield chunk
        if received != last - first:
            raise SegmentError(f"segment {seg.path} gave {received} bytes, expected {last - first}")


def large_object_response(app: Any, req: Request, headers: dict[str, str], segments: list[Segment], total: int,
                          etag: str, source: str, max_time: float) -> Response:
    """The response for a GET or HEAD of a large object, as swob would build it."""
    headers = dict(headers)
    headers.pop("content-range", None)
    headers["etag"] = f'"{etag}"'
    headers["content-length"] = str(total)
    headers["accept-ranges"] = "bytes"
    last_modified = parse_http_date(headers.get("last-modified", ""))
    cond = conditional_status(req.headers, etag, last_modified)
    if cond is not None:
        headers["content-length"] = "0"
        if cond == 412:
            return error(412, headers={k: v for k, v in headers.items() if k not in ("content-type",)})
        return Response(cond, headers, b"")
    deadline = time.monotonic() + max_time
    if req.method == "HEAD":
        return Response(200, headers, b"")
    ranges = parse_range(req.headers.get("range"))
    if ranges is not None and total > 0:
        spans = ranges_for_length(ranges, total)
        if not spans:
            resp = error(416, headers={"content-range": f"bytes */{total}"})
            return resp
        if len(spans) == 1:
            begin, end = spans[0]
            headers["content-range"] = content_range(begin, end, total)
            headers["content-length"] = str(end - begin)
            return Response(206, headers, iter_segments(app, req, segments, begin, end, deadline, source))
        boundary = new_boundary()
        content_type = headers.get("content-type", "application/octet-stream")
        headers["content-type"] = f"multipart/byteranges;boundary={boundary}"
        headers["content-length"] = str(multipart_length(boundary, content_type, spans, total))

        async def parts() -> AsyncIterator[bytes]:
            for begin, end in spans:
                yield multipart_headers(boundary, content_type, begin, end, total)
                async for chunk in iter_segments(app, req, segments, begin, end, deadline, source):
                    yield chunk
                yield b"\r\n"
            yield f"--{boundary}--".encode()

        return Response(206, headers, parts())
    return Response(200, headers, iter_segments(app, req, segments, 0, total, deadline, source))
