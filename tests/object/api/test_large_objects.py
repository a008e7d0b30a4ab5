"""Large objects over HTTP (SLO manifests and their checks, DLO), FormPost and TempURL
prefixes."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
import uuid

import httpx

from tests.object.api.conftest import User


def put_segments(api: httpx.Client, container: str, sizes: list[int]) -> list[tuple[str, bytes]]:
    segments = []
    for i, size in enumerate(sizes):
        data = os.urandom(size)
        assert api.put(f"/{container}/seg/{i:03d}", content=data).status_code == 201
        segments.append((f"/{container}/seg/{i:03d}", data))
    return segments


def test_slo_manifest_put_get_ranges_and_delete(api: httpx.Client, container: str) -> None:
    segments = put_segments(api, container, [1000, 2000, 1500])
    manifest = [{"path": path, "etag": hashlib.md5(data).hexdigest(), "size_bytes": len(data)}
                for path, data in segments]
    manifest.append({"data": "dGFpbA=="})  # inline "tail"
    manifest.insert(1, {"path": segments[0][0], "range": "10-19"})
    whole = segments[0][1] + segments[0][1][10:20] + segments[1][1] + segments[2][1] + b"tail"
    put = api.put(f"/{container}/slo", params={"multipart-manifest": "put"}, content=json.dumps(manifest),
                  headers={"Content-Type": "application/x-large"})
    assert put.status_code == 201, put.text
    slo_etag = put.headers["etag"].strip('"')
    got = api.get(f"/{container}/slo")
    assert got.status_code == 200 and got.content == whole
    assert got.headers["content-type"] == "application/x-large"
    assert got.headers["etag"] == f'"{slo_etag}"'
    assert got.headers["x-static-large-object"] == "True"
    head = api.head(f"/{container}/slo")
    assert head.headers["content-length"] == str(len(whole))
    ranged = api.get(f"/{container}/slo", headers={"Range": "bytes=995-1015"})
    assert ranged.status_code == 206 and ranged.content == whole[995:1016]
    multi = api.get(f"/{container}/slo", headers={"Range": "bytes=0-0,-4"})
    assert multi.status_code == 206 and b"tail" in multi.content
    assert api.get(f"/{container}/slo", headers={"If-None-Match": f'"{slo_etag}"'}).status_code == 304
    assert api.get(f"/{container}/slo", headers={"If-Match": '"other"'}).status_code == 412
    assert api.get(f"/{container}/slo", headers={"Range": f"bytes={len(whole) + 5}-"}).status_code == 416
    stored = api.get(f"/{container}/slo", params={"multipart-manifest": "get"}).json()
    assert [s.get("name") for s in stored][:2] == [segments[0][0], segments[0][0]]
    raw = api.get(f"/{container}/slo", params={"multipart-manifest": "get", "format": "raw"}).json()
    assert raw[0]["path"] == segments[0][0] and raw[1]["range"] == "10-19"
    listing = api.get(f"/{container}", params={"format": "json", "prefix": "slo"}).json()
    assert listing[0]["bytes"] == len(whole)
    # Copy makes a new object of the content; multipart-manifest=get copies the manifest.
    assert api.put(f"/{container}/slo-copy", headers={"X-Copy-From": f"{container}/slo"}).status_code == 201
    copy = api.get(f"/{container}/slo-copy")
    assert copy.content == whole and "x-static-large-object" not in copy.headers
    deleted = api.delete(f"/{container}/slo", params={"multipart-manifest": "delete"},
                         headers={"Accept": "application/json"})
    result = json.loads(deleted.content)
    # four entries name three segments (the first one twice), then the manifest
    assert result["Response Status"] == "200 OK"
    assert result["Number Deleted"] >= 4 and result["Number Deleted"] + result["Number Not Found"] == 5
    assert api.get(f"/{container}", params={"prefix": "seg/"}).status_code == 204


def test_slo_manifest_errors(api: httpx.Client, container: str) -> None:
    segments = put_segments(api, container, [100])
    path, data = segments[0]
    bad_json = api.put(f"/{container}/m", params={"multipart-manifest": "put"}, content=b"{not json")
    assert bad_json.status_code == 400 and bad_json.text == "Manifest must be valid JSON.\n"
    not_list = api.put(f"/{container}/m", params={"multipart-manifest": "put"}, content=b"{}")
    assert not_list.status_code == 400 and not_list.text == "Manifest must be a list.\n"
    problems = api.put(f"/{container}/m", params={"multipart-manifest": "put"}, content=json.dumps([
        {"path": path, "etag": "0" * 32}, {"path": path, "size_bytes": 5}, {"path": f"/{container}/missing"}]))
    assert problems.status_code == 400
    assert problems.text.splitlines() == ["Errors:", f"{path}, Etag Mismatch", f"{path}, Size Mismatch",
                                          f"/{container}/missing, 404 Not Found"]
    extraneous = api.put(f"/{container}/m", params={"multipart-manifest": "put"},
                         content=json.dumps([{"path": path, "color": "red"}]))
    assert extraneous.status_code == 400 and 'Index 0: extraneous keys "color"' in extraneous.text
    wrong_etag = api.put(f"/{container}/m", params={"multipart-manifest": "put"}, headers={"ETag": "0" * 32},
                         content=json.dumps([{"path": path}]))
    assert wrong_etag.status_code == 422
    reserved = api.put(f"/{container}/m", content=b"x", headers={"X-Static-Large-Object": "true"})
    assert reserved.status_code == 400 and b"X-Static-Large-Object is a reserved header" in reserved.content
    # A segment that changed after the manifest was stored: the download stops short.
    assert api.put(f"/{container}/m", params={"multipart-manifest": "put"},
                   content=json.dumps([{"path": path}, {"path": path}])).status_code == 201
    api.put(f"/{container}/seg/000", content=b"changed")
    import pytest
    with pytest.raises(httpx.HTTPError):
        api.get(f"/{container}/m").read()


def test_dlo(api: httpx.Client, container: str) -> None:
    segments = put_segments(api, container, [300, 400, 500])
    whole = b"".join(data for _, data in segments)
    assert api.put(f"/{container}/dlo", content=b"", headers={"X-Object-Manifest": f"{container}/seg/"}
                   ).status_code == 201
    got = api.get(f"/{container}/dlo")
    assert got.content == whole
    expected = hashlib.md5("".join(hashlib.md5(d).hexdigest() for _, d in segments).encode()).hexdigest()
    assert got.headers["etag"] == f'"{expected}"'
    assert api.head(f"/{container}/dlo").headers["content-length"] == str(len(whole))
    ranged = api.get(f"/{container}/dlo", headers={"Range": "bytes=250-749"})
    assert ranged.status_code == 206 and ranged.content == whole[250:750]
    manifest = api.get(f"/{container}/dlo", params={"multipart-manifest": "get"})
    assert manifest.content == b"" and manifest.headers["x-object-manifest"] == f"{container}/seg/"
    bad = api.put(f"/{container}/dlo2", content=b"", headers={"X-Object-Manifest": "no-prefix"})
    assert bad.status_code == 400
    assert bad.content == b"X-Object-Manifest must be in the format container/prefix"


def test_formpost(api: httpx.Client, container: str, demo: User) -> None:
    key = uuid.uuid4().hex
    api.post(f"/{container}", headers={"X-Container-Meta-Temp-URL-Key": key})
    path = f"/v1/{demo.account}/{container}/uploads/"
    expires = int(time.time() + 60)
    redirect = ""
    max_size, max_count = 1024, 2
    message = f"{path}\n{redirect}\n{max_size}\n{max_count}\n{expires}"
    signature = hmac.new(key.encode(), message.encode(), hashlib.sha256).hexdigest()
    fields = {"redirect": redirect, "max_file_size": str(max_size), "max_file_count": str(max_count),
              "expires": str(expires), "signature": signature}
    url = f"{demo.cloud.url}/object-store{path}"
    files = [("file1", ("a.txt", b"first file", "text/plain")), ("file2", ("b.txt", b"second", "text/plain"))]
    posted = httpx.post(url, data=fields, files=files)
    assert posted.status_code == 201, posted.text
    assert api.get(f"/{container}/uploads/a.txt").content == b"first file"
    assert api.get(f"/{container}/uploads/b.txt").content == b"second"
    too_big = httpx.post(url, data=fields, files=[("f", ("big.txt", b"x" * 2000, "text/plain"))])
    assert too_big.status_code == 400 and too_big.text == "FormPost: max_file_size exceeded"
    forged = dict(fields, signature="0" * 64)
    refused = httpx.post(url, data=forged, files=[("f", ("c.txt", b"no", "text/plain"))])
    assert refused.status_code == 401 and "Invalid Signature" in refused.text
    expired_message = f"{path}\n{redirect}\n{max_size}\n{max_count}\n{expires - 120}"
    expired = dict(fields, expires=str(expires - 120),
                   signature=hmac.new(key.encode(), expired_message.encode(), hashlib.sha256).hexdigest())
    assert httpx.post(url, data=expired, files=[("f", ("d.txt", b"no", "text/plain"))]).status_code == 401
    # With a redirect: 303 to it, with the outcome in the query.
    message = f"{path}\nhttp://example.com/done\n{max_size}\n{max_count}\n{expires}"
    sig = hmac.new(key.encode(), message.encode(), hashlib.sha1).hexdigest()
    redirected = httpx.post(url, data=dict(fields, redirect="http://example.com/done", signature=sig),
                            files=[("f", ("e.txt", b"e", "text/plain"))])
    assert redirected.status_code == 303
    assert redirected.headers["location"] == "http://example.com/done?status=201&message="


def test_tempurl_prefix_and_container_key(api: httpx.Client, container: str, demo: User) -> None:
    key = uuid.uuid4().hex
    api.post(f"/{container}", headers={"X-Container-Meta-Temp-URL-Key-2": key})
    api.put(f"/{container}/pre/one", content=b"one")
    api.put(f"/{container}/other", content=b"other")
    expires = int(time.time() + 60)
    prefix_path = f"prefix:/v1/{demo.account}/{container}/pre/"
    sig = hmac.new(key.encode(), f"GET\n{expires}\n{prefix_path}".encode(), hashlib.sha256).hexdigest()
    params = {"temp_url_sig": sig, "temp_url_expires": str(expires), "temp_url_prefix": "pre/"}
    base = f"{demo.storage_url}/{container}"
    assert httpx.get(f"{base}/pre/one", params=params).content == b"one"
    assert httpx.get(f"{base}/other", params=params).status_code == 401
    # A container key signs only for its own container.
    other = f"tu-{uuid.uuid4().hex[:8]}"
    api.put(f"/{other}")
    api.put(f"/{other}/pre/one", content=b"x")
    try:
        path = f"/v1/{demo.account}/{other}/pre/one"
        sig = hmac.new(key.encode(), f"GET\n{expires}\n{path}".encode(), hashlib.sha1).hexdigest()
        assert httpx.get(f"{demo.storage_url}/{other}/pre/one",
                         params={"temp_url_sig": sig, "temp_url_expires": str(expires)}).status_code == 401
    finally:
        api.delete(f"/{other}/pre/one")
        api.delete(f"/{other}")


def test_signatures_over_the_storage_url_path(api: httpx.Client, container: str, demo: User) -> None:
    """Clients that sign the path of the storage URL (Tempest does) include the API's mount point."""
    key = uuid.uuid4().hex
    api.post(f"/{container}", headers={"X-Container-Meta-Temp-URL-Key": key})
    api.put(f"/{container}/o", content=b"signed")
    expires = int(time.time() + 60)
    path = f"/object-store/v1/{demo.account}/{container}/o"
    sig = hmac.new(key.encode(), f"GET\n{expires}\n{path}".encode(), hashlib.sha256).hexdigest()
    got = httpx.get(f"{demo.cloud.url}{path}", params={"temp_url_sig": sig, "temp_url_expires": str(expires)})
    assert got.status_code == 200 and got.content == b"signed"
    form_path = f"/object-store/v1/{demo.account}/{container}/"
    message = f"{form_path}\n\n1024\n1\n{expires}"
    signature = hmac.new(key.encode(), message.encode(), hashlib.sha256).hexdigest()
    posted = httpx.post(f"{demo.cloud.url}{form_path}", files=[("f", ("form.txt", b"form", "text/plain"))],
                        data={"redirect": "", "max_file_size": "1024", "max_file_count": "1",
                              "expires": str(expires), "signature": signature})
    assert posted.status_code == 201, posted.text
    assert api.get(f"/{container}/form.txt").content == b"form"
