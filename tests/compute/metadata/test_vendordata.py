"""Vendor data providers: the static JSON file and dynamic targets (a real
ASGI app stands in for the operator's vendordata service)."""

from __future__ import annotations

import base64
import json
import pathlib

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from monostack.compute.metadata.vendordata import VendorDataError, fetch_dynamic, load_static

from tests.compute.metadata.sample import PROJECT, USER_DATA, UUID, sample


def test_load_static(tmp_path: pathlib.Path) -> None:
    assert load_static(None) == {}
    path = tmp_path / "vendor.json"
    path.write_text(json.dumps({"ad": {"domain": "example.org"}}))
    assert load_static(path) == {"ad": {"domain": "example.org"}}
    with pytest.raises(VendorDataError, match="No such file"):
        load_static(tmp_path / "missing.json")
    path.write_text("{not json")
    with pytest.raises(VendorDataError, match="not JSON"):
        load_static(path)


@pytest.fixture
def target_client():
    seen: list[tuple[dict, dict]] = []

    async def token(request: Request) -> Response:
        seen.append((json.loads(await request.body()), dict(request.headers)))
        return JSONResponse({"token": "abc"})

    async def broken(request: Request) -> Response:
        return Response("boom", status_code=500)

    async def empty(request: Request) -> Response:
        return Response("")

    app = Starlette(routes=[Route("/token", token, methods=["POST"]),
                            Route("/broken", broken, methods=["POST"]),
                            Route("/empty", empty, methods=["POST"])])
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app))
    client.seen = seen  # type: ignore[attr-defined]
    return client


async def test_fetch_dynamic(target_client) -> None:
    meta = sample()
    async with target_client as client:
        result = await fetch_dynamic(meta, [
            "ad@http://vendor/token", "noname", "ad@http://vendor/broken", "bad@http://vendor/broken",
            "none@http://vendor/empty"], client=client, token="svc-token")
    assert result == {"ad": {"token": "abc"}, "bad": {}, "none": {}}
    body, headers = client.seen[0]
    assert body == {"project-id": PROJECT, "instance-id": UUID, "image-id": meta.image_id,
                    "user-data": base64.b64encode(USER_DATA).decode(), "hostname": "test",
                    "metadata": meta.metadata, "boot-roles": ""}
    assert headers["x-auth-token"] == "svc-token"
    assert headers["user-agent"] == "openstack-nova-vendordata"


async def test_fetch_dynamic_failure_fatal(target_client) -> None:
    async with target_client as client:
        with pytest.raises(VendorDataError, match="bad at http://vendor/broken"):
            await fetch_dynamic(sample(), ["bad@http://vendor/broken"], client=client,
                                failure_fatal=True)
