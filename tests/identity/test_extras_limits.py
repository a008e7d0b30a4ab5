"""Unified limits: registered limits, project/domain limits, the flat model."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from monostack.common import errors


def _name() -> str:
    return f"t-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def service_id(identity: Any) -> str:
    return identity.catalog.create_service({"type": "compute"})["id"]


def test_registered_limit_crud(identity: Any, service_id: str) -> None:
    lim = identity.extras.limits
    created = lim.create_registered_limits([
        {"service_id": service_id, "resource_name": "cores", "default_limit": 10},
        {"service_id": service_id, "region_id": "RegionOne", "resource_name": "cores", "default_limit": 5,
         "description": "regional"}])
    assert [(r["region_id"], r["default_limit"]) for r in created] == [(None, 10), ("RegionOne", 5)]
    assert lim.get_registered_limit(created[0]["id"]) == created[0]
    listed = lim.list_registered_limits({"region_id": "RegionOne", "service_id": service_id})
    assert [r["id"] for r in listed] == [created[1]["id"]]
    with pytest.raises(errors.Conflict):
        lim.create_registered_limits([{"service_id": service_id, "resource_name": "cores", "default_limit": 1}])
    with pytest.raises(errors.Conflict):  # moving onto an existing (service, region, resource)
        lim.update_registered_limit(created[1]["id"], {"region_id": None})
    updated = lim.update_registered_limit(created[0]["id"], {"default_limit": 20, "description": "d"})
    assert (updated["default_limit"], updated["description"]) == (20, "d")
    lim.delete_registered_limit(created[0]["id"])
    with pytest.raises(errors.NotFound):
        lim.get_registered_limit(created[0]["id"])


@pytest.mark.parametrize("entry", [
    {"resource_name": "cores", "default_limit": 1},
    {"service_id": "SERVICE", "default_limit": 1},
    {"service_id": "SERVICE", "resource_name": "cores"},
    {"service_id": "SERVICE", "resource_name": "cores", "default_limit": "1"},
    {"service_id": "SERVICE", "resource_name": "cores", "default_limit": True},
    {"service_id": "SERVICE", "resource_name": "cores", "default_limit": -2},
    {"service_id": "SERVICE", "resource_name": "cores", "default_limit": 2 ** 31},
    {"service_id": "SERVICE", "resource_name": "", "default_limit": 1},
    {"service_id": "SERVICE", "resource_name": "cores", "default_limit": 1, "bogus": 1},
    {"service_id": "nope", "resource_name": "cores", "default_limit": 1},
    {"service_id": "SERVICE", "region_id": "nope", "resource_name": "cores", "default_limit": 1},
])
def test_registered_limit_validation(identity: Any, service_id: str, entry: dict[str, Any]) -> None:
    entry = {k: (service_id if v == "SERVICE" else v) for k, v in entry.items()}
    with pytest.raises(errors.ValidationError):
        identity.extras.limits.create_registered_limits([entry])


def test_registered_limits_body_must_be_a_list(identity: Any) -> None:
    for body in (None, [], {}, "x", [1]):
        with pytest.raises(errors.ValidationError):
            identity.extras.limits.create_registered_limits(body)


def test_limits(identity: Any, service_id: str) -> None:
    lim = identity.extras.limits
    project = identity.resources.create_project({"name": _name()})
    domain = identity.resources.create_domain({"name": _name()})
    with pytest.raises(errors.Forbidden):  # no registered limit yet
        lim.create_limits([{"service_id": service_id, "project_id": project["id"], "resource_name": "cores",
                            "resource_limit": 3}])
    registered = lim.create_registered_limits([{"service_id": service_id, "resource_name": "cores",
                                                "default_limit": 10}])[0]
    created = lim.create_limits([
        {"service_id": service_id, "project_id": project["id"], "resource_name": "cores", "resource_limit": 3},
        {"service_id": service_id, "project_id": domain["id"], "resource_name": "cores", "resource_limit": 30}])
    assert created[0]["project_id"] == project["id"] and created[0]["domain_id"] is None
    assert created[1]["domain_id"] == domain["id"] and created[1]["project_id"] is None  # a domain as project
    with pytest.raises(errors.Conflict):
        lim.create_limits([{"service_id": service_id, "project_id": project["id"], "resource_name": "cores",
                            "resource_limit": 4}])
    assert [r["id"] for r in lim.list_limits({"project_id": project["id"]})] == [created[0]["id"]]
    assert [r["id"] for r in lim.list_limits({}, project_ids={project["id"]})] == [created[0]["id"]]
    assert [r["id"] for r in lim.list_limits({}, domain_id=domain["id"])] == [created[1]["id"]]
    updated = lim.update_limit(created[0]["id"], {"resource_limit": 5, "description": "more"})
    assert (updated["resource_limit"], updated["description"]) == (5, "more")
    for bad in ({"service_id": service_id}, {"resource_limit": "5"}, {"id": "other"}):
        with pytest.raises(errors.ValidationError):
            lim.update_limit(created[0]["id"], bad)
    # The registered limit is pinned while limits refer to it.
    with pytest.raises(errors.Forbidden):
        lim.update_registered_limit(registered["id"], {"default_limit": 1})
    with pytest.raises(errors.Forbidden):
        lim.delete_registered_limit(registered["id"])
    lim.delete_limit(created[0]["id"])
    with pytest.raises(errors.NotFound):
        lim.get_limit(created[0]["id"])
    with identity.db.writer() as session:  # the project/domain deletion hook
        identity.extras.delete_for_project(session, domain["id"])
    lim.delete_registered_limit(registered["id"])
    assert lim.model()["name"] == "flat"


@pytest.mark.parametrize("entry", [
    {"resource_name": "cores", "resource_limit": 1},  # neither project nor domain
    {"resource_name": "cores", "resource_limit": 1, "project_id": "PROJECT", "domain_id": "default"},
    {"resource_name": "cores", "resource_limit": 1, "project_id": "nope"},
    {"resource_name": "cores", "resource_limit": 1, "domain_id": "nope"},
    {"resource_name": "cores", "resource_limit": 1, "domain_id": "PROJECT"},  # a project is not a domain
    {"resource_name": "cores", "resource_limit": 1.5, "project_id": "PROJECT"},
])
def test_limit_validation(identity: Any, service_id: str, entry: dict[str, Any]) -> None:
    project = identity.resources.create_project({"name": _name()})
    identity.extras.limits.create_registered_limits([{"service_id": service_id, "resource_name": "cores",
                                                      "default_limit": 10}])
    entry = {"service_id": service_id, **{k: (project["id"] if v == "PROJECT" else v) for k, v in entry.items()}}
    with pytest.raises(errors.ValidationError):
        identity.extras.limits.create_limits([entry])


# -- over HTTP --------------------------------------------------------------------------
def test_http_limits(cloud: Any, api: httpx.Client) -> None:
    service = api.post("/services", json={"service": {"type": _name()}}).json()["service"]
    project = api.get("/projects", params={"name": cloud.cloud()["auth"]["project_name"]}).json()["projects"][0]
    response = api.post("/registered_limits", json={"registered_limits": [
        {"service_id": service["id"], "resource_name": "cores", "default_limit": 10}]})
    assert response.status_code == 201, response.text
    body = response.json()
    assert "links" not in body
    registered = body["registered_limits"][0]
    assert registered["links"]["self"].endswith(f"/v3/registered_limits/{registered['id']}")
    assert api.get(f"/registered_limits/{registered['id']}").json()["registered_limit"] == registered
    listed = api.get("/registered_limits", params={"service_id": service["id"]}).json()["registered_limits"]
    assert [r["id"] for r in listed] == [registered["id"]]
    response = api.post("/limits", json={"limits": [{"service_id": service["id"], "project_id": project["id"],
                                                     "resource_name": "cores", "resource_limit": 4}]})
    assert response.status_code == 201, response.text
    limit = response.json()["limits"][0]
    assert api.get(f"/limits/{limit['id']}").json()["limit"] == limit
    assert api.get("/limits", params={"service_id": service["id"]}).json()["limits"] == [limit]
    # A project-scoped member sees its own project's limits only, and may read registered limits.
    demo_project = api.get("/projects", params={"name": cloud.cloud("monostack")["auth"]["project_name"]}
                           ).json()["projects"][0]
    demo_limit = api.post("/limits", json={"limits": [{"service_id": service["id"], "project_id": demo_project["id"],
                                                       "resource_name": "cores", "resource_limit": 2}]}
                          ).json()["limits"][0]
    demo = {"X-Auth-Token": cloud.token("monostack")}
    assert api.get("/limits", headers=demo).json()["limits"] == [demo_limit]
    assert api.get(f"/limits/{demo_limit['id']}", headers=demo).status_code == 200
    assert api.get(f"/limits/{limit['id']}", headers=demo).status_code == 403
    assert api.get(f"/registered_limits/{registered['id']}", headers=demo).status_code == 200
    assert api.post("/limits", headers=demo, json={"limits": []}).status_code == 403
    assert api.delete(f"/limits/{demo_limit['id']}").status_code == 204
    assert api.get("/limits/model").json()["model"]["name"] == "flat"
    patched = api.patch(f"/limits/{limit['id']}", json={"limit": {"resource_limit": 8}}).json()["limit"]
    assert patched["resource_limit"] == 8
    assert api.patch(f"/limits/{limit['id']}", json={"limit": {"resource_name": "x"}}).status_code == 400
    assert api.delete(f"/registered_limits/{registered['id']}").status_code == 403
    assert api.delete(f"/limits/{limit['id']}").status_code == 204
    assert api.get(f"/limits/{limit['id']}").status_code == 404
    assert api.delete(f"/registered_limits/{registered['id']}").status_code == 204
    assert api.post("/limits", json={"limits": {}}).status_code == 400
    assert api.post("/registered_limits", json={"nothing": []}).status_code == 400
