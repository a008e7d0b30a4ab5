"""Allocations through the API: claims within capacity, consumer generations, several consumers
at once, usages, and the older body formats."""

from __future__ import annotations

from tests.placement.helpers import allocate, compute_inventory, error, make_provider, new_uuid


async def test_claim_read_and_release(client):
    rp = await make_provider(client, inventories=compute_inventory(vcpu=4, memory=4096, disk=40))
    consumer = new_uuid()
    response = await allocate(client, consumer, {rp: {"VCPU": 2, "MEMORY_MB": 2048}})
    assert response.status_code == 204
    body = (await client.get(f"/allocations/{consumer}")).json()
    assert body == {"allocations": {rp: {"generation": 2, "resources": {"VCPU": 2, "MEMORY_MB": 2048}}},
                    "project_id": "project-a", "user_id": "user-a", "consumer_generation": 1,
                    "consumer_type": "INSTANCE"}
    assert (await client.get(f"/resource_providers/{rp}/usages")).json() == {
        "resource_provider_generation": 2, "usages": {"VCPU": 2, "MEMORY_MB": 2048, "DISK_GB": 0}}
    body = (await client.get(f"/resource_providers/{rp}/allocations")).json()
    assert body == {"resource_provider_generation": 2, "allocations": {
        consumer: {"resources": {"VCPU": 2, "MEMORY_MB": 2048}, "consumer_generation": 1}}}

    # Older microversions show less.
    old = (await client.get(f"/allocations/{consumer}", headers={"OpenStack-API-Version": "placement 1.11"})).json()
    assert old == {"allocations": {rp: {"generation": 2, "resources": {"VCPU": 2, "MEMORY_MB": 2048}}}}

    assert (await client.delete(f"/allocations/{consumer}")).status_code == 204
    assert (await client.get(f"/allocations/{consumer}")).json() == {"allocations": {}}
    response = await client.delete(f"/allocations/{consumer}")
    assert response.status_code == 404 and "No allocations for consumer" in error(response)["detail"]
    assert (await client.get(f"/resource_providers/{rp}/usages")).json()["usages"]["VCPU"] == 0


async def test_capacity_and_constraints(client):
    rp = await make_provider(client, inventories={
        "VCPU": {"total": 4, "reserved": 1, "allocation_ratio": 2.0, "max_unit": 4},
        "DISK_GB": {"total": 100, "step_size": 10, "min_unit": 10}})
    # Capacity: (4 - 1) * 2.0 = 6.
    assert (await allocate(client, new_uuid(), {rp: {"VCPU": 4}})).status_code == 204
    response = await allocate(client, new_uuid(), {rp: {"VCPU": 3}})
    assert response.status_code == 409
    assert "The requested amount would exceed the capacity" in error(response)["detail"]
    assert (await allocate(client, new_uuid(), {rp: {"VCPU": 2}})).status_code == 204
    # min_unit, max_unit, step_size.
    for amount in ({"VCPU": 5}, {"DISK_GB": 5}, {"DISK_GB": 15}):
        response = await allocate(client, new_uuid(), {rp: amount})
        assert response.status_code == 409
        assert "would violate inventory constraints" in error(response)["detail"]
    assert (await allocate(client, new_uuid(), {rp: {"DISK_GB": 20}})).status_code == 204
    # A class the provider has no inventory of; a provider or a class that does not exist.
    response = await allocate(client, new_uuid(), {rp: {"MEMORY_MB": 1}})
    assert response.status_code == 409 and "invalid" in error(response)["detail"]
    response = await allocate(client, new_uuid(), {new_uuid(): {"VCPU": 1}})
    assert response.status_code == 400 and "that does not exist" in error(response)["detail"]
    response = await allocate(client, new_uuid(), {rp: {"CUSTOM_NOPE": 1}})
    assert response.status_code == 400 and "No such resource class CUSTOM_NOPE" in error(response)["detail"]
    # A failed claim leaves nothing behind.
    usages = (await client.get(f"/resource_providers/{rp}/usages")).json()["usages"]
    assert usages == {"VCPU": 6, "DISK_GB": 20}
    response = await client.put(f"/allocations/{new_uuid()}", json={
        "allocations": {rp: {"resources": {"VCPU": 0}}}, "project_id": "p", "user_id": "u",
        "consumer_generation": None, "consumer_type": "INSTANCE"})
    assert response.status_code == 400
    response = await client.put("/allocations/not-a-uuid", json={})
    assert response.status_code == 400


