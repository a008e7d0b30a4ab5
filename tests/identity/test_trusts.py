"""Trusts (OS-TRUST): create, use, limits, redelegation, deletion; the HTTP
API as Tempest drives it."""

import datetime as dt
import re
import uuid
from types import SimpleNamespace

import httpx
import pytest

from monostack.common import errors
from monostack.identity import models


def role_ids(identity, *names):
    with identity.db.reader() as session:
        return [identity.assignments.role_by_name(session, n).id for n in names]


def new_user(identity, *roles, project_id=None):
    """A fresh user, with `roles` on a fresh project (or `project_id`): the tests share one database."""
    suffix = uuid.uuid4().hex[:10]
    if roles and project_id is None:
        project_id = identity.resources.create_project({"name": f"p-{suffix}", "domain_id": "default"})["id"]
    password = uuid.uuid4().hex
    user = identity.users.create_user({"name": f"u-{suffix}", "password": password, "domain_id": "default"})
    for role_id in role_ids(identity, *roles):
        identity.assignments.grant("user", user["id"], "project", project_id, role_id)
    return SimpleNamespace(id=user["id"], password=password, project_id=project_id)


@pytest.fixture
def pair(identity):
    """A trustor (member on its project) and a trustee (no roles at all)."""
    return new_user(identity, "member"), new_user(identity)


def new_trust(identity, pair, **ref):
    trustor, trustee = pair
    body = {"trustor_user_id": trustor.id, "trustee_user_id": trustee.id, "project_id": trustor.project_id,
            "impersonation": True, "roles": [{"name": "member"}], **ref}
    return identity.trusts.create(body)


def trust_token(identity, trust_id, user):
    return identity.tokens.issue({"identity": {"methods": ["password"], "password": {"user": {
        "id": user.id, "password": user.password}}}, "scope": {"OS-TRUST:trust": {"id": trust_id}}})


# -- service layer ----------------------------------------------------------------------------------
def test_create_get_roles_and_lookup(identity, pair):
    trustor, trustee = pair
    expires = dt.datetime.utcnow() + dt.timedelta(hours=1)
    trust = new_trust(identity, pair, expires_at=expires.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), color="blue")
    assert trust["expires_at"] == expires.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert [r["name"] for r in trust["roles"]] == ["member"] and trust["color"] == "blue"
    assert trust["redelegation_count"] == 0 and trust["remaining_uses"] is None
    assert identity.trusts.get(trust["id"])["roles"] == trust["roles"]
    assert identity.trusts.role(trust["id"], trust["roles"][0]["id"])["name"] == "member"
    with pytest.raises(errors.NotFound):
        identity.trusts.role(trust["id"], "no-such-role")
    view = identity.trusts.lookup(trust["id"])
    assert view["trustor_user_id"] == trustor.id and view["project_id"] == trustor.project_id
    assert view["expires_at"] == expires and view["impersonation"] is True
    listed = identity.trusts.list(trustee_user_id=trustee.id)
    assert [t["id"] for t in listed] == [trust["id"]] and "roles" not in listed[0]
    assert [t["id"] for t in identity.trusts.list(trustor_user_id=trustor.id)] == [trust["id"]]


def test_trust_token_impersonates_and_carries_trust(identity, pair):
    trustor, trustee = pair
    trust = new_trust(identity, pair)
    body = trust_token(identity, trust["id"], trustee).body(None)["token"]
    assert body["user"]["id"] == trustor.id and body["project"]["id"] == trustor.project_id
    assert {r["name"] for r in body["roles"]} == {"member", "reader"}
    assert body["OS-TRUST:trust"] == {"id": trust["id"], "impersonation": True,
                                      "trustee_user": {"id": trustee.id}, "trustor_user": {"id": trustor.id}}
    plain = trust_token(identity, new_trust(identity, pair, impersonation=False)["id"], trustee)
    assert plain.user["id"] == trustee.id
    with pytest.raises(errors.Forbidden):
        trust_token(identity, trust["id"], trustor)  # not the trustee


def test_remaining_uses_are_consumed(identity, pair):
    trustee = pair[1]
    trust = new_trust(identity, pair, remaining_uses=2)
    first = trust_token(identity, trust["id"], trustee)
    assert identity.trusts.get(trust["id"])["remaining_uses"] == 1
    trust_token(identity, trust["id"], trustee)
    with pytest.raises(errors.NotFound):
        identity.trusts.get(trust["id"])  # used up: hidden, as Keystone does
    with pytest.raises(errors.Unauthorized):
        trust_token(identity, trust["id"], trustee)
    identity.tokens.validate(first.token_id)  # tokens already issued stay valid


