"""Tokens: issue, validate, rescope, revoke, expiry, key rotation."""

import datetime as dt
import uuid

import pytest

from monostack.common import errors
from monostack.identity import token_format as tf


def password_auth(name, password, scope=None, domain="default"):
    auth = {"identity": {"methods": ["password"], "password": {"user": {
        "name": name, "domain": {"id": domain}, "password": password}}}}
    if scope is not None:
        auth["scope"] = scope
    return auth


def project_scope(name):
    return {"project": {"name": name, "domain": {"id": "default"}}}


def test_token_format_round_trip():
    now = dt.datetime(2026, 1, 1, 12, 0, 0, 123000)
    payload = tf.TokenPayload(user_id=uuid.uuid4().hex, methods=["password", "token"], expires_at=now,
                              issued_at=now, audit_ids=[tf.new_audit_id(), tf.new_audit_id()],
                              scope_type=tf.DOMAIN, scope_id="default")
    assert tf.unpack(tf.pack(payload)) == payload


def test_issue_project_token_has_roles_and_catalog(identity):
    token = identity.tokens.issue(password_auth("admin", identity.passwords["admin"], project_scope("admin")))
    body = identity.tokens.validate(token.token_id).body(identity.tokens.catalog_for(token))["token"]
    assert body["project"]["name"] == "admin"
    assert {"admin", "manager", "member", "reader"} <= {r["name"] for r in body["roles"]}
    assert body["methods"] == ["password"]
    assert body["expires_at"].endswith("Z") and body["issued_at"].endswith("Z")
    assert isinstance(body["catalog"], list)


def test_unscoped_token_has_no_roles_or_catalog(identity):
    token = identity.tokens.issue(password_auth("demo", identity.passwords["demo"], "unscoped"))
    body = token.body(None)["token"]
    assert "roles" not in body and "project" not in body and "catalog" not in body


def test_no_scope_uses_default_project(identity):
    token = identity.tokens.issue(password_auth("demo", identity.passwords["demo"]))
    assert token.project["name"] == "demo"


def test_wrong_password_and_unknown_user_are_401(identity):
    with pytest.raises(errors.Unauthorized):
        identity.tokens.issue(password_auth("demo", "wrong"))
    with pytest.raises(errors.Unauthorized):
        identity.tokens.issue(password_auth("nobody", "x"))


def test_no_role_on_project_is_401(identity):
    with pytest.raises(errors.Unauthorized):
        identity.tokens.issue(password_auth("demo", identity.passwords["demo"], project_scope("alt_demo")))


def test_rescope_keeps_expiry_and_chains_audit_ids(identity):
    unscoped = identity.tokens.issue(password_auth("admin", identity.passwords["admin"], "unscoped"))
    rescoped = identity.tokens.issue(
        {"identity": {"methods": ["token"], "token": {"id": unscoped.token_id}}, "scope": project_scope("admin")})
    assert rescoped.payload.expires_at == unscoped.payload.expires_at
    assert rescoped.payload.audit_ids[1] == unscoped.payload.audit_ids[0]
    assert set(rescoped.payload.methods) == {"password", "token"}


def test_revoked_token_fails_validation_and_rescoping(identity):
    token = identity.tokens.issue(password_auth("demo", identity.passwords["demo"]))
    identity.tokens.revoke(token.token_id)
    with pytest.raises(errors.NotFound):
        identity.tokens.validate(token.token_id)
    with pytest.raises(errors.NotFound):
        identity.tokens.issue({"identity": {"methods": ["token"], "token": {"id": token.token_id}}})


def test_revocation_does_not_hit_tokens_issued_later(identity):
    first = identity.tokens.issue(password_auth("demo", identity.passwords["demo"]))
    identity.tokens.revoke(first.token_id)
    second = identity.tokens.issue(password_auth("demo", identity.passwords["demo"]))
    assert identity.tokens.validate(second.token_id).user["name"] == "demo"


