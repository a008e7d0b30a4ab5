"""Resource providers through the API: CRUD, generations, trees, filters, aggregates, traits,
microversions and Placement's error bodies."""

from __future__ import annotations

import httpx

from tests.placement.helpers import compute_inventory, error, make_provider, new_uuid


async def test_root_is_the_version_document_without_a_token(placement_app):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=placement_app), base_url="http://p") as anon:
        response = await anon.get("/")
        assert response.status_code == 200
        assert response.json() == {"versions": [{"id": "v1.0", "max_version": "1.39", "min_version": "1.0",
                                                 "status": "CURRENT", "links": [{"rel": "self", "href": ""}]}]}
        assert response.headers["openstack-api-version"] == "placement 1.0"
        assert "openstack-api-version" in response.headers["vary"].lower()
        assert (await anon.get("/healthcheck")).status_code == 200
        response = await anon.get("/resource_providers")
        assert response.status_code == 401
        assert "www-authenticate" in response.headers


async def test_microversion_negotiation(client):
    response = await client.get("/", headers={"OpenStack-API-Version": "placement latest"})
    assert response.headers["openstack-api-version"] == "placement 1.39"
    response = await client.get("/", headers={"OpenStack-API-Version": "placement 1.14"})
    assert response.headers["openstack-api-version"] == "placement 1.14"
    response = await client.get("/resource_providers", headers={"OpenStack-API-Version": "placement 1.40"})
    assert response.status_code == 406
    body = error(response)
    assert body["title"] == "Not Acceptable"
    assert "Unacceptable version header: 1.40" in body["detail"]
    assert body["max_version"] == "1.39" and body["min_version"] == "1.0"
    assert body["request_id"] == response.headers["x-openstack-request-id"]
    response = await client.get("/", headers={"OpenStack-API-Version": "placement pony.horse"})
    assert response.status_code == 400
    assert "invalid version string: pony.horse" in error(response)["detail"]


async def test_provider_crud_and_error_bodies(client):
    uuid = new_uuid()
    response = await client.post("/resource_providers", json={"name": "compute-1", "uuid": uuid})
    assert response.status_code == 200
    body = response.json()
    assert body["uuid"] == uuid and body["generation"] == 0 and body["root_provider_uuid"] == uuid
    assert body["parent_provider_uuid"] is None
    assert response.headers["location"].endswith(f"/resource_providers/{uuid}")
    assert {link["rel"] for link in body["links"]} == {"self", "inventories", "usages", "aggregates", "traits",
                                                       "allocations"}
    assert "last-modified" in response.headers and response.headers["cache-control"] == "no-cache"

    # Duplicates are 409 with Placement's code.
    response = await client.post("/resource_providers", json={"name": "compute-1"})
    assert response.status_code == 409
    assert error(response)["code"] == "placement.duplicate_name"
    response = await client.post("/resource_providers", json={"name": "other", "uuid": uuid})
    assert response.status_code == 409 and f"uuid: {uuid}" in error(response)["detail"]

    response = await client.put(f"/resource_providers/{uuid}", json={"name": "compute-1-renamed"})
    assert response.status_code == 200 and response.json()["name"] == "compute-1-renamed"
    assert (await client.get(f"/resource_providers/{uuid}")).json()["name"] == "compute-1-renamed"

    # Bad input: 400 with "JSON does not validate", never a 500.
    response = await client.post("/resource_providers", json={"name": "x", "bogus": 1})
    assert response.status_code == 400 and "JSON does not validate" in error(response)["detail"]
    response = await client.post("/resource_providers", content=b"{nope", headers={"content-type": "application/json"})
    assert response.status_code == 400 and "Malformed JSON" in error(response)["detail"]
    response = await client.post("/resource_providers", content=b"name=x", headers={"content-type": "text/plain"})
    assert response.status_code == 415
    response = await client.get(f"/resource_providers/{uuid}", headers={"accept": "text/html"})
    assert response.status_code == 406

    assert (await client.delete(f"/resource_providers/{uuid}")).status_code == 204
    response = await client.get(f"/resource_providers/{uuid}")
    assert response.status_code == 404
    body = error(response)
    assert body == {"status": 404, "title": "Not Found", "detail": body["detail"], "code": "placement.undefined_code",
                    "request_id": response.headers["x-openstack-request-id"]}
    assert f"No resource provider with uuid {uuid} found" in body["detail"]
    assert (await client.delete(f"/resource_providers/{uuid}")).status_code == 404
    # Before 1.23 there is no code; before 1.20 a create answers 201 without a body.
    response = await client.get(f"/resource_providers/{uuid}", headers={"OpenStack-API-Version": "placement 1.22"})
    assert "code" not in error(response)
    response = await client.post("/resource_providers", json={"name": "old"},
                                 headers={"OpenStack-API-Version": "placement 1.19"})
    assert response.status_code == 201 and response.content == b""


