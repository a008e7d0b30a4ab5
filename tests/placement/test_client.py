"""The PlacementClient the scheduler and agents use, against the API in process."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from monostack.common import errors
from monostack.placement.client import PlacementClient
from tests.placement.helpers import new_uuid


@pytest.fixture
async def placement(placement_app):
    tokens = []

    async def token() -> str:
        tokens.append(1)
        return "service-token"

    client = PlacementClient("http://placement/", token, transport=httpx.ASGITransport(app=placement_app))
    yield client
    await client.close()
    assert tokens


async def test_agent_reports_a_host(placement):
    host, gpu = new_uuid(), new_uuid()
    provider = await placement.ensure_provider(host, "compute-1")
    assert provider["uuid"] == host and provider["generation"] == 0
    assert (await placement.ensure_provider(host, "compute-1"))["uuid"] == host  # idempotent
    child = await placement.ensure_provider(gpu, "compute-1-gpu", parent_uuid=host)
    assert child["root_provider_uuid"] == host

    inventory = {"VCPU": {"total": 8, "allocation_ratio": 4.0}, "MEMORY_MB": {"total": 16384, "reserved": 512},
                 "DISK_GB": {"total": 100}}
    await placement.set_inventory(host, inventory)
    generation = (await placement.get_inventories(host))["resource_provider_generation"]
    await placement.set_inventory(host, inventory)  # unchanged: nothing written
    assert (await placement.get_inventories(host))["resource_provider_generation"] == generation
    await placement.set_inventory(gpu, {"VGPU": {"total": 2}})

    await placement.set_traits(host, ["HW_CPU_X86_AVX2", "CUSTOM_MONOSTACK"])
    assert (await placement.get_traits(host))["traits"] == ["CUSTOM_MONOSTACK", "HW_CPU_X86_AVX2"]
    agg = new_uuid()
    await placement.set_aggregates(host, [agg])
    assert (await placement.get_aggregates(host))["aggregates"] == [agg]

    assert [p["uuid"] for p in await placement.list_providers(in_tree=gpu)] == [host, gpu]
    assert [p["uuid"] for p in await placement.list_providers(member_of=[agg])] == [host]
    assert [p["uuid"] for p in await placement.list_providers(resources={"VGPU": 1})] == [gpu]

    with pytest.raises(errors.Conflict) as raised:  # a parent cannot be deleted
        await placement.delete_provider(host)
    assert raised.value.details["code"] == "placement.resource_provider.cannot_delete_parent"
    await placement.delete_provider(gpu)
    await placement.delete_provider(gpu)  # already gone: fine
    with pytest.raises(errors.NotFound):
        await placement.get_provider(gpu)


async def test_set_inventory_retries_on_a_concurrent_change(placement):
    host = new_uuid()
    await placement.ensure_provider(host, "busy")
    await asyncio.gather(*(placement.set_inventory(host, {"VCPU": {"total": n + 1}}) for n in range(5)))
    totals = (await placement.get_inventories(host))["inventories"]["VCPU"]["total"]
    assert totals in range(1, 6)


async def test_scheduler_claims_moves_and_releases(placement):
    hosts = [new_uuid() for _ in range(3)]
    for n, host in enumerate(hosts):
        await placement.ensure_provider(host, f"host-{n}")
        await placement.set_inventory(host, {"VCPU": {"total": 2}, "MEMORY_MB": {"total": 2048}})
    await placement.set_traits(hosts[2], ["HW_CPU_X86_AVX2"])

    found = await placement.allocation_candidates({"VCPU": 2, "MEMORY_MB": 1024}, limit=2)
    assert len(found["allocation_requests"]) == 2 and len(found["provider_summaries"]) == 2
    found = await placement.allocation_candidates({"VCPU": 1}, required=["HW_CPU_X86_AVX2"])
    assert [list(r["allocations"]) for r in found["allocation_requests"]] == [[hosts[2]]]
    found = await placement.allocation_candidates({"VCPU": 1}, forbidden=["HW_CPU_X86_AVX2"], in_tree=hosts[1])
    assert [list(r["allocations"]) for r in found["allocation_requests"]] == [[hosts[1]]]

    # Two instances want the whole of the first candidate: the second claim fails, then takes the next.
    found = await placement.allocation_candidates({"VCPU": 2, "MEMORY_MB": 1024})
    first, second = found["allocation_requests"][:2]
    vm1, vm2 = new_uuid(), new_uuid()
    assert await placement.claim(vm1, first, "project", "user") is True
    assert await placement.claim(vm2, first, "project", "user") is False
    assert await placement.claim(vm2, second, "project", "user") is True
    allocations = await placement.get_allocations(vm1)
    assert allocations["consumer_generation"] == 1 and allocations["project_id"] == "project"
    assert await placement.provider_usages(hosts[0]) == {"VCPU": 2, "MEMORY_MB": 1024}
    assert await placement.usages("project") == {"INSTANCE": {"VCPU": 4, "MEMORY_MB": 2048, "consumer_count": 2}}

    # A stale consumer generation is a Conflict for put_allocations.
    with pytest.raises(errors.Conflict):
        await placement.put_allocations(vm1, allocations["allocations"], "project", "user", 0)

    # Resize: the instance's allocations move to the migration record.
    migration = new_uuid()
    assert await placement.move_allocations(vm1, migration) is True
    assert (await placement.get_allocations(vm1))["allocations"] == {}
    moved = await placement.get_allocations(migration)
    assert list(moved["allocations"]) == [hosts[0]] and moved["consumer_type"] == "MIGRATION"
    assert await placement.move_allocations(vm1, migration) is False

    await placement.delete_allocations(migration)
    await placement.delete_allocations(migration)  # none left: fine
    assert await placement.provider_usages(hosts[0]) == {"VCPU": 0, "MEMORY_MB": 0}
    assert await placement.provider_allocations(hosts[1]) == {
        vm2: {"resources": {"VCPU": 2, "MEMORY_MB": 1024}, "consumer_generation": 1}}


async def test_errors_carry_status_and_code(placement_app):
    async def bad_token() -> str:
        return "bogus"

    client = PlacementClient("http://placement", bad_token, transport=httpx.ASGITransport(app=placement_app))
    with pytest.raises(errors.Unauthorized):
        await client.get_provider(new_uuid())
    await client.close()