def test_delete_revokes_tokens_and_cascades(identity, pair):
    trust = new_trust(identity, pair)
    token = trust_token(identity, trust["id"], pair[1])
    events = []
    identity.notify = lambda event_type, payload: events.append(event_type)
    identity.trusts.delete(trust["id"])
    assert events == ["identity.OS-TRUST:trust.deleted"]
    assert identity.trusts.lookup(trust["id"]) is None
    with pytest.raises(errors.NotFound):
        identity.tokens.validate(token.token_id)
    with pytest.raises(errors.NotFound):
        identity.trusts.delete(trust["id"])
    with pytest.raises((errors.NotFound, errors.Unauthorized)):  # Keystone: 401 (see the report on tokens.py)
        trust_token(identity, trust["id"], pair[1])


def test_expired_trust_is_gone(identity, pair):
    trust = new_trust(identity, pair, expires_at=(dt.datetime.utcnow() + dt.timedelta(minutes=5)).isoformat())
    token = trust_token(identity, trust["id"], pair[1])
    assert token.payload.expires_at <= dt.datetime.utcnow() + dt.timedelta(minutes=5)
    with identity.db.writer() as session:
        session.get(models.Trust, trust["id"]).expires_at = dt.datetime.utcnow() - dt.timedelta(seconds=1)
    identity.changed()
    assert identity.trusts.lookup(trust["id"]) is None
    with pytest.raises(errors.NotFound):
        identity.trusts.get(trust["id"])
    with pytest.raises(errors.NotFound):
        identity.tokens.validate(token.token_id)


def test_trustor_losing_the_role_or_trustee_disabled_invalidates_tokens(identity, pair):
    trustor, trustee = pair
    trust = new_trust(identity, pair, impersonation=False)
    token = trust_token(identity, trust["id"], trustee)
    identity.assignments.revoke("user", trustor.id, "project", trustor.project_id, trust["roles"][0]["id"])
    with pytest.raises(errors.NotFound):
        identity.tokens.validate(token.token_id)
    other = new_trust(identity, (new_user(identity, "member"), trustee))
    token = trust_token(identity, other["id"], trustee)
    identity.users.update_user(trustee.id, {"enabled": False})
    assert identity.trusts.lookup(other["id"]) is None
    with pytest.raises(errors.NotFound):
        identity.tokens.validate(token.token_id)


@pytest.mark.parametrize("ref, error", [
    ({"expires_at": "bad.123Z"}, errors.ValidationError),
    ({"expires_at": "2001-01-01T00:00:00Z"}, errors.ValidationError),
    ({"impersonation": "yes"}, errors.ValidationError),
    ({"remaining_uses": 0}, errors.ValidationError),
    ({"roles": [{"name": "admin"}]}, errors.NotFound),  # not held by the trustor
    ({"roles": [{"name": "no-such-role"}]}, errors.NotFound),
    ({"roles": []}, errors.Forbidden),  # a project needs roles
    ({"trustee_user_id": "nobody"}, errors.NotFound),
    ({"project_id": "nowhere"}, errors.NotFound),
    ({"allow_redelegation": True, "redelegation_count": 10}, errors.Forbidden),
    ({"allow_redelegation": True, "remaining_uses": 3}, errors.ValidationError),
    ({"roles": [{"id": "x", "name": "y"}]}, errors.ValidationError),
])
def test_bad_input(identity, pair, ref, error):
    with pytest.raises(error):
        new_trust(identity, pair, **ref)


def test_redelegation_chain(identity, pair):
    trustor, trustee = pair
    parent = new_trust(identity, pair, allow_redelegation=True)
    assert parent["redelegation_count"] == 3
    token = trust_token(identity, parent["id"], trustee)  # the trustee acting as the trustor
    child_ref = {"trustor_user_id": trustor.id, "trustee_user_id": new_user(identity).id,
                 "project_id": trustor.project_id, "impersonation": True, "roles": [{"name": "member"}],
                 "allow_redelegation": True}
    child = identity.trusts.create(child_ref, caller_trust_id=token.payload.trust_id)
    assert child["redelegated_trust_id"] == parent["id"] and child["redelegation_count"] == 2
    assert identity.trusts.lookup(child["id"]) is not None
    with pytest.raises(errors.Forbidden):
        identity.trusts.create({**child_ref, "redelegation_count": 1}, caller_trust_id=parent["id"])
    with pytest.raises(errors.Forbidden):
        identity.trusts.create({**child_ref, "remaining_uses": 1, "allow_redelegation": False},
                               caller_trust_id=parent["id"])
    # Deleting the parent takes the chain with it.
    identity.trusts.delete(parent["id"])
    assert identity.trusts.lookup(child["id"]) is None
    stopped = new_trust(identity, pair)  # not redelegatable
    with pytest.raises(errors.Forbidden):
        identity.trusts.create(child_ref, caller_trust_id=stopped["id"])


