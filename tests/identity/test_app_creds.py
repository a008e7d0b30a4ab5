"""Application credentials and access rules: the service layer, the HTTP API
(with Keystone's delegation guards) and the openstack CLI."""

import datetime as dt
import json
import subprocess
import sys
import uuid
from types import SimpleNamespace

import httpx
import pytest

from monostack.common import errors
from monostack.identity import models


def app_cred_auth(**ref):
    return {"identity": {"methods": ["application_credential"], "application_credential": ref}}


def role_ids(identity, *names):
    with identity.db.reader() as session:
        return {identity.assignments.role_by_name(session, n).id for n in names}


def new_user(identity, *roles):
    """A fresh user with `roles` (default: member) on a fresh project: the tests share one database."""
    suffix = uuid.uuid4().hex[:10]
    project = identity.resources.create_project({"name": f"p-{suffix}", "domain_id": "default"})
    password = uuid.uuid4().hex
    user = identity.users.create_user({"name": f"u-{suffix}", "password": password, "domain_id": "default"})
    for role_id in role_ids(identity, *(roles or ("member",))):
        identity.assignments.grant("user", user["id"], "project", project["id"], role_id)
    return SimpleNamespace(id=user["id"], name=user["name"], password=password, project_id=project["id"])


def create(identity, user, roles=None, **ref):
    """An application credential made with a project token of `user`, as the API makes it."""
    token = identity.tokens.issue({"identity": {"methods": ["password"], "password": {"user": {
        "id": user.id, "password": user.password}}}, "scope": {"project": {"id": user.project_id}}})
    body = {"name": uuid.uuid4().hex, **ref}
    if roles is not None:
        body["roles"] = roles
    return identity.app_creds.create(user.id, body, project_id=user.project_id, system=None,
                                     token_role_ids={r["id"] for r in token.roles})


# -- service layer ----------------------------------------------------------------------------
def test_create_defaults_to_token_roles_and_hashes_secret(identity):
    cred = create(identity, new_user(identity, "admin"), description="backups")
    assert {r["name"] for r in cred["roles"]} == {"admin", "manager", "member", "reader"}
    assert cred["unrestricted"] is False and cred["expires_at"] is None and cred["description"] == "backups"
    assert len(cred["secret"]) >= 80
    with identity.db.reader() as session:
        row = session.get(models.ApplicationCredential, cred["id"])
        assert row.secret_hash.startswith("$2") and cred["secret"] not in row.secret_hash
    shown = identity.app_creds.get(cred["user_id"], cred["id"])
    assert "secret" not in shown and shown["name"] == cred["name"]


def test_roles_by_name_are_kept_as_asked_and_must_be_held(identity):
    user = new_user(identity)
    cred = create(identity, user, roles=[{"name": "member"}])
    # Keystone keeps exactly the roles asked for; the roles they imply come with each token.
    assert {r["name"] for r in cred["roles"]} == {"member"}
    token = identity.tokens.issue({"identity": {"methods": ["application_credential"], "application_credential": {
        "id": cred["id"], "secret": cred["secret"]}}})
    assert {r["name"] for r in token.roles} == {"member", "reader"}
    with pytest.raises(errors.ValidationError):
        create(identity, user, roles=[{"name": "admin"}])
    with pytest.raises(errors.ValidationError):
        create(identity, user, roles=[{"id": "no-such-role"}])
    with pytest.raises(errors.NotFound):
        create(identity, user, roles=[{"name": "no-such-role"}])


def test_given_secret_and_expiry(identity):
    expires = (dt.datetime.utcnow() + dt.timedelta(hours=1)).replace(microsecond=123456)
    cred = create(identity, new_user(identity), secret="s3cret", expires_at=expires.isoformat())
    assert cred["secret"] == "s3cret"
    assert cred["expires_at"] == expires.isoformat()  # naive, no Z: what Tempest compares
    view = identity.app_creds.authenticate({"id": cred["id"], "secret": "s3cret"})
    assert view["expires_at"] == expires and view["project_id"] == cred["project_id"]