async def test_policy_admin_or_service_only(placement_app, client):
    rp = await make_provider(client)
    transport = httpx.ASGITransport(app=placement_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://p",
                                 headers={"X-Auth-Token": "member-token"}) as member:
        response = await member.get(f"/resource_providers/{rp}")
        assert response.status_code == 403
        assert "placement:resource_providers:show" in error(response)["detail"]
    async with httpx.AsyncClient(transport=transport, base_url="http://p",
                                 headers={"X-Auth-Token": "service-token"}) as service:
        assert (await service.get(f"/resource_providers/{rp}")).status_code == 200
    async with httpx.AsyncClient(transport=transport, base_url="http://p", headers={"X-Auth-Token": "bogus"}) as bad:
        assert (await bad.get(f"/resource_providers/{rp}")).status_code == 401


async def test_nested_trees_and_reparenting(client):
    root = await make_provider(client, "root")
    child = await make_provider(client, "child", parent=root)
    grandchild = await make_provider(client, "grandchild", parent=child)
    other = await make_provider(client, "other")
    body = (await client.get(f"/resource_providers/{grandchild}")).json()
    assert body["parent_provider_uuid"] == child and body["root_provider_uuid"] == root

    tree = (await client.get("/resource_providers", params={"in_tree": grandchild})).json()["resource_providers"]
    assert {p["uuid"] for p in tree} == {root, child, grandchild}
    assert (await client.get("/resource_providers", params={"in_tree": new_uuid()})).json()["resource_providers"] == []

    # A parent cannot be deleted; loops are refused; before 1.37 a parent cannot change.
    response = await client.delete(f"/resource_providers/{root}")
    assert response.status_code == 409
    assert error(response)["code"] == "placement.resource_provider.cannot_delete_parent"
    response = await client.put(f"/resource_providers/{root}", json={"name": "root", "parent_provider_uuid": child})
    assert response.status_code == 400 and "loop" in error(response)["detail"]
    response = await client.put(f"/resource_providers/{child}", json={"name": "child", "parent_provider_uuid": other},
                                headers={"OpenStack-API-Version": "placement 1.36"})
    assert response.status_code == 400 and "re-parenting" in error(response)["detail"]

    # 1.37: move the child (and its grandchild) under another root, then make it a root.
    response = await client.put(f"/resource_providers/{child}", json={"name": "child", "parent_provider_uuid": other})
    assert response.status_code == 200 and response.json()["root_provider_uuid"] == other
    assert (await client.get(f"/resource_providers/{grandchild}")).json()["root_provider_uuid"] == other
    response = await client.put(f"/resource_providers/{child}", json={"name": "child", "parent_provider_uuid": None})
    assert response.json()["root_provider_uuid"] == child and response.json()["parent_provider_uuid"] is None
    assert (await client.get(f"/resource_providers/{grandchild}")).json()["root_provider_uuid"] == child

    # A root may be given a parent from 1.14 on.
    response = await client.put(f"/resource_providers/{other}", json={"name": "other", "parent_provider_uuid": root},
                                headers={"OpenStack-API-Version": "placement 1.14"})
    assert response.status_code == 200 and response.json()["root_provider_uuid"] == root
    response = await client.post("/resource_providers", json={"name": "orphan", "parent_provider_uuid": new_uuid()})
    assert response.status_code == 400 and "parent provider UUID does not exist" in error(response)["detail"]


async def test_list_filters(client):
    agg1, agg2 = new_uuid(), new_uuid()
    big = await make_provider(client, "big", inventories=compute_inventory(vcpu=64), traits=["HW_CPU_X86_AVX2"],
                              aggregates=[agg1])
    small = await make_provider(client, "small", inventories=compute_inventory(vcpu=2), aggregates=[agg2])
    bare = await make_provider(client, "bare")

    async def names(**params):
        response = await client.get("/resource_providers", params=params)
        assert response.status_code == 200, response.text
        return {p["name"] for p in response.json()["resource_providers"]}

    assert await names() == {"big", "small", "bare"}
    assert await names(name="small") == {"small"}
    assert await names(uuid=bare) == {"bare"}
    assert await names(resources="VCPU:4") == {"big"}
    assert await names(resources="VCPU:1,DISK_GB:10") == {"big", "small"}
    assert await names(member_of=agg1) == {"big"}
    assert await names(member_of=f"in:{agg1},{agg2}") == {"big", "small"}
    assert await names(member_of=f"!{agg1}") == {"small", "bare"}
    assert await names(required="HW_CPU_X86_AVX2") == {"big"}
    assert await names(required="!HW_CPU_X86_AVX2") == {"small", "bare"}
    assert await names(required="in:HW_CPU_X86_AVX2,HW_CPU_X86_SSE") == {"big"}
    response = await client.get("/resource_providers", params={"resources": "NOT_A_CLASS:1"})
    assert response.status_code == 400
    response = await client.get("/resource_providers", params={"required": "CUSTOM_NOPE"})
    assert response.status_code == 400 and "No such trait" in error(response)["detail"]
    response = await client.get("/resource_providers", params={"bogus": "1"})
    assert response.status_code == 400 and "Invalid query string parameters" in error(response)["detail"]
    response = await client.get("/resource_providers", params={"member_of": "not-a-uuid"})
    assert response.status_code == 400
    # Filters a microversion does not know are refused.
    response = await client.get("/resource_providers", params={"required": "HW_CPU_X86_AVX2"},
                                headers={"OpenStack-API-Version": "placement 1.17"})
    assert response.status_code == 400
    big_body = (await client.get(f"/resource_providers/{big}")).json()
    assert big_body["name"] == "big" and small != big


