"""Bad input gets Swift's (or S3's) 4xx, never a 500, and leaves nothing half made."""

from __future__ import annotations

import base64
import hashlib
import time

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.object.api.conftest import User


@pytest.mark.parametrize("method,path,status", [
    ("GET", "/object-store/v2/AUTH_x", 400),
    ("GET", "/object-store/v1", 412),
    ("GET", "/object-store/", 404),
    ("PATCH", "/object-store/v1/{account}", 405),
    ("DELETE", "/object-store/v1/{account}", 405),
    ("PUT", "/object-store/v1/{account}", 405),
    ("GET", "/object-store/v1/{account}//obj", 412),
    ("PATCH", "/object-store/v1/{account}/c/o", 405),
    ("POST", "/object-store/info", 405),
])
def test_bad_urls_and_methods(demo: User, method: str, path: str, status: int) -> None:
    response = httpx.request(method, demo.cloud.url + path.format(account=demo.account),
                             headers={"X-Auth-Token": demo.token})
    assert response.status_code == status, response.text
    if status == 405:
        assert "allow" in response.headers


def test_bad_object_headers(api: httpx.Client, container: str) -> None:
    cases = [
        ({"X-Delete-At": "tomorrow"}, 400, b"Non-integer X-Delete-At"),
        ({"X-Delete-After": "-5"}, 400, b"X-Delete-After in past"),
        ({"Content-Type": "text/plain;swift_bytes=5"}, 400, b"Invalid Content-Type, swift_* is not a valid parameter "
                                                             b"name."),
        ({"X-Object-Manifest": "/c/p"}, 400, b"X-Object-Manifest must be in the format container/prefix"),
        ({"X-Copy-From": "only-container"}, 412, b"X-Copy-From header must be of the form <container name>/<object "
                                                 b"name>"),
        ({"X-Copy-From": "c/o", "X-Copy-From-Account": "a/b"}, 412, b"Account name cannot contain slashes"),
    ]
    for headers, status, body in cases:
        copy = "X-Copy-From" in headers
        response = api.put(f"/{container}/bad", content=b"" if copy else b"x", headers=headers)
        assert response.status_code == status, (headers, response.text)
        assert response.content == body, headers
    assert api.head(f"/{container}/bad").status_code in (200, 404)
    assert api.request("COPY", f"/{container}/bad", headers={"Destination": "nocontainer"}).status_code == 412
    assert api.post(f"/{container}/missing", headers={"X-Object-Meta-A": "b"}).status_code == 404
    weird_range = api.get(f"/{container}/missing", headers={"Range": "bytes=9-1"})
    assert weird_range.status_code == 404


def test_bad_tempurls_are_401(api: httpx.Client, container: str, demo: User) -> None:
    api.put(f"/{container}/t", content=b"t")
    url = f"{demo.storage_url}/{container}/t"
    for params in ({"temp_url_sig": "abc", "temp_url_expires": "9999999999"},
                   {"temp_url_sig": "a" * 40, "temp_url_expires": "soon"},
                   {"temp_url_sig": "sha256:!!!", "temp_url_expires": "9999999999"},
                   {"temp_url_sig": "md5:" + "a" * 32, "temp_url_expires": "9999999999"},
                   {"temp_url_expires": "9999999999"}):
        response = httpx.get(url, params=params)
        assert response.status_code == 401, params


def test_bad_s3_requests(s3, api: httpx.Client, container: str) -> None:
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=container, Key="k", Body=b"data", ContentMD5=base64.b64encode(b"0" * 16).decode())
    assert exc.value.response["Error"]["Code"] == "BadDigest"
    assert api.head(f"/{container}/k").status_code == 404
    good = base64.b64encode(hashlib.md5(b"data").digest()).decode()
    s3.put_object(Bucket=container, Key="k", Body=b"data", ContentMD5=good)
    with pytest.raises(ClientError) as exc:
        s3.get_bucket_tagging(Bucket=container)
    assert exc.value.response["Error"]["Code"] == "NotImplemented"
    upload = s3.create_multipart_upload(Bucket=container, Key="mp")["UploadId"]
    try:
        with pytest.raises(ClientError) as exc:
            s3.upload_part(Bucket=container, Key="mp", UploadId=upload, PartNumber=0, Body=b"x")
        assert exc.value.response["Error"]["Code"] == "InvalidArgument"
        with pytest.raises(ClientError) as exc:
            s3.upload_part(Bucket=container, Key="mp", UploadId="u-nope", PartNumber=1, Body=b"x")
        assert exc.value.response["Error"]["Code"] == "NoSuchUpload"
    finally:
        s3.abort_multipart_upload(Bucket=container, Key="mp", UploadId=upload)
    endpoint = s3.meta.endpoint_url.rstrip("/")
    # Raw requests: garbage XML, a payload that is not the one signed.
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest

    credentials = s3._request_signer._credentials

    def signed(method: str, url: str, data: bytes, signed_data: bytes | None = None) -> httpx.Response:
        """Signed for `signed_data` (the payload hash is part of the signature), sent with `data`."""
        request = AWSRequest(method=method, url=url, data=data if signed_data is None else signed_data)
        S3SigV4Auth(credentials, "s3", "us-east-1").add_auth(request)
        return httpx.request(method, url, content=data, headers=dict(request.headers))

    garbage = signed("POST", f"{endpoint}/{container}?delete", b"<Delete><Object>")
    assert garbage.status_code == 400 and b"<Code>MalformedXML</Code>" in garbage.content, garbage.content
    lying = signed("PUT", f"{endpoint}/{container}/lie", b"actual body", b"other body!")
    assert lying.status_code == 400 and b"XAmzContentSHA256Mismatch" in lying.content
    assert api.head(f"/{container}/lie").status_code == 404
    stale = AWSRequest(method="GET", url=f"{endpoint}/{container}")
    S3SigV4Auth(credentials, "s3", "us-east-1").add_auth(stale)
    headers = dict(stale.headers)
    old = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() - 3600))
    headers["X-Amz-Date"] = old
    assert httpx.get(f"{endpoint}/{container}", headers=headers).status_code == 403
