"""Resource classes and traits: the standard ones from os-resource-classes and os-traits, and
custom ones."""

from __future__ import annotations

import os_resource_classes
import os_traits

from tests.placement.helpers import error, make_provider


async def test_resource_classes(client):
    body = (await client.get("/resource_classes")).json()
    names = [rc["name"] for rc in body["resource_classes"]]
    assert names == list(os_resource_classes.STANDARDS)
    assert body["resource_classes"][0]["links"] == [{"rel": "self", "href": "/resource_classes/VCPU"}]

    response = await client.post("/resource_classes", json={"name": "CUSTOM_BAREMETAL_GOLD"})
    assert response.status_code == 201
    assert response.headers["location"].endswith("/resource_classes/CUSTOM_BAREMETAL_GOLD")
    response = await client.post("/resource_classes", json={"name": "CUSTOM_BAREMETAL_GOLD"})
    assert response.status_code == 409
    for bad in ("BAREMETAL", "CUSTOM_lower", "CUSTOM_"):
        response = await client.post("/resource_classes", json={"name": bad})
        assert response.status_code == 400, bad
    assert (await client.get("/resource_classes/CUSTOM_BAREMETAL_GOLD")).json()["name"] == "CUSTOM_BAREMETAL_GOLD"
    assert (await client.get("/resource_classes/CUSTOM_NOPE")).status_code == 404

    # 1.7+: PUT creates or confirms.
    assert (await client.put("/resource_classes/CUSTOM_FPGA")).status_code == 201
    assert (await client.put("/resource_classes/CUSTOM_FPGA")).status_code == 204
    assert (await client.put("/resource_classes/VCPU")).status_code == 400
    # 1.2-1.6: PUT renames a custom class.
    old = {"OpenStack-API-Version": "placement 1.6"}
    response = await client.put("/resource_classes/CUSTOM_FPGA", json={"name": "CUSTOM_FPGA_X"}, headers=old)
    assert response.status_code == 200 and response.json()["name"] == "CUSTOM_FPGA_X"
    response = await client.put("/resource_classes/VCPU", json={"name": "CUSTOM_VCPU"}, headers=old)
    assert response.status_code == 400

    # A class in use cannot be deleted; a standard one never.
    rp = await make_provider(client, inventories={"CUSTOM_BAREMETAL_GOLD": {"total": 1}})
    response = await client.delete("/resource_classes/CUSTOM_BAREMETAL_GOLD")
    assert response.status_code == 409 and "in use" in error(response)["detail"]
    assert (await client.delete(f"/resource_providers/{rp}")).status_code == 204
    assert (await client.delete("/resource_classes/CUSTOM_BAREMETAL_GOLD")).status_code == 204
    assert (await client.delete("/resource_classes/VCPU")).status_code == 400
    assert (await client.delete("/resource_classes/CUSTOM_BAREMETAL_GOLD")).status_code == 404
    assert (await client.get("/resource_classes", headers={"OpenStack-API-Version": "placement 1.1"})
            ).status_code == 404


async def test_traits(client):
    body = (await client.get("/traits")).json()
    assert set(body["traits"]) == set(os_traits.get_traits())
    assert (await client.put("/traits/CUSTOM_RAID")).status_code == 201
    assert (await client.put("/traits/CUSTOM_RAID")).status_code == 204
    response = await client.put("/traits/NOT_CUSTOM")
    assert response.status_code == 400 and 'start with the prefix "CUSTOM_"' in error(response)["detail"]
    assert (await client.get("/traits/CUSTOM_RAID")).status_code == 204
    assert (await client.get("/traits/CUSTOM_NOPE")).status_code == 404

    listed = (await client.get("/traits", params={"name": "startswith:CUSTOM_"})).json()["traits"]
    assert listed == ["CUSTOM_RAID"]
    listed = (await client.get("/traits", params={"name": "in:CUSTOM_RAID,HW_CPU_X86_AVX2,NOPE"})).json()["traits"]
    assert listed == ["CUSTOM_RAID", "HW_CPU_X86_AVX2"]
    await make_provider(client, traits=["CUSTOM_RAID"])
    assert (await client.get("/traits", params={"associated": "true"})).json()["traits"] == ["CUSTOM_RAID"]
    assert "CUSTOM_RAID" not in (await client.get("/traits", params={"associated": "false"})).json()["traits"]
    assert (await client.get("/traits", params={"associated": "maybe"})).status_code == 400
    assert (await client.get("/traits", params={"name": "CUSTOM_RAID"})).status_code == 400
    assert (await client.delete("/traits/HW_CPU_X86_AVX2")).status_code == 400
    assert (await client.get("/traits", headers={"OpenStack-API-Version": "placement 1.5"})).status_code == 404
