"""OS-EP-FILTER: endpoint groups, project associations, and the filtered token catalog."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from monostack.common import errors


def _name() -> str:
    return f"t-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def setup(identity: Any) -> dict[str, Any]:
    """A service with a public endpoint in RegionOne and an admin one without region, and a project."""
    service = identity.catalog.create_service({"type": "compute", "name": "nova"})
    public = identity.catalog.create_endpoint({"service_id": service["id"], "interface": "public",
                                               "url": "http://nova/$(project_id)s", "region_id": "RegionOne"})
    admin = identity.catalog.create_endpoint({"service_id": service["id"], "interface": "admin",
                                              "url": "http://nova-admin"})
    project = identity.resources.create_project({"name": _name()})
    return {"service": service, "public": public, "admin": admin, "project": project}


def _catalog_ids(identity: Any, project_id: str) -> set[str]:
    catalog = identity.catalog.for_token(user_id="someone", project_id=project_id)
    return {e["id"] for service in catalog for e in service["endpoints"]}


def test_unfiltered_project_sees_whole_catalog(identity: Any, setup: dict[str, Any]) -> None:
    ef = identity.extras.endpoint_filter
    assert ef.endpoints_for_project(setup["project"]["id"]) is None
    assert {setup["public"]["id"], setup["admin"]["id"]} <= _catalog_ids(identity, setup["project"]["id"])


def test_direct_association_filters_catalog(identity: Any, setup: dict[str, Any]) -> None:
    ef = identity.extras.endpoint_filter
    pid, eid = setup["project"]["id"], setup["public"]["id"]
    ef.add_endpoint_to_project(pid, eid)
    ef.add_endpoint_to_project(pid, eid)  # idempotent
    assert ef.endpoints_for_project(pid) == {eid}
    assert _catalog_ids(identity, pid) == {eid}
    ef.check_endpoint_in_project(pid, eid)
    assert [p["id"] for p in ef.projects_for_endpoint(eid)] == [pid]
    assert [e["id"] for e in ef.endpoints_for_project_list(pid)] == [eid]
    ef.remove_endpoint_from_project(pid, eid)
    assert ef.endpoints_for_project(pid) is None
    with pytest.raises(errors.NotFound):
        ef.check_endpoint_in_project(pid, eid)
    with pytest.raises(errors.NotFound):
        ef.remove_endpoint_from_project(pid, eid)


def test_association_needs_existing_project_and_endpoint(identity: Any, setup: dict[str, Any]) -> None:
    ef = identity.extras.endpoint_filter
    with pytest.raises(errors.NotFound):
        ef.add_endpoint_to_project("nope", setup["public"]["id"])
    with pytest.raises(errors.NotFound):
        ef.add_endpoint_to_project(setup["project"]["id"], "nope")


def test_endpoint_group_association(identity: Any, setup: dict[str, Any]) -> None:
    ef = identity.extras.endpoint_filter
    pid = setup["project"]["id"]
    group = ef.create_group({"name": "admins", "filters": {"interface": "admin",
                                                           "service_id": setup["service"]["id"]}})
    assert group["description"] is None
    assert [e["id"] for e in ef.endpoints_in_group(group["id"])] == [setup["admin"]["id"]]
    ef.add_group_to_project(group["id"], pid)
    with pytest.raises(errors.Conflict):
        ef.add_group_to_project(group["id"], pid)
    assert ef.get_group_in_project(group["id"], pid) == {"endpoint_group_id": group["id"], "project_id": pid}
    assert [g["id"] for g in ef.groups_for_project(pid)] == [group["id"]]
    assert [p["id"] for p in ef.projects_for_group(group["id"])] == [pid]
    assert _catalog_ids(identity, pid) == {setup["admin"]["id"]}
    # Direct and group associations add up.
    ef.add_endpoint_to_project(pid, setup["public"]["id"])
    assert ef.endpoints_for_project(pid) == {setup["admin"]["id"], setup["public"]["id"]}
    ef.remove_group_from_project(group["id"], pid)
    assert ef.endpoints_for_project(pid) == {setup["public"]["id"]}
    with pytest.raises(errors.NotFound):
        ef.get_group_in_project(group["id"], pid)


def test_group_matching_nothing_leaves_catalog_unfiltered(identity: Any, setup: dict[str, Any]) -> None:
    ef = identity.extras.endpoint_filter
    group = ef.create_group({"name": "none", "filters": {"region_id": "NoSuchRegion"}})
    ef.add_group_to_project(group["id"], setup["project"]["id"])
    assert ef.endpoints_for_project(setup["project"]["id"]) is None


def test_region_filter_and_null_region(identity: Any, setup: dict[str, Any]) -> None:
    ef = identity.extras.endpoint_filter
    in_region = ef.create_group({"name": "r1", "filters": {"region_id": "RegionOne",
                                                           "service_id": setup["service"]["id"]}})
    no_region = ef.create_group({"name": "r0", "filters": {"region_id": None, "service_id": setup["service"]["id"]}})
    assert [e["id"] for e in ef.endpoints_in_group(in_region["id"])] == [setup["public"]["id"]]
    assert [e["id"] for e in ef.endpoints_in_group(no_region["id"])] == [setup["admin"]["id"]]


def test_group_crud_and_validation(identity: Any) -> None:
    ef = identity.extras.endpoint_filter
    group = ef.create_group({"name": _name(), "description": "d", "filters": {"interface": "public"}})
    assert ef.get_group(group["id"]) == group
    new_name = _name()
    updated = ef.update_group(group["id"], {"name": new_name, "filters": {"interface": "internal"}})
    assert updated == {**group, "name": new_name, "filters": {"interface": "internal"}}
    assert [g["id"] for g in ef.list_groups({"name": new_name})] == [group["id"]]
    assert ef.list_groups({"name": _name()}) == []
    for bad in ({"name": "x"}, {"name": "x", "filters": {}}, {"name": "x", "filters": {"enabled": True}},
                {"name": "x", "filters": {"interface": "bogus"}}, {"name": "", "filters": {"interface": "admin"}},
                {"name": "x", "filters": {"interface": "admin"}, "extra": 1},
                {"name": 5, "filters": {"interface": "admin"}},
                {"name": "x", "filters": "interface=admin"}):
        with pytest.raises(errors.ValidationError):
            ef.create_group(bad)
    for bad in ({}, {"id": "other"}, {"filters": {"foo": "bar"}}, {"name": None}):
        with pytest.raises(errors.ValidationError):
            ef.update_group(group["id"], bad)
    ef.delete_group(group["id"])
    with pytest.raises(errors.NotFound):
        ef.get_group(group["id"])
    with pytest.raises(errors.NotFound):
        ef.delete_group(group["id"])


def test_deleting_a_group_removes_its_associations(identity: Any, setup: dict[str, Any]) -> None:
    ef = identity.extras.endpoint_filter
    group = ef.create_group({"name": "g", "filters": {"interface": "admin"}})
    ef.add_group_to_project(group["id"], setup["project"]["id"])
    ef.delete_group(group["id"])
    assert ef.groups_for_project(setup["project"]["id"]) == []
    assert ef.endpoints_for_project(setup["project"]["id"]) is None


def test_stale_associations_are_ignored_and_cleanup_hooks(identity: Any, setup: dict[str, Any]) -> None:
    ef = identity.extras.endpoint_filter
    pid, eid = setup["project"]["id"], setup["public"]["id"]
    ef.add_endpoint_to_project(pid, eid)
    identity.catalog.delete_endpoint(eid)
    assert ef.endpoints_for_project(pid) is None
    ef.add_endpoint_to_project(pid, setup["admin"]["id"])
    with identity.db.writer() as session:
        identity.extras.delete_for_project(session, pid)
    assert ef.endpoints_for_project(pid) is None


# -- over HTTP ---------------------------------------------------------------------------
def _service_and_endpoint(api: Any) -> tuple[str, str]:
    service = api.post("/services", json={"service": {"type": _name(), "name": _name()}}).json()["service"]
    endpoint = api.post("/endpoints", json={"endpoint": {"service_id": service["id"], "interface": "public",
                                                         "url": "http://ep.example/v1"}}).json()["endpoint"]
    return service["id"], endpoint["id"]


def test_http_endpoint_groups_like_tempest(api: Any) -> None:
    service_id, _ = _service_and_endpoint(api)
    body = {"endpoint_group": {"name": _name(), "description": "desc", "filters": {"service_id": service_id}}}
    response = api.post("/OS-EP-FILTER/endpoint_groups", json=body)
    assert response.status_code == 201, response.text
    group = response.json()["endpoint_group"]
    assert group["links"]["self"].endswith(f"/v3/OS-EP-FILTER/endpoint_groups/{group['id']}")
    listed = api.get("/OS-EP-FILTER/endpoint_groups").json()
    assert group in listed["endpoint_groups"]
    assert listed["links"]["next"] is None
    shown = api.get(f"/OS-EP-FILTER/endpoint_groups/{group['id']}").json()["endpoint_group"]
    assert shown == group
    assert api.head(f"/OS-EP-FILTER/endpoint_groups/{group['id']}").status_code == 200
    patch = {"endpoint_group": {"name": "renamed", "description": "d2", "filters": {"interface": "admin"}}}
    updated = api.patch(f"/OS-EP-FILTER/endpoint_groups/{group['id']}", json=patch).json()["endpoint_group"]
    assert (updated["name"], updated["description"], updated["filters"]) == ("renamed", "d2", {"interface": "admin"})
    assert api.delete(f"/OS-EP-FILTER/endpoint_groups/{group['id']}").status_code == 204
    assert api.head(f"/OS-EP-FILTER/endpoint_groups/{group['id']}").status_code == 404
    assert group["id"] not in [g["id"] for g in api.get("/OS-EP-FILTER/endpoint_groups").json()["endpoint_groups"]]


def test_http_bad_input_is_4xx(api: Any) -> None:
    assert api.post("/OS-EP-FILTER/endpoint_groups", json={"endpoint_group": {"name": "x"}}).status_code == 400
    assert api.post("/OS-EP-FILTER/endpoint_groups", json={"endpoint_group": []}).status_code == 400
    assert api.post("/OS-EP-FILTER/endpoint_groups", json=[1]).status_code == 400
    assert api.post("/OS-EP-FILTER/endpoint_groups", content=b"{not json",
                    headers={"Content-Type": "application/json"}).status_code == 400
    bad_filter = {"endpoint_group": {"name": "x", "filters": {"url": "http://x"}}}
    assert api.post("/OS-EP-FILTER/endpoint_groups", json=bad_filter).status_code == 400
    assert api.get("/OS-EP-FILTER/endpoint_groups/nope").status_code == 404
    assert api.patch("/OS-EP-FILTER/endpoint_groups/nope", json={"endpoint_group": {"name": "y"}}).status_code == 404
    assert api.put("/OS-EP-FILTER/projects/nope/endpoints/nope").status_code == 404
    assert api.get("/OS-EP-FILTER/projects/nope/endpoints").status_code == 404
    assert api.get("/OS-EP-FILTER/endpoints/nope/projects").status_code == 404


def test_http_project_associations_filter_token_catalog(cloud: Any, api: Any) -> None:
    _, endpoint_id = _service_and_endpoint(api)
    project = api.get("/projects", params={"name": cloud.cloud()["auth"]["project_name"]}).json()["projects"][0]
    pid = project["id"]
    url = f"/OS-EP-FILTER/projects/{pid}/endpoints/{endpoint_id}"
    assert api.put(url).status_code == 204
    try:
        assert api.head(url).status_code == 204
        assert api.get(url).status_code == 204
        listed = api.get(f"/OS-EP-FILTER/projects/{pid}/endpoints").json()["endpoints"]
        assert [e["id"] for e in listed] == [endpoint_id]
        assert "legacy_endpoint_id" not in listed[0]
        assert listed[0]["links"]["self"].endswith(f"/endpoints/{endpoint_id}")
        projects = api.get(f"/OS-EP-FILTER/endpoints/{endpoint_id}/projects").json()["projects"]
        assert [p["id"] for p in projects] == [pid]
        # A new project-scoped token carries only the associated endpoint.
        token = cloud.token()
        catalog = api.get("/auth/catalog", headers={"X-Auth-Token": token}).json()["catalog"]
        assert {e["id"] for s in catalog for e in s["endpoints"]} == {endpoint_id}
    finally:
        assert api.delete(url).status_code == 204
    assert api.head(url).status_code == 404
    token = cloud.token()
    catalog = api.get("/auth/catalog", headers={"X-Auth-Token": token}).json()["catalog"]
    assert len({e["id"] for s in catalog for e in s["endpoints"]}) > 1


def test_http_endpoint_group_project_association(api: Any) -> None:
    service_id, endpoint_id = _service_and_endpoint(api)
    project = api.post("/projects", json={"project": {"name": _name()}}).json()["project"]
    group = api.post("/OS-EP-FILTER/endpoint_groups", json={"endpoint_group": {
        "name": _name(), "filters": {"service_id": service_id}}}).json()["endpoint_group"]
    base = f"/OS-EP-FILTER/endpoint_groups/{group['id']}"
    assert [e["id"] for e in api.get(f"{base}/endpoints").json()["endpoints"]] == [endpoint_id]
    assert api.put(f"{base}/projects/{project['id']}").status_code == 204
    assert api.put(f"{base}/projects/{project['id']}").status_code == 409
    shown = api.get(f"{base}/projects/{project['id']}").json()["project_endpoint_group"]
    assert (shown["endpoint_group_id"], shown["project_id"]) == (group["id"], project["id"])
    assert shown["links"]["self"].endswith(f"{base}/projects/{project['id']}")
    assert api.head(f"{base}/projects/{project['id']}").status_code == 200
    assert [p["id"] for p in api.get(f"{base}/projects").json()["projects"]] == [project["id"]]
    groups = api.get(f"/OS-EP-FILTER/projects/{project['id']}/endpoint_groups").json()["endpoint_groups"]
    assert [g["id"] for g in groups] == [group["id"]]
    endpoints = api.get(f"/OS-EP-FILTER/projects/{project['id']}/endpoints").json()["endpoints"]
    assert [e["id"] for e in endpoints] == [endpoint_id]
    assert api.delete(f"{base}/projects/{project['id']}").status_code == 204
    assert api.delete(f"{base}/projects/{project['id']}").status_code == 404
    assert api.delete(base).status_code == 204
