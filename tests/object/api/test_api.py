"""The Swift API over HTTP: accounts, containers, objects, their errors (Swift's status
codes and bodies), ranges, conditional requests, copies, quotas, CORS."""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from xml.etree import ElementTree

import httpx

from tests.object.api.conftest import User, remove_container

NOT_FOUND = b"<html><h1>Not Found</h1><p>The resource could not be found.</p></html>"


def test_info_and_healthcheck(object_cloud) -> None:
    info = httpx.get(f"{object_cloud.url}/object-store/info").json()
    assert info["swift"]["max_file_size"] == 5368709122
    assert info["swift"]["policies"][0]["name"] == "Policy-0"
    for section in ("slo", "tempurl", "formpost", "bulk_delete", "bulk_upload", "container_quotas",
                    "account_quotas", "versioned_writes", "s3api"):
        assert section in info, section
    assert set(info["tempurl"]["allowed_digests"]) == {"sha1", "sha256", "sha512"}
    health = httpx.get(f"{object_cloud.url}/object-store/healthcheck")
    assert health.status_code == 200 and health.text == "OK"


def test_unauthenticated_is_401(demo: User) -> None:
    response = httpx.get(demo.storage_url)
    assert response.status_code == 401
    response = httpx.get(demo.storage_url, headers={"X-Auth-Token": "not-a-token"})
    assert response.status_code == 401


def test_account_head_counts_and_post(api: httpx.Client, container: str) -> None:
    api.put(f"/{container}/a", content=b"12345")
    api.put(f"/{container}/b", content=b"123")
    # Containers report their statistics to the account servers a moment later.
    deadline = time.time() + 10
    while True:
        head = api.head("")
        if int(head.headers["x-account-bytes-used"]) >= 8 or time.time() > deadline:
            break
        time.sleep(0.2)
    assert head.status_code == 204
    assert int(head.headers["x-account-container-count"]) >= 1
    assert int(head.headers["x-account-object-count"]) >= 2
    assert int(head.headers["x-account-bytes-used"]) >= 8
    assert api.post("", headers={"X-Account-Meta-Team": "blue"}).status_code == 204
    assert api.head("").headers["x-account-meta-team"] == "blue"
    assert api.post("", headers={"X-Remove-Account-Meta-Team": "x"}).status_code == 204
    assert "x-account-meta-team" not in api.head("").headers


def test_listing_formats_and_parameters(api: httpx.Client, container: str) -> None:
    names = ["a/1", "a/2", "b", "c/x/y", "d"]
    for name in names:
        assert api.put(f"/{container}/{name}", content=name.encode()).status_code == 201
    plain = api.get(f"/{container}")
    assert plain.status_code == 200
    assert plain.headers["content-type"] == "text/plain; charset=utf-8"
    assert plain.text.splitlines() == names
    listing = api.get(f"/{container}", params={"format": "json"}).json()
    assert [o["name"] for o in listing] == names
    assert listing[0]["bytes"] == 3 and listing[0]["hash"] == hashlib.md5(b"a/1").hexdigest()
    assert set(listing[0]) >= {"name", "bytes", "hash", "content_type", "last_modified"}
    xml = api.get(f"/{container}", headers={"Accept": "application/xml"})
    assert xml.headers["content-type"].startswith("application/xml")
    root = ElementTree.fromstring(xml.content)
    assert root.tag == "container" and root.get("name") == container
    assert [o.findtext("name") for o in root.findall("object")] == names
    delim = api.get(f"/{container}", params={"delimiter": "/", "format": "json"}).json()
    assert [o.get("name") or o.get("subdir") for o in delim] == ["a/", "b", "c/", "d"]
    assert api.get(f"/{container}", params={"prefix": "a/"}).text.splitlines() == ["a/1", "a/2"]
    assert api.get(f"/{container}", params={"marker": "b", "end_marker": "d"}).text.splitlines() == ["c/x/y"]
    assert api.get(f"/{container}", params={"limit": "2"}).text.splitlines() == ["a/1", "a/2"]
    assert api.get(f"/{container}", params={"reverse": "on", "limit": "2"}).text.splitlines() == ["d", "c/x/y"]
    assert api.get(f"/{container}", params={"path": "c/x"}).text.splitlines() == ["c/x/y"]
    too_many = api.get(f"/{container}", params={"limit": "10001"})
    assert too_many.status_code == 412 and b"Maximum limit is 10000" in too_many.content
    empty = api.get(f"/{container}", params={"prefix": "zzz"})
    assert empty.status_code == 204 and empty.content == b""
    assert api.get(f"/{container}", params={"prefix": "zzz", "format": "json"}).json() == []
    account = api.get("", params={"format": "json"}).json()
    assert container in [c["name"] for c in account]
    entry = next(c for c in account if c["name"] == container)
    assert set(entry) >= {"name", "count", "bytes", "last_modified"}
    account_xml = ElementTree.fromstring(api.get("", params={"format": "xml"}).content)
    assert account_xml.tag == "account"


