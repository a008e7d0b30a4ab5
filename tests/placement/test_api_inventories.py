"""Inventories through the API: per class and all at once, generations, validation, and
inventories in use."""

from __future__ import annotations

from tests.placement.helpers import allocate, error, make_provider, new_uuid


async def test_inventory_lifecycle(client):
    rp = await make_provider(client)
    base = f"/resource_providers/{rp}/inventories"
    assert (await client.get(base)).json() == {"resource_provider_generation": 0, "inventories": {}}

    response = await client.post(base, json={"resource_class": "VCPU", "total": 16, "allocation_ratio": 4.0})
    assert response.status_code == 201
    assert response.json() == {"total": 16, "reserved": 0, "min_unit": 1, "max_unit": 2147483647, "step_size": 1,
                               "allocation_ratio": 4.0, "resource_provider_generation": 1}
    assert response.headers["location"].endswith(f"{base}/VCPU")
    response = await client.post(base, json={"resource_class": "VCPU", "total": 1})
    assert response.status_code == 409 and error(response)["code"] == "placement.concurrent_update"

    response = await client.put(f"{base}/VCPU", json={"total": 32, "reserved": 2, "max_unit": 16,
                                                      "resource_provider_generation": 1})
    assert response.status_code == 200
    assert response.json()["total"] == 32 and response.json()["resource_provider_generation"] == 2
    # A stale generation is a conflict; so is a class the provider does not have (400).
    response = await client.put(f"{base}/VCPU", json={"total": 8, "resource_provider_generation": 1})
    assert response.status_code == 409 and error(response)["code"] == "placement.concurrent_update"
    response = await client.put(f"{base}/DISK_GB", json={"total": 8, "resource_provider_generation": 2})
    assert response.status_code == 400

    response = await client.put(base, json={"resource_provider_generation": 2, "inventories": {
        "VCPU": {"total": 32, "allocation_ratio": 1.5}, "MEMORY_MB": {"total": 65536, "reserved": 512},
        "DISK_GB": {"total": 1000, "step_size": 10}}})
    assert response.status_code == 200
    body = response.json()
    assert body["resource_provider_generation"] == 3
    assert set(body["inventories"]) == {"VCPU", "MEMORY_MB", "DISK_GB"}
    assert (await client.get(f"{base}/MEMORY_MB")).json()["reserved"] == 512
    assert (await client.get(f"{base}/VGPU")).status_code == 404

    assert (await client.delete(f"{base}/DISK_GB")).status_code == 204
    assert set((await client.get(base)).json()["inventories"]) == {"VCPU", "MEMORY_MB"}
    assert (await client.delete(f"{base}/DISK_GB")).status_code == 404
    # DELETE of all inventories: 1.5 on (405 before).
    response = await client.delete(base, headers={"OpenStack-API-Version": "placement 1.4"})
    assert response.status_code == 405
    assert (await client.delete(base)).status_code == 204
    assert (await client.get(base)).json()["inventories"] == {}
    assert (await client.get(f"/resource_providers/{new_uuid()}/inventories")).status_code == 404


async def test_inventory_validation(client):
    rp = await make_provider(client)
    base = f"/resource_providers/{rp}/inventories"
    bad_bodies = [
        {"resource_provider_generation": 0, "inventories": {"VCPU": {"total": 0}}},
        {"resource_provider_generation": 0, "inventories": {"VCPU": {"total": -1}}},
        {"resource_provider_generation": 0, "inventories": {"VCPU": {"total": 4, "bogus": 1}}},
        {"resource_provider_generation": 0, "inventories": {"vcpu": {"total": 4}}},
        {"resource_provider_generation": 0, "inventories": {"VCPU": {"total": "4"}}},
        {"inventories": {"VCPU": {"total": 4}}},
        {"resource_provider_generation": 0, "inventories": {"VCPU": {"total": 4, "min_unit": 5, "max_unit": 2}}},
        {"resource_provider_generation": 0, "inventories": {"VCPU": {"total": 4, "reserved": 5}}},
    ]
    for body in bad_bodies:
        response = await client.put(base, json=body)
        assert response.status_code == 400, (body, response.text)
        assert error(response)["status"] == 400
    response = await client.put(base, json={"resource_provider_generation": 0,
                                            "inventories": {"CUSTOM_UNKNOWN": {"total": 4}}})
    assert response.status_code == 400 and "CUSTOM_UNKNOWN" in error(response)["detail"]
    # reserved == total: allowed from 1.26, not before.
    body = {"resource_provider_generation": 0, "inventories": {"VCPU": {"total": 4, "reserved": 4}}}
    assert (await client.put(base, json=body, headers={"OpenStack-API-Version": "placement 1.25"})).status_code == 400
    assert (await client.put(base, json=body)).status_code == 200


async def test_inventory_in_use(client):
    rp = await make_provider(client, inventories={"VCPU": {"total": 8}, "DISK_GB": {"total": 100}})
    base = f"/resource_providers/{rp}/inventories"
    assert (await allocate(client, new_uuid(), {rp: {"VCPU": 6}})).status_code == 204
    generation = (await client.get(base)).json()["resource_provider_generation"]

    # Removing an inventory that has allocations is refused, in every form.
    response = await client.put(base, json={"resource_provider_generation": generation,
                                            "inventories": {"DISK_GB": {"total": 100}}})
    assert response.status_code == 409 and error(response)["code"] == "placement.inventory.inuse"
    assert (await client.delete(f"{base}/VCPU")).status_code == 409
    response = await client.delete(base)
    assert response.status_code == 409 and error(response)["code"] == "placement.inventory.inuse"
    assert "VCPU" in (await client.get(base)).json()["inventories"]

    # Shrinking below what is allocated is allowed (as in Placement); nothing new fits until usage drops.
    response = await client.put(f"{base}/VCPU", json={"total": 4, "resource_provider_generation": generation})
    assert response.status_code == 200
    response = await allocate(client, new_uuid(), {rp: {"VCPU": 1}})
    assert response.status_code == 409
    assert (await client.get(f"/resource_providers/{rp}/usages")).json()["usages"]["VCPU"] == 6
