"""The proxy's pure pieces, without a cloud: path splitting, ranges, conditions, ACLs,
listing formats, SLO manifests, TempURL signatures, S3 signatures (checked against
botocore's own signer and Identity's check)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import pytest

from monostack.object.middleware.acl import clean_acl, parse_acl, referrer_allowed
from monostack.object.middleware.digest import extract_digest_and_algorithm, get_hmac
from monostack.object.middleware.segments import Segment
from monostack.object.middleware.slo import cut, parse_manifest, slo_etag_of
from monostack.object.proxy.http import (HTTPError, Request, conditional_status, parse_range, ranges_for_length,
                                         split_path)
from monostack.object.proxy.listing import _accept_match, container_to_xml, listing_to_text


def test_split_path() -> None:
    assert split_path("/v1/a/c/o/with/slashes", 1, 4, True) == ["v1", "a", "c", "o/with/slashes"]
    assert split_path("/v1/a", 1, 4, True) == ["v1", "a", None, None]
    assert split_path("/v1/a/c/", 1, 4, True) == ["v1", "a", "c", ""]
    with pytest.raises(ValueError):
        split_path("v1/a", 1, 4, True)
    with pytest.raises(ValueError):
        split_path("//a", 2, 4, True)


def test_ranges() -> None:
    assert parse_range("bytes=0-9,-5,10-") == [(0, 9), (None, 5), (10, None)]
    assert parse_range("bytes=junk") is None
    assert parse_range("items=0-1") is None
    assert parse_range("bytes=5-1") is None
    assert ranges_for_length([(0, 9), (None, 5), (10, None)], 100) == [(0, 10), (95, 100), (10, 100)]
    assert ranges_for_length([(200, None)], 100) == []
    assert ranges_for_length([(90, 200)], 100) == [(90, 100)]


def test_conditions() -> None:
    assert conditional_status({"if-none-match": '"abc"'}, "abc", None) == 304
    assert conditional_status({"if-none-match": "*"}, "abc", None) == 304
    assert conditional_status({"if-match": '"x", "abc"'}, "abc", None) is None
    assert conditional_status({"if-match": '"x"'}, "abc", None) == 412
    assert conditional_status({"if-match": "*"}, None, None, exists=False) == 412
    when = 1_700_000_000
    assert conditional_status({"if-modified-since": "Tue, 14 Nov 2023 22:13:20 GMT"}, "e", when) == 304
    assert conditional_status({"if-unmodified-since": "Mon, 13 Nov 2023 00:00:00 GMT"}, "e", when) == 412


def test_acls() -> None:
    assert clean_acl("x-container-read", " .ref:*.example.com , bob,, .r:-thief.com") == \
        ".r:.example.com,bob,.r:-thief.com"
    with pytest.raises(ValueError, match="Referrers not allowed in write ACL"):
        clean_acl("x-container-write", ".r:*")
    with pytest.raises(ValueError, match="Unknown designator"):
        clean_acl("x-container-read", ".x:y")
    referrers, groups = parse_acl(".r:*,.r:-bad.com,proj:user,.rlistings")
    assert referrers == ["*", "-bad.com"] and groups == ["proj:user", ".rlistings"]
    assert referrer_allowed("http://good.com/page", referrers)
    assert not referrer_allowed("http://bad.com/page", referrers)
    assert referrer_allowed("http://www.example.com/", [".example.com"])


def test_listing_formats() -> None:
    assert _accept_match("application/json;q=0.5, text/xml") == "text/xml"
    assert _accept_match("*/*") == "text/plain"
    assert _accept_match("image/png") is None
    listing = [{"name": "a", "hash": "h", "bytes": 1, "content_type": "t", "last_modified": "x"}, {"subdir": "d/"}]
    assert listing_to_text(listing) == b"a\nd/\n"
    xml = container_to_xml(listing, "cont")
    assert xml.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    assert b'<subdir name="d/"><name>d/</name></subdir>' in xml


def test_request_params_and_sub_requests() -> None:
    req = Request("GET", "/v1/a/c", "format=json&prefix=x%2Fy&reverse", {"x-auth-token": "t"},
                  environ={"swift.authorize": "hook"})
    assert req.params == {"format": "json", "prefix": "x/y", "reverse": ""}
    sub = req.sub("HEAD", "/v1/a/c/o")
    assert sub.environ["swift.authorize"] == "hook" and sub.headers["x-auth-token"] == "t"
    bare = req.sub("HEAD", "/v1/a/c/o", keep_auth=False)
    assert "swift.authorize" not in bare.environ and "x-auth-token" not in bare.headers
    assert req.sub("GET", "/x", pre_authed=True).environ["swift.authorize_override"] is True


def test_slo_manifest_parsing() -> None:
    with pytest.raises(HTTPError) as exc:
        parse_manifest(b"[1, {}]", "/v1/a/c/o")
    assert exc.value.response.body == (b"Index 0: not a JSON object\n"
                                       b"Index 1: expected keys to include one of 'data' or 'path'\n")
    with pytest.raises(HTTPError) as exc:
        parse_manifest(json.dumps([{"path": "/c/o"}]).encode(), "/v1/a/c/o")
    assert b"manifest must not include itself" in exc.value.response.body
    with pytest.raises(HTTPError) as exc:
        parse_manifest(json.dumps([{"data": "AAA="}]).encode(), "/v1/a/c/o")
    assert b"require at least one object-backed segment" in exc.value.response.body
    parsed = parse_manifest(json.dumps([{"path": "/c/s", "range": "1-2", "size_bytes": "10"}]).encode(),
                            "/v1/a/c/o")
    assert parsed[0]["size_bytes"] == 10 and parsed[0]["range"] == [(1, 2)]
    stored = [{"hash": "a" * 32, "bytes": 5}, {"hash": "b" * 32, "bytes": 5, "range": "0-1"}]
    expected = hashlib.md5(("a" * 32 + "b" * 32 + ":0-1;").encode()).hexdigest()
    assert slo_etag_of(stored) == expected


def test_cut_segments() -> None:
    segments = [Segment("/s1", 10, etag="e1", size=10), Segment("/s2", 10, offset=5), Segment("", 3, data=b"xyz")]
    part = cut(segments, 5, 22)
    assert [(s.path, s.length, s.offset, s.etag) for s in part] == [("/s1", 5, 5, None), ("/s2", 10, 5, None),
                                                                    ("", 2, 0, None)]
    assert part[2].data == b"xy"
    whole = cut(segments, 0, 10)
    assert whole[0].etag == "e1"


def test_tempurl_signatures() -> None:
    assert extract_digest_and_algorithm("a" * 40) == ("sha1", "a" * 40)
    assert extract_digest_and_algorithm("b" * 128)[0] == "sha512"
    raw = hashlib.sha256(b"x").digest()
    assert extract_digest_and_algorithm("sha256:" + base64.urlsafe_b64encode(raw).decode().rstrip("=")) == \
        ("sha256", raw.hex())
    with pytest.raises(ValueError):
        extract_digest_and_algorithm("a" * 41)
    with pytest.raises(ValueError):
        extract_digest_and_algorithm("zz" * 20)
    expected = hmac.new(b"key", b"GET\n100\n/v1/a/c/o", hashlib.sha256).hexdigest()
    assert get_hmac("GET", "/v1/a/c/o", 100, "key", "sha256") == expected
    expected = hmac.new(b"key", b"ip=1.2.3.4\nGET\n100\n/v1/a/c/o", hashlib.sha1).hexdigest()
    assert get_hmac("GET", "/v1/a/c/o", 100, "key", "sha1", "1.2.3.4") == expected


@pytest.mark.parametrize("method,path,query,body", [
    ("GET", "/s3/", "", b""),
    ("PUT", "/s3/bucket/dir/a%20file+plus~.txt", "", b"payload"),
    ("GET", "/s3/bucket", "list-type=2&prefix=a%2Fb&max-keys=10", b""),
    ("POST", "/s3/bucket/key", "uploads=", b""),
])
def test_s3_v4_signature_matches_botocore(method: str, path: str, query: str, body: bytes) -> None:
    """What botocore signs is what we rebuild, and Identity's check accepts it."""
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    from monostack.identity.service.credentials import check_s3_signature
    from monostack.object.s3.signature import parse

    url = f"http://127.0.0.1:5000{path}" + (f"?{query}" if query else "")
    aws = AWSRequest(method=method, url=url, data=body, headers={"Content-Type": "text/plain"})
    S3SigV4Auth(Credentials("AKID", "s3cret"), "s3", "us-east-1").add_auth(aws)
    headers = {k.lower(): v for k, v in aws.headers.items()}
    headers["host"] = "127.0.0.1:5000"
    from urllib.parse import unquote

    req = Request(method, unquote(path[len("/s3"):]), query, headers)
    signed = parse(req, path, path[len("/s3"):])
    assert signed is not None and signed.access_key == "AKID" and signed.version == 4
    check_s3_signature("s3cret", {"token": base64.urlsafe_b64encode(signed.string_to_sign).decode(),
                                  "signature": signed.signature})