def test_container_lifecycle_and_errors(api: httpx.Client) -> None:
    name = f"life-{uuid.uuid4().hex[:8]}"
    assert api.put(f"/{name}", headers={"X-Container-Meta-Owner": "me"}).status_code == 201
    assert api.put(f"/{name}").status_code == 202
    head = api.head(f"/{name}")
    assert head.status_code == 204
    assert head.headers["x-container-meta-owner"] == "me"
    assert head.headers["x-storage-policy"] == "Policy-0"
    assert head.headers["x-container-object-count"] == "0"
    assert api.post(f"/{name}", headers={"X-Container-Meta-Owner": "you"}).status_code == 204
    assert api.head(f"/{name}").headers["x-container-meta-owner"] == "you"
    api.put(f"/{name}/obj", content=b"x")
    conflict = api.delete(f"/{name}")
    assert conflict.status_code == 409
    assert conflict.content == (b"<html><h1>Conflict</h1><p>There was a conflict when trying to complete "
                                b"your request.</p></html>")
    assert api.delete(f"/{name}/obj").status_code == 204
    assert api.delete(f"/{name}").status_code == 204
    missing = api.get(f"/{name}")
    assert missing.status_code == 404 and missing.content == NOT_FOUND
    assert api.delete(f"/{name}").status_code == 404
    assert api.post(f"/{name}", headers={"X-Container-Meta-A": "b"}).status_code == 404
    assert api.put(f"/{name}/obj", content=b"x").status_code == 404


def test_bad_names_and_metadata(api: httpx.Client, container: str) -> None:
    long_container = api.put("/" + "c" * 257)
    assert long_container.status_code == 400
    assert long_container.text == "Container name length of 257 longer than 256"
    long_object = api.put(f"/{container}/" + "o" * 1025, content=b"x")
    assert long_object.status_code == 400
    assert long_object.text == "Object name length of 1025 longer than 1024"
    bad_utf8 = api.put(f"/{container}/%FF%FE", content=b"x")
    assert bad_utf8.status_code == 412 and bad_utf8.text == "Invalid UTF8 or contains NULL"
    nul = api.put(f"/{container}/a%00b", content=b"x")
    assert nul.status_code == 412
    name_too_long = api.post(f"/{container}", headers={"X-Container-Meta-" + "n" * 129: "v"})
    assert name_too_long.status_code == 400
    assert name_too_long.text.startswith("Metadata name too long")
    value_too_long = api.put(f"/{container}/o", content=b"x", headers={"X-Object-Meta-Big": "v" * 257})
    assert value_too_long.status_code == 400
    assert value_too_long.text == "Metadata value longer than 256: X-Object-Meta-Big".replace(
        "X-Object-Meta-Big", "x-object-meta-big")
    too_many = {f"X-Object-Meta-K{i}": "v" for i in range(91)}
    assert api.put(f"/{container}/o", content=b"x", headers=too_many).status_code == 400
    bad_policy = api.put(f"/pol-{uuid.uuid4().hex[:6]}", headers={"X-Storage-Policy": "gold"})
    assert bad_policy.status_code == 400 and bad_policy.text == "Invalid X-Storage-Policy 'gold'"
    policy = f"pol-{uuid.uuid4().hex[:6]}"
    assert api.put(f"/{policy}", headers={"X-Storage-Policy": "Policy-0"}).status_code == 201
    api.delete(f"/{policy}")
    past = api.put(f"/{container}/o", content=b"x", headers={"X-Delete-At": "1000"})
    assert past.status_code == 400 and past.text == "X-Delete-At in past"
    nonint = api.put(f"/{container}/o", content=b"x", headers={"X-Delete-After": "soon"})
    assert nonint.status_code == 400 and nonint.text == "Non-integer X-Delete-After"
    bad_inm = api.put(f"/{container}/o", content=b"x", headers={"If-None-Match": "abc"})
    assert bad_inm.status_code == 400


