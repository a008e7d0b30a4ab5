"""Account and container listings in the format the client asked for.

The storage servers always answer in JSON (as Swift's listing_formats middleware
asks them to); the proxy turns that into plain text (the default), JSON or XML,
chosen by `?format=` or else the Accept header.
"""

from __future__ import annotations

import json
from typing import Any
from xml.etree.ElementTree import Element, SubElement, tostring

from monostack.object.proxy.http import HTTPError, Request, Response, error, plain

FORMATS = {"plain": "text/plain", "json": "application/json", "xml": "application/xml"}
OFFERED = ["text/plain", "application/json", "application/xml", "text/xml"]


def _accept_match(accept: str) -> str | None:
    """The best offered type for an Accept header (q-values, wildcards); ValueError when malformed."""
    best_key: tuple[float, int, int] | None = None
    chosen = None
    for raw in accept.split(","):
        raw = raw.strip()
        if not raw:
            continue
        parts = [p.strip() for p in raw.split(";")]
        media = parts[0].lower()
        if "/" not in media:
            raise ValueError(media)
        q = 1.0
        for param in parts[1:]:
            name, _, value = param.partition("=")
            if name.strip() == "q":
                q = float(value)
        if q <= 0:
            continue
        major, _, minor = media.partition("/")
        for order, offered in enumerate(OFFERED):
            o_major, _, o_minor = offered.partition("/")
            if (major == "*" or major == o_major) and (minor == "*" or minor == o_minor):
                key = (q, (major != "*") + (minor != "*"), -order)
                if best_key is None or key > best_key:
                    best_key, chosen = key, offered
    return chosen


def listing_content_type(req: Request) -> str:
    fmt = req.params.get("format")
    if fmt:
        return FORMATS.get(fmt.lower(), "text/plain")
    accept = req.headers.get("accept")
    if not accept:
        return "text/plain"
    try:
        chosen = _accept_match(accept)
    except ValueError:
        raise HTTPError(plain(400, "Invalid Accept header")) from None
    if chosen is None:
        raise HTTPError(error(406))
    return chosen


def _xml(doc: Element) -> bytes:
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + tostring(doc, encoding="unicode").encode("utf-8")


def account_to_xml(listing: list[dict[str, Any]], account: str) -> bytes:
    doc = Element("account", name=account)
    doc.text = "\n"
    for record in listing:
        if "subdir" in record:
            sub = SubElement(doc, "subdir", name=record["subdir"])
        else:
            sub = SubElement(doc, "container")
            for field in ("name", "count", "bytes", "last_modified"):
                SubElement(sub, field).text = str(record.get(field, ""))
        sub.tail = "\n"
    return _xml(doc)


def container_to_xml(listing: list[dict[str, Any]], container: str) -> bytes:
    doc = Element("container", name=container)
    for record in listing:
        if "subdir" in record:
            sub = SubElement(doc, "subdir", name=record["subdir"])
            SubElement(sub, "name").text = record["subdir"]
        else:
            sub = SubElement(doc, "object")
            for field in ("name", "hash", "bytes", "content_type", "last_modified"):
                SubElement(sub, field).text = str(record.get(field, ""))
    return _xml(doc)


def listing_to_text(listing: list[dict[str, Any]]) -> bytes:
    return b"".join((item["name"] if "name" in item else item["subdir"]).encode("utf-8") + b"\n"
                    for item in listing)


def format_listing(req: Request, resp: Response, content_type: str, account: str,
                   container: str | None, can_vary: bool) -> Response:
    """Turn the servers' JSON listing (resp, fully read) into the asked format."""
    if can_vary:
        vary = resp.headers.get("vary")
        if vary:
            if "accept" not in [v.strip().lower() for v in vary.split(",")]:
                resp.headers["vary"] = vary + ", Accept"
        else:
            resp.headers["vary"] = "Accept"
    if resp.status not in (200, 204):
        return resp
    if req.method == "HEAD":
        resp.headers["content-type"] = content_type + "; charset=utf-8"
        resp.headers["content-length"] = "0"
        resp.body = b""
        return resp
    raw = resp.body if isinstance(resp.body, bytes) else b""
    try:
        listing = json.loads(raw) if raw else []
        if not isinstance(listing, list):
            raise ValueError
    except ValueError:
        return resp
    if content_type.endswith("/xml"):
        body = container_to_xml(listing, container) if container else account_to_xml(listing, account)
    elif content_type == "text/plain":
        body = listing_to_text(listing)
    else:
        body = json.dumps(listing).encode("ascii")
    resp.status = 200 if body else 204
    resp.headers["content-type"] = content_type + "; charset=utf-8"
    resp.set_body(body)
    return resp
