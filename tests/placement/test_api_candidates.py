"""Allocation candidates through the API: capacity, traits, aggregates, trees, limit,
granular groups, and the answer's shape at older microversions."""

from __future__ import annotations

from tests.placement.helpers import allocate, compute_inventory, error, make_provider, new_uuid

FLAVOR = {"resources": "VCPU:2,MEMORY_MB:2048,DISK_GB:20"}


async def candidates(client, params, version=None):
    headers = {"OpenStack-API-Version": f"placement {version}"} if version else {}
    response = await client.get("/allocation_candidates", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def providers_of(body):
    return [set(request["allocations"]) for request in body["allocation_requests"]]


async def test_candidates_follow_capacity(client):
    big = await make_provider(client, "big", inventories=compute_inventory(vcpu=16))
    small = await make_provider(client, "small", inventories=compute_inventory(vcpu=2))
    await make_provider(client, "no-disk", inventories={"VCPU": {"total": 64}, "MEMORY_MB": {"total": 65536}})
    body = await candidates(client, FLAVOR)
    assert providers_of(body) == [{big}, {small}]
    request = body["allocation_requests"][0]
    assert request == {"allocations": {big: {"resources": {"VCPU": 2, "MEMORY_MB": 2048, "DISK_GB": 20}}},
                       "mappings": {"": [big]}}
    assert body["provider_summaries"][big] == {
        "resources": {"VCPU": {"capacity": 16, "used": 0}, "MEMORY_MB": {"capacity": 16384, "used": 0},
                      "DISK_GB": {"capacity": 100, "used": 0}},
        "traits": [], "parent_provider_uuid": None, "root_provider_uuid": big}

    # Filling `small` removes it; the summary shows usage.
    assert (await allocate(client, new_uuid(), {small: {"VCPU": 1}})).status_code == 204
    body = await candidates(client, FLAVOR)
    assert providers_of(body) == [{big}]
    assert set(body["provider_summaries"]) == {big}
    assert (await allocate(client, new_uuid(), {big: {"VCPU": 15}})).status_code == 204
    assert await candidates(client, FLAVOR) == {"allocation_requests": [], "provider_summaries": {}}


async def test_limit(client):
    hosts = [await make_provider(client, f"host-{i}", inventories=compute_inventory()) for i in range(5)]
    body = await candidates(client, {**FLAVOR, "limit": "2"})
    assert providers_of(body) == [{hosts[0]}, {hosts[1]}]
    assert set(body["provider_summaries"]) == {hosts[0], hosts[1]}
    assert len((await candidates(client, FLAVOR))["allocation_requests"]) == 5
    for bad in ("0", "-1", "x"):
        response = await client.get("/allocation_candidates", params={**FLAVOR, "limit": bad})
        assert response.status_code == 400


async def test_required_and_forbidden_traits(client):
    avx = await make_provider(client, "avx", inventories=compute_inventory(), traits=["HW_CPU_X86_AVX2"])
    ssd = await make_provider(client, "ssd", inventories=compute_inventory(),
                              traits=["HW_CPU_X86_AVX2", "STORAGE_DISK_SSD"])
    plain = await make_provider(client, "plain", inventories=compute_inventory())
    assert providers_of(await candidates(client, {**FLAVOR, "required": "HW_CPU_X86_AVX2"})) == [{avx}, {ssd}]
    assert providers_of(await candidates(client, {**FLAVOR, "required": "HW_CPU_X86_AVX2,!STORAGE_DISK_SSD"})) == [
        {avx}]
    assert providers_of(await candidates(client, {**FLAVOR, "required": "!HW_CPU_X86_AVX2"})) == [{plain}]
    body = await candidates(client, [("resources", FLAVOR["resources"]),
                                     ("required", "in:STORAGE_DISK_SSD,COMPUTE_TRUSTED_CERTS"),
                                     ("required", "HW_CPU_X86_AVX2")])
    assert providers_of(body) == [{ssd}]
    assert body["provider_summaries"][ssd]["traits"] == ["HW_CPU_X86_AVX2", "STORAGE_DISK_SSD"]
    response = await client.get("/allocation_candidates", params={**FLAVOR, "required": "CUSTOM_NOT_THERE"})
    assert response.status_code == 400 and "No such trait" in error(response)["detail"]
    response = await client.get("/allocation_candidates",
                                params={**FLAVOR, "required": "HW_CPU_X86_AVX2,!HW_CPU_X86_AVX2"})
    assert response.status_code == 400 and "Conflicting required and forbidden" in error(response)["detail"]
    # root_required (1.35).
    assert providers_of(await candidates(client, {**FLAVOR, "root_required": "!STORAGE_DISK_SSD"})) == [{avx}, {plain}]


async def test_member_of_and_in_tree(client):
    agg_a, agg_b = new_uuid(), new_uuid()
    in_a = await make_provider(client, "in-a", inventories=compute_inventory(), aggregates=[agg_a])
    in_b = await make_provider(client, "in-b", inventories=compute_inventory(), aggregates=[agg_b])
    await make_provider(client, "in-none", inventories=compute_inventory())
    assert providers_of(await candidates(client, {**FLAVOR, "member_of": agg_a})) == [{in_a}]
    assert providers_of(await candidates(client, {**FLAVOR, "member_of": f"in:{agg_a},{agg_b}"})) == [{in_a}, {in_b}]
    assert len((await candidates(client, {**FLAVOR, "member_of": f"!in:{agg_a},{agg_b}"}))["allocation_requests"]) == 1
    body = await candidates(client, [("resources", FLAVOR["resources"]), ("member_of", agg_a), ("member_of", agg_b)])
    assert body["allocation_requests"] == []
    assert providers_of(await candidates(client, {**FLAVOR, "in_tree": in_b})) == [{in_b}]
    assert (await candidates(client, {**FLAVOR, "in_tree": new_uuid()}))["allocation_requests"] == []
    response = await client.get("/allocation_candidates", params={**FLAVOR, "member_of": "nope"})
    assert response.status_code == 400


async def test_nested_tree_spreads_the_unsuffixed_group(client):
    host = await make_provider(client, "host", inventories={"VCPU": {"total": 8}, "MEMORY_MB": {"total": 8192}},
                               traits=["HW_CPU_X86_AVX2"])
    numa0 = await make_provider(client, "host-gpu0", parent=host, inventories={"VGPU": {"total": 1}})
    numa1 = await make_provider(client, "host-gpu1", parent=host, inventories={"VGPU": {"total": 2}})
    body = await candidates(client, {"resources": "VCPU:1,VGPU:1"})
    assert providers_of(body) == [{host, numa0}, {host, numa1}]
    assert body["allocation_requests"][0]["allocations"] == {host: {"resources": {"VCPU": 1}},
                                                             numa0: {"resources": {"VGPU": 1}}}
    assert set(body["provider_summaries"]) == {host, numa0, numa1}
    assert body["provider_summaries"][numa1]["parent_provider_uuid"] == host
    # Required traits may be carried by any provider of the candidate.
    assert len((await candidates(client, {"resources": "VCPU:1,VGPU:1",
                                          "required": "HW_CPU_X86_AVX2"}))["allocation_requests"]) == 2
    # Before 1.29 nested trees are not candidates.
    assert (await candidates(client, {"resources": "VCPU:1,VGPU:1"}, "1.28"))["allocation_requests"] == []
    # Granular: the VGPU group on one provider, which must be a different one per group with isolate.
    body = await candidates(client, {"resources": "VCPU:1", "resources1": "VGPU:1", "resources2": "VGPU:1",
                                     "group_policy": "isolate"})
    assert [r["mappings"] for r in body["allocation_requests"]] == [
        {"": [host], "1": [numa0], "2": [numa1]}, {"": [host], "1": [numa1], "2": [numa0]}]
    body = await candidates(client, {"resources": "VCPU:1", "resources1": "VGPU:1", "resources2": "VGPU:1",
                                     "group_policy": "none"})
    # With none, both groups may land on gpu1 (capacity 2) but never twice on gpu0 (capacity 1).
    mappings = [r["mappings"] for r in body["allocation_requests"]]
    assert {"": [host], "1": [numa1], "2": [numa1]} in mappings
    assert {"": [host], "1": [numa0], "2": [numa0]} not in mappings
    merged = next(r for r in body["allocation_requests"] if r["mappings"]["1"] == r["mappings"]["2"])
    assert merged["allocations"][numa1] == {"resources": {"VGPU": 2}}
    # same_subtree (1.36): a resourceless group naming the host.
    body = await candidates(client, {"resources1": "VGPU:1", "required_host": "HW_CPU_X86_AVX2",
                                     "same_subtree": "1,_host", "group_policy": "none"})
    assert [r["mappings"] for r in body["allocation_requests"]] == [{"1": [numa0], "_host": [host]},
                                                                     {"1": [numa1], "_host": [host]}]


async def test_granular_groups_on_flat_hosts(client):
    a = await make_provider(client, "a", inventories=compute_inventory(vcpu=4), traits=["CUSTOM_FAST"])
    b = await make_provider(client, "b", inventories=compute_inventory(vcpu=4))
    body = await candidates(client, {"resources1": "VCPU:1", "required1": "CUSTOM_FAST"})
    assert providers_of(body) == [{a}]
    body = await candidates(client, {"resources": "DISK_GB:10", "resources1": "VCPU:2,MEMORY_MB:1024",
                                     "member_of1": new_uuid()})
    assert body["allocation_requests"] == []
    body = await candidates(client, {"resources": "DISK_GB:10", "resources1": "VCPU:2,MEMORY_MB:1024"})
    assert providers_of(body) == [{a}, {b}]
    assert body["allocation_requests"][1]["allocations"] == {b: {"resources": {
        "DISK_GB": 10, "VCPU": 2, "MEMORY_MB": 1024}}}
    # Two numbered groups need group_policy; groups without resources are refused before 1.36.
    response = await client.get("/allocation_candidates", params={"resources1": "VCPU:1", "resources2": "VCPU:1"})
    assert response.status_code == 400 and "group_policy" in error(response)["detail"]
    response = await client.get("/allocation_candidates", params={"resources": "VCPU:1", "required1": "CUSTOM_FAST"},
                                headers={"OpenStack-API-Version": "placement 1.35"})
    assert response.status_code == 400
    response = await client.get("/allocation_candidates", params={"resources": "VCPU:1", "required1": "CUSTOM_FAST"})
    assert response.status_code == 400 and "same_subtree" in error(response)["detail"]


async def test_old_microversion_shapes_and_bad_requests(client):
    host = await make_provider(client, "host", inventories=compute_inventory(), traits=["HW_CPU_X86_AVX2"])
    body = await candidates(client, {"resources": "VCPU:1"}, "1.10")
    assert body["allocation_requests"] == [{"allocations": [{"resource_provider": {"uuid": host},
                                                             "resources": {"VCPU": 1}}]}]
    assert body["provider_summaries"] == {host: {"resources": {"VCPU": {"capacity": 8, "used": 0}}}}
    body = await candidates(client, {"resources": "VCPU:1"}, "1.17")
    assert body["allocation_requests"] == [{"allocations": {host: {"resources": {"VCPU": 1}}}}]
    assert body["provider_summaries"][host]["traits"] == ["HW_CPU_X86_AVX2"]
    assert set(body["provider_summaries"][host]["resources"]) == {"VCPU"}
    body = await candidates(client, {"resources": "VCPU:1"}, "1.27")
    assert set(body["provider_summaries"][host]["resources"]) == {"VCPU", "MEMORY_MB", "DISK_GB"}
    assert "mappings" not in body["allocation_requests"][0]

    for params, fragment in (({}, "At least one request group"), ({"resources": ""}, "Badly formed"),
                             ({"resources": "VCPU"}, "Badly formed"), ({"resources": "VCPU:0"}, "amount >= 1"),
                             ({"resources": "NOT_A_CLASS:1"}, "Invalid resource class"),
                             ({"resources": "VCPU:1", "bogus": "1"}, "Invalid query string"),
                             ({"resources": "VCPU:1", "group_policy": "sometimes"}, "Invalid query string")):
        response = await client.get("/allocation_candidates", params=params,
                                    headers={"OpenStack-API-Version": "placement 1.35"})
        assert response.status_code == 400, params
        assert fragment in error(response)["detail"], (params, error(response)["detail"])
    response = await client.get("/allocation_candidates", params={"resources": "VCPU:1"},
                                headers={"OpenStack-API-Version": "placement 1.9"})
    assert response.status_code == 404