def test_object_put_get_head_post_delete(api: httpx.Client, container: str) -> None:
    data = os.urandom(100_000)
    put = api.put(f"/{container}/file.bin", content=data, headers={
        "Content-Type": "application/x-test", "X-Object-Meta-Color": "blue",
        "Content-Disposition": 'attachment; filename="f.bin"', "Content-Encoding": "identity"})
    assert put.status_code == 201
    assert put.headers["etag"] == hashlib.md5(data).hexdigest()
    assert "last-modified" in put.headers
    got = api.get(f"/{container}/file.bin")
    assert got.status_code == 200 and got.content == data
    assert got.headers["content-type"] == "application/x-test"
    assert got.headers["x-object-meta-color"] == "blue"
    assert got.headers["content-disposition"] == 'attachment; filename="f.bin"'
    assert got.headers["content-encoding"] == "identity"
    assert got.headers["etag"] == hashlib.md5(data).hexdigest()
    head = api.head(f"/{container}/file.bin")
    assert head.status_code == 200 and head.headers["content-length"] == str(len(data))
    assert api.post(f"/{container}/file.bin", headers={"X-Object-Meta-Shape": "round"}).status_code == 202
    head = api.head(f"/{container}/file.bin")
    assert head.headers["x-object-meta-shape"] == "round" and "x-object-meta-color" not in head.headers
    assert api.delete(f"/{container}/file.bin").status_code == 204
    missing = api.get(f"/{container}/file.bin")
    assert missing.status_code == 404 and missing.content == NOT_FOUND
    assert api.delete(f"/{container}/file.bin").status_code == 404
    guessed = api.put(f"/{container}/page.html", content=b"<p>", headers={"Content-Type": ""})
    assert guessed.status_code == 201
    assert api.head(f"/{container}/page.html").headers["content-type"] == "text/html"


def test_etag_mismatch_is_422_and_length_is_required(api: httpx.Client, container: str, demo: User) -> None:
    bad = api.put(f"/{container}/o", content=b"data", headers={"ETag": "0" * 32})
    assert bad.status_code == 422
    assert bad.content == (b"<html><h1>Unprocessable Entity</h1><p>Unable to process the contained instructions"
                           b"</p></html>")
    assert api.head(f"/{container}/o").status_code == 404
    big = os.urandom(600_000)
    bad_big = api.put(f"/{container}/big", content=big, headers={"ETag": "0" * 32})
    assert bad_big.status_code == 422
    assert api.head(f"/{container}/big").status_code == 404
    # No Content-Length and not chunked: 411.
    import http.client
    conn = http.client.HTTPConnection(demo.cloud.url.split("//")[1])
    conn.putrequest("PUT", f"/object-store/v1/{demo.account}/{container}/nolength")
    conn.putheader("X-Auth-Token", demo.token)
    conn.endheaders()
    response = conn.getresponse()
    assert response.status == 411
    assert response.read() == b"Missing Content-Length header."
    conn.close()