async def test_consumer_generations(client):
    rp = await make_provider(client, inventories=compute_inventory())
    consumer = new_uuid()
    # A new consumer must be claimed with generation null.
    response = await allocate(client, consumer, {rp: {"VCPU": 1}}, generation=0)
    assert response.status_code == 409 and error(response)["code"] == "placement.concurrent_update"
    assert (await allocate(client, consumer, {rp: {"VCPU": 1}}, generation=None)).status_code == 204
    response = await allocate(client, consumer, {rp: {"VCPU": 2}}, generation=None)
    assert response.status_code == 409 and "consumer generation conflict" in error(response)["detail"]
    assert (await allocate(client, consumer, {rp: {"VCPU": 2}}, generation=1)).status_code == 204
    body = (await client.get(f"/allocations/{consumer}")).json()
    assert body["consumer_generation"] == 2 and body["allocations"][rp]["resources"] == {"VCPU": 2}
    # An empty allocations object at the right generation removes them (1.28).
    response = await client.put(f"/allocations/{consumer}", json={
        "allocations": {}, "project_id": "project-a", "user_id": "user-a", "consumer_generation": 1,
        "consumer_type": "INSTANCE"})
    assert response.status_code == 409
    response = await client.put(f"/allocations/{consumer}", json={
        "allocations": {}, "project_id": "project-a", "user_id": "user-a", "consumer_generation": 2,
        "consumer_type": "INSTANCE"})
    assert response.status_code == 204
    assert (await client.get(f"/allocations/{consumer}")).json() == {"allocations": {}}
    # consumer_generation is required from 1.28, consumer_type from 1.38.
    response = await client.put(f"/allocations/{consumer}", json={
        "allocations": {rp: {"resources": {"VCPU": 1}}}, "project_id": "p", "user_id": "u",
        "consumer_type": "INSTANCE"})
    assert response.status_code == 400
    response = await client.put(f"/allocations/{consumer}", json={
        "allocations": {rp: {"resources": {"VCPU": 1}}}, "project_id": "p", "user_id": "u",
        "consumer_generation": None})
    assert response.status_code == 400


async def test_post_allocations_moves_a_consumer_atomically(client):
    source_host = await make_provider(client, inventories=compute_inventory(vcpu=4))
    dest_host = await make_provider(client, inventories=compute_inventory(vcpu=4))
    instance, migration = new_uuid(), new_uuid()
    assert (await allocate(client, instance, {source_host: {"VCPU": 2}})).status_code == 204

    # The instance's allocation moves to the migration record; the instance claims the destination.
    response = await client.post("/allocations", json={
        migration: {"allocations": {source_host: {"resources": {"VCPU": 2}}}, "project_id": "project-a",
                    "user_id": "user-a", "consumer_generation": None, "consumer_type": "MIGRATION"},
        instance: {"allocations": {dest_host: {"resources": {"VCPU": 2}}}, "project_id": "project-a",
                   "user_id": "user-a", "consumer_generation": 1, "consumer_type": "INSTANCE"}})
    assert response.status_code == 204, response.text
    assert list((await client.get(f"/allocations/{migration}")).json()["allocations"]) == [source_host]
    assert list((await client.get(f"/allocations/{instance}")).json()["allocations"]) == [dest_host]
    assert (await client.get(f"/resource_providers/{source_host}/usages")).json()["usages"]["VCPU"] == 2

    # All or nothing: one consumer over capacity, nothing changes.
    response = await client.post("/allocations", json={
        migration: {"allocations": {}, "project_id": "project-a", "user_id": "user-a", "consumer_generation": 1,
                    "consumer_type": "MIGRATION"},
        instance: {"allocations": {dest_host: {"resources": {"VCPU": 5}}}, "project_id": "project-a",
                   "user_id": "user-a", "consumer_generation": 2, "consumer_type": "INSTANCE"}})
    assert response.status_code == 409
    assert list((await client.get(f"/allocations/{migration}")).json()["allocations"]) == [source_host]
    # Confirming the migration drops its allocations.
    response = await client.post("/allocations", json={
        migration: {"allocations": {}, "project_id": "project-a", "user_id": "user-a", "consumer_generation": 1,
                    "consumer_type": "MIGRATION"}})
    assert response.status_code == 204
    assert (await client.get(f"/resource_providers/{source_host}/usages")).json()["usages"]["VCPU"] == 0
    assert (await client.post("/allocations", json={}, headers={"OpenStack-API-Version": "placement 1.12"})
            ).status_code == 404


async def test_usages_by_project_user_and_type(client):
    rp = await make_provider(client, inventories=compute_inventory(vcpu=32, memory=65536))
    await allocate(client, new_uuid(), {rp: {"VCPU": 2, "MEMORY_MB": 1024}}, project="p1", user="u1")
    await allocate(client, new_uuid(), {rp: {"VCPU": 4}}, project="p1", user="u2")
    await allocate(client, new_uuid(), {rp: {"VCPU": 1}}, project="p1", user="u2", consumer_type="MIGRATION")
    await allocate(client, new_uuid(), {rp: {"VCPU": 8}}, project="p2", user="u1")

    old = {"OpenStack-API-Version": "placement 1.37"}
    assert (await client.get("/usages", params={"project_id": "p1"}, headers=old)).json() == {
        "usages": {"VCPU": 7, "MEMORY_MB": 1024}}
    assert (await client.get("/usages", params={"project_id": "p1", "user_id": "u2"}, headers=old)).json() == {
        "usages": {"VCPU": 5}}
    assert (await client.get("/usages", params={"project_id": "p1"})).json() == {"usages": {
        "INSTANCE": {"VCPU": 6, "MEMORY_MB": 1024, "consumer_count": 2},
        "MIGRATION": {"VCPU": 1, "consumer_count": 1}}}
    assert (await client.get("/usages", params={"project_id": "p1", "consumer_type": "all"})).json() == {
        "usages": {"all": {"VCPU": 7, "MEMORY_MB": 1024, "consumer_count": 3}}}
    assert (await client.get("/usages", params={"project_id": "p1", "consumer_type": "MIGRATION"})).json() == {
        "usages": {"MIGRATION": {"VCPU": 1, "consumer_count": 1}}}
    assert (await client.get("/usages", params={"project_id": "nobody"})).json() == {"usages": {}}
    response = await client.get("/usages")
    assert response.status_code == 400
    assert (await client.get("/usages", params={"project_id": "p1"},
                             headers={"OpenStack-API-Version": "placement 1.8"})).status_code == 404


