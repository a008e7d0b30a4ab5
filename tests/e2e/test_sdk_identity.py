"""openstacksdk against the running cloud: the proxy layer (conn.identity.*), the
cloud layer (conn.list_projects(), conn.create_user(), ...), version discovery
and token validation.  Every name is unique: other test files share the cloud."""

from __future__ import annotations

import uuid
from typing import Any, Iterator

import openstack.config
import openstack.connection
import pytest
from keystoneauth1 import adapter, discover
from openstack import exceptions

# The SDK's own notices about its future releases, not about this cloud.
pytestmark = pytest.mark.filterwarnings("ignore::openstack.warnings.OpenStackDeprecationWarning",
                                        "ignore::PendingDeprecationWarning")


def unique(prefix: str) -> str:
    return f"e2e-sdk-{prefix}-{uuid.uuid4().hex[:10]}"


def connect(cloud: Any, name: str = "monostack-admin") -> openstack.connection.Connection:
    config = openstack.config.OpenStackConfig(config_files=[str(cloud.clouds_yaml)])
    return openstack.connection.Connection(config=config.get_one(cloud=name))


@pytest.fixture(scope="module")
def conn(cloud) -> Iterator[openstack.connection.Connection]:
    connection = connect(cloud)
    yield connection
    connection.close()


@pytest.fixture(scope="module")
def demo(cloud) -> Iterator[openstack.connection.Connection]:
    connection = connect(cloud, "monostack")
    yield connection
    connection.close()


# -- discovery and tokens ------------------------------------------------------------------
def test_version_discovery(cloud, conn):
    # The proxy's own get_endpoint() is the endpoint resource's; the adapter's resolves the service URL.
    assert adapter.Adapter.get_endpoint(conn.identity).rstrip("/") == f"{cloud.auth_url}/v3"
    for interface in ("public", "internal", "admin"):
        endpoint = conn.session.get_endpoint(service_type="identity", interface=interface)
        assert endpoint.rstrip("/") == cloud.auth_url
    data = conn.identity.get_endpoint_data()
    assert data.api_version[0] == 3 and data.api_version >= (3, 14)  # Keystone's current minor
    assert data.url.rstrip("/") == f"{cloud.auth_url}/v3"
    assert conn.identity.get_api_major_version()[0] == 3
    versions = discover.get_version_data(conn.session, cloud.auth_url)
    assert len(versions) == 1 and versions[0]["id"].startswith("v3.") and versions[0]["status"] == "stable"
    assert versions[0]["links"][0]["href"].rstrip("/") == f"{cloud.auth_url}/v3"


def test_token_scope_and_catalog(conn):
    access = conn.session.auth.get_access(conn.session)
    assert access.project_name == "admin" and access.username == "admin"
    assert access.project_domain_id == "default" and access.user_domain_id == "default"
    assert "admin" in access.role_names and access.has_service_catalog()
    assert conn.current_project_id == access.project_id and conn.current_user_id == access.user_id
    urls = access.service_catalog.get_endpoints(service_type="identity")["identity"]
    assert sorted(e["interface"] for e in urls) == ["admin", "internal", "public"]


def test_system_scoped_token(cloud):
    with connect(cloud, "monostack-system-admin") as system:
        access = system.session.auth.get_access(system.session)
        assert access.system_scoped and access.system == {"all": True}
        assert access.project_id is None and "admin" in access.role_names
        assert [u.name for u in system.identity.users(name="admin")] == ["admin"]


def test_token_validate_check_revoke(cloud, conn):
    with connect(cloud, "monostack") as user:
        subject = user.auth_token
        user_id, project_id = user.current_user_id, user.current_project_id
        token = conn.identity.validate_token(subject)
        assert token.user["id"] == user_id and token.user["name"] == "demo"
        assert token.project["id"] == project_id and token.project["name"] == "demo"
        assert token.methods == ["password"] and token.catalog
        assert {"member", "reader"} <= {r["name"] for r in token.roles}
        assert "admin" not in {r["name"] for r in token.roles}
        assert not conn.identity.validate_token(subject, nocatalog=True).catalog
        assert conn.identity.check_token(subject) is True
        conn.identity.revoke_token(subject)
        assert conn.identity.check_token(subject) is False
        with pytest.raises(exceptions.NotFoundException):
            conn.identity.validate_token(subject)


def test_member_is_forbidden(demo):
    with pytest.raises(exceptions.ForbiddenException):
        list(demo.identity.users())
    with pytest.raises(exceptions.ForbiddenException):
        demo.identity.create_project(name=unique("nope"))
    with pytest.raises(exceptions.ForbiddenException):
        list(demo.identity.roles())
    assert [p.name for p in demo.identity.user_projects(demo.current_user_id)] == ["demo"]