def test_chunked_upload(api: httpx.Client, container: str) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)

    def chunks():
        for i in range(0, len(data), 65536):
            yield data[i:i + 65536]

    put = api.put(f"/{container}/chunked", content=chunks(), headers={"Content-Type": "application/octet-stream"})
    assert put.status_code == 201
    assert put.headers["etag"] == hashlib.md5(data).hexdigest()
    assert api.get(f"/{container}/chunked").content == data
    small = api.put(f"/{container}/chunked-small", content=iter([b"ab", b"cd"]))
    assert small.status_code == 201
    assert api.get(f"/{container}/chunked-small").content == b"abcd"


def test_ranges(api: httpx.Client, container: str) -> None:
    data = bytes(range(256)) * 40
    api.put(f"/{container}/r", content=data)
    one = api.get(f"/{container}/r", headers={"Range": "bytes=10-19"})
    assert one.status_code == 206 and one.content == data[10:20]
    assert one.headers["content-range"] == f"bytes 10-19/{len(data)}"
    suffix = api.get(f"/{container}/r", headers={"Range": "bytes=-5"})
    assert suffix.status_code == 206 and suffix.content == data[-5:]
    multi = api.get(f"/{container}/r", headers={"Range": "bytes=0-1,100-101"})
    assert multi.status_code == 206
    assert multi.headers["content-type"].startswith("multipart/byteranges")
    assert data[0:2] in multi.content and data[100:102] in multi.content
    unsatisfiable = api.get(f"/{container}/r", headers={"Range": "bytes=999999-"})
    assert unsatisfiable.status_code == 416
    assert unsatisfiable.headers["content-range"] == f"bytes */{len(data)}"
    ignored = api.get(f"/{container}/r", headers={"Range": "bytes=junk"})
    assert ignored.status_code == 200 and ignored.content == data


def test_conditional_requests(api: httpx.Client, container: str) -> None:
    put = api.put(f"/{container}/c", content=b"conditional")
    etag = put.headers["etag"]
    assert api.get(f"/{container}/c", headers={"If-None-Match": etag}).status_code == 304
    assert api.get(f"/{container}/c", headers={"If-Match": '"nope"'}).status_code == 412
    assert api.get(f"/{container}/c", headers={"If-Match": etag}).status_code == 200
    modified = api.head(f"/{container}/c").headers["last-modified"]
    assert api.get(f"/{container}/c", headers={"If-Modified-Since": modified}).status_code == 304
    assert api.get(f"/{container}/c", headers={"If-Unmodified-Since": "Thu, 01 Jan 1970 00:00:00 GMT"}
                   ).status_code == 412
    create_once = api.put(f"/{container}/c", content=b"again", headers={"If-None-Match": "*"})
    assert create_once.status_code == 412
    assert api.put(f"/{container}/new", content=b"first", headers={"If-None-Match": "*"}).status_code == 201


