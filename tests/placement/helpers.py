"""Small builders the Placement API tests share."""

from __future__ import annotations

import uuid
from typing import Any

import httpx


async def make_provider(client: httpx.AsyncClient, name: str | None = None, parent: str | None = None,
                        inventories: dict[str, Any] | None = None, traits: list[str] | None = None,
                        aggregates: list[str] | None = None) -> str:
    body: dict[str, Any] = {"name": name or f"rp-{uuid.uuid4().hex[:8]}"}
    if parent:
        body["parent_provider_uuid"] = parent
    response = await client.post("/resource_providers", json=body)
    assert response.status_code == 200, response.text
    rp = response.json()["uuid"]
    generation = 0
    if inventories:
        response = await client.put(f"/resource_providers/{rp}/inventories", json={
            "resource_provider_generation": generation, "inventories": inventories})
        assert response.status_code == 200, response.text
        generation = response.json()["resource_provider_generation"]
    if traits:
        for trait in traits:
            if trait.startswith("CUSTOM_"):
                assert (await client.put(f"/traits/{trait}")).status_code in (201, 204)
        response = await client.put(f"/resource_providers/{rp}/traits", json={
            "resource_provider_generation": generation, "traits": traits})
        assert response.status_code == 200, response.text
        generation = response.json()["resource_provider_generation"]
    if aggregates:
        response = await client.put(f"/resource_providers/{rp}/aggregates", json={
            "resource_provider_generation": generation, "aggregates": aggregates})
        assert response.status_code == 200, response.text
    return rp


def compute_inventory(vcpu: int = 8, memory: int = 16384, disk: int = 100, **extra: Any) -> dict[str, Any]:
    return {"VCPU": {"total": vcpu, **extra}, "MEMORY_MB": {"total": memory}, "DISK_GB": {"total": disk}}


def new_uuid() -> str:
    return str(uuid.uuid4())


def error(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert list(body) == ["errors"] and len(body["errors"]) == 1, body
    return body["errors"][0]


async def allocate(client: httpx.AsyncClient, consumer: str, allocations: dict[str, dict[str, int]],
                   generation: int | None = None, project: str = "project-a", user: str = "user-a",
                   consumer_type: str = "INSTANCE") -> httpx.Response:
    return await client.put(f"/allocations/{consumer}", json={
        "allocations": {rp: {"resources": res} for rp, res in allocations.items()},
        "project_id": project, "user_id": user, "consumer_generation": generation, "consumer_type": consumer_type})