def test_deleting_a_user_deletes_their_trusts(identity, pair):
    trust = new_trust(identity, pair)
    identity.users.delete_user(pair[1].id)
    assert identity.trusts.lookup(trust["id"]) is None
    with pytest.raises(errors.NotFound):
        identity.trusts.get(trust["id"])


# -- HTTP API -----------------------------------------------------------------------------------------
def client_for(cloud, token):
    return httpx.Client(base_url=f"{cloud.auth_url}/v3", headers={"X-Auth-Token": token}, timeout=30)


def whoami(client, token):
    return client.get("/auth/tokens", headers={"X-Subject-Token": token}).json()["token"]


@pytest.fixture
def trustor(cloud, api):
    """A fresh user on a fresh project with two roles: one to delegate, one not (Tempest's setup)."""
    suffix = uuid.uuid4().hex[:8]
    project = api.post("/projects", json={"project": {"name": f"trustor-{suffix}"}}).json()["project"]
    password = uuid.uuid4().hex
    user = api.post("/users", json={"user": {"name": f"trustor-{suffix}", "password": password}}).json()["user"]
    roles = [api.post("/roles", json={"role": {"name": f"{kind}-{suffix}"}}).json()["role"]
             for kind in ("Delegated", "NotDelegated")]
    for role in roles:
        assert api.put(f"/projects/{project['id']}/users/{user['id']}/roles/{role['id']}").status_code == 204
    token = httpx.post(f"{cloud.auth_url}/v3/auth/tokens", json={"auth": {
        "identity": {"methods": ["password"], "password": {"user": {"id": user["id"], "password": password}}},
        "scope": {"project": {"id": project["id"]}}}}, timeout=30).headers["x-subject-token"]
    yield {"user": user, "project": project, "roles": roles, "client": client_for(cloud, token)}
    for role in roles:
        api.delete(f"/roles/{role['id']}")
    api.delete(f"/users/{user['id']}")
    api.delete(f"/projects/{project['id']}")