def test_server_side_copy(api: httpx.Client, container: str, demo: User, alt: User) -> None:
    data = os.urandom(300_000)
    api.put(f"/{container}/src", content=data, headers={"X-Object-Meta-Origin": "src",
                                                         "Content-Type": "image/png"})
    copied = api.request("COPY", f"/{container}/src", headers={"Destination": f"{container}/dst"})
    assert copied.status_code == 201
    assert copied.headers["x-copied-from"] == f"{container}/src"
    assert copied.headers["x-copied-from-account"] == demo.account
    got = api.get(f"/{container}/dst")
    assert got.content == data and got.headers["x-object-meta-origin"] == "src"
    assert got.headers["content-type"] == "image/png"
    fresh = api.put(f"/{container}/dst2", headers={"X-Copy-From": f"/{container}/src", "X-Fresh-Metadata": "true",
                                                     "X-Object-Meta-New": "yes"})
    assert fresh.status_code == 201
    head = api.head(f"/{container}/dst2")
    assert head.headers["x-object-meta-new"] == "yes" and "x-object-meta-origin" not in head.headers
    assert api.put(f"/{container}/x", headers={"X-Copy-From": "nocontainer"}).status_code == 412
    assert api.request("COPY", f"/{container}/src").status_code == 412
    assert api.put(f"/{container}/x", headers={"X-Copy-From": f"{container}/missing"}).status_code == 404
    # Across accounts: alt's object, readable by demo through an ACL, copied into demo's container.
    with alt.client() as alt_api:
        source = f"share-{uuid.uuid4().hex[:8]}"
        alt_api.put(f"/{source}", headers={"X-Container-Read": f"{demo.project_id}:*"})
        alt_api.put(f"/{source}/shared", content=b"from alt")
        try:
            across = api.put(f"/{container}/from-alt", headers={"X-Copy-From": f"{source}/shared",
                                                                 "X-Copy-From-Account": alt.account})
            assert across.status_code == 201
            assert api.get(f"/{container}/from-alt").content == b"from alt"
        finally:
            remove_container(alt_api, source)


def test_acls_for_another_project(api: httpx.Client, container: str, demo: User, alt: User) -> None:
    api.put(f"/{container}/secret", content=b"s3cret")
    with alt.client() as alt_api:
        path = f"{demo.storage_url}/{container}/secret"
        assert alt_api.get(path).status_code == 403
        assert alt_api.get(f"{demo.storage_url}/{container}").status_code == 403
        api.post(f"/{container}", headers={"X-Container-Read": f"{alt.project_id}:{alt.user_id}"})
        assert alt_api.get(path).content == b"s3cret"
        assert alt_api.get(f"{demo.storage_url}/{container}").text.splitlines() == ["secret"]
        assert alt_api.put(path, content=b"overwrite").status_code == 403
        api.post(f"/{container}", headers={"X-Container-Write": "alt_demo:alt_demo"})
        assert alt_api.put(f"{demo.storage_url}/{container}/from-alt", content=b"hi").status_code == 201
        assert api.get(f"/{container}/from-alt").content == b"hi"
        # Non-owners do not see the ACLs, owners do.
        assert "x-container-read" not in alt_api.head(f"{demo.storage_url}/{container}").headers
        assert api.head(f"/{container}").headers["x-container-read"] == f"{alt.project_id}:{alt.user_id}"
        # ACLs never let anyone delete or change the container itself.
        assert alt_api.delete(f"{demo.storage_url}/{container}").status_code == 403
        assert alt_api.post(f"{demo.storage_url}/{container}", headers={"X-Container-Meta-A": "b"}
                            ).status_code == 403
    anonymous = httpx.get(f"{demo.storage_url}/{container}/secret")
    assert anonymous.status_code == 401
    api.post(f"/{container}", headers={"X-Container-Read": ".r:*"})
    assert httpx.get(f"{demo.storage_url}/{container}/secret").content == b"s3cret"
    assert httpx.get(f"{demo.storage_url}/{container}").status_code == 401  # no .rlistings
    api.post(f"/{container}", headers={"X-Container-Read": ".r:*,.rlistings"})
    assert httpx.get(f"{demo.storage_url}/{container}").status_code == 200
    bad = api.post(f"/{container}", headers={"X-Container-Write": ".r:*"})
    assert bad.status_code == 400 and b"Referrers not allowed in write ACL" in bad.content