@pytest.mark.parametrize("ref", [
    {"expires_at": "not a time"}, {"expires_at": "2001-01-01T00:00:00Z"}, {"unexpected": 1},
    {"unrestricted": "yes"}, {"roles": [{"id": "a", "name": "b"}]}, {"name": " "},
    {"access_rules": [{"service": "compute", "path": "no-slash", "method": "GET"}]},
    {"access_rules": [{"service": "compute", "path": "/x", "method": "BREW"}]},
    {"access_rules": [{"service": "comp/ute", "path": "/x", "method": "GET"}]},
])
def test_bad_input_is_400(identity, ref):
    with pytest.raises(errors.ValidationError):
        create(identity, new_user(identity), **ref)


def test_duplicate_name_is_409(identity):
    user = new_user(identity)
    cred = create(identity, user)
    with pytest.raises(errors.Conflict):
        create(identity, user, name=cred["name"])


def test_authenticate_by_id_and_by_name(identity):
    user = new_user(identity)
    cred = create(identity, user)
    for ref in ({"id": cred["id"]}, {"name": cred["name"], "user": {"id": user.id}},
                {"name": cred["name"], "user": {"name": user.name, "domain": {"name": "Default"}}}):
        view = identity.app_creds.authenticate({**ref, "secret": cred["secret"]})
        assert view["id"] == cred["id"] and view["user_id"] == user.id
    for ref in ({"id": cred["id"], "secret": "wrong"}, {"id": cred["id"]}, {"id": "nope", "secret": "x"},
                {"name": "nope", "user": {"id": user.id}, "secret": "x"}):
        with pytest.raises(errors.Unauthorized):
            identity.app_creds.authenticate(ref)
    with pytest.raises(errors.ValidationError):
        identity.app_creds.authenticate({"secret": "x"})
    with pytest.raises(errors.ValidationError):
        identity.app_creds.authenticate({"name": cred["name"], "secret": "x"})
    identity.users.update_user(user.id, {"enabled": False})
    with pytest.raises(errors.Unauthorized):
        identity.app_creds.authenticate({"id": cred["id"], "secret": cred["secret"]})


def test_token_roles_are_the_intersection(identity):
    cred = create(identity, new_user(identity, "admin"), roles=[{"name": "reader"}])
    token = identity.tokens.issue(app_cred_auth(id=cred["id"], secret=cred["secret"]))
    body = token.body(None)["token"]
    assert [r["name"] for r in body["roles"]] == ["reader"]
    assert body["application_credential"] == {"id": cred["id"], "name": cred["name"], "restricted": True}
    assert body["project"]["id"] == cred["project_id"] and body["methods"] == ["application_credential"]


def test_expired_credential_is_401_and_caps_token_expiry(identity):
    cred = create(identity, new_user(identity),
                  expires_at=(dt.datetime.utcnow() + dt.timedelta(minutes=5)).isoformat())
    token = identity.tokens.issue(app_cred_auth(id=cred["id"], secret=cred["secret"]))
    assert token.payload.expires_at <= dt.datetime.utcnow() + dt.timedelta(minutes=5)
    with identity.db.writer() as session:
        session.get(models.ApplicationCredential, cred["id"]).expires_at = dt.datetime.utcnow() - dt.timedelta(1)
    identity.changed()
    with pytest.raises(errors.Unauthorized):
        identity.tokens.issue(app_cred_auth(id=cred["id"], secret=cred["secret"]))
    with pytest.raises(errors.NotFound):
        identity.tokens.validate(token.token_id)


def test_delete_invalidates_tokens_even_when_cached(identity):
    cred = create(identity, new_user(identity))
    token = identity.tokens.issue(app_cred_auth(id=cred["id"], secret=cred["secret"]))
    assert identity.tokens.cached(token.token_id) is not None
    assert identity.app_creds.lookup(cred["id"])["id"] == cred["id"]
    identity.app_creds.delete(cred["user_id"], cred["id"])
    assert identity.app_creds.lookup(cred["id"]) is None
    with pytest.raises(errors.NotFound):
        identity.tokens.validate(token.token_id)
    with pytest.raises(errors.NotFound):
        identity.app_creds.get(cred["user_id"], cred["id"])
    with pytest.raises(errors.NotFound):
        identity.app_creds.delete(cred["user_id"], cred["id"])