def test_api_tempest_flow(cloud, api, trustor):
    alt_token = cloud.token("monostack-alt")
    alt = client_for(cloud, alt_token)
    trustee_id = whoami(alt, alt_token)["user"]["id"]
    delegated, not_delegated = trustor["roles"]
    expires = (dt.datetime.utcnow() + dt.timedelta(hours=1)).replace(microsecond=0).isoformat() + "Z"
    client = trustor["client"]
    response = client.post("/OS-TRUST/trusts", json={"trust": {
        "trustor_user_id": trustor["user"]["id"], "trustee_user_id": trustee_id,
        "project_id": trustor["project"]["id"], "roles": [{"name": delegated["name"]}], "impersonation": False,
        "expires_at": expires}})
    assert response.status_code == 201, response.text
    trust = response.json()["trust"]
    assert re.sub(r"\.([0-9]){6}", "", trust["expires_at"]) == expires
    assert "v3/OS-TRUST/trusts" in trust["links"]["self"]
    assert [r["name"] for r in trust["roles"]] == [delegated["name"]]
    assert f"v3/roles/{delegated['id']}" in trust["roles"][0]["links"]["self"]
    base = f"/OS-TRUST/trusts/{trust['id']}"
    assert client.get(base).json()["trust"]["id"] == trust["id"]
    assert alt.get(base).status_code == 200  # the trustee may look too
    roles = client.get(f"{base}/roles").json()["roles"]
    assert [r["id"] for r in roles] == [delegated["id"]]
    assert client.get(f"{base}/roles/{delegated['id']}").json()["role"]["name"] == delegated["name"]
    assert client.head(f"{base}/roles/{delegated['id']}").status_code == 200
    assert client.get(f"{base}/roles/{not_delegated['id']}").status_code == 404
    assert client.head(f"{base}/roles/{not_delegated['id']}").status_code == 404
    listed = client.get("/OS-TRUST/trusts", params={"trustor_user_id": trustor["user"]["id"]}).json()["trusts"]
    assert [t["id"] for t in listed] == [trust["id"]] and "roles" not in listed[0]
    assert trust["id"] in [t["id"] for t in api.get("/OS-TRUST/trusts").json()["trusts"]]  # admin lists all
    assert alt.get("/OS-TRUST/trusts").status_code == 403
    assert alt.get("/OS-TRUST/trusts", params={"trustor_user_id": trustor["user"]["id"]}).status_code == 403
    assert alt.get("/OS-TRUST/trusts", params={"trustee_user_id": trustee_id}).status_code == 200

    issued = httpx.post(f"{cloud.auth_url}/v3/auth/tokens", json={"auth": {
        "identity": {"methods": ["token"], "token": {"id": alt_token}},
        "scope": {"OS-TRUST:trust": {"id": trust["id"]}}}}, timeout=30)
    assert issued.status_code == 201, issued.text
    body = issued.json()["token"]
    assert body["OS-TRUST:trust"]["id"] == trust["id"] and body["user"]["id"] == trustee_id
    assert [r["name"] for r in body["roles"]] == [delegated["name"]]
    subject = issued.headers["x-subject-token"]
    via_trust = client_for(cloud, subject)
    assert via_trust.post("/OS-TRUST/trusts", json={"trust": {
        "trustor_user_id": trustee_id, "trustee_user_id": trustee_id, "impersonation": False}}).status_code == 403
    # A trust-scoped token may not make application credentials (they would outlive the trust).
    assert via_trust.post(f"/users/{trustee_id}/application_credentials",
                          json={"application_credential": {"name": "x"}}).status_code == 403
    assert via_trust.get(f"/users/{trustee_id}/application_credentials").status_code == 403

    assert alt.delete(base).status_code == 403  # only the trustor (or an admin) deletes
    assert client.delete(base).status_code == 204
    assert client.get(base).status_code == 404
    assert api.get("/auth/tokens", headers={"X-Subject-Token": subject}).status_code == 404


def test_api_refusals(cloud, api, trustor):
    client = trustor["client"]
    me = trustor["user"]["id"]
    good = {"trustor_user_id": me, "trustee_user_id": me, "project_id": trustor["project"]["id"],
            "roles": [{"id": trustor["roles"][0]["id"]}], "impersonation": False}
    for body in ({}, {"trust": {**good, "expires_at": "bad.123Z"}}, {"trust": {**good, "impersonation": None}},
                 {"trust": {k: v for k, v in good.items() if k != "trustee_user_id"}},
                 {"trust": {**good, "remaining_uses": "two"}}):
        response = client.post("/OS-TRUST/trusts", json=body)
        assert response.status_code == 400, (body, response.text)
    other = whoami(api, api.headers["x-auth-token"])["user"]["id"]
    assert client.post("/OS-TRUST/trusts", json={"trust": {**good, "trustor_user_id": other}}).status_code == 403
    assert client.get("/OS-TRUST/trusts/nope").status_code == 404
    assert client.delete("/OS-TRUST/trusts/nope").status_code == 404
    # No application credential token may manage trusts.
    cred = client.post(f"/users/{me}/application_credentials", json={"application_credential": {
        "name": uuid.uuid4().hex, "unrestricted": True}}).json()["application_credential"]
    subject = httpx.post(f"{cloud.auth_url}/v3/auth/tokens", json={"auth": {"identity": {
        "methods": ["application_credential"],
        "application_credential": {"id": cred["id"], "secret": cred["secret"]}}}},
        timeout=30).headers["x-subject-token"]
    assert client_for(cloud, subject).post("/OS-TRUST/trusts", json={"trust": good}).status_code == 403
    # An unknown or used-up trust cannot be used to log in.
    once = client.post("/OS-TRUST/trusts", json={"trust": {**good, "remaining_uses": 1}}).json()["trust"]
    auth = {"identity": {"methods": ["token"], "token": {"id": client.headers["x-auth-token"]}},
            "scope": {"OS-TRUST:trust": {"id": once["id"]}}}
    assert httpx.post(f"{cloud.auth_url}/v3/auth/tokens", json={"auth": auth}, timeout=30).status_code == 201
    assert httpx.post(f"{cloud.auth_url}/v3/auth/tokens", json={"auth": auth}, timeout=30).status_code == 401