def test_reader_role_is_read_only(api: httpx.Client, container: str, demo: User, admin: User) -> None:
    api.put(f"/{container}/readme", content=b"read me")
    name = f"reader-{uuid.uuid4().hex[:8]}"
    password = uuid.uuid4().hex
    ident = httpx.Client(base_url=f"{demo.cloud.auth_url}/v3", headers={"X-Auth-Token": admin.token}, timeout=30)
    user = ident.post("/users", json={"user": {"name": name, "password": password,
                                               "domain_id": "default"}}).json()["user"]
    role = ident.get("/roles", params={"name": "reader"}).json()["roles"][0]
    assert ident.put(f"/projects/{demo.project_id}/users/{user['id']}/roles/{role['id']}").status_code == 204
    try:
        token = httpx.post(f"{demo.cloud.auth_url}/v3/auth/tokens", json={"auth": {"identity": {
            "methods": ["password"], "password": {"user": {"id": user["id"], "password": password}}},
            "scope": {"project": {"id": demo.project_id}}}}).headers["x-subject-token"]
        reader = httpx.Client(base_url=demo.storage_url, headers={"X-Auth-Token": token}, timeout=30)
        assert reader.get(f"/{container}/readme").content == b"read me"
        assert reader.get(f"/{container}").status_code == 200
        assert reader.put(f"/{container}/w", content=b"no").status_code == 403
        assert reader.delete(f"/{container}/readme").status_code == 403
    finally:
        ident.delete(f"/users/{user['id']}")


def test_container_quotas(api: httpx.Client, container: str) -> None:
    bad = api.post(f"/{container}", headers={"X-Container-Meta-Quota-Bytes": "lots"})
    assert bad.status_code == 400 and bad.content == b"Invalid bytes quota."
    api.post(f"/{container}", headers={"X-Container-Meta-Quota-Bytes": "10", "X-Container-Meta-Quota-Count": "2"})
    assert api.put(f"/{container}/a", content=b"123456").status_code == 201
    over = api.put(f"/{container}/b", content=b"123456")
    assert over.status_code == 413 and over.content == b"Upload exceeds quota."
    assert api.put(f"/{container}/b", content=b"1234").status_code == 201
    assert api.put(f"/{container}/c", content=b"").status_code == 413  # the third object
    api.post(f"/{container}", headers={"X-Remove-Container-Meta-Quota-Bytes": "x",
                                       "X-Remove-Container-Meta-Quota-Count": "x"})
    assert api.put(f"/{container}/c", content=b"123456").status_code == 201


def test_account_quotas_need_reseller_admin(object_cloud, demo: User, admin: User) -> None:
    with demo.client() as api:
        refused = api.post("", headers={"X-Account-Meta-Quota-Bytes": "100"})
        assert refused.status_code == 403
        ident = httpx.Client(base_url=f"{demo.cloud.auth_url}/v3", headers={"X-Auth-Token": admin.token})
        role = ident.get("/roles", params={"name": "ResellerAdmin"}).json()["roles"][0]
        ident.put(f"/projects/{admin.project_id}/users/{admin.user_id}/roles/{role['id']}")
        from tests.object.api.conftest import login

        reseller = login(object_cloud, "admin")
        try:
            with httpx.Client(headers={"X-Auth-Token": reseller.token}) as r:
                assert r.post(demo.storage_url, headers={"X-Account-Quota-Bytes": "2000"}).status_code == 204
                assert api.head("").headers["x-account-quota-bytes"] == "2000"
                name = f"aq-{uuid.uuid4().hex[:8]}"
                api.put(f"/{name}")
                try:
                    used = int(api.head("").headers["x-account-bytes-used"])
                    over = api.put(f"/{name}/big", content=b"x" * (2001 - used + 10))
                    assert over.status_code == 413 and over.content == b"Upload exceeds quota."
                    assert api.put(f"/{name}/small", content=b"x").status_code == 201
                finally:
                    r.post(demo.storage_url, headers={"X-Remove-Account-Quota-Bytes": "x"})
                    remove_container(api, name)
                assert "x-account-quota-bytes" not in api.head("").headers
        finally:
            ident.delete(f"/projects/{admin.project_id}/users/{admin.user_id}/roles/{role['id']}")


