"""Server metadata and tags through the API: reads, merges and replacements, locks, states,
quota and validation, and the extension list."""

from __future__ import annotations

import uuid

import pytest

from monostack.compute import models
from tests.compute.api.harness import DEMO_PROJECT, add_server


def set_row(svc, server_uuid: str, **fields) -> None:
    with svc.db.writer() as session:
        session.query(models.Instance).filter_by(uuid=server_uuid).update(fields)


async def test_metadata_round_trip(compute_api, compute_svc) -> None:
    server = add_server(compute_svc)
    demo = compute_api.as_("demo")
    url = f"/servers/{server.uuid}/metadata"
    assert (await demo.get(url)).json() == {"metadata": {}}
    replaced = await demo.put(url, json={"metadata": {"a": "1", "b": "2"}})
    assert replaced.status_code == 200 and replaced.json() == {"metadata": {"a": "1", "b": "2"}}
    merged = await demo.post(url, json={"metadata": {"b": "two", "c": "3"}})
    assert merged.json() == {"metadata": {"a": "1", "b": "two", "c": "3"}}
    assert (await demo.get(f"{url}/b")).json() == {"meta": {"b": "two"}}
    assert (await demo.put(f"{url}/d", json={"meta": {"d": "4"}})).json() == {"meta": {"d": "4"}}
    mismatch = await demo.put(f"{url}/d", json={"meta": {"e": "4"}})
    assert mismatch.status_code == 400 and mismatch.json()["badRequest"]["message"] == "Request body and URI mismatch"
    assert (await demo.put(f"{url}/d", json={"meta": {"d": "4", "e": "5"}})).status_code == 400
    assert (await demo.delete(f"{url}/a")).status_code == 204
    missing = await demo.get(f"{url}/a")
    assert missing.status_code == 404 and missing.json()["itemNotFound"]["message"] == "Metadata item was not found"
    assert (await demo.delete(f"{url}/a")).status_code == 404
    assert (await demo.put(url, json={"metadata": {"b": "x"}})).json() == {"metadata": {"b": "x"}}
    assert (await demo.get(url)).json() == {"metadata": {"b": "x"}}
    assert (await demo.put(url, json={"metadata": {}})).json() == {"metadata": {}}


@pytest.mark.parametrize("body", [{"metadata": {"k": "v" * 256}}, {"metadata": {"k" * 256: "v"}},
                                  {"metadata": {"bad/key": "v"}}, {"metadata": {"k": 1}}, {"metadata": []},
                                  {"meta": {"k": "v"}}])
async def test_metadata_validation(compute_api, compute_svc, body) -> None:
    server = add_server(compute_svc)
    assert (await compute_api.as_("demo").post(f"/servers/{server.uuid}/metadata", json=body)).status_code == 400


async def test_metadata_locks_states_quota_and_visibility(compute_api, compute_svc) -> None:
    server = add_server(compute_svc)
    demo = compute_api.as_("demo")
    url = f"/servers/{server.uuid}/metadata"
    set_row(compute_svc, server.uuid, locked=True)
    locked = await demo.post(url, json={"metadata": {"a": "1"}})
    assert locked.status_code == 409
    assert locked.json()["conflictingRequest"]["message"] == f"Instance {server.uuid} is locked"
    assert (await compute_api.post(url, json={"metadata": {"a": "1"}})).status_code == 200  # admins may
    set_row(compute_svc, server.uuid, locked=False, vm_state="building", task_state="spawning")
    building = await demo.delete(f"{url}/a")
    assert building.status_code == 409
    assert building.json()["conflictingRequest"]["message"] == (
        f"Cannot 'delete metadata' instance {server.uuid} while it is in vm_state building")
    set_row(compute_svc, server.uuid, vm_state="active", task_state="rebooting")
    busy = await demo.post(url, json={"metadata": {"b": "1"}})
    assert busy.status_code == 409 and "task_state rebooting" in busy.text
    set_row(compute_svc, server.uuid, task_state=None)
    await compute_api.put(f"/os-quota-sets/{DEMO_PROJECT}", json={"quota_set": {"metadata_items": 2}})
    assert (await demo.post(url, json={"metadata": {"b": "2"}})).status_code == 200
    over = await demo.post(url, json={"metadata": {"c": "3"}})
    assert over.status_code == 403
    assert over.json()["forbidden"]["message"] == "Maximum number of metadata items exceeds 2"
    assert (await demo.get(url)).json() == {"metadata": {"a": "1", "b": "2"}}
    # Other projects see no such server; readers may read but not write.
    assert (await compute_api.as_("alt").get(url)).status_code == 404
    assert (await compute_api.as_("reader").get(url)).status_code == 200
    assert (await compute_api.as_("reader").post(url, json={"metadata": {"a": "1"}})).status_code == 403
    assert (await demo.get(f"/servers/{uuid.uuid4()}/metadata")).status_code == 404