def test_disabling_user_or_project_revokes(identity):
    user = identity.users.create_user({"name": f"u-{uuid.uuid4().hex[:6]}", "password": "secret-1"})
    project = identity.resources.create_project({"name": f"p-{uuid.uuid4().hex[:6]}"})
    member = next(r for r in identity.assignments.list_roles({}) if r["name"] == "member")
    identity.assignments.grant("user", user["id"], "project", project["id"], member["id"])
    token = identity.tokens.issue({"identity": {"methods": ["password"], "password": {
        "user": {"id": user["id"], "password": "secret-1"}}}, "scope": {"project": {"id": project["id"]}}})
    identity.tokens.validate(token.token_id)
    identity.resources.update_project(project["id"], {"enabled": False})
    with pytest.raises(errors.NotFound):
        identity.tokens.validate(token.token_id)
    identity.resources.update_project(project["id"], {"enabled": True})
    token = identity.tokens.issue({"identity": {"methods": ["password"], "password": {
        "user": {"id": user["id"], "password": "secret-1"}}}, "scope": {"project": {"id": project["id"]}}})
    identity.users.update_user(user["id"], {"enabled": False})
    with pytest.raises(errors.NotFound):
        identity.tokens.validate(token.token_id)


def test_role_removal_revokes_scoped_tokens(identity):
    user = identity.users.create_user({"name": f"u-{uuid.uuid4().hex[:6]}", "password": "secret-1"})
    member = next(r for r in identity.assignments.list_roles({}) if r["name"] == "member")
    project = identity.resources.create_project({"name": f"p-{uuid.uuid4().hex[:6]}"})
    identity.assignments.grant("user", user["id"], "project", project["id"], member["id"])
    token = identity.tokens.issue({"identity": {"methods": ["password"], "password": {
        "user": {"id": user["id"], "password": "secret-1"}}}, "scope": {"project": {"id": project["id"]}}})
    identity.assignments.revoke("user", user["id"], "project", project["id"], member["id"])
    with pytest.raises(errors.NotFound):
        identity.tokens.validate(token.token_id)


def test_validation_cache_needs_no_database(identity, monkeypatch):
    token = identity.tokens.issue(password_auth("demo", identity.passwords["demo"]))
    identity.tokens.validate(token.token_id)

    def no_db():
        raise AssertionError("database touched")

    monkeypatch.setattr(identity.db, "reader", no_db)
    assert identity.tokens.validate(token.token_id).user["name"] == "demo"


def test_expired_token(identity):
    token = identity.tokens.issue(password_auth("demo", identity.passwords["demo"]))
    payload = token.payload
    past = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) - dt.timedelta(minutes=5)
    expired = identity.token_keys.encrypt(tf.pack(tf.TokenPayload(
        user_id=payload.user_id, methods=payload.methods, expires_at=past, issued_at=past - dt.timedelta(hours=1),
        audit_ids=[tf.new_audit_id()], scope_type=payload.scope_type, scope_id=payload.scope_id)))
    with pytest.raises(errors.NotFound):
        identity.tokens.validate(expired)
    assert identity.tokens.validate(expired, allow_expired=True).user["name"] == "demo"


def test_key_rotation_keeps_tokens_valid_until_purged(identity):
    token = identity.tokens.issue(password_auth("demo", identity.passwords["demo"]))
    identity.token_keys.rotate()
    identity.token_keys._checked_at = 0  # re-read the repository now
    identity.changed()
    assert identity.tokens.validate(token.token_id).user["name"] == "demo"
    for _ in range(identity.conf.identity.max_active_keys):
        identity.token_keys.rotate()
    identity.token_keys._checked_at = 0
    identity.changed()
    with pytest.raises(errors.NotFound):
        identity.tokens.validate(token.token_id)


def test_garbage_tokens_are_not_found(identity):
    for garbage in ["", "x", "gAAAAA" + "A" * 100, "a" * 5000]:
        with pytest.raises(errors.NotFound):
            identity.tokens.validate(garbage)