def test_lost_role_invalidates_tokens(identity):
    user = new_user(identity)
    cred = create(identity, user)
    token = identity.tokens.issue(app_cred_auth(id=cred["id"], secret=cred["secret"]))
    identity.assignments.revoke("user", user.id, "project", user.project_id, role_ids(identity, "member").pop())
    with pytest.raises(errors.NotFound):
        identity.tokens.validate(token.token_id)


def test_access_rules_are_shared_and_outlive_credentials(identity):
    user = new_user(identity)
    rule = {"service": "compute", "path": "/v2.1/servers/*/ips", "method": "GET"}
    first = create(identity, user, access_rules=[rule, dict(rule)])
    assert len(first["access_rules"]) == 1
    rule_id = first["access_rules"][0]["id"]
    assert {k: v for k, v in first["access_rules"][0].items() if k != "id"} == rule
    second = create(identity, user, access_rules=[rule])
    third = create(identity, user, access_rules=[{"id": rule_id}])
    assert second["access_rules"][0]["id"] == third["access_rules"][0]["id"] == rule_id
    assert [r["id"] for r in identity.app_creds.list_access_rules(user.id, {})] == [rule_id]
    assert identity.app_creds.list_access_rules(user.id, {"service": "image"}) == []
    token = identity.tokens.issue(app_cred_auth(id=first["id"], secret=first["secret"]))
    assert token.body(None)["token"]["application_credential"]["access_rules"][0]["id"] == rule_id
    other = new_user(identity)
    with pytest.raises(errors.ValidationError):  # another user's rule cannot be borrowed
        create(identity, other, access_rules=[{"id": rule_id}])
    for cred in (first, second, third):
        with pytest.raises(errors.Forbidden):
            identity.app_creds.delete_access_rule(user.id, rule_id)
        identity.app_creds.delete(user.id, cred["id"])
    assert identity.app_creds.get_access_rule(user.id, rule_id)["path"] == rule["path"]
    with pytest.raises(errors.NotFound):
        identity.app_creds.get_access_rule(other.id, rule_id)
    identity.app_creds.delete_access_rule(user.id, rule_id)
    with pytest.raises(errors.NotFound):
        identity.app_creds.get_access_rule(user.id, rule_id)


def test_list_filters_by_name_and_user_delete_cleans_up(identity):
    user = new_user(identity)
    one = create(identity, user)
    two = create(identity, user, access_rules=[{"service": "image", "path": "/v2/images", "method": "GET"}])
    assert {c["id"] for c in identity.app_creds.list(user.id, {})} == {one["id"], two["id"]}
    assert [c["id"] for c in identity.app_creds.list(user.id, {"name": two["name"]})] == [two["id"]]
    identity.users.delete_user(user.id)
    assert identity.app_creds.list(user.id, {}) == [] and identity.app_creds.list_access_rules(user.id, {}) == []


def test_notifications_names(identity):
    events = []
    identity.notify = lambda event_type, payload: events.append((event_type, payload["resource_info"]))
    cred = create(identity, new_user(identity))
    identity.app_creds.delete(cred["user_id"], cred["id"])
    assert ("identity.application_credential.created", cred["id"]) in events
    assert ("identity.application_credential.deleted", cred["id"]) in events


# -- HTTP API ---------------------------------------------------------------------------------------
def demo_client(cloud, name="monostack"):
    token = cloud.token(name)
    client = httpx.Client(base_url=f"{cloud.auth_url}/v3", headers={"X-Auth-Token": token}, timeout=30)
    me = client.get("/auth/tokens", headers={"X-Subject-Token": token}).json()["token"]
    return client, me


def issue(cloud, auth):
    return httpx.post(f"{cloud.auth_url}/v3/auth/tokens", json={"auth": auth}, timeout=30)


