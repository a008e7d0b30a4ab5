"""Users, groups and Keystone's security compliance (DevStack's values: lockout
after 2 failures for 10 s, the last 2 passwords unique, no minimum age)."""

import datetime as dt
import uuid

import pytest

from monostack.common import errors
from monostack.identity import models


def name(prefix="u"):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def login(identity, user_id, password):
    return identity.tokens.issue({"identity": {"methods": ["password"], "password": {
        "user": {"id": user_id, "password": password}}}, "scope": "unscoped"})


def test_create_get_update_delete(identity):
    user = identity.users.create_user({"name": name(), "password": "pw-1", "email": "a@b.c", "colour": "blue"})
    assert user["email"] == "a@b.c" and user["colour"] == "blue" and user["domain_id"] == "default"
    assert "password" not in user
    assert identity.users.get_user(user["id"]) == user
    updated = identity.users.update_user(user["id"], {"description": "d", "enabled": False})
    assert updated["description"] == "d" and updated["enabled"] is False
    identity.users.delete_user(user["id"])
    with pytest.raises(errors.NotFound):
        identity.users.get_user(user["id"])


def test_duplicate_name_is_409_unknown_domain_404(identity):
    n = name()
    identity.users.create_user({"name": n})
    with pytest.raises(errors.Conflict):
        identity.users.create_user({"name": n})
    with pytest.raises(errors.NotFound):
        identity.users.create_user({"name": name(), "domain_id": "nope"})
    with pytest.raises(errors.ValidationError):
        identity.users.create_user({"name": 42})


def test_lockout_after_two_failures_for_ten_seconds(identity):
    user = identity.users.create_user({"name": name(), "password": "right"})
    login(identity, user["id"], "right")
    for _ in range(2):
        with pytest.raises(errors.Unauthorized):
            login(identity, user["id"], "wrong")
    with pytest.raises(errors.Unauthorized, match="locked"):
        login(identity, user["id"], "right")
    # Ten seconds later the lock is gone (moved back in time rather than slept).
    with identity.db.writer() as session:
        row = session.get(models.User, user["id"])
        row.failed_auth_at = row.failed_auth_at - dt.timedelta(seconds=11)
    login(identity, user["id"], "right")


def test_password_history_and_self_service_change(identity):
    user = identity.users.create_user({"name": name(), "password": "p0"})
    old = login(identity, user["id"], "p0")
    identity.users.change_password(user["id"], "p0", "p1")
    with pytest.raises(errors.NotFound):
        identity.tokens.validate(old.token_id)  # a password change revokes the user's tokens
    with pytest.raises(errors.ValidationError):
        identity.users.change_password(user["id"], "p1", "p1")  # the current one
    with pytest.raises(errors.ValidationError):
        identity.users.change_password(user["id"], "p1", "p0")  # the one before
    with pytest.raises(errors.Unauthorized):
        identity.users.change_password(user["id"], "wrong", "p2")
    identity.users.change_password(user["id"], "p1", "p2")
    identity.users.change_password(user["id"], "p2", "p0")  # two changes later, p0 is allowed again
    login(identity, user["id"], "p0")


def test_admin_reset_ignores_history(identity):
    user = identity.users.create_user({"name": name(), "password": "p0"})
    identity.users.update_user(user["id"], {"password": "p0"})
    login(identity, user["id"], "p0")


def test_password_expiry_and_minimum_age(identity, monkeypatch):
    conf = identity.conf
    conf._overrides["security_compliance"] = {"password_expires_days": 1, "minimum_password_age": 1}
    try:
        user = identity.users.create_user({"name": name(), "password": "p0"})
        assert user["password_expires_at"] is not None
        identity.users.change_password(user["id"], "p0", "p1")
        with pytest.raises(errors.ValidationError, match="minimum password age"):
            identity.users.change_password(user["id"], "p1", "p2")
        with identity.db.writer() as session:
            for pw in session.get(models.User, user["id"]).passwords:
                pw.expires_at = dt.datetime(2000, 1, 1)
        with pytest.raises(errors.Unauthorized, match="expired"):
            login(identity, user["id"], "p1")
    finally:
        conf._overrides.pop("security_compliance")


def test_password_regex(identity):
    identity.conf._overrides["security_compliance"] = {"password_regex": r"^(?=.*\d).{7,}$",
                                                       "password_regex_description": "7 chars and a digit"}
    try:
        with pytest.raises(errors.ValidationError, match="7 chars and a digit"):
            identity.users.create_user({"name": name(), "password": "short"})
        identity.users.create_user({"name": name(), "password": "long-enough-1"})
    finally:
        identity.conf._overrides.pop("security_compliance")


def test_groups_and_membership(identity):
    group = identity.users.create_group({"name": name("g")})
    user = identity.users.create_user({"name": name()})
    identity.users.add_member(group["id"], user["id"])
    identity.users.check_member(group["id"], user["id"])
    assert [u["id"] for u in identity.users.list_group_users(group["id"], {})] == [user["id"]]
    assert [g["id"] for g in identity.users.list_user_groups(user["id"], {})] == [group["id"]]
    identity.users.remove_member(group["id"], user["id"])
    with pytest.raises(errors.NotFound):
        identity.users.check_member(group["id"], user["id"])
    identity.users.delete_group(group["id"])
    with pytest.raises(errors.NotFound):
        identity.users.get_group(group["id"])


def test_list_filters(identity):
    n = name("filter")
    identity.users.create_user({"name": n, "enabled": False})
    assert [u["name"] for u in identity.users.list_users({"name": n})] == [n]
    assert n in [u["name"] for u in identity.users.list_users({"enabled": "false"})]
    assert n not in [u["name"] for u in identity.users.list_users({"enabled": "true"})]
    assert n in [u["name"] for u in identity.users.list_users({"name__contains": "filter-"})]
