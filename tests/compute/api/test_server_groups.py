"""Server groups through the API: policies per microversion, rules, members, visibility,
quota and errors."""

from __future__ import annotations

import pytest

from tests.compute.api.harness import DEMO_PROJECT, add_server


async def test_create_show_list_delete_before_2_64(compute_api) -> None:
    demo = compute_api.as_("demo")
    response = await demo.post("/os-server-groups", json={"server_group": {"name": "web",
                                                                           "policies": ["anti-affinity"]}})
    assert response.status_code == 200, response.text
    group = response.json()["server_group"]
    assert group == {"id": group["id"], "name": "web", "policies": ["anti-affinity"], "metadata": {},
                     "members": []}
    assert (await demo.get(f"/os-server-groups/{group['id']}")).json()["server_group"] == group
    v213 = (await demo.get(f"/os-server-groups/{group['id']}", version="2.13")).json()["server_group"]
    assert v213["project_id"] == DEMO_PROJECT and v213["user_id"] == "demo-user"
    assert [g["id"] for g in (await demo.get("/os-server-groups")).json()["server_groups"]] == [group["id"]]
    assert (await demo.delete(f"/os-server-groups/{group['id']}")).status_code == 204
    missing = await demo.get(f"/os-server-groups/{group['id']}")
    assert missing.status_code == 404
    assert missing.json()["itemNotFound"]["message"] == f"Instance group {group['id']} could not be found."


async def test_policy_and_rules_from_2_64(compute_api) -> None:
    demo = compute_api.as_("demo", "2.64")
    response = await demo.post("/os-server-groups", json={"server_group": {
        "name": "spread", "policy": "anti-affinity", "rules": {"max_server_per_host": "3"}}})
    assert response.status_code == 200, response.text
    group = response.json()["server_group"]
    assert group["policy"] == "anti-affinity" and group["rules"] == {"max_server_per_host": 3}
    assert "policies" not in group and "metadata" not in group
    soft = await demo.post("/os-server-groups", json={"server_group": {"name": "s", "policy": "soft-affinity"}})
    assert soft.json()["server_group"]["rules"] == {}
    rules_on_affinity = await demo.post("/os-server-groups", json={"server_group": {
        "name": "x", "policy": "affinity", "rules": {"max_server_per_host": 2}}})
    assert rules_on_affinity.status_code == 400
    assert rules_on_affinity.json()["badRequest"]["message"] == "Only anti-affinity policy supports rules."


@pytest.mark.parametrize("version,group", [
    ("2.1", {"name": "g", "policies": ["soft-affinity"]}),
    ("2.1", {"name": "g", "policies": ["affinity", "anti-affinity"]}),
    ("2.1", {"name": "g", "policies": []}),
    ("2.1", {"name": "g"}),
    ("2.1", {"name": "", "policies": ["affinity"]}),
    ("2.64", {"name": "g", "policies": ["affinity"]}),
    ("2.64", {"name": "g", "policy": "clustered"}),
    ("2.64", {"name": "g", "policy": "anti-affinity", "rules": {"max_server_per_host": 0}}),
    ("2.64", {"name": "g", "policy": "anti-affinity", "rules": {"other": 1}}),
])
async def test_bad_groups_are_refused(compute_api, version, group) -> None:
    response = await compute_api.as_("demo", version).post("/os-server-groups", json={"server_group": group})
    assert response.status_code == 400, response.text


async def test_soft_policies_from_2_15(compute_api) -> None:
    response = await compute_api.as_("demo", "2.15").post("/os-server-groups", json={"server_group": {
        "name": "g", "policies": ["soft-anti-affinity"]}})
    assert response.status_code == 200 and response.json()["server_group"]["policies"] == ["soft-anti-affinity"]


async def test_members_are_live_servers(compute_api, compute_svc) -> None:
    from monostack.common.context import RequestContext

    demo = compute_api.as_("demo")
    group = (await demo.post("/os-server-groups", json={"server_group": {"name": "g", "policies": ["affinity"]}}
                             )).json()["server_group"]
    ctx = RequestContext(user_id="demo-user", project_id=DEMO_PROJECT, roles=["member"])
    live = add_server(compute_svc)
    gone = add_server(compute_svc, deleted=True)
    with compute_svc.db.writer() as session:
        compute_svc.groups.add_member(session, group["id"], live.uuid, ctx)
        compute_svc.groups.add_member(session, group["id"], gone.uuid, ctx)
    shown = (await demo.get(f"/os-server-groups/{group['id']}")).json()["server_group"]
    assert shown["members"] == [live.uuid]
    assert (await demo.get("/os-server-groups")).json()["server_groups"][0]["members"] == [live.uuid]


async def test_visibility_and_all_projects(compute_api) -> None:
    demo, alt = compute_api.as_("demo"), compute_api.as_("alt")
    group = (await demo.post("/os-server-groups", json={"server_group": {"name": "g", "policies": ["affinity"]}}
                             )).json()["server_group"]
    await alt.post("/os-server-groups", json={"server_group": {"name": "a", "policies": ["affinity"]}})
    assert [g["name"] for g in (await alt.get("/os-server-groups")).json()["server_groups"]] == ["a"]
    assert (await alt.get(f"/os-server-groups/{group['id']}")).status_code == 403
    assert (await alt.delete(f"/os-server-groups/{group['id']}")).status_code == 403
    # all_projects: admins see every group; others still see their own.
    assert [g["name"] for g in (await alt.get("/os-server-groups?all_projects=True")).json()["server_groups"]] \
        == ["a"]
    everything = (await compute_api.get("/os-server-groups?all_projects=True")).json()["server_groups"]
    assert sorted(g["name"] for g in everything) == ["a", "g"]
    assert (await compute_api.get("/os-server-groups")).json()["server_groups"] == []
    paged = (await compute_api.get("/os-server-groups?all_projects=1&limit=1&offset=1")).json()["server_groups"]
    assert [g["name"] for g in paged] == ["a"]
    assert (await compute_api.as_("reader").post("/os-server-groups", json={
        "server_group": {"name": "r", "policies": ["affinity"]}})).status_code == 403


async def test_quota(compute_api) -> None:
    await compute_api.put(f"/os-quota-sets/{DEMO_PROJECT}", json={"quota_set": {"server_groups": 1}})
    demo = compute_api.as_("demo")
    body = {"server_group": {"name": "g", "policies": ["affinity"]}}
    assert (await demo.post("/os-server-groups", json=body)).status_code == 200
    over = await demo.post("/os-server-groups", json=body)
    assert over.status_code == 403
    assert over.json()["forbidden"]["message"] == "Quota exceeded, too many server groups."
