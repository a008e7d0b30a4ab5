"""Placement in a real cloud (`monostack up` with identity,placement): the catalog, the version
document and healthcheck under /placement, Keystone tokens, and openstacksdk's placement proxy."""

from __future__ import annotations

import uuid

import httpx
import openstack.config
import openstack.connection
import pytest

from monostack.placement.client import PlacementClient

pytestmark = pytest.mark.filterwarnings("ignore::openstack.warnings.OpenStackDeprecationWarning",
                                        "ignore::PendingDeprecationWarning")


def test_catalog_root_and_healthcheck(placement_cloud):
    base = f"{placement_cloud.url}/placement"
    assert httpx.get(f"{base}/healthcheck").status_code == 200
    root = httpx.get(base + "/")
    assert root.status_code == 200 and root.json()["versions"][0]["max_version"] == "1.39"
    token = placement_cloud.token()
    response = httpx.get(f"{placement_cloud.auth_url}/v3/auth/catalog", headers={"X-Auth-Token": token})
    entries = [e for e in response.json()["catalog"] if e["type"] == "placement"]
    assert entries and entries[0]["name"] == "placement"
    assert {ep["url"] for ep in entries[0]["endpoints"]} == {base}
    response = httpx.get(f"{base}/resource_providers")
    assert response.status_code == 401
    response = httpx.get(f"{base}/resource_providers", headers={"X-Auth-Token": token,
                                                                "OpenStack-API-Version": "placement 1.39"})
    assert response.status_code == 200 and response.headers["openstack-api-version"] == "placement 1.39"
    # A member of a project is not Placement's user.
    member = placement_cloud.token("monostack")
    assert httpx.get(f"{base}/resource_providers", headers={"X-Auth-Token": member}).status_code == 403


def test_openstacksdk_placement_proxy(placement_cloud):
    config = openstack.config.OpenStackConfig(config_files=[str(placement_cloud.clouds_yaml)])
    conn = openstack.connection.Connection(config=config.get_one(cloud="monostack-admin"))
    try:
        name = f"sdk-{uuid.uuid4().hex[:8]}"
        rp = conn.placement.create_resource_provider(name=name)
        assert conn.placement.get_resource_provider(rp.id).name == name
        assert name in [p.name for p in conn.placement.resource_providers()]
        conn.placement.create_resource_provider_inventory(rp, resource_class="VCPU", total=8)
        inventories = list(conn.placement.resource_provider_inventories(rp))
        assert [(i.resource_class, i.total) for i in inventories] == [("VCPU", 8)]
        assert "VCPU" in [rc.name for rc in conn.placement.resource_classes()]
        conn.placement.create_trait("CUSTOM_SDK_TRAIT")
        assert "CUSTOM_SDK_TRAIT" in [t.name for t in conn.placement.traits()]
        conn.placement.delete_resource_provider(rp)
        assert name not in [p.name for p in conn.placement.resource_providers()]
    finally:
        conn.close()


async def test_placement_client_across_http(placement_cloud):
    token = placement_cloud.token()

    async def service_token() -> str:
        return token

    async with PlacementClient(f"{placement_cloud.url}/placement", service_token) as placement:
        host = str(uuid.uuid4())
        await placement.ensure_provider(host, f"cloud-host-{host[:8]}")
        await placement.set_inventory(host, {"VCPU": {"total": 1}})
        found = await placement.allocation_candidates({"VCPU": 1}, in_tree=host)
        assert len(found["allocation_requests"]) == 1
        vm = str(uuid.uuid4())
        assert await placement.claim(vm, found["allocation_requests"][0], "p", "u")
        assert not await placement.claim(str(uuid.uuid4()), found["allocation_requests"][0], "p", "u")
        await placement.delete_allocations(vm)
        await placement.delete_provider(host)