def test_api_create_show_list_authenticate_delete(cloud):
    client, me = demo_client(cloud)
    uid = me["user"]["id"]
    expires = (dt.datetime.utcnow() + dt.timedelta(hours=1)).isoformat()
    name = f"ac-{uuid.uuid4().hex[:8]}"
    response = client.post(f"/users/{uid}/application_credentials",
                           json={"application_credential": {"name": name, "expires_at": expires}})
    assert response.status_code == 201, response.text
    cred = response.json()["application_credential"]
    assert cred["expires_at"] == expires and cred["project_id"] == me["project"]["id"]
    assert cred["links"]["self"].endswith(f"/v3/users/{uid}/application_credentials/{cred['id']}")
    assert {r["name"] for r in cred["roles"]} == {r["name"] for r in me["roles"]}
    shown = client.get(f"/users/{uid}/application_credentials/{cred['id']}").json()["application_credential"]
    assert "secret" not in shown
    listed = client.get(f"/users/{uid}/application_credentials", params={"name": name}).json()
    assert [c["id"] for c in listed["application_credentials"]] == [cred["id"]]
    assert client.head(f"/users/{uid}/application_credentials/{cred['id']}").status_code == 200
    assert client.patch(f"/users/{uid}/application_credentials/{cred['id']}", json={}).status_code == 405

    response = issue(cloud, app_cred_auth(id=cred["id"], secret=cred["secret"]))
    assert response.status_code == 201, response.text
    token = response.json()["token"]
    assert token["application_credential"]["restricted"] is True
    assert token["project"]["id"] == me["project"]["id"]
    subject = response.headers["x-subject-token"]
    by_name = issue(cloud, app_cred_auth(name=name, secret=cred["secret"],
                                         user={"name": me["user"]["name"], "domain": {"id": "default"}}))
    assert by_name.status_code == 201
    assert issue(cloud, app_cred_auth(id=cred["id"], secret="wrong")).status_code == 401
    assert issue(cloud, {**app_cred_auth(id=cred["id"], secret=cred["secret"]),
                         "scope": {"project": {"id": me["project"]["id"]}}}).status_code == 401

    # A restricted credential may not create or delete credentials; nor may anyone for another user.
    restricted = httpx.Client(base_url=f"{cloud.auth_url}/v3", headers={"X-Auth-Token": subject}, timeout=30)
    assert restricted.post(f"/users/{uid}/application_credentials",
                           json={"application_credential": {"name": "x"}}).status_code == 403
    assert restricted.delete(f"/users/{uid}/application_credentials/{cred['id']}").status_code == 403
    assert restricted.post(f"/users/{uid}/credentials/OS-EC2",
                           json={"tenant_id": me["project"]["id"]}).status_code == 403
    alt, alt_me = demo_client(cloud, "monostack-alt")
    assert alt.post(f"/users/{uid}/application_credentials",
                    json={"application_credential": {"name": "x"}}).status_code == 403
    assert alt.get(f"/users/{uid}/application_credentials/{cred['id']}").status_code == 403
    assert alt.get(f"/users/{alt_me['user']['id']}/application_credentials/{cred['id']}").status_code in (403, 404)

    assert client.delete(f"/users/{uid}/application_credentials/{cred['id']}").status_code == 204
    assert client.get("/auth/tokens", headers={"X-Subject-Token": subject}).status_code == 404
    assert client.get(f"/users/{uid}/application_credentials/{cred['id']}").status_code == 404
    assert client.delete(f"/users/{uid}/application_credentials/{cred['id']}").status_code == 404


def test_api_unrestricted_credential_may_create_more(cloud):
    client, me = demo_client(cloud)
    uid = me["user"]["id"]
    cred = client.post(f"/users/{uid}/application_credentials", json={"application_credential": {
        "name": uuid.uuid4().hex, "unrestricted": True, "roles": [{"name": "reader"}]}}).json()["application_credential"]
    assert cred["unrestricted"] is True and [r["name"] for r in cred["roles"]] == ["reader"]
    subject = issue(cloud, app_cred_auth(id=cred["id"], secret=cred["secret"])).headers["x-subject-token"]
    via = httpx.Client(base_url=f"{cloud.auth_url}/v3", headers={"X-Auth-Token": subject}, timeout=30)
    # Only the roles of the token it is made with (reader) can be given.
    assert via.post(f"/users/{uid}/application_credentials", json={"application_credential": {
        "name": uuid.uuid4().hex, "roles": [{"name": "member"}]}}).status_code == 400
    child = via.post(f"/users/{uid}/application_credentials",
                     json={"application_credential": {"name": uuid.uuid4().hex}})
    assert child.status_code == 201, child.text
    assert [r["name"] for r in child.json()["application_credential"]["roles"]] == ["reader"]
    for made in (child.json()["application_credential"], cred):
        assert client.delete(f"/users/{uid}/application_credentials/{made['id']}").status_code == 204


