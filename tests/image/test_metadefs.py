"""Metadata definitions (Glance's metadefs): the service layer on a fresh database, then the
/v2/metadefs routes over HTTP against a started cloud."""

from __future__ import annotations

import uuid
from typing import Any, Iterator

import httpx
import pytest

from monostack.common import errors
from monostack.common.context import RequestContext
from tests.conftest import RunningCloud


def _ctx(*roles: str, project: str | None = None) -> RequestContext:
    return RequestContext(user_id=uuid.uuid4().hex, project_id=project or uuid.uuid4().hex, roles=list(roles))


def admin() -> RequestContext:
    return _ctx("admin", "member", "reader")


def member(project: str | None = None) -> RequestContext:
    return _ctx("member", "reader", project=project)


def ns_name() -> str:
    return f"ns-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def metadefs(image_service: Any) -> Any:
    from monostack.image.metadefs import MetadefService
    return MetadefService(image_service.db, image_service.policy)


# -- service layer -----------------------------------------------------------------------------
def test_namespace_lifecycle_visibility_and_protection(metadefs):
    ctx = admin()
    name = ns_name()
    ns = metadefs.create_namespace(ctx, {"namespace": name, "display_name": "N", "protected": True,
                                         "resource_type_associations": [{"name": "OS::Glance::Image"}]})
    assert ns["visibility"] == "private" and ns["protected"] is True and ns["owner"] == ctx.project_id
    assert ns["self"] == f"/v2/metadefs/namespaces/{name}"
    assert [a["name"] for a in ns["resource_type_associations"]] == ["OS::Glance::Image"]
    with pytest.raises(errors.Conflict):
        metadefs.create_namespace(ctx, {"namespace": name})
    # private: another project sees nothing; public: everyone sees it
    other = member()
    with pytest.raises(errors.NotFound):
        metadefs.get_namespace(other, name)
    assert name not in [n["namespace"] for n in metadefs.list_namespaces(other, {})]
    with pytest.raises(errors.Forbidden):
        metadefs.delete_namespace(ctx, name)
    metadefs.update_namespace(ctx, name, {"namespace": name, "visibility": "public"})
    assert metadefs.get_namespace(other, name)["visibility"] == "public"
    assert name in [n["namespace"] for n in metadefs.list_namespaces(other, {"resource_types": "OS::Glance::Image"})]
    with pytest.raises(errors.Forbidden):  # members may not write
        metadefs.update_namespace(other, name, {"namespace": name, "protected": False})
    updated = metadefs.update_namespace(ctx, name, {"namespace": name, "protected": False})
    assert updated["protected"] is False
    metadefs.delete_namespace(ctx, name)
    with pytest.raises(errors.NotFound):
        metadefs.get_namespace(ctx, name)


def test_namespace_validation(metadefs):
    with pytest.raises(errors.BadRequest):
        metadefs.create_namespace(admin(), {"display_name": "no name"})
    with pytest.raises(errors.BadRequest):
        metadefs.create_namespace(admin(), {"namespace": ns_name(), "visibility": "shared"})
    with pytest.raises(errors.Forbidden):
        metadefs.create_namespace(member(), {"namespace": ns_name()})


def test_objects_properties_tags(metadefs):
    ctx = admin()
    name = ns_name()
    metadefs.create_namespace(ctx, {"namespace": name})
    obj = metadefs.create_object(ctx, name, {"name": "o1", "properties": {"p": {"title": "P", "type": "string"}},
                                             "required": ["p"]})
    assert obj["properties"]["p"]["type"] == "string" and obj["required"] == ["p"]
    with pytest.raises(errors.Conflict):
        metadefs.create_object(ctx, name, {"name": "o1"})
    assert metadefs.update_object(ctx, name, "o1", {"name": "o2"})["name"] == "o2"
    assert [o["name"] for o in metadefs.list_objects(ctx, name)] == ["o2"]
    metadefs.delete_object(ctx, name, "o2")
    with pytest.raises(errors.NotFound):
        metadefs.get_object(ctx, name, "o2")

    prop = metadefs.create_property(ctx, name, {"name": "hv", "title": "HV", "type": "string", "enum": ["kvm"]})
    assert prop == {"name": "hv", "title": "HV", "type": "string", "enum": ["kvm"]}
    with pytest.raises(errors.BadRequest):
        metadefs.create_property(ctx, name, {"name": "bad", "title": "B", "type": "nope"})
    assert metadefs.list_properties(ctx, name) == {"hv": {"title": "HV", "type": "string", "enum": ["kvm"]}}
    assert metadefs.update_property(ctx, name, "hv", {"name": "hv", "title": "T2", "type": "string"})["title"] == "T2"
    metadefs.delete_property(ctx, name, "hv")
    assert metadefs.list_properties(ctx, name) == {}

    assert metadefs.create_tags(ctx, name, {"tags": [{"name": "a"}, {"name": "b"}]}, append=False) == [
        {"name": "a"}, {"name": "b"}]
    metadefs.create_tags(ctx, name, {"tags": [{"name": "c"}]}, append=True)
    assert sorted(t["name"] for t in metadefs.list_tags(ctx, name)) == ["a", "b", "c"]
    metadefs.create_tags(ctx, name, {"tags": [{"name": "d"}]}, append=False)  # replaces
    assert [t["name"] for t in metadefs.list_tags(ctx, name)] == ["d"]
    with pytest.raises(errors.Conflict):
        metadefs.create_tags(ctx, name, {"tags": [{"name": "x"}, {"name": "x"}]}, append=False)
    metadefs.create_tag(ctx, name, "e")
    with pytest.raises(errors.Conflict):
        metadefs.create_tag(ctx, name, "e")
    assert metadefs.update_tag(ctx, name, "e", {"name": "f"})["name"] == "f"
    metadefs.delete_tag(ctx, name, "f")
    metadefs.delete_tags(ctx, name)
    assert metadefs.list_tags(ctx, name) == []
    # the full view shows the namespace's contents; deleting the namespace removes them
    metadefs.create_tag(ctx, name, "g")
    assert metadefs.get_namespace(ctx, name)["tags"] == [{"name": "g"}]
    metadefs.delete_namespace(ctx, name)