async def test_tags(compute_api, compute_svc) -> None:
    server = add_server(compute_svc)
    api = compute_api.as_("demo", "2.26")
    url = f"/servers/{server.uuid}/tags"
    assert (await compute_api.as_("demo").get(url)).status_code == 404  # before 2.26
    assert (await api.get(url)).json() == {"tags": []}
    created = await api.put(f"{url}/web")
    assert created.status_code == 201
    assert created.headers["Location"] == f"http://compute.test/v2.1/servers/{server.uuid}/tags/web"
    assert (await api.put(f"{url}/web")).status_code == 204
    assert (await api.get(f"{url}/web")).status_code == 204
    missing = await api.get(f"{url}/db")
    assert missing.status_code == 404 and missing.json()["itemNotFound"]["message"] == (
        f"Server {server.uuid} has no tag 'db'")
    replaced = await api.put(url, json={"tags": ["b", "a", "b"]})
    assert replaced.status_code == 200 and replaced.json() == {"tags": ["a", "b"]}
    assert (await api.get(url)).json() == {"tags": ["a", "b"]}
    assert (await api.delete(f"{url}/a")).status_code == 204
    assert (await api.delete(f"{url}/a")).status_code == 404
    assert (await api.delete(url)).status_code == 204
    assert (await api.get(url)).json() == {"tags": []}
    for bad in ({"tags": ["a,b"]}, {"tags": ["a/b"]}, {"tags": [""]}, {"tags": ["x" * 61]},
                {"tags": [str(n) for n in range(51)]}, {"tag": []}):
        assert (await api.put(url, json=bad)).status_code == 400, bad
    assert (await api.put(f"{url}/{'x' * 61}")).status_code == 400
    assert (await api.put(f"{url}/a,b")).status_code == 400
    await api.put(url, json={"tags": [str(n) for n in range(50)]})
    full = await api.put(f"{url}/one-more")
    assert full.status_code == 400
    assert full.json()["badRequest"]["message"] == "The number of tags exceeded the per-server limit 50"
    set_row(compute_svc, server.uuid, vm_state="error")
    refused = await api.delete(url)
    assert refused.status_code == 409 and "Cannot 'delete tags'" in refused.text
    assert (await compute_api.as_("reader", "2.26").put(f"{url}/x")).status_code == 403


async def test_extensions(compute_api) -> None:
    listed = (await compute_api.as_("demo").get("/extensions")).json()["extensions"]
    aliases = [e["alias"] for e in listed]
    assert "os-keypairs" in aliases and "os-server-groups" in aliases and aliases == sorted(aliases)
    assert set(listed[0]) == {"alias", "description", "links", "name", "namespace", "updated"}
    shown = (await compute_api.get("/extensions/os-keypairs")).json()["extension"]
    assert shown["name"] == "Keypairs"
    assert (await compute_api.get("/extensions/os-nope")).status_code == 404
