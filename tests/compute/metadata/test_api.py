"""The metadata API over HTTP: instance identification (signed proxy headers
or source address), documents, the password endpoint and the cache."""

from __future__ import annotations

import json

import httpx
import pytest

from monostack.compute.metadata import build_app, sign_instance_id
from monostack.compute.metadata.password import join_password, split_password

from tests.compute.metadata.memory_source import MemorySource
from tests.compute.metadata.sample import KEY, PROJECT, USER_DATA, UUID, sample

SECRET = "proxy-secret"


def client(source: MemorySource, address: str = "10.0.0.5", **kw) -> httpx.AsyncClient:
    app = build_app(source, shared_secret=SECRET, **kw)
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://169.254.169.254")


def signed(uuid: str = UUID, project: str = PROJECT) -> dict[str, str]:
    return {"X-Instance-ID": uuid, "X-Tenant-ID": project,
            "X-Instance-ID-Signature": sign_instance_id(uuid, SECRET),
            "X-Forwarded-For": "10.0.0.5"}


async def test_root_lists_ec2_versions_without_lookup() -> None:
    source = MemorySource()
    async with client(source, address="192.0.2.1") as c:
        resp = await c.get("/")
    assert resp.status_code == 200
    assert resp.text.split("\n")[-2:] == ["2009-04-04", "latest"]
    assert resp.headers["content-type"].startswith("text/plain")
    assert source.calls == []


async def test_signed_proxy_request() -> None:
    source = MemorySource(sample())
    async with client(source, address="127.0.0.1") as c:
        resp = await c.get("/openstack/latest/meta_data.json", headers=signed())
        assert resp.status_code == 200
        assert resp.headers["content-type"] == "application/json"
        assert resp.json()["uuid"] == UUID and resp.json()["public_keys"] == {"mykey": KEY}
        resp = await c.get("/openstack/latest/", headers=signed())
        assert resp.text.startswith("meta_data.json\nuser_data\npassword")
        resp = await c.get("/latest/meta-data/public-keys/0/openssh-key", headers=signed())
        assert resp.text == KEY
        resp = await c.get("/latest/user-data", headers=signed())
        assert resp.content == USER_DATA
        assert "x-openstack-request-id" in resp.headers


async def test_bad_signature_is_403() -> None:
    source = MemorySource(sample())
    async with client(source) as c:
        headers = signed() | {"X-Instance-ID-Signature": sign_instance_id(UUID, "other")}
        resp = await c.get("/openstack/latest/meta_data.json", headers=headers)
        assert resp.status_code == 403
        assert "Invalid proxy request signature." in resp.text
        headers["X-Instance-ID-Signature"] = ""
        assert (await c.get("/latest/meta-data/", headers=headers)).status_code == 403
    assert source.calls == []  # never looked up


@pytest.mark.parametrize("missing, message", [
    ("X-Instance-ID", "X-Instance-ID header is missing from request."),
    ("X-Instance-ID-Signature", "X-Instance-ID-Signature header is missing from request."),
    ("X-Tenant-ID", "X-Tenant-ID header is missing from request."),
])
async def test_missing_proxy_header_is_400(missing: str, message: str) -> None:
    headers = signed()
    del headers[missing]
    async with client(MemorySource(sample())) as c:
        resp = await c.get("/openstack/latest/meta_data.json", headers=headers)
    assert resp.status_code == 400
    assert message in resp.text


async def test_duplicate_instance_header_is_400() -> None:
    headers = list(signed().items()) + [("X-Instance-ID", "other")]
    async with client(MemorySource(sample())) as c:
        resp = await c.get("/openstack/latest/meta_data.json", headers=headers)
    assert resp.status_code == 400 and "Multiple X-Instance-ID" in resp.text


async def test_unknown_instance_or_wrong_tenant_is_404() -> None:
    async with client(MemorySource(sample())) as c:
        other = "3c0a4b0e-0000-4000-8000-000000000000"
        assert (await c.get("/latest/meta-data/", headers=signed(other))).status_code == 404
        resp = await c.get("/latest/meta-data/", headers=signed(project="someone-else"))
        assert resp.status_code == 404


async def test_unknown_path_is_404() -> None:
    async with client(MemorySource(sample())) as c:
        for path in ("/openstack/latest/nothing", "/2001-01-01/meta-data/", "/openapi.json",
                     "/healthcheck",
                     "/openstack/1999-01-01/meta_data.json"):
            resp = await c.get(path, headers=signed())
            assert resp.status_code == 404, path
            assert "The resource could not be found." in resp.text