def test_resource_type_associations(metadefs):
    ctx = admin()
    types = [t["name"] for t in metadefs.list_resource_types(member())]
    assert "OS::Glance::Image" in types and "OS::Nova::Flavor" in types
    name = ns_name()
    metadefs.create_namespace(ctx, {"namespace": name})
    assoc = metadefs.create_association(ctx, name, {"name": "OS::Nova::Flavor", "prefix": "hw:"})
    assert assoc["name"] == "OS::Nova::Flavor" and assoc["prefix"] == "hw:"
    with pytest.raises(errors.Conflict):
        metadefs.create_association(ctx, name, {"name": "OS::Nova::Flavor"})
    assert [a["name"] for a in metadefs.list_associations(ctx, name)] == ["OS::Nova::Flavor"]
    metadefs.delete_association(ctx, name, "OS::Nova::Flavor")
    assert metadefs.list_associations(ctx, name) == []
    with pytest.raises(errors.NotFound):
        metadefs.delete_association(ctx, name, "OS::Nova::Flavor")
    metadefs.delete_namespace(ctx, name)


# -- HTTP --------------------------------------------------------------------------------------
def _client(cloud: RunningCloud, name: str) -> httpx.Client:
    return httpx.Client(base_url=f"{cloud.url}/image/v2/metadefs", headers={"X-Auth-Token": cloud.token(name)},
                        timeout=60)


@pytest.fixture(scope="module")
def http_admin(image_cloud_session: RunningCloud) -> Iterator[httpx.Client]:
    with _client(image_cloud_session, "monostack-admin") as c:
        yield c


@pytest.fixture(scope="module")
def http_demo(image_cloud_session: RunningCloud) -> Iterator[httpx.Client]:
    with _client(image_cloud_session, "monostack") as c:
        yield c


def test_http_metadefs(http_admin, http_demo):
    rtype = http_admin.get("/resource_types").json()["resource_types"][0]["name"]
    name = ns_name()
    r = http_admin.post("/namespaces", json={"namespace": name, "visibility": "public", "protected": True,
                                             "resource_type_associations": [{"name": rtype}]})
    assert r.status_code == 201, r.text
    assert r.json()["schema"] == "/v2/schemas/metadefs/namespace"
    assert name in [n["namespace"] for n in http_demo.get("/namespaces").json()["namespaces"]]
    assert http_demo.get(f"/namespaces/{name}").json()["visibility"] == "public"
    assert http_demo.post(f"/namespaces/{name}/objects", json={"name": "x"}).status_code == 403
    r = http_admin.delete(f"/namespaces/{name}")
    assert r.status_code == 403 and r.json()["code"] == "403 Forbidden"

    r = http_admin.post(f"/namespaces/{name}/objects", json={"name": "obj"})
    assert r.status_code == 201 and r.json()["self"] == f"/v2/metadefs/namespaces/{name}/objects/obj"
    assert http_admin.put(f"/namespaces/{name}/objects/obj", json={"name": "obj2"}).json()["name"] == "obj2"
    assert [o["name"] for o in http_admin.get(f"/namespaces/{name}/objects").json()["objects"]] == ["obj2"]

    r = http_admin.post(f"/namespaces/{name}/properties", json={"name": "p", "title": "P", "type": "string"})
    assert r.status_code == 201 and r.json()["title"] == "P"
    assert http_admin.get(f"/namespaces/{name}/properties/p").json()["name"] == "p"

    r = http_admin.post(f"/namespaces/{name}/tags", json={"tags": [{"name": "t1"}, {"name": "t2"}]})
    assert r.status_code == 201 and len(r.json()["tags"]) == 2
    assert http_admin.post(f"/namespaces/{name}/tags/t3").status_code == 201
    assert http_admin.put(f"/namespaces/{name}/tags/t3", json={"name": "t4"}).json()["name"] == "t4"
    assert len(http_admin.get(f"/namespaces/{name}/tags").json()["tags"]) == 3

    other = "OS::Nova::Server" if rtype != "OS::Nova::Server" else "OS::Nova::Flavor"
    r = http_admin.post(f"/namespaces/{name}/resource_types", json={"name": other})
    assert r.status_code == 201 and r.json()["name"] == other
    assert http_admin.post(f"/namespaces/{name}/resource_types", json={"name": other}).status_code == 409
    names = [a["name"] for a in http_admin.get(f"/namespaces/{name}/resource_types")
             .json()["resource_type_associations"]]
    assert other in names and rtype in names

    r = http_admin.put(f"/namespaces/{name}", json={"namespace": name, "visibility": "private", "protected": False})
    assert r.status_code == 200 and r.json()["protected"] is False
    assert http_demo.get(f"/namespaces/{name}").status_code == 404
    assert http_admin.delete(f"/namespaces/{name}/resource_types/{other}").status_code == 204
    assert http_admin.delete(f"/namespaces/{name}").status_code == 204
    assert http_admin.get(f"/namespaces/{name}").status_code == 404