def test_cors(api: httpx.Client, container: str, demo: User) -> None:
    api.post(f"/{container}", headers={"X-Container-Meta-Access-Control-Allow-Origin": "http://example.com",
                                       "X-Container-Meta-Access-Control-Max-Age": "60"})
    api.put(f"/{container}/o", content=b"cors", headers={"X-Object-Meta-Tag": "t"})
    url = f"{demo.storage_url}/{container}/o"
    preflight = httpx.options(url, headers={"Origin": "http://example.com", "Access-Control-Request-Method": "GET",
                                            "Access-Control-Request-Headers": "x-auth-token"})
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "http://example.com"
    assert "GET" in preflight.headers["access-control-allow-methods"]
    assert preflight.headers["access-control-max-age"] == "60"
    assert preflight.headers["access-control-allow-headers"] == "x-auth-token"
    refused = httpx.options(url, headers={"Origin": "http://evil.com", "Access-Control-Request-Method": "GET"})
    assert refused.status_code == 401
    actual = api.get(f"/{container}/o", headers={"Origin": "http://example.com"})
    assert actual.headers["access-control-allow-origin"] == "http://example.com"
    assert "x-object-meta-tag" in actual.headers["access-control-expose-headers"]
    assert "access-control-allow-origin" not in api.get(f"/{container}/o",
                                                        headers={"Origin": "http://evil.com"}).headers


def test_versioning_stack_and_history(api: httpx.Client) -> None:
    base = f"v-{uuid.uuid4().hex[:8]}"
    versions, history = base + "-versions", base + "-history"
    for name in (base, versions, history):
        api.put(f"/{name}")
    try:
        both = api.post(f"/{base}", headers={"X-Versions-Location": versions, "X-History-Location": history})
        assert both.status_code == 400
        assert api.post(f"/{base}", headers={"X-Versions-Location": versions}).status_code == 204
        assert api.head(f"/{base}").headers["x-versions-location"] == versions
        for body in (b"one", b"two", b"three"):
            assert api.put(f"/{base}/doc", content=body).status_code == 201
        kept = api.get(f"/{versions}", params={"format": "json"}).json()
        assert len(kept) == 2 and all(o["name"].startswith("003doc/") for o in kept)
        assert api.delete(f"/{base}/doc").status_code == 204
        assert api.get(f"/{base}/doc").content == b"two"
        assert api.delete(f"/{base}/doc").status_code == 204
        assert api.get(f"/{base}/doc").content == b"one"
        assert api.delete(f"/{base}/doc").status_code == 204
        assert api.get(f"/{base}/doc").status_code == 404
        # History mode: every version and a delete marker are kept, the object is really gone.
        assert api.post(f"/{base}", headers={"X-History-Location": history}).status_code == 204
        head = api.head(f"/{base}")
        assert head.headers["x-history-location"] == history and "x-versions-location" not in head.headers
        api.put(f"/{base}/h", content=b"v1")
        api.put(f"/{base}/h", content=b"v2")
        assert api.delete(f"/{base}/h").status_code == 204
        assert api.get(f"/{base}/h").status_code == 404
        kept = api.get(f"/{history}", params={"format": "json"}).json()
        assert [o["content_type"] for o in kept][-1] == "application/x-deleted;swift_versions_deleted=1"
        assert len(kept) == 3
        assert api.post(f"/{base}", headers={"X-Remove-History-Location": "x"}).status_code == 204
        assert "x-history-location" not in api.head(f"/{base}").headers
    finally:
        for name in (base, versions, history):
            remove_container(api, name)


def test_expiring_objects(api: httpx.Client, container: str) -> None:
    assert api.put(f"/{container}/short", content=b"bye", headers={"X-Delete-After": "2"}).status_code == 201
    at = int(time.time()) + 3
    assert api.put(f"/{container}/post", content=b"bye").status_code == 201
    assert api.post(f"/{container}/post", headers={"X-Delete-At": str(at)}).status_code == 202
    head = api.head(f"/{container}/short")
    assert head.status_code == 200 and "x-delete-at" in head.headers
    time.sleep(3.5)
    assert api.get(f"/{container}/short").status_code == 404
    deadline = time.time() + 20
    while time.time() < deadline:
        names = api.get(f"/{container}").text.splitlines()
        if "short" not in names and "post" not in names:
            break
        time.sleep(0.5)
    assert "short" not in names and "post" not in names, "the expirer did not remove the objects"


