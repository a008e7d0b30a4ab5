"""Malformed requests get Swift's 4xx answers, never a 500."""

from __future__ import annotations

import itertools

import pytest

from tests.object.storage.conftest import Backend

pytestmark = pytest.mark.asyncio

BAD_HEADERS = [
    {},
    {"X-Timestamp": "not-a-time"},
    {"X-Timestamp": "-5"},
    {"X-Timestamp": "99999999999999"},
    {"X-Timestamp": "1700000000.00000_zz"},
    {"X-Timestamp": "1700000000", "Content-Type": "a/b", "X-Delete-At": "x"},
    {"X-Timestamp": "1700000000", "Content-Type": "a/b", "X-If-Delete-At": "x"},
    {"X-Timestamp": "1700000000", "Content-Type": "\xff\xfe", "Content-Type-Timestamp": "x"},
    {"X-Timestamp": "1700000000", "X-Size": "-", "X-Content-Type": "a", "X-Etag": "e"},
    {"X-Timestamp": "1700000000", "X-Size": "1", "X-Content-Type": "\xff", "X-Etag": "e"},
    {"X-Timestamp": "1700000000", "X-Size": "1", "X-Content-Type": "a", "X-Etag": "e",
     "X-Content-Type-Timestamp": "nope", "X-Meta-Timestamp": "nope"},
    {"X-Timestamp": "1700000000", "X-Backend-Storage-Policy-Index": "abc"},
    {"X-Timestamp": "1700000000", "X-Backend-Storage-Policy-Index": "-1"},
    {"X-Timestamp": "1700000000", "X-Backend-Storage-Policy-Default": "zz"},
    {"X-Timestamp": "1700000000", "X-Put-Timestamp": "x", "X-Delete-Timestamp": "0", "X-Object-Count": "a",
     "X-Bytes-Used": "b"},
    {"X-Timestamp": "1700000000", "X-Account-Host": "a,b", "X-Account-Device": "x", "X-Account-Partition": "1"},
    {"X-Timestamp": "1700000000", "X-Container-Host": "nohost", "X-Container-Device": "d1",
     "X-Container-Partition": "1", "Content-Type": "a/b"},
    {"Range": "bytes=9-1"}, {"Range": "bytes=-"}, {"Range": "lines=1-2"},
    {"If-Modified-Since": "yesterday"}, {"If-Unmodified-Since": "\x7f"}, {"If-Match": ""},
    {"Accept": ";;;"}, {"Accept": "application/json;q=abc"},
    {"X-Backend-Replication-Verb": "REPLICATE"}, {"X-Backend-Replication-Verb": "NOPE"},
]
PATHS = {
    "object": ["/d1/0/a/c/o", "/d1/0/a/c", "/d1/0/a", "/d1", "/", "/d1/0/a/c/o%00", "/d1/-1/a/c/o", "/../0/a/c/o",
               "/d1/0", "/d1/0/abc-def", "/d1/0/a/\x01c/o"],
    "container": ["/d1/0/a/c", "/d1/0/a/c/o", "/d1/0/a", "/d1", "/", "/d1/0/hash", "/d1/x/a/c"],
    "account": ["/d1/0/a", "/d1/0/a/c", "/d1/0", "/", "/d1/0/a/c/o", "/d1/0/hash"],
}
METHODS = ["GET", "HEAD", "PUT", "POST", "DELETE", "OPTIONS"]
BODIES = [b"", b"not json", b"[]", b'["sync", {}]', b'["merge_items", [{}], "x"]', b'{"suffixes": 5}']


@pytest.mark.parametrize("kind", ["object", "container", "account"])
async def test_no_5xx_for_bad_input(backend: Backend, kind: str) -> None:
    await backend.create_account("a")
    await backend.request("container", "PUT", "/d1/0/a/c", {"X-Timestamp": backend.ts()})
    failures = []
    for path, method, headers, body in itertools.product(PATHS[kind], METHODS, BAD_HEADERS, BODIES[:2]):
        raw = {name: value.encode("latin-1") for name, value in headers.items()}
        response = await backend.request(kind, method, path, raw, body if method in ("PUT", "POST") else None)
        if response.status_code >= 500 and response.status_code not in (503, 507):
            failures.append((method, path, headers, response.status_code, response.text[:200]))
    for body in BODIES:  # replication requests with nonsense
        for path in PATHS[kind]:
            response = await backend.request(kind, "POST", path, {"X-Backend-Replication-Verb": "REPLICATE"}, body)
            if response.status_code >= 500 and response.status_code not in (503, 507):
                failures.append(("REPLICATE", path, body, response.status_code, response.text[:200]))
            response = await backend.request(kind, "POST", path, {"X-Backend-Replication-Verb": "SSYNC"}, body)
            if response.status_code >= 500 and response.status_code not in (503, 507):
                failures.append(("SSYNC", path, body, response.status_code, response.text[:200]))
    assert failures == []