async def test_old_microversion_bodies(client):
    rp = await make_provider(client, inventories=compute_inventory())
    consumer = new_uuid()
    # 1.0: a list body, no project or user (the configured placeholder ones are recorded).
    response = await client.put(f"/allocations/{consumer}", headers={"OpenStack-API-Version": "placement 1.0"},
                                json={"allocations": [{"resource_provider": {"uuid": rp}, "resources": {"VCPU": 1}}]})
    assert response.status_code == 204, response.text
    body = (await client.get(f"/allocations/{consumer}")).json()
    assert body["project_id"] == "00000000-0000-0000-0000-000000000000" and body["consumer_type"] == "unknown"
    # 1.8-1.11: project and user required.
    response = await client.put(f"/allocations/{consumer}", headers={"OpenStack-API-Version": "placement 1.8"},
                                json={"allocations": [{"resource_provider": {"uuid": rp}, "resources": {"VCPU": 2}}]})
    assert response.status_code == 400
    # 1.12-1.27: the dict body, no generation check.
    response = await client.put(f"/allocations/{consumer}", headers={"OpenStack-API-Version": "placement 1.27"},
                                json={"allocations": {rp: {"resources": {"VCPU": 3}}}, "project_id": "p",
                                      "user_id": "u"})
    assert response.status_code == 204
    assert (await client.get(f"/allocations/{consumer}")).json()["allocations"][rp]["resources"] == {"VCPU": 3}
    assert (await client.get("/usages", params={"project_id": "p", "consumer_type": "unknown"})).json() == {
        "usages": {"unknown": {"VCPU": 3, "consumer_count": 1}}}


async def test_reshaper_moves_inventory_and_allocations_to_a_child(client):
    host = await make_provider(client, "reshaped-host", inventories={"VCPU": {"total": 8}, "VGPU": {"total": 2}})
    gpu = await make_provider(client, "reshaped-gpu", parent=host)
    vm = new_uuid()
    assert (await allocate(client, vm, {host: {"VCPU": 2, "VGPU": 1}})).status_code == 204
    host_generation = (await client.get(f"/resource_providers/{host}")).json()["generation"]

    def body(host_gen, gpu_gen, vm_gen):
        return {"inventories": {
                    host: {"resource_provider_generation": host_gen, "inventories": {"VCPU": {"total": 8}}},
                    gpu: {"resource_provider_generation": gpu_gen, "inventories": {"VGPU": {"total": 2}}}},
                "allocations": {vm: {"allocations": {host: {"resources": {"VCPU": 2}},
                                                     gpu: {"resources": {"VGPU": 1}}},
                                     "project_id": "project-a", "user_id": "user-a",
                                     "consumer_generation": vm_gen, "consumer_type": "INSTANCE"}}}

    # Stale generations change nothing; neither does leaving the allocation on the removed inventory.
    assert (await client.post("/reshaper", json=body(host_generation - 1, 0, 1))).status_code == 409
    bad = body(host_generation, 0, 1)
    bad["allocations"][vm]["allocations"] = {host: {"resources": {"VCPU": 2, "VGPU": 1}}}
    response = await client.post("/reshaper", json=bad)
    assert response.status_code == 409
    assert set((await client.get(f"/resource_providers/{host}/inventories")).json()["inventories"]) == {"VCPU", "VGPU"}

    assert (await client.post("/reshaper", json=body(host_generation, 0, 1))).status_code == 204
    assert set((await client.get(f"/resource_providers/{host}/inventories")).json()["inventories"]) == {"VCPU"}
    allocations = (await client.get(f"/allocations/{vm}")).json()["allocations"]
    assert allocations[gpu]["resources"] == {"VGPU": 1} and allocations[host]["resources"] == {"VCPU": 2}
    assert (await client.get(f"/resource_providers/{gpu}/usages")).json()["usages"] == {"VGPU": 1}
    response = await client.post("/reshaper", json=body(0, 0, 2), headers={"OpenStack-API-Version": "placement 1.29"})
    assert response.status_code == 404