async def test_aggregates_with_generations(client):
    rp = await make_provider(client)
    agg = new_uuid()
    response = await client.get(f"/resource_providers/{rp}/aggregates")
    assert response.json() == {"aggregates": [], "resource_provider_generation": 0}
    response = await client.put(f"/resource_providers/{rp}/aggregates",
                                json={"aggregates": [agg], "resource_provider_generation": 0})
    assert response.status_code == 200
    assert response.json() == {"aggregates": [agg], "resource_provider_generation": 1}
    response = await client.put(f"/resource_providers/{rp}/aggregates",
                                json={"aggregates": [], "resource_provider_generation": 0})
    assert response.status_code == 409 and error(response)["code"] == "placement.concurrent_update"
    # 1.1 to 1.18: a bare list, no generation.
    old = {"OpenStack-API-Version": "placement 1.18"}
    response = await client.put(f"/resource_providers/{rp}/aggregates", json=[agg, new_uuid()], headers=old)
    assert response.status_code == 200 and "resource_provider_generation" not in response.json()
    assert len((await client.get(f"/resource_providers/{rp}/aggregates")).json()["aggregates"]) == 2
    response = await client.get(f"/resource_providers/{rp}/aggregates",
                                headers={"OpenStack-API-Version": "placement 1.0"})
    assert response.status_code == 404
    response = await client.put(f"/resource_providers/{rp}/aggregates",
                                json={"aggregates": ["nope"], "resource_provider_generation": 1})
    assert response.status_code == 400


async def test_provider_traits_with_generations(client):
    rp = await make_provider(client)
    assert (await client.put("/traits/CUSTOM_GOLD")).status_code == 201
    response = await client.put(f"/resource_providers/{rp}/traits", json={
        "traits": ["CUSTOM_GOLD", "HW_CPU_X86_AVX2"], "resource_provider_generation": 0})
    assert response.status_code == 200
    assert response.json() == {"traits": ["CUSTOM_GOLD", "HW_CPU_X86_AVX2"], "resource_provider_generation": 1}
    response = await client.put(f"/resource_providers/{rp}/traits", json={
        "traits": [], "resource_provider_generation": 0})
    assert response.status_code == 409 and error(response)["code"] == "placement.concurrent_update"
    response = await client.put(f"/resource_providers/{rp}/traits", json={
        "traits": ["CUSTOM_UNKNOWN"], "resource_provider_generation": 1})
    assert response.status_code == 400 and "No such trait CUSTOM_UNKNOWN" in error(response)["detail"]
    # A trait in use cannot be deleted.
    assert (await client.delete("/traits/CUSTOM_GOLD")).status_code == 409
    assert (await client.delete(f"/resource_providers/{rp}/traits")).status_code == 204
    body = (await client.get(f"/resource_providers/{rp}/traits")).json()
    assert body == {"traits": [], "resource_provider_generation": 2}
    assert (await client.delete("/traits/CUSTOM_GOLD")).status_code == 204


async def test_delete_provider_with_allocations_is_refused(client):
    rp = await make_provider(client, inventories=compute_inventory())
    consumer = new_uuid()
    response = await client.put(f"/allocations/{consumer}", json={
        "allocations": {rp: {"resources": {"VCPU": 1}}}, "project_id": "p", "user_id": "u",
        "consumer_generation": None, "consumer_type": "INSTANCE"})
    assert response.status_code == 204
    response = await client.delete(f"/resource_providers/{rp}")
    assert response.status_code == 409 and error(response)["code"] == "placement.resource_provider.inuse"
    assert (await client.delete(f"/allocations/{consumer}")).status_code == 204
    assert (await client.delete(f"/resource_providers/{rp}")).status_code == 204