async def test_lookup_by_source_address() -> None:
    source = MemorySource(sample())
    async with client(source, address="10.0.0.5") as c:
        resp = await c.get("/latest/meta-data/instance-id")
        assert resp.status_code == 200 and resp.text == "i-0000002a"
    assert source.calls == [("address", "10.0.0.5")]
    async with client(source, address="10.0.0.99") as c:
        assert (await c.get("/latest/meta-data/instance-id")).status_code == 404


async def test_forwarded_for_only_when_trusted() -> None:
    source = MemorySource(sample())
    headers = {"X-Forwarded-For": "10.0.0.5, 127.0.0.1"}
    async with client(source, address="127.0.0.1") as c:
        assert (await c.get("/latest/meta-data/", headers=headers)).status_code == 404
    async with client(source, address="127.0.0.1", use_forwarded_for=True) as c:
        resp = await c.get("/openstack/latest/meta_data.json", headers=headers)
        assert resp.status_code == 200 and resp.json()["uuid"] == UUID
    assert ("address", "10.0.0.5") in source.calls


async def test_local_ipv4_falls_back_to_requester() -> None:
    source = MemorySource(sample(network_info=[]))
    async with client(source) as c:
        resp = await c.get("/latest/meta-data/local-ipv4", headers=signed() | {
            "X-Forwarded-For": "10.1.2.3"})
    assert resp.text == "10.1.2.3"


async def test_results_are_cached_briefly() -> None:
    source = MemorySource(sample())
    async with client(source) as c:
        for _ in range(3):
            assert (await c.get("/openstack/latest/meta_data.json", headers=signed())).status_code == 200
    assert source.calls == [("id", UUID)]
    source.calls.clear()
    async with client(source, cache_seconds=0) as c:
        for _ in range(2):
            await c.get("/openstack/latest/meta_data.json", headers=signed())
    assert len(source.calls) == 2


async def test_source_failure_is_500_text() -> None:
    source = MemorySource(sample())
    source.fail = True
    async with client(source) as c:
        resp = await c.get("/openstack/latest/meta_data.json", headers=signed())
    assert resp.status_code == 500
    assert "An unknown error has occurred" in resp.text


async def test_password_post_once() -> None:
    source = MemorySource(sample())
    async with client(source) as c:
        url = "/openstack/latest/password"
        resp = await c.get(url, headers=signed())
        assert resp.status_code == 200 and resp.text == ""
        resp = await c.post(url, headers=signed(), content=b"encrypted-password")
        assert resp.status_code == 200
        assert source.metas[UUID].password == "encrypted-password"
        # seen at once, though the server was cached before the POST
        assert (await c.get(url, headers=signed())).text == "encrypted-password"
        resp = await c.post(url, headers=signed(), content=b"again")
        assert resp.status_code == 409
        assert source.metas[UUID].password == "encrypted-password"
        assert (await c.put(url, headers=signed(), content=b"x")).status_code == 400
        # not on versions before 2013-04-04
        assert (await c.get("/openstack/2012-08-10/password", headers=signed())).status_code == 404


async def test_password_too_large_is_400() -> None:
    source = MemorySource(sample())
    async with client(source) as c:
        resp = await c.post("/openstack/latest/password", headers=signed(), content=b"x" * 1021)
        assert resp.status_code == 400 and "Request is too large." in resp.text
        assert source.metas[UUID].password is None
        resp = await c.post("/openstack/latest/password", headers=signed(), content=b"x" * 1020)
        assert resp.status_code == 200


def test_password_chunks() -> None:
    items = split_password("a" * 300)
    assert items == {"password_0": "a" * 255, "password_1": "a" * 45, "password_2": "",
                     "password_3": ""}
    assert join_password(items | {"other": "x"}) == "a" * 300
    assert join_password(split_password(None)) is None


async def test_json_documents_parse() -> None:
    async with client(MemorySource(sample())) as c:
        for name in ("meta_data.json", "network_data.json", "vendor_data.json", "vendor_data2.json"):
            resp = await c.get(f"/openstack/2018-08-27/{name}", headers=signed())
            assert resp.status_code == 200
            json.loads(resp.content)


async def test_mounted_under_a_prefix() -> None:
    from starlette.applications import Starlette
    from starlette.routing import Mount

    outer = Starlette(routes=[Mount("/metadata", build_app(MemorySource(sample()), shared_secret=SECRET))])
    transport = httpx.ASGITransport(app=outer, client=("10.0.0.5", 1))
    async with httpx.AsyncClient(transport=transport, base_url="http://cloud") as c:
        resp = await c.get("/metadata/openstack/latest/meta_data.json", headers=signed())
        assert resp.status_code == 200 and resp.json()["uuid"] == UUID
        assert (await c.get("/metadata/")).text.endswith("2009-04-04\nlatest")