def test_bulk_delete_and_extract(api: httpx.Client, container: str, tmp_path) -> None:
    import io
    import tarfile

    for compression, param in (("", "tar"), ("gz", "tar.gz"), ("bz2", "tar.bz2")):
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:" + compression) as tar:
            for name, data in ((f"{container}/{param}/one.txt", b"1"), (f"{container}/{param}/two.txt", b"22")):
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        resp = api.put("", params={"extract-archive": param}, content=buffer.getvalue(),
                       headers={"Accept": "application/json"})
        assert resp.status_code == 200
        result = json.loads(resp.content)
        assert result["Response Status"] == "201 Created", result
        assert result["Number Files Created"] == 2
        assert api.get(f"/{container}/{param}/two.txt").content == b"22"
    bad = api.put("", params={"extract-archive": "tar"}, content=b"not a tar")
    assert "400 Bad Request" in bad.text and "Invalid Tar File" in bad.text
    names = api.get(f"/{container}").text.splitlines()
    body = "\n".join(f"/{container}/{n}" for n in names) + f"\n/{container}/missing"
    deleted = api.post("", params={"bulk-delete": ""}, content=body.encode(),
                       headers={"Content-Type": "text/plain", "Accept": "application/json"})
    result = json.loads(deleted.content)
    assert result["Number Deleted"] == len(names) and result["Number Not Found"] == 1
    assert result["Response Status"] == "200 OK"
    plain = api.post("", params={"bulk-delete": ""}, content=f"/{container}/gone".encode(),
                     headers={"Content-Type": "text/plain"})
    assert "Number Not Found: 1" in plain.text


def test_client_disconnect_leaves_nothing(api: httpx.Client, container: str, demo: User) -> None:
    import socket

    host, port = demo.cloud.url.split("//")[1].split(":")
    for size in (100_000, 4 * 1024 * 1024):  # sent at once, and streamed
        sock = socket.create_connection((host, int(port)))
        sock.sendall(f"PUT /object-store/v1/{demo.account}/{container}/half HTTP/1.1\r\nHost: {host}\r\n"
                     f"X-Auth-Token: {demo.token}\r\nContent-Length: {size}\r\n\r\n".encode() + b"x" * (size // 2))
        time.sleep(0.3)
        sock.close()
        time.sleep(0.3)
        assert api.head(f"/{container}/half").status_code == 404
    devices = demo.cloud.data_dir / "object" / "devices"
    leftovers = [p for p in devices.rglob("tmp/*") if p.is_file()]
    assert leftovers == [], leftovers


def test_unicode_names_and_metadata(api: httpx.Client, container: str) -> None:
    name = "dír/日本語 name+%.txt"
    value = "héllo wörld ✓".encode("utf-8")
    from urllib.parse import quote

    path = f"/{container}/{quote(name)}"
    assert api.put(path, content=b"u", headers={b"X-Object-Meta-Greeting": value}).status_code == 201
    got = api.get(path)
    assert got.content == b"u"
    assert got.headers.raw[[k.lower() for k, _ in got.headers.raw].index(b"x-object-meta-greeting")][1] == value
    assert api.get(f"/{container}", params={"format": "json"}).json()[0]["name"] == name
    assert api.get(f"/{container}", params={"prefix": "dír/"}).text.splitlines() == [name]
    copied = api.put(f"/{container}/copy", headers={"X-Copy-From": quote(f"{container}/{name}")})
    assert copied.status_code == 201
    assert api.post(f"/{container}", headers={b"X-Container-Meta-Label": value}).status_code == 204
    head = api.head(f"/{container}")
    assert dict((k.lower(), v) for k, v in head.headers.raw)[b"x-container-meta-label"] == value
