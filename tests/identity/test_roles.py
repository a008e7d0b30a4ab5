"""Roles, implied roles, grants, inheritance and effective assignments."""

import uuid

import pytest

from monostack.common import errors


def name(prefix="r"):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def role_id(identity, role_name):
    return next(r["id"] for r in identity.assignments.list_roles({}) if r["name"] == role_name)


def effective_names(identity, user_id, project_id):
    with identity.db.reader() as session:
        ids = identity.assignments.effective_role_ids(session, user_id, project_id=project_id)
        return {r["name"] for r in identity.assignments.roles_by_ids(session, ids)}


def test_admin_implies_member_implies_reader(identity):
    user = identity.users.create_user({"name": name("u")})
    project = identity.resources.create_project({"name": name("p")})
    identity.assignments.grant("user", user["id"], "project", project["id"], role_id(identity, "admin"))
    assert effective_names(identity, user["id"], project["id"]) == {"admin", "manager", "member", "reader"}


def test_group_and_inherited_grants(identity):
    user = identity.users.create_user({"name": name("u")})
    group = identity.users.create_group({"name": name("g")})
    identity.users.add_member(group["id"], user["id"])
    parent = identity.resources.create_project({"name": name("p")})
    child = identity.resources.create_project({"name": name("p"), "parent_id": parent["id"]})
    reader = role_id(identity, "reader")
    identity.assignments.grant("group", group["id"], "project", parent["id"], reader, inherited=True)
    assert effective_names(identity, user["id"], child["id"]) == {"reader"}
    assert effective_names(identity, user["id"], parent["id"]) == set()  # inherited: below only
    assignments = identity.assignments.list_role_assignments({"user.id": user["id"], "effective": ""})
    assert [a["scope"]["project"]["id"] for a in assignments] == [child["id"]]


def test_domain_specific_roles(identity):
    domain = identity.resources.create_domain({"name": name("d")})
    droles = [identity.assignments.create_role({"name": name(), "domain_id": domain["id"]}) for _ in range(2)]
    identity.assignments.create_implied(droles[0]["id"], droles[1]["id"])
    identity.assignments.create_implied(droles[0]["id"], role_id(identity, "reader"))
    with pytest.raises(errors.Forbidden):
        identity.assignments.create_implied(role_id(identity, "reader"), droles[0]["id"])
    user = identity.users.create_user({"name": name("u"), "domain_id": domain["id"]})
    project = identity.resources.create_project({"name": name("p"), "domain_id": domain["id"]})
    identity.assignments.grant("user", user["id"], "project", project["id"], droles[0]["id"])
    # Only the global role a domain-specific role implies ends up effective.
    assert effective_names(identity, user["id"], project["id"]) == {"reader"}
    effective = identity.assignments.list_role_assignments({"user.id": user["id"], "effective": ""})
    assert {a["role"]["id"] for a in effective} == {role_id(identity, "reader")}


def test_implied_role_cycles_are_refused(identity):
    a, b = (identity.assignments.create_role({"name": name()}) for _ in range(2))
    identity.assignments.create_implied(a["id"], b["id"])
    with pytest.raises(errors.Forbidden):
        identity.assignments.create_implied(b["id"], a["id"])


def test_system_grants_and_names(identity):
    user = identity.users.create_user({"name": name("u")})
    identity.assignments.grant("user", user["id"], "system", "all", role_id(identity, "reader"))
    identity.assignments.check_grant("user", user["id"], "system", "all", role_id(identity, "reader"))
    entries = identity.assignments.list_role_assignments({"user.id": user["id"], "include_names": "1"})
    assert entries[0]["scope"] == {"system": {"all": True}}
    assert entries[0]["role"]["name"] == "reader" and entries[0]["user"]["name"] == user["name"]
    assert identity.assignments.user_has_system(user["id"])


def test_immutable_roles(identity):
    role = identity.assignments.create_role({"name": name(), "options": {"immutable": True}})
    with pytest.raises(errors.Forbidden):
        identity.assignments.delete_role(role["id"])
    identity.assignments.update_role(role["id"], {"options": {"immutable": False}})
    identity.assignments.delete_role(role["id"])