# -- projects --------------------------------------------------------------------------------
def test_projects(conn):
    name = unique("project")
    project = conn.identity.create_project(name=name, description="from the SDK", domain_id="default",
                                           tags=["one"])
    assert project.name == name and project.is_enabled is True and project.domain_id == "default"
    assert project.description == "from the SDK" and project.tags == ["one"] and not project.is_domain
    assert conn.identity.get_project(project.id).name == name
    assert [p.id for p in conn.identity.projects(name=name)] == [project.id]
    assert conn.identity.find_project(name).id == project.id
    assert name in {p.name for p in conn.list_projects()}
    assert conn.get_project(name).id == project.id

    updated = conn.identity.update_project(project, description="changed", is_enabled=False)
    assert updated.description == "changed" and updated.is_enabled is False
    assert conn.identity.get_project(project.id).is_enabled is False
    cloud_updated = conn.update_project(project.id, description="cloud layer", enabled=True)
    assert cloud_updated.description == "cloud layer" and cloud_updated.is_enabled is True

    assert conn.delete_project(project.id) is True
    with pytest.raises(exceptions.NotFoundException):
        conn.identity.get_project(project.id)
    assert conn.identity.find_project(name) is None
    assert conn.delete_project(project.id) is False


# -- users and groups ---------------------------------------------------------------------
def test_users(cloud, conn):
    project = conn.identity.create_project(name=unique("home"), domain_id="default")
    name, password = unique("user"), uuid.uuid4().hex
    user = conn.create_user(name, password=password, email="sdk@example.org", default_project=project.id,
                            domain_id="default", description="from the SDK")
    assert user.name == name and user.email == "sdk@example.org" and user.default_project_id == project.id
    assert user.is_enabled is True and user.domain_id == "default"
    assert conn.identity.get_user(user.id).name == name
    assert [u.id for u in conn.identity.users(name=name)] == [user.id]
    assert user.id in {u.id for u in conn.list_users()}
    assert conn.get_user(name).id == user.id

    member = conn.identity.find_role("member")
    conn.identity.assign_project_role_to_user(project, user, member)
    with openstack.connection.Connection(auth_url=cloud.auth_url, username=name, password=password,
                                         user_domain_id="default", project_id=project.id,
                                         project_domain_id="default", identity_api_version="3") as own:
        access = own.session.auth.get_access(own.session)
        assert access.user_id == user.id and access.project_id == project.id
        assert [p.id for p in own.identity.user_projects(user.id)] == [project.id]

    updated = conn.identity.update_user(user, email="new@example.org", is_enabled=False)
    assert updated.email == "new@example.org" and updated.is_enabled is False
    conn.identity.delete_user(user)
    assert conn.identity.find_user(name) is None
    conn.identity.delete_project(project)


def test_groups(conn):
    user = conn.identity.create_user(name=unique("member"), domain_id="default")
    group = conn.identity.create_group(name=unique("group"), description="from the SDK", domain_id="default")
    assert group.description == "from the SDK" and group.domain_id == "default"
    assert conn.identity.check_user_in_group(user, group) is False
    conn.identity.add_user_to_group(user, group)
    assert conn.identity.check_user_in_group(user, group) is True
    assert [u.id for u in conn.identity.group_users(group)] == [user.id]
    assert [g.id for g in conn.identity.user_groups(user)] == [group.id]
    assert conn.is_user_in_group(user.id, group.id)
    conn.identity.remove_user_from_group(user, group)
    assert conn.identity.check_user_in_group(user, group) is False
    assert list(conn.identity.group_users(group)) == []

    renamed = unique("renamed")
    assert conn.identity.update_group(group, name=renamed).name == renamed
    conn.identity.delete_group(group)
    with pytest.raises(exceptions.NotFoundException):
        conn.identity.get_group(group.id)
    conn.identity.delete_user(user)


# -- roles and assignments ---------------------------------------------------------------
def test_roles_and_assignments(conn):
    project = conn.identity.create_project(name=unique("proj"), domain_id="default")
    user = conn.identity.create_user(name=unique("user"), domain_id="default")
    group = conn.identity.create_group(name=unique("grp"), domain_id="default")
    conn.identity.add_user_to_group(user, group)
    role = conn.identity.create_role(name=unique("role"), description="from the SDK")
    assert role.description == "from the SDK" and role.domain_id is None
    assert [r.id for r in conn.identity.roles(name=role.name)] == [role.id]
    assert role.id in {r.id for r in conn.list_roles()}

    conn.identity.assign_project_role_to_user(project, user, role)
    conn.identity.assign_project_role_to_group(project, group, role)
    assert conn.identity.validate_user_has_project_role(project, user, role) is True
    assert conn.identity.validate_group_has_project_role(project, group, role) is True
    direct = list(conn.identity.role_assignments(scope_project_id=project.id))
    assert sorted((a.user or {}).get("id", "") + (a.group or {}).get("id", "") for a in direct) == \
        sorted([user.id, group.id])
    effective = list(conn.identity.role_assignments(user_id=user.id, effective=True))
    assert {(a.role["id"], a.scope["project"]["id"]) for a in effective} == {(role.id, project.id)}
    assert all(a.user["id"] == user.id and not a.group for a in effective)  # group roles expanded
    cloud_layer = conn.list_role_assignments(filters={"user": user.id, "project": project.id})
    assert [a.role["id"] for a in cloud_layer] == [role.id]
    assert [r.id for r in conn.identity.role_assignments_filter(project=project, user=user)] == [role.id]

    conn.identity.unassign_project_role_from_user(project, user, role)
    assert conn.identity.validate_user_has_project_role(project, user, role) is False
    conn.identity.delete_role(role)
    assert conn.identity.find_role(role.name) is None
    assert list(conn.identity.role_assignments(scope_project_id=project.id)) == []
    conn.identity.delete_group(group)
    conn.identity.delete_user(user)
    conn.identity.delete_project(project)


