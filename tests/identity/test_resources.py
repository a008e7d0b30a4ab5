"""Domains, projects, hierarchy and tags."""

import uuid

import pytest

from monostack.common import errors


def name(prefix="p"):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_project_lifecycle_and_hierarchy(identity):
    parent = identity.resources.create_project({"name": name(), "tags": ["a", "b"]})
    assert parent["parent_id"] == "default" and parent["domain_id"] == "default" and parent["tags"] == ["a", "b"]
    child = identity.resources.create_project({"name": name(), "parent_id": parent["id"]})
    assert [p["id"] for p in identity.resources.project_parents(child["id"])] == [parent["id"]]
    assert [p["id"] for p in identity.resources.project_subtree(parent["id"])] == [child["id"]]
    with pytest.raises(errors.Forbidden):
        identity.resources.delete_project(parent["id"])  # not a leaf
    with pytest.raises(errors.ValidationError):
        identity.resources.update_project(child["id"], {"parent_id": "default"})
    identity.resources.delete_project(parent["id"], cascade=True)
    with pytest.raises(errors.NotFound):
        identity.resources.get_project(child["id"])


def test_duplicate_and_bad_names(identity):
    n = name()
    identity.resources.create_project({"name": n})
    with pytest.raises(errors.Conflict):
        identity.resources.create_project({"name": n})
    with pytest.raises(errors.ValidationError):
        identity.resources.create_project({"name": "x" * 65})
    with pytest.raises(errors.ValidationError):
        identity.resources.create_project({"name": n + "2", "enabled": "yes"})


def test_tags(identity):
    project = identity.resources.create_project({"name": name()})
    identity.resources.add_tag(project["id"], "red")
    identity.resources.has_tag(project["id"], "red")
    assert identity.resources.replace_tags(project["id"], ["x", "y"]) == ["x", "y"]
    assert project["id"] in [p["id"] for p in identity.resources.list_projects({"tags": "x,y"})]
    assert project["id"] not in [p["id"] for p in identity.resources.list_projects({"not-tags-any": "x"})]
    with pytest.raises(errors.ValidationError):
        identity.resources.add_tag(project["id"], "a/b")
    identity.resources.delete_tag(project["id"], "x")
    with pytest.raises(errors.NotFound):
        identity.resources.has_tag(project["id"], "x")


def test_domain_delete_needs_disable_and_cascades(identity):
    domain = identity.resources.create_domain({"name": name("d")})
    project = identity.resources.create_project({"name": name(), "domain_id": domain["id"]})
    user = identity.users.create_user({"name": name("u"), "domain_id": domain["id"]})
    with pytest.raises(errors.Forbidden):
        identity.resources.delete_domain(domain["id"])
    identity.resources.update_domain(domain["id"], {"enabled": False})
    identity.resources.delete_domain(domain["id"])
    for getter, ident in ((identity.resources.get_project, project["id"]), (identity.users.get_user, user["id"])):
        with pytest.raises(errors.NotFound):
            getter(ident)


def test_is_domain_projects_are_domains(identity):
    created = identity.resources.create_project({"name": name("d"), "is_domain": True})
    assert created["is_domain"] is True
    assert created["id"] in [d["id"] for d in identity.resources.list_domains({})]
    assert created["id"] in [p["id"] for p in identity.resources.list_projects({"is_domain": "true"})]