def test_s3_v2_presigned_query_matches_botocore() -> None:
    from botocore.auth import HmacV1QueryAuth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    from monostack.identity.service.credentials import check_s3_signature
    from monostack.object.s3.signature import parse

    aws = AWSRequest(method="GET", url="http://127.0.0.1:5000/s3/bucket/key")
    aws.auth_path = "/bucket/key"
    HmacV1QueryAuth(Credentials("AKID", "s3cret"), expires=int(time.time()) + 60).add_auth(aws)
    query = aws.url.split("?", 1)[1]
    signed = parse(Request("GET", "/bucket/key", query, {"host": "127.0.0.1:5000"}), "/s3/bucket/key", "/bucket/key")
    assert signed is not None and signed.version == 2
    check_s3_signature("s3cret", {"token": base64.urlsafe_b64encode(signed.string_to_sign).decode(),
                                  "signature": signed.signature})


async def test_aws_chunked_bodies_are_decoded() -> None:
    from monostack.object.s3.errors import S3Error
    from monostack.object.s3.middleware import _aws_chunked, _verify_sha256

    async def pieces(*chunks: bytes):
        for chunk in chunks:
            yield chunk

    encoded = b"5;chunk-signature=abc\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:AAAA\r\n\r\n"
    for split in (1, 3, len(encoded)):  # however the bytes arrive
        parts = [encoded[i:i + split] for i in range(0, len(encoded), split)]
        assert b"".join([c async for c in _aws_chunked(pieces(*parts))]) == b"hello world"
    with pytest.raises(S3Error):
        [c async for c in _aws_chunked(pieces(b"5\r\nhel"))]
    good = hashlib.sha256(b"abc").hexdigest()
    assert [c async for c in _verify_sha256(pieces(b"a", b"bc"), good)] == [b"a", b"bc"]
    with pytest.raises(S3Error) as exc:
        [c async for c in _verify_sha256(pieces(b"abd"), good)]
    assert exc.value.code == "XAmzContentSHA256Mismatch"