def test_system_role_assignment(conn):
    user = conn.identity.create_user(name=unique("sysuser"), domain_id="default")
    reader = conn.identity.find_role("reader")
    conn.identity.assign_system_role_to_user(user, reader, "all")
    assert conn.identity.validate_user_has_system_role(user, reader, "all") is True
    assignments = list(conn.identity.role_assignments(user_id=user.id, scope_system="all"))
    assert [(a.role["id"], a.scope) for a in assignments] == [(reader.id, {"system": {"all": True}})]
    conn.identity.unassign_system_role_from_user(user, reader, "all")
    assert conn.identity.validate_user_has_system_role(user, reader, "all") is False
    conn.identity.delete_user(user)


# -- domains -----------------------------------------------------------------------------
def test_domains(conn):
    domain = conn.identity.create_domain(name=unique("domain"), description="from the SDK")
    assert domain.is_enabled is True and domain.description == "from the SDK"
    inner = conn.identity.create_project(name=unique("inner"), domain_id=domain.id)
    assert inner.domain_id == domain.id and inner.parent_id == domain.id
    assert [p.id for p in conn.identity.projects(domain_id=domain.id)] == [inner.id]
    with pytest.raises(exceptions.ForbiddenException):
        conn.identity.delete_domain(domain)  # still enabled
    assert conn.identity.update_domain(domain, is_enabled=False).is_enabled is False
    conn.identity.delete_domain(domain)
    with pytest.raises(exceptions.NotFoundException):
        conn.identity.get_domain(domain.id)
    with pytest.raises(exceptions.NotFoundException):
        conn.identity.get_project(inner.id)  # a domain's projects go with it

    other = conn.create_domain(unique("cloud-domain"))
    assert conn.delete_domain(other.id) is True  # the cloud layer disables it first


# -- catalog -------------------------------------------------------------------------------
def test_catalog(cloud, conn):
    services = [s for s in conn.identity.services() if s.type == "identity"]
    assert len(services) == 1 and services[0].name == "keystone" and services[0].is_enabled
    endpoints = list(conn.identity.endpoints(service_id=services[0].id))
    assert sorted(e.interface for e in endpoints) == ["admin", "internal", "public"]
    assert {e.url.rstrip("/") for e in endpoints} == {cloud.auth_url}
    assert "RegionOne" in {r.id for r in conn.identity.regions()}


# -- application credentials ---------------------------------------------------------------
def test_application_credential_authenticates(cloud, conn):
    user_id = conn.current_user_id
    name = unique("appcred")
    created = conn.identity.create_application_credential(user_id, name, description="from the SDK",
                                                          roles=[{"name": "member"}])
    assert created.secret and created.name == name and created.project_id == conn.current_project_id
    assert "member" in {r["name"] for r in created.roles}
    assert conn.identity.get_application_credential(user_id, created.id).name == name
    assert conn.identity.find_application_credential(user_id, name).id == created.id
    assert created.id in {c.id for c in conn.identity.application_credentials(user_id)}

    with openstack.connection.Connection(auth_url=cloud.auth_url, auth_type="v3applicationcredential",
                                         application_credential_id=created.id,
                                         application_credential_secret=created.secret,
                                         identity_api_version="3") as delegated:
        access = delegated.session.auth.get_access(delegated.session)
        assert access.user_id == user_id and access.project_id == conn.current_project_id
        assert "member" in access.role_names and "admin" not in access.role_names
        token = conn.identity.validate_token(delegated.auth_token)
        assert token.methods == ["application_credential"]

    conn.identity.delete_application_credential(user_id, created)
    assert conn.identity.find_application_credential(user_id, name) is None


def test_application_credential_keeps_exactly_the_requested_roles(conn):
    user_id = conn.current_user_id
    created = conn.identity.create_application_credential(user_id, unique("roles"), roles=[{"name": "member"}])
    try:
        assert [r["name"] for r in created.roles] == ["member"]
        fetched = conn.identity.get_application_credential(user_id, created.id)
        assert [r["name"] for r in fetched.roles] == ["member"]
    finally:
        conn.identity.delete_application_credential(user_id, created)
