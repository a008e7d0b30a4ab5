"""The real `openstack` CLI (python-openstackclient) against the running cloud.

Each CLI process pays ~1 s of Python start-up (and a login), so the tests set
up what they merely need through the HTTP API (`api` fixture), run a sequence
of commands in one process through the CLI's interactive shell (commands on
stdin, `osc_script`), and start independent processes side by side (`Run`).
Every name is unique: other test files share the session cloud.
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
TIMEOUT = 90


def _normalise(data: Any) -> Any:
    """OSC prints some tables with title-case columns ("ID", "Project ID"): make them snake_case."""
    if isinstance(data, list):
        return [_normalise(item) for item in data]
    if isinstance(data, dict):
        return {key.lower().replace(" ", "_"): value for key, value in data.items()}
    return data


def _parse(stdout: str) -> list[Any]:
    """The outputs of a run, in order: each JSON document (`-f json`) or plain text line."""
    decoder = json.JSONDecoder()
    items: list[Any] = []
    pos = 0
    while True:
        while pos < len(stdout) and stdout[pos].isspace():
            pos += 1
        if pos >= len(stdout):
            return items
        if stdout[pos] in "[{":
            value, pos = decoder.raw_decode(stdout, pos)
            items.append(_normalise(value))
        else:
            end = stdout.find("\n", pos)
            end = len(stdout) if end < 0 else end
            items.append(stdout[pos:end].strip())
            pos = end


@dataclasses.dataclass
class Result:
    argv: list[str]
    script: list[str]
    rc: int
    stdout: str
    stderr: str

    @property
    def outputs(self) -> list[Any]:
        return _parse(self.stdout)

    def ok(self) -> list[Any]:
        """The outputs of a run that must have fully succeeded."""
        # The interactive shell always exits 1 (at end of input): there, stderr tells failures.
        assert (self.script or self.rc == 0) and not self.stderr.strip(), \
            f"{self.argv} {self.script} failed ({self.rc}):\n{self.stderr}\n{self.stdout}"
        return self.outputs

    def json(self) -> Any:
        (value,) = self.ok()
        return value


class Run:
    """One `openstack` process: a single command (argv), or -- with `script` -- the CLI's
    interactive shell reading several commands from stdin (one start-up and one login for
    all of them; a failing command writes to stderr and the next one runs)."""

    def __init__(self, cloud: Any, args: tuple[str, ...] = (), *, os_cloud: str | None = "monostack-admin",
                 script: list[list[str]] | None = None):
        env = cloud.env()
        if script is None:
            self.argv = [OPENSTACK, *(["--os-cloud", os_cloud] if os_cloud else []), *args]
        else:  # the shell would take options on its command line for commands: name the cloud in the environment
            self.argv = [OPENSTACK]
            if os_cloud:
                env["OS_CLOUD"] = os_cloud
        for line in script or []:
            # The interactive shell does not honour shell quoting: keep each argument one plain word.
            assert all(arg and not any(c.isspace() or c in "'\"" for c in arg) for arg in line), line
        self.script = [" ".join(line) for line in script or []]
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env=env)

    def result(self) -> Result:
        stdin = "".join(line + "\n" for line in self.script) if self.script else ""
        try:
            out, err = self.proc.communicate(stdin, timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
            pytest.fail(f"{self.argv} {self.script} timed out: {err}")
        return Result(self.argv, self.script, self.proc.returncode, out, err)


def osc(cloud: Any, *args: str, os_cloud: str | None = "monostack-admin") -> Result:
    """One CLI command, one process."""
    return Run(cloud, args, os_cloud=os_cloud).result()


def osc_script(cloud: Any, *commands: list[str], os_cloud: str = "monostack-admin") -> Result:
    """Several CLI commands in one process (the interactive shell)."""
    return Run(cloud, script=list(commands), os_cloud=os_cloud).result()


def unique(prefix: str) -> str:
    return f"e2e-cli-{prefix}-{uuid.uuid4().hex[:10]}"


def _create(api: httpx.Client, collection: str, key: str, body: dict[str, Any]) -> dict[str, Any]:
    response = api.post(f"/{collection}", json={key: body})
    assert response.status_code == 201, response.text
    return response.json()[key]


# -- tokens, catalog, the named clouds ---------------------------------------------------
def test_token_issue_catalog_and_named_clouds(cloud, api):
    runs = [Run(cloud, script=[["token", "issue", "-f", "json"], ["catalog", "list", "-f", "json"]]),
            Run(cloud, ("token", "issue", "-f", "json"), os_cloud="monostack-system-admin"),
            Run(cloud, ("project", "list", "-f", "json"), os_cloud="devstack-admin")]
    admin_run, system, devstack_admin = [run.result() for run in runs]
    token, services = admin_run.ok()

    assert token["id"] and token["expires"] and token["project_id"] and token["user_id"]
    validated = api.get("/auth/tokens", headers={"X-Subject-Token": token["id"]})
    assert validated.status_code == 200
    body = validated.json()["token"]
    assert body["project"]["name"] == "admin" and body["user"]["name"] == "admin"
    assert body["project"]["id"] == token["project_id"] and body["user"]["id"] == token["user_id"]
    assert "admin" in {role["name"] for role in body["roles"]}

    identity = [s for s in services if s["type"] == "identity"]
    assert len(identity) == 1 and identity[0]["name"] == "keystone"
    endpoints = identity[0]["endpoints"]
    assert sorted(e["interface"] for e in endpoints) == ["admin", "internal", "public"]
    assert all(e["url"].rstrip("/") == cloud.auth_url and e["region"] == "RegionOne" for e in endpoints)

    system_token = system.json()
    assert system_token["system"] == "all" and "project_id" not in system_token
    validated = api.get("/auth/tokens", headers={"X-Subject-Token": system_token["id"]}).json()["token"]
    assert validated["system"] == {"all": True} and "project" not in validated

    assert {"admin", "demo", "alt_demo", "service"} <= {p["name"] for p in devstack_admin.json()}


# -- projects ----------------------------------------------------------------------------
def test_project_create_list_show_set_delete(cloud, api):
    name, renamed = unique("project"), unique("renamed")
    created, listed, shown, changed = osc_script(
        cloud,
        ["project", "create", name, "--description", "made-by-the-CLI", "--tag", "alpha", "-f", "json"],
        ["project", "list", "-f", "json"],
        ["project", "show", name, "-f", "json"],
        ["project", "set", name, "--name", renamed, "--description", "changed", "--disable"],
        ["project", "show", renamed, "-f", "json"],
        ["project", "delete", renamed]).ok()
    assert created["name"] == name and created["description"] == "made-by-the-CLI"
    assert created["enabled"] is True and created["domain_id"] == "default" and created["tags"] == ["alpha"]
    project_id = created["id"]
    assert {"id": project_id, "name": name} in listed
    assert shown == created
    assert changed["id"] == project_id
    assert (changed["name"], changed["description"], changed["enabled"]) == (renamed, "changed", False)
    assert api.get(f"/projects/{project_id}").status_code == 404


# -- users -------------------------------------------------------------------------------
def test_user_create_list_show_set_delete(cloud, api):
    project = _create(api, "projects", "project", {"name": unique("home")})
    name, renamed, password = unique("user"), unique("renamed"), f"pw-{uuid.uuid4().hex}"
    created, listed, shown, changed = osc_script(
        cloud,
        ["user", "create", name, "--password", password, "--email", "e2e@example.org", "--project", project["id"],
         "--description", "a-CLI-user", "-f", "json"],
        ["user", "list", "-f", "json"],
        ["user", "show", name, "-f", "json"],
        ["user", "set", name, "--name", renamed, "--email", "new@example.org"],
        ["user", "show", renamed, "-f", "json"]).ok()
    assert created["name"] == name and created["enabled"] is True and created["domain_id"] == "default"
    assert created["email"] == "e2e@example.org" and created["default_project_id"] == project["id"]
    assert "password" not in created
    user_id = created["id"]
    assert {"id": user_id, "name": name} in listed
    assert shown["id"] == user_id and shown["email"] == "e2e@example.org"
    assert (changed["id"], changed["name"], changed["email"]) == (user_id, renamed, "new@example.org")

    auth = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "id": user_id, "password": password}}}}}
    issued = httpx.post(f"{cloud.auth_url}/v3/auth/tokens", json=auth, timeout=30)
    assert issued.status_code == 201, issued.text  # the password the CLI set works

    (disabled,) = osc_script(cloud, ["user", "set", user_id, "--disable"], ["user", "show", user_id, "-f", "json"],
                             ["user", "delete", user_id]).ok()
    assert disabled["enabled"] is False
    assert api.get(f"/users/{user_id}").status_code == 404
    api.delete(f"/projects/{project['id']}")


# -- groups ------------------------------------------------------------------------------
def test_group_membership(cloud, api):
    user = _create(api, "users", "user", {"name": unique("member")})
    name = unique("group")
    result = osc_script(
        cloud,
        ["group", "create", name, "--description", "CLI-group", "-f", "json"],
        ["group", "add", "user", name, user["name"]],
        ["group", "contains", "user", name, user["name"]],
        ["group", "list", "--user", user["id"], "-f", "json"],
        ["group", "remove", "user", name, user["name"]],
        ["group", "contains", "user", name, user["name"]],  # says "not in group" on stderr
        ["group", "list", "--user", user["id"], "-f", "json"],
        ["group", "delete", name])
    assert result.stderr.strip() == f"{user['name']} not in group {name}", result.stderr
    group, contains, groups_of_user, after_removal = result.outputs
    assert group["name"] == name and group["description"] == "CLI-group" and group["domain_id"] == "default"
    assert contains == f"{user['name']} in group {name}"
    assert [g["name"] for g in groups_of_user] == [name]
    assert after_removal == []
    assert api.get(f"/groups/{group['id']}").status_code == 404
    api.delete(f"/users/{user['id']}")


# -- roles and assignments ---------------------------------------------------------------
def test_roles_and_assignments(cloud, api):
    project = _create(api, "projects", "project", {"name": unique("proj")})
    user = _create(api, "users", "user", {"name": unique("user")})
    group = _create(api, "groups", "group", {"name": unique("grp")})
    assert api.put(f"/groups/{group['id']}/users/{user['id']}").status_code == 204
    role_name = unique("role")
    user_at, group_at, project_at = (f"{user['name']}@Default", f"{group['name']}@Default",
                                     f"{project['name']}@Default")

    role, roles, on_project, effective, after_remove, after_delete = osc_script(
        cloud,
        ["role", "create", role_name, "--description", "CLI-role", "-f", "json"],
        ["role", "list", "-f", "json"],
        ["role", "add", "--project", project["id"], "--user", user["id"], role_name],
        ["role", "add", "--project", project["id"], "--group", group["id"], role_name],
        ["role", "assignment", "list", "--project", project["id"], "--names", "-f", "json"],
        ["role", "assignment", "list", "--user", user["id"], "--effective", "--names", "-f", "json"],
        ["role", "remove", "--project", project["id"], "--user", user["id"], role_name],
        ["role", "assignment", "list", "--project", project["id"], "--names", "-f", "json"],
        ["role", "delete", role_name],
        ["role", "assignment", "list", "--project", project["id"], "-f", "json"]).ok()

    assert role["name"] == role_name and role["description"] == "CLI-role" and role["domain_id"] is None
    assert {"id": role["id"], "name": role_name} in roles
    assert sorted((r["role"], r["user"], r["group"], r["project"]) for r in on_project) == sorted([
        (role_name, user_at, "", project_at), (role_name, "", group_at, project_at)])
    assert effective and all(r["user"] == user_at and r["group"] == "" for r in effective)  # groups expanded
    assert {(r["role"], r["project"]) for r in effective} == {(role_name, project_at)}
    assert [(r["role"], r["user"], r["group"]) for r in after_remove] == [(role_name, "", group_at)]
    assert after_delete == []  # deleting a role deletes its assignments

    still = api.get("/role_assignments", params={"user.id": user["id"], "effective": ""}).json()
    assert still["role_assignments"] == []
    assert api.get(f"/roles/{role['id']}").status_code == 404
    for path in (f"/groups/{group['id']}", f"/users/{user['id']}", f"/projects/{project['id']}"):
        api.delete(path)


# -- domains -----------------------------------------------------------------------------
def test_domain_create_disable_delete(cloud, api):
    name = unique("domain")
    result = osc_script(
        cloud,
        ["domain", "create", name, "--description", "CLI-domain", "-f", "json"],
        ["domain", "delete", name],  # refused: Keystone deletes only disabled domains
        ["domain", "set", name, "--disable"],
        ["domain", "show", name, "-f", "json"],
        ["domain", "delete", name])
    created, shown = result.outputs
    assert created["name"] == name and created["enabled"] is True and created["description"] == "CLI-domain"
    assert shown["id"] == created["id"] and shown["enabled"] is False
    assert "403" in result.stderr and "1 of 1 domains failed to delete" in result.stderr, result.stderr
    assert result.stderr.count("failed to delete") == 1, result.stderr
    assert api.get(f"/domains/{created['id']}").status_code == 404


# -- application credentials ---------------------------------------------------------------
def test_application_credential_authenticates(cloud, api):
    name = unique("appcred")
    created, listed = osc_script(
        cloud,
        ["application", "credential", "create", name, "--role", "member", "--description", "CLI-app-cred",
         "-f", "json"],
        ["application", "credential", "list", "-f", "json"]).ok()
    assert created["name"] == name and created["secret"] and created["unrestricted"] is False
    assert created["description"] == "CLI-app-cred"
    role_names = {r["name"] for r in created["roles"]}
    assert "member" in role_names and "admin" not in role_names
    assert name in [c["name"] for c in listed]
    app_cred_id, secret = created["id"], created["secret"]

    token = osc(cloud, "--os-auth-url", cloud.auth_url, "--os-identity-api-version", "3",
                "--os-auth-type", "v3applicationcredential",
                "--os-application-credential-id", app_cred_id,
                f"--os-application-credential-secret={secret}",  # a secret may begin with "-"
                "token", "issue", "-f", "json", os_cloud=None).json()
    validated = api.get("/auth/tokens", headers={"X-Subject-Token": token["id"]})
    assert validated.status_code == 200
    body = validated.json()["token"]
    assert body["methods"] == ["application_credential"]
    assert body["application_credential"]["id"] == app_cred_id
    assert body["user"]["name"] == "admin" and body["project"]["name"] == "admin"
    token_roles = {r["name"] for r in body["roles"]}
    assert "member" in token_roles and "admin" not in token_roles  # only what was delegated

    user_id = body["user"]["id"]
    assert api.delete(f"/users/{user_id}/application_credentials/{app_cred_id}").status_code == 204
    refused = httpx.post(f"{cloud.auth_url}/v3/auth/tokens", timeout=30, json={"auth": {"identity": {
        "methods": ["application_credential"], "application_credential": {"id": app_cred_id, "secret": secret}}}})
    assert refused.status_code == 401


# -- policy ------------------------------------------------------------------------------
def test_member_is_forbidden_admin_calls(cloud, api):
    name = unique("forbidden")
    result = osc_script(cloud,
                        ["user", "list", "-f", "json"],
                        ["project", "create", name, "-f", "json"],
                        ["role", "list", "-f", "json"], os_cloud="monostack")
    assert result.outputs == []
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 3, result.stderr
    for line, path in zip(errors, ("/v3/users", "/v3/projects", "/v3/roles")):
        assert "403" in line and path in line, line
    assert api.get("/projects", params={"name": name}).json()["projects"] == []
