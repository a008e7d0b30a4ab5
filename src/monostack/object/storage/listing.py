"""Container and account listings in Swift's three formats (plain text, JSON, XML), chosen by the
`format` query parameter or else the Accept header."""

from __future__ import annotations

import json
from typing import Any
from xml.etree.ElementTree import Element, SubElement, tostring

from monostack.object.storage.base import HTTPError, Request

FORMATS = {"plain": "text/plain", "json": "application/json", "xml": "application/xml"}
OFFERED = ("text/plain", "application/json", "application/xml", "text/xml")


def content_type(request: Request) -> str:
    fmt = request.params.get("format")
    accept = FORMATS.get(fmt.lower(), "text/plain") if fmt else request.headers.get("accept")
    if not accept:
        return "text/plain"
    best, best_q = None, 0.0
    try:
        ranges = []
        for part in accept.split(","):
            media, *params = [piece.strip() for piece in part.split(";")]
            if not media:
                continue
            if "/" not in media:
                raise ValueError(media)
            q = 1.0
            for param in params:
                key, _, value = param.partition("=")
                if key.strip().lower() == "q":
                    q = float(value)
            ranges.append((media.lower(), q))
    except ValueError:
        raise HTTPError(400, "Invalid Accept header", content_type="text/plain") from None
    for offered in OFFERED:
        kind = offered.split("/")[0]
        q, specificity = 0.0, -1
        for media, media_q in ranges:
            level = 2 if media == offered else 1 if media == f"{kind}/*" else 0 if media == "*/*" else -1
            if level > specificity:
                q, specificity = media_q, level
        if specificity >= 0 and q > best_q:
            best, best_q = offered, q
    if best is None:
        raise HTTPError(406)
    return best


def _xml(document: Element) -> bytes:
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + tostring(document, encoding="unicode").encode("utf-8")


def container_body(records: list[dict[str, Any]], container: str, out_type: str) -> bytes:
    if out_type.endswith("/json"):
        return json.dumps(records).encode("ascii")
    if out_type.endswith("/xml"):
        document = Element("container", name=container)
        for record in records:
            if "subdir" in record:
                sub = SubElement(document, "subdir", name=record["subdir"])
                SubElement(sub, "name").text = record["subdir"]
            else:
                sub = SubElement(document, "object")
                for field in ("name", "hash", "bytes", "content_type", "last_modified"):
                    SubElement(sub, field).text = str(record[field])
        return _xml(document)
    return b"".join((record.get("name") or record["subdir"]).encode("utf-8") + b"\n" for record in records)


def account_body(records: list[dict[str, Any]], account: str, out_type: str) -> bytes:
    if out_type.endswith("/json"):
        return json.dumps(records).encode("ascii")
    if out_type.endswith("/xml"):
        document = Element("account", name=account)
        document.text = "\n"
        for record in records:
            if "subdir" in record:
                sub = SubElement(document, "subdir", name=record["subdir"])
            else:
                sub = SubElement(document, "container")
                for field in ("name", "count", "bytes", "last_modified"):
                    SubElement(sub, field).text = str(record[field])
                if "storage_policy" in record:
                    SubElement(sub, "storage_policy").text = str(record["storage_policy"])
            sub.tail = "\n"
        return _xml(document)
    return b"".join((record.get("name") or record["subdir"]).encode("utf-8") + b"\n" for record in records)


def listing_params(request: Request, max_limit: int) -> dict[str, Any]:
    """limit (412 above the maximum), marker, end_marker, prefix, delimiter, path, reverse."""
    params = request.params
    limit = max_limit
    given = params.get("limit")
    if given and given.isdigit():
        limit = int(given)
        if limit > max_limit:
            raise HTTPError(412, f"Maximum limit is {max_limit}", content_type="text/plain")
    delimiter = params.get("delimiter")
    return {"limit": limit, "marker": params.get("marker", ""), "end_marker": params.get("end_marker") or None,
            "prefix": params.get("prefix"), "delimiter": delimiter or None, "path": params.get("path"),
            "reverse": params.get("reverse", "").lower() in ("1", "true", "yes", "on", "t", "y")}