def test_api_access_rules(cloud):
    client, me = demo_client(cloud)
    uid = me["user"]["id"]
    rule = {"service": "monitoring", "path": f"/v1/{uuid.uuid4().hex}", "method": "GET"}
    cred = client.post(f"/users/{uid}/application_credentials", json={"application_credential": {
        "name": uuid.uuid4().hex, "access_rules": [rule]}}).json()["application_credential"]
    rule_id = cred["access_rules"][0]["id"]
    listed = client.get(f"/users/{uid}/access_rules").json()["access_rules"]
    assert rule_id in [r["id"] for r in listed]
    shown = client.get(f"/users/{uid}/access_rules/{rule_id}").json()["access_rule"]
    assert {k: shown[k] for k in rule} == rule and shown["links"]["self"].endswith(f"/access_rules/{rule_id}")
    assert client.delete(f"/users/{uid}/access_rules/{rule_id}").status_code == 403
    assert client.delete(f"/users/{uid}/application_credentials/{cred['id']}").status_code == 204
    assert rule_id in [r["id"] for r in client.get(f"/users/{uid}/access_rules").json()["access_rules"]]
    assert client.delete(f"/users/{uid}/access_rules/{rule_id}").status_code == 204
    assert client.get(f"/users/{uid}/access_rules/{rule_id}").status_code == 404


def test_api_bad_input_is_4xx(cloud):
    client, me = demo_client(cloud)
    uid = me["user"]["id"]
    for body in ({}, {"application_credential": "x"}, {"application_credential": {}},
                 {"application_credential": {"name": "x", "expires_at": "bad.123Z"}},
                 {"application_credential": {"name": "x", "roles": "admin"}},
                 {"application_credential": {"name": "x", "access_rules": [{"path": 1}]}},
                 {"application_credential": {"name": "x", "secret": 5}}):
        response = client.post(f"/users/{uid}/application_credentials", json=body)
        assert response.status_code == 400, (body, response.text)
    response = client.post(f"/users/{uid}/application_credentials", content=b"{not json",
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert issue(cloud, app_cred_auth(secret="x")).status_code == 400
    assert issue(cloud, app_cred_auth(id=["x"], secret="x")).status_code == 400


def test_openstack_cli(cloud):
    env = cloud.env()
    name = f"cli-{uuid.uuid4().hex[:8]}"
    cli = [sys.executable, "-m", "openstackclient.shell"]
    created = subprocess.run(cli + ["--os-cloud", "monostack", "application", "credential", "create", name,
                                    "-f", "json"], env=env, capture_output=True, text=True, timeout=120)
    assert created.returncode == 0, created.stderr
    # Newer clients title-case the keys ("ID", "Project ID").
    cred = {k.lower().replace(" ", "_"): v for k, v in json.loads(created.stdout).items()}
    assert cred["name"] == name and cred["secret"]
    issued = subprocess.run(cli + ["--os-auth-type", "v3applicationcredential", "--os-auth-url", cloud.auth_url,
                                   "--os-application-credential-id", cred["id"],
                                   # "=" form: a random secret may begin with "-", which argparse
                                   # would take for an option.
                                   f"--os-application-credential-secret={cred['secret']}",
                                   "--os-identity-api-version", "3", "token", "issue", "-f", "json"],
                            env=env, capture_output=True, text=True, timeout=120)
    assert issued.returncode == 0, issued.stderr
    assert json.loads(issued.stdout)["project_id"] == cred["project_id"]
    deleted = subprocess.run(cli + ["--os-cloud", "monostack", "application", "credential", "delete", name],
                             env=env, capture_output=True, text=True, timeout=120)
    assert deleted.returncode == 0, deleted.stderr
