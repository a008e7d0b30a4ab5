"""The real `openstack` CLI (python-openstackclient) against the running cloud.

Each CLI call pays ~1 s of Python start-up, so the tests set up what they
merely need through the HTTP API (`api` fixture) and run independent CLI
calls side by side (`osc_many`).  Every name is unique: other test files
share the session cloud.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import subprocess
import sys
import uuid
from typing import Any

import httpx
import pytest

OPENSTACK = str(pathlib.Path(sys.executable).parent / "openstack")
TIMEOUT = 60


@dataclasses.dataclass
class Result:
    argv: list[str]
    rc: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        assert self.rc == 0, f"{self.argv} failed ({self.rc}): {self.stderr}"
        data = json.loads(self.stdout)
        return _normalise(data)

    def ok(self) -> Result:
        assert self.rc == 0, f"{self.argv} failed ({self.rc}): {self.stderr}"
        return self


def _normalise(data: Any) -> Any:
    """OSC prints some tables with title-case columns ("ID", "Project ID"): make them snake_case."""
    if isinstance(data, list):
        return [_normalise(item) for item in data]
    if isinstance(data, dict):
        return {key.lower().replace(" ", "_"): value for key, value in data.items()}
    return data


def _argv(args: tuple[str, ...], os_cloud: str | None) -> list[str]:
    return [OPENSTACK] + (["--os-cloud", os_cloud] if os_cloud else []) + list(args)


def osc_many(cloud: Any, *calls: tuple[str, ...] | dict[str, Any]) -> list[Result]:
    """Run CLI calls concurrently. Each call is a tuple of args (admin cloud) or
    {"args": (...), "os_cloud": name-or-None}."""
    procs = []
    for call in calls:
        spec = call if isinstance(call, dict) else {"args": call}
        argv = _argv(tuple(spec["args"]), spec.get("os_cloud", "monostack-admin"))
        procs.append((argv, subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                             env=cloud.env())))
    results = []
    for argv, proc in procs:
        try:
            out, err = proc.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            pytest.fail(f"{argv} timed out: {err}")
        results.append(Result(argv, proc.returncode, out, err))
    return results


def osc(cloud: Any, *args: str, os_cloud: str | None = "monostack-admin") -> Result:
    return osc_many(cloud, {"args": args, "os_cloud": os_cloud})[0]


def unique(prefix: str) -> str:
    return f"e2e-cli-{prefix}-{uuid.uuid4().hex[:10]}"


def _create(api: httpx.Client, collection: str, key: str, body: dict[str, Any]) -> dict[str, Any]:
    response = api.post(f"/{collection}", json={key: body})
    assert response.status_code == 201, response.text
    return response.json()[key]


def _role_id(api: httpx.Client, name: str) -> str:
    return api.get("/roles", params={"name": name}).json()["roles"][0]["id"]


# -- tokens, catalog, the named clouds ---------------------------------------------------
def test_token_issue_catalog_and_named_clouds(cloud, api):
    admin, catalog, system, devstack_admin, devstack_demo = osc_many(
        cloud,
        ("token", "issue", "-f", "json"),
        ("catalog", "list", "-f", "json"),
        {"args": ("token", "issue", "-f", "json"), "os_cloud": "monostack-system-admin"},
        {"args": ("project", "list", "-f", "json"), "os_cloud": "devstack-admin"},
        {"args": ("token", "issue", "-f", "json"), "os_cloud": "devstack"},
    )
    token = admin.json()
    assert token["id"] and token["expires"] and token["project_id"] and token["user_id"]
    validated = api.get("/auth/tokens", headers={"X-Subject-Token": token["id"]})
    assert validated.status_code == 200
    body = validated.json()["token"]
    assert body["project"]["name"] == "admin" and body["user"]["name"] == "admin"
    assert body["project"]["id"] == token["project_id"] and body["user"]["id"] == token["user_id"]
    assert "admin" in {role["name"] for role in body["roles"]}

    services = catalog.json()
    identity = [s for s in services if s["type"] == "identity"]
    assert len(identity) == 1 and identity[0]["name"] == "keystone"
    endpoints = identity[0]["endpoints"]
    assert {e["interface"] for e in endpoints} == {"public", "internal", "admin"}
    assert all(e["url"].rstrip("/") == cloud.auth_url and e["region"] == "RegionOne" for e in endpoints)

    system_token = system.json()
    assert system_token["system"] == "all" and "project_id" not in system_token
    validated = api.get("/auth/tokens", headers={"X-Subject-Token": system_token["id"]}).json()["token"]
    assert validated["system"] == {"all": True} and "project" not in validated

    names = {p["name"] for p in devstack_admin.json()}
    assert {"admin", "demo", "alt_demo"} <= names

    demo_token = devstack_demo.json()
    demo = api.get("/auth/tokens", headers={"X-Subject-Token": demo_token["id"]}).json()["token"]
    assert demo["user"]["name"] == "demo" and demo["project"]["name"] == "demo"


# -- projects ----------------------------------------------------------------------------
def test_project_create_list_show_set_delete(cloud, api):
    name, renamed = unique("project"), unique("renamed")
    created = osc(cloud, "project", "create", name, "--description", "made by the CLI", "--tag", "alpha",
                  "-f", "json").json()
    assert created["name"] == name and created["description"] == "made by the CLI"
    assert created["enabled"] is True and created["domain_id"] == "default" and created["tags"] == ["alpha"]
    project_id = created["id"]

    listed, shown = osc_many(cloud, ("project", "list", "-f", "json"), ("project", "show", name, "-f", "json"))
    assert {"id": project_id, "name": name} in listed.json()
    assert shown.json()["id"] == project_id

    osc(cloud, "project", "set", project_id, "--name", renamed, "--description", "changed", "--disable").ok()
    shown = osc(cloud, "project", "show", project_id, "-f", "json").json()
    assert (shown["name"], shown["description"], shown["enabled"]) == (renamed, "changed", False)
    assert api.get(f"/projects/{project_id}").json()["project"]["enabled"] is False

    osc(cloud, "project", "delete", project_id).ok()
    assert api.get(f"/projects/{project_id}").status_code == 404


# -- users -------------------------------------------------------------------------------
def test_user_create_list_show_set_delete(cloud, api):
    project = _create(api, "projects", "project", {"name": unique("home")})
    name, renamed, password = unique("user"), unique("renamed"), f"pw-{uuid.uuid4().hex}"
    created = osc(cloud, "user", "create", name, "--password", password, "--email", "e2e@example.org",
                  "--project", project["id"], "--description", "a CLI user", "-f", "json").json()
    assert created["name"] == name and created["enabled"] is True and created["domain_id"] == "default"
    assert created["email"] == "e2e@example.org" and created["default_project_id"] == project["id"]
    assert "password" not in created
    user_id = created["id"]

    auth = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "id": user_id, "password": password}}}}}
    issued = httpx.post(f"{cloud.auth_url}/v3/auth/tokens", json=auth, timeout=30)
    assert issued.status_code == 201, issued.text  # the password the CLI set works

    listed, shown = osc_many(cloud, ("user", "list", "-f", "json"), ("user", "show", name, "-f", "json"))
    assert {"id": user_id, "name": name} in listed.json()
    assert shown.json()["id"] == user_id and shown.json()["email"] == "e2e@example.org"

    osc(cloud, "user", "set", user_id, "--name", renamed, "--email", "new@example.org", "--disable").ok()
    shown = osc(cloud, "user", "show", user_id, "-f", "json").json()
    assert (shown["name"], shown["email"], shown["enabled"]) == (renamed, "new@example.org", False)
    refused = httpx.post(f"{cloud.auth_url}/v3/auth/tokens", json=auth, timeout=30)
    assert refused.status_code == 401  # a disabled user cannot authenticate

    osc(cloud, "user", "delete", user_id).ok()
    assert api.get(f"/users/{user_id}").status_code == 404
    api.delete(f"/projects/{project['id']}")


# -- groups ------------------------------------------------------------------------------
def test_group_membership(cloud, api):
    user = _create(api, "users", "user", {"name": unique("member")})
    name = unique("group")
    group = osc(cloud, "group", "create", name, "--description", "CLI group", "-f", "json").json()
    assert group["name"] == name and group["description"] == "CLI group" and group["domain_id"] == "default"

    osc(cloud, "group", "add", "user", name, user["name"]).ok()
    contains, groups = osc_many(cloud, ("group", "contains", "user", name, user["name"]),
                                ("group", "list", "--user", user["id"], "-f", "json"))
    assert contains.ok().stdout.strip() == f"{user['name']} in group {name}"
    assert [g["name"] for g in groups.json()] == [name]
    assert api.head(f"/groups/{group['id']}/users/{user['id']}").status_code == 204

    osc(cloud, "group", "remove", "user", name, user["name"]).ok()
    contains = osc(cloud, "group", "contains", "user", name, user["name"])
    assert f"{user['name']} not in group {name}" in contains.stdout + contains.stderr
    assert api.head(f"/groups/{group['id']}/users/{user['id']}").status_code == 404

    osc(cloud, "group", "delete", group["id"]).ok()
    assert api.get(f"/groups/{group['id']}").status_code == 404
    api.delete(f"/users/{user['id']}")


# -- roles and assignments ---------------------------------------------------------------
def test_roles_and_assignments(cloud, api):
    project = _create(api, "projects", "project", {"name": unique("proj")})
    user = _create(api, "users", "user", {"name": unique("user")})
    group = _create(api, "groups", "group", {"name": unique("grp")})
    assert api.put(f"/groups/{group['id']}/users/{user['id']}").status_code == 204
    role_name = unique("role")

    role = osc(cloud, "role", "create", role_name, "--description", "CLI role", "-f", "json").json()
    assert role["name"] == role_name and role["description"] == "CLI role" and role["domain_id"] is None

    listed, add_user, add_group = osc_many(
        cloud,
        ("role", "list", "-f", "json"),
        ("role", "add", "--project", project["id"], "--user", user["id"], role_name),
        ("role", "add", "--project", project["id"], "--group", group["id"], role_name))
    assert {"id": role["id"], "name": role_name} in listed.json()
    add_user.ok()
    add_group.ok()

    on_project, effective = osc_many(
        cloud,
        ("role", "assignment", "list", "--project", project["id"], "--names", "-f", "json"),
        ("role", "assignment", "list", "--user", user["id"], "--effective", "--names", "-f", "json"))
    rows = on_project.json()
    user_at, project_at = f"{user['name']}@Default", f"{project['name']}@Default"
    assert sorted((r["role"], r["user"], r["group"], r["project"]) for r in rows) == sorted([
        (role_name, user_at, "", project_at), (role_name, "", f"{group['name']}@Default", project_at)])
    rows = effective.json()
    assert rows and all(r["group"] == "" and r["user"] == user_at for r in rows)  # groups expanded to the user
    assert {(r["role"], r["project"]) for r in rows} == {(role_name, project_at)}

    osc(cloud, "role", "remove", "--project", project["id"], "--user", user["id"], role_name).ok()
    direct = api.get("/role_assignments", params={"user.id": user["id"]}).json()["role_assignments"]
    assert direct == []
    inherited = api.get("/role_assignments", params={"user.id": user["id"], "effective": ""}).json()
    assert [a["role"]["id"] for a in inherited["role_assignments"]] == [role["id"]]  # still there via the group

    osc(cloud, "role", "delete", role_name).ok()
    assert api.get(f"/roles/{role['id']}").status_code == 404
    assert api.get("/role_assignments", params={"scope.project.id": project["id"]}).json()["role_assignments"] == []
    for path in (f"/groups/{group['id']}", f"/users/{user['id']}", f"/projects/{project['id']}"):
        api.delete(path)


# -- domains -----------------------------------------------------------------------------
def test_domain_create_disable_delete(cloud, api):
    name = unique("domain")
    domain = osc(cloud, "domain", "create", name, "--description", "CLI domain", "-f", "json").json()
    assert domain["name"] == name and domain["enabled"] is True and domain["description"] == "CLI domain"
    refused = api.delete(f"/domains/{domain['id']}")
    assert refused.status_code == 403, refused.text  # Keystone: disable a domain before deleting it

    osc(cloud, "domain", "set", name, "--disable").ok()
    shown = osc(cloud, "domain", "show", domain["id"], "-f", "json").json()
    assert shown["enabled"] is False and shown["name"] == name

    osc(cloud, "domain", "delete", domain["id"]).ok()
    assert api.get(f"/domains/{domain['id']}").status_code == 404


# -- application credentials ---------------------------------------------------------------
def test_application_credential_authenticates(cloud, api):
    name = unique("appcred")
    created = osc(cloud, "application", "credential", "create", name, "--role", "member",
                  "--description", "CLI app cred", "-f", "json").json()
    assert created["name"] == name and created["secret"] and created["unrestricted"] is False
    assert [r["name"] for r in created["roles"]] == ["member"]
    app_cred_id, secret = created["id"], created["secret"]

    app_cred_auth = ("--os-auth-url", cloud.auth_url, "--os-identity-api-version", "3",
                     "--os-auth-type", "v3applicationcredential",
                     "--os-application-credential-id", app_cred_id,
                     "--os-application-credential-secret", secret)
    issued, listed = osc_many(cloud, {"args": app_cred_auth + ("token", "issue", "-f", "json"), "os_cloud": None},
                              ("application", "credential", "list", "-f", "json"))
    token = issued.json()
    assert name in [c["name"] for c in listed.json()]
    validated = api.get("/auth/tokens", headers={"X-Subject-Token": token["id"]})
    assert validated.status_code == 200
    body = validated.json()["token"]
    assert body["methods"] == ["application_credential"]
    assert body["application_credential"]["id"] == app_cred_id
    assert body["user"]["name"] == "admin" and body["project"]["name"] == "admin"
    role_names = {r["name"] for r in body["roles"]}
    assert "member" in role_names and "admin" not in role_names  # only the delegated role (and its implied ones)

    osc(cloud, "application", "credential", "delete", app_cred_id).ok()
    refused = httpx.post(f"{cloud.auth_url}/v3/auth/tokens", timeout=30, json={"auth": {"identity": {
        "methods": ["application_credential"], "application_credential": {"id": app_cred_id, "secret": secret}}}})
    assert refused.status_code == 401


# -- policy ------------------------------------------------------------------------------
def test_member_is_forbidden_admin_calls(cloud, api):
    name = unique("forbidden")
    results = osc_many(cloud,
                       {"args": ("user", "list", "-f", "json"), "os_cloud": "monostack"},
                       {"args": ("project", "create", name, "-f", "json"), "os_cloud": "monostack"},
                       {"args": ("role", "list", "-f", "json"), "os_cloud": "monostack"})
    for result in results:
        assert result.rc != 0, result.argv
        assert "403" in result.stderr, (result.argv, result.stderr)
    assert api.get("/projects", params={"name": name}).json()["projects"] == []
