"""limit/marker pagination, as Nova, Glance, Neutron and Cinder do it.

A page is the items after the one whose id is `marker` (400 if the marker is
unknown), at most `limit` of them (capped by the service's max_limit).  When
the page is full, the response carries a `next` link with the last item's id
as the new marker; clients follow it until a short page.
"""

from __future__ import annotations

import dataclasses
import urllib.parse
from typing import Any, Callable, Sequence, TypeVar

from monostack.common import errors

T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class PageRequest:
    limit: int | None
    marker: str | None


def page_request(params: dict[str, str], *, max_limit: int = 1000) -> PageRequest:
    limit: int | None = None
    if "limit" in params:
        try:
            limit = int(params["limit"])
        except ValueError:
            raise errors.BadRequest("limit param must be an integer") from None
        if limit < 0:
            raise errors.BadRequest("limit param must be positive")
    if limit is None or limit > max_limit:
        limit = max_limit
    marker = params.get("marker") or None
    return PageRequest(limit=limit, marker=marker)


def paginate(items: Sequence[T], page: PageRequest, key: Callable[[T], str]) -> list[T]:
    """The page of an already filtered and sorted sequence."""
    start = 0
    if page.marker is not None:
        for index, item in enumerate(items):
            if key(item) == page.marker:
                start = index + 1
                break
        else:
            raise errors.BadRequest(f"marker [{page.marker}] not found")
    end = len(items) if page.limit is None else start + page.limit
    return list(items[start:end])


def next_link(url: str, page: PageRequest, items: Sequence[Any], key: Callable[[Any], str]) -> str | None:
    """The URL of the next page, or None when this page was not full."""
    if page.limit is None or not items or len(items) < page.limit:
        return None
    parts = urllib.parse.urlsplit(url)
    query = [(k, v) for k, v in urllib.parse.parse_qsl(parts.query, keep_blank_values=True) if k != "marker"]
    query.append(("marker", key(items[-1])))
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


def links(url: str, page: PageRequest, items: Sequence[Any], key: Callable[[Any], str]) -> list[dict[str, str]]:
    """Nova/Cinder style `<collection>_links`: [{"rel": "next", "href": ...}] or []."""
    href = next_link(url, page, items, key)
    return [{"rel": "next", "href": href}] if href else []
