"""Users, groups, group membership, passwords and Keystone's security compliance
(lockout, password history, minimum age, expiry, regex)."""

from __future__ import annotations

import datetime as dt
import re
import time
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import orm

from monostack.common import errors
from monostack.identity import models, passwords
from monostack.identity.service import new_id
from monostack.identity.service.util import (apply_filters, extra_fields, flatten_extra, is_truthy, parse_time,
                                             utcnow)
from monostack.identity.token_format import isotime

if TYPE_CHECKING:
    from monostack.identity.service import IdentityService

USER_FIELDS = {"id", "name", "domain_id", "enabled", "password", "default_project_id", "description", "email",
               "options", "password_expires_at", "federated"}
GROUP_FIELDS = {"id", "name", "domain_id", "description"}
USER_OPTIONS = {"ignore_change_password_upon_first_use", "ignore_password_expiry",
                "ignore_lockout_failure_attempts", "lock_password", "multi_factor_auth_enabled",
                "multi_factor_auth_rules", "ignore_user_inactivity"}


def current_password(row: models.User) -> models.Password | None:
    if not row.passwords:
        return None
    return max(row.passwords, key=lambda p: (p.created_at_int, p.id or 0))


def user_dict(row: models.User) -> dict[str, Any]:
    pw = current_password(row)
    data: dict[str, Any] = {"id": row.id, "name": row.name, "domain_id": row.domain_id, "enabled": row.enabled,
                            "password_expires_at": isotime(pw.expires_at) if pw else None,
                            "options": row.options or {}}
    if row.default_project_id:
        data["default_project_id"] = row.default_project_id
    if row.description is not None:
        data["description"] = row.description
    if row.email is not None:
        data["email"] = row.email
    return flatten_extra(data, row.extra)


def group_dict(row: models.Group) -> dict[str, Any]:
    return flatten_extra({"id": row.id, "name": row.name, "domain_id": row.domain_id,
                          "description": row.description or ""}, row.extra)


def _now_us() -> int:
    return time.time_ns() // 1000


class UserManager:
    def __init__(self, svc: "IdentityService"):
        self.svc = svc

    @property
    def _sc(self) -> Any:
        return self.svc.conf.security_compliance

    # -- rows ----------------------------------------------------------------
    def get_row(self, session: orm.Session, user_id: str) -> models.User:
        row = session.get(models.User, user_id)
        if row is None:
            raise errors.NotFound(f"Could not find user: {user_id}.")
        return row

    def by_name(self, session: orm.Session, name: str, domain_id: str) -> models.User:
        row = session.scalar(sa.select(models.User).where(models.User.name == name,
                                                          models.User.domain_id == domain_id))
        if row is None:
            raise errors.NotFound(f"Could not find user: {name}.")
        return row

    def get_group_row(self, session: orm.Session, group_id: str) -> models.Group:
        row = session.get(models.Group, group_id)
        if row is None:
            raise errors.NotFound(f"Could not find group: {group_id}.")
        return row

    def group_ids_for_user(self, session: orm.Session, user_id: str) -> list[str]:
        return list(session.scalars(sa.select(models.GroupMembership.group_id).where(
            models.GroupMembership.user_id == user_id)))

    # -- passwords -------------------------------------------------------------
    def _validate_password(self, password: Any) -> str:
        if not isinstance(password, str):
            raise errors.ValidationError("Invalid input for field 'password': must be a string.")
        if len(password) > self.svc.conf.identity.max_password_length:
            raise errors.ValidationError("Invalid input for field 'password': the password is too long.")
        regex = self._sc.password_regex
        if regex and not re.match(regex, password):
            description = self._sc.password_regex_description or f"It must match {regex}."
            raise errors.ValidationError(f"Password validation error: The password does not meet the "
                                         f"requirements: {description}")
        return password

    def _new_password(self, row: models.User, password: str, *, self_service: bool) -> None:
        now = utcnow()
        expires_at = None
        days = self._sc.password_expires_days
        if days and not (row.options or {}).get("ignore_password_expiry"):
            expires_at = now + dt.timedelta(days=days)
        if (not self_service and self._sc.change_password_upon_first_use
                and not (row.options or {}).get("ignore_change_password_upon_first_use")):
            expires_at = now  # must be changed before it can be used
        row.passwords.append(models.Password(
            password_hash=passwords.hash_password(password, self.svc.conf.identity.password_hash_rounds),
            created_at=now, created_at_int=_now_us(), expires_at=expires_at, self_service=self_service))
        # Keep only the history we need.
        keep = max(self._sc.unique_last_password_count, 1)
        history = sorted(row.passwords, key=lambda p: (p.created_at_int, p.id or 0))
        for old in history[:-keep]:
            row.passwords.remove(old)

    # -- users -----------------------------------------------------------------
    def create_user(self, ref: dict[str, Any], *, default_domain_id: str = "default") -> dict[str, Any]:
        name = ref.get("name")
        if not isinstance(name, str) or not name.strip() or len(name) > 255:
            raise errors.ValidationError("Invalid input for field 'name': a user needs a name of 1-255 characters.")
        password = ref.get("password")
        if password is not None:
            self._validate_password(password)
        options = self._validate_options(ref.get("options") or {})
        domain_id = ref.get("domain_id") or default_domain_id
        user_id = new_id()
        with self.svc.db.writer() as session:
            self.svc.resources.get_domain_row(session, domain_id)
            if session.scalar(sa.select(models.User.id).where(models.User.name == name,
                                                             models.User.domain_id == domain_id)):
                raise errors.Conflict(f"Conflict occurred attempting to store user - Duplicate entry found with name "
                                      f"{name} at domain ID {domain_id}.")
            default_project_id = ref.get("default_project_id")
            if default_project_id:
                project = session.get(models.Project, default_project_id)
                if project is None or project.is_domain:
                    raise errors.ValidationError(f"The default project {default_project_id} is not a project.")
            row = models.User(id=user_id, name=name, domain_id=domain_id,
                              enabled=is_truthy(ref.get("enabled", True), "enabled"),
                              default_project_id=default_project_id, description=ref.get("description"),
                              email=ref.get("email"), options=options, created_at=utcnow(),
                              extra=extra_fields(ref, USER_FIELDS))
            row.passwords = []
            if password is not None:
                self._new_password(row, password, self_service=False)
            session.add(row)
            session.flush()
            result = user_dict(row)
        self.svc.changed("user", "created", user_id)
        return result

    def _validate_options(self, options: Any) -> dict[str, Any]:
        if not isinstance(options, dict):
            raise errors.ValidationError("Invalid input for field 'options': must be an object.")
        for key in options:
            if key not in USER_OPTIONS:
                raise errors.ValidationError(f"Invalid input for field 'options': unknown option {key}.")
        return {k: v for k, v in options.items() if v is not None}

    def get_user(self, user_id: str) -> dict[str, Any]:
        with self.svc.db.reader() as session:
            return user_dict(self.get_row(session, user_id))

    def list_users(self, filters: dict[str, Any]) -> list[dict[str, Any]]:
        with self.svc.db.reader() as session:
            query = sa.select(models.User).order_by(models.User.name)
            if filters.get("domain_id"):
                query = query.where(models.User.domain_id == filters["domain_id"])
            users = [user_dict(r) for r in session.scalars(query).all()]
        users = apply_filters(users, filters, ("name", "enabled", "id", "email", "description"))
        if filters.get("password_expires_at"):
            users = _filter_expiry(users, filters["password_expires_at"])
        return users

    def update_user(self, user_id: str, ref: dict[str, Any]) -> dict[str, Any]:
        if "id" in ref and ref["id"] != user_id:
            raise errors.ValidationError("Cannot change the id of a user.")
        revoke = False
        with self.svc.db.writer() as session:
            row = self.get_row(session, user_id)
            if "domain_id" in ref and ref["domain_id"] != row.domain_id:
                raise errors.ValidationError("Cannot change the domain of a user.")
            if "name" in ref and ref["name"] != row.name:
                name = ref["name"]
                if not isinstance(name, str) or not name.strip() or len(name) > 255:
                    raise errors.ValidationError("Invalid input for field 'name'.")
                if session.scalar(sa.select(models.User.id).where(models.User.name == name,
                                                                 models.User.domain_id == row.domain_id)):
                    raise errors.Conflict(f"Conflict occurred attempting to store user - Duplicate entry found with "
                                          f"name {name} at domain ID {row.domain_id}.")
                row.name = name
            if "enabled" in ref:
                enabled = is_truthy(ref["enabled"], "enabled")
                if row.enabled and not enabled:
                    revoke = True
                    self.svc.app_creds.delete_for_user(session, user_id)
                row.enabled = enabled
                if enabled:
                    row.failed_auth_count, row.failed_auth_at = 0, None
            if "password" in ref and ref["password"] is not None:
                self._new_password(row, self._validate_password(ref["password"]), self_service=False)
                row.failed_auth_count, row.failed_auth_at = 0, None
                revoke = True
            for attr in ("default_project_id", "description", "email"):
                if attr in ref:
                    setattr(row, attr, ref[attr])
            if "options" in ref:
                merged = {**(row.options or {}), **(ref["options"] or {})}
                row.options = self._validate_options({k: v for k, v in merged.items() if v is not None})
            extra = extra_fields(ref, USER_FIELDS)
            if extra:
                row.extra = {**(row.extra or {}), **extra}
            session.flush()
            result = user_dict(row)
            if revoke:
                self.svc.revocation.add(session, user_id=user_id)
        self.svc.changed("user", "updated", user_id)
        return result

    def delete_user(self, user_id: str) -> None:
        with self.svc.db.writer() as session:
            row = self.get_row(session, user_id)
            self._delete_user_row(session, row)
        self.svc.changed("user", "deleted", user_id)

    def _delete_user_row(self, session: orm.Session, row: models.User) -> None:
        self.svc.assignments.delete_for_actor(session, row.id)
        self.svc.app_creds.delete_for_user(session, row.id)
        self.svc.credentials.delete_for_user(session, row.id)
        self.svc.trusts.delete_for_user(session, row.id)
        session.execute(sa.delete(models.GroupMembership).where(models.GroupMembership.user_id == row.id))
        session.delete(row)
        self.svc.revocation.add(session, user_id=row.id)

    def delete_for_domain(self, session: orm.Session, domain_id: str) -> None:
        for row in session.scalars(sa.select(models.User).where(models.User.domain_id == domain_id)).all():
            self._delete_user_row(session, row)
        for group in session.scalars(sa.select(models.Group).where(models.Group.domain_id == domain_id)).all():
            self._delete_group_row(session, group)

    def change_password(self, user_id: str, original: Any, new: Any) -> None:
        """Self-service change: the old password, then the compliance rules."""
        if not isinstance(original, str) or not isinstance(new, str):
            raise errors.ValidationError("Invalid input for field 'user': 'password' and 'original_password' are "
                                         "required strings.")
        self._validate_password(new)
        with self.svc.db.writer() as session:
            row = self.get_row(session, user_id)
            pw = current_password(row)
            if (row.options or {}).get("lock_password"):
                raise errors.Forbidden(f"You are not allowed to change the password of user {user_id}.")
            if pw is None or not passwords.check_password(original, pw.password_hash):
                raise errors.Unauthorized("The request you have made requires authentication.")
            min_age = self._sc.minimum_password_age
            if min_age and pw.self_service and utcnow() < pw.created_at + dt.timedelta(days=min_age):
                allowed = pw.created_at + dt.timedelta(days=min_age)
                raise errors.ValidationError(
                    f"You cannot change your password at this time due to the minimum password age. Once you "
                    f"change your password, it must be used for {min_age} day(s) before it can be changed. Please "
                    f"try again in {(allowed - utcnow()).days} day(s) or contact your administrator to reset your "
                    f"password.")
            # The new password must differ from the last `unique` ones, the current one included.
            unique = self._sc.unique_last_password_count
            if unique > 1:
                history = sorted(row.passwords, key=lambda p: (p.created_at_int, p.id or 0))[-unique:]
                if any(passwords.check_password(new, old.password_hash) for old in history):
                    raise errors.ValidationError(
                        f"Password validation error: The new password cannot be identical to a previous password. "
                        f"The total number which includes the new password must be unique is {unique}.")
            self._new_password(row, new, self_service=True)
            row.failed_auth_count, row.failed_auth_at = 0, None
            session.flush()
            self.svc.revocation.add(session, user_id=user_id)
        self.svc.changed("user", "updated", user_id)

    # -- authentication ------------------------------------------------------
    def find_for_auth(self, user: dict[str, Any]) -> models.User:
        """The user named in an auth request's `identity.password.user` (by id, or by name and domain)."""
        if not isinstance(user, dict):
            raise errors.ValidationError("Invalid input for field 'identity/password/user'.")
        domain_ref = user.get("domain")
        if domain_ref is not None and not isinstance(domain_ref, dict):
            raise errors.ValidationError("Invalid input for field 'identity/password/user/domain': not an object.")
        fields = {"id": user.get("id"), "name": user.get("name")}
        if domain_ref:
            fields.update({"domain/id": domain_ref.get("id"), "domain/name": domain_ref.get("name")})
        for field, value in fields.items():
            if value is not None and not isinstance(value, str):
                raise errors.ValidationError(f"Invalid input for field 'identity/password/user/{field}': "
                                             f"{value!r} is not of type 'string'.")
        with self.svc.db.reader() as session:
            if user.get("id"):
                row = session.get(models.User, user["id"])
            else:
                name = user.get("name")
                domain = user.get("domain")
                if not name or not isinstance(domain, dict) or not (domain.get("id") or domain.get("name")):
                    raise errors.ValidationError("Expecting to find domain in user. The server could not comply "
                                                 "with the request since it is either malformed or otherwise "
                                                 "incorrect. The client is assumed to be in error.")
                if domain.get("id"):
                    domain_row = session.get(models.Project, domain["id"])
                else:
                    domain_row = session.scalar(sa.select(models.Project).where(
                        models.Project.is_domain.is_(True), models.Project.name == domain["name"]))
                if domain_row is None or not domain_row.is_domain:
                    raise errors.Unauthorized("The request you have made requires authentication.")
                if not domain_row.enabled:
                    raise errors.Unauthorized("The request you have made requires authentication.")
                row = session.scalar(sa.select(models.User).where(models.User.name == name,
                                                                  models.User.domain_id == domain_row.id))
            if row is None:
                raise errors.Unauthorized("The request you have made requires authentication.")
            session.expunge(row)
            return row

    def check_password_auth(self, row: models.User, password: Any) -> None:
        """Blocking: the bcrypt check plus lockout bookkeeping.  Raises 401."""
        sc = self._sc
        options = row.options or {}
        attempts, duration = sc.lockout_failure_attempts, sc.lockout_duration
        lockout = attempts and not options.get("ignore_lockout_failure_attempts")
        if lockout and row.failed_auth_count >= attempts and row.failed_auth_at is not None:
            if utcnow() < row.failed_auth_at + dt.timedelta(seconds=duration or 0) or not duration:
                raise errors.Unauthorized(f"The account is locked for user: {row.id}.")
        pw = current_password(row)
        if not isinstance(password, str) or pw is None or not passwords.check_password(password, pw.password_hash):
            if lockout:
                self._record_failure(row.id)
            raise errors.Unauthorized("The request you have made requires authentication.")
        if row.failed_auth_count:
            with self.svc.db.writer() as session:
                fresh = self.get_row(session, row.id)
                fresh.failed_auth_count, fresh.failed_auth_at = 0, None
        if pw.expires_at is not None and utcnow() >= pw.expires_at and not options.get("ignore_password_expiry"):
            raise errors.Unauthorized(f"The password is expired and needs to be changed for user: {row.id}.")

    def _record_failure(self, user_id: str) -> None:
        with self.svc.db.writer() as session:
            row = session.get(models.User, user_id)
            if row is None:
                return
            now = utcnow()
            duration = self._sc.lockout_duration
            if (row.failed_auth_at is not None and duration
                    and now >= row.failed_auth_at + dt.timedelta(seconds=duration)):
                row.failed_auth_count = 0  # the previous lockout window is over
            row.failed_auth_count = (row.failed_auth_count or 0) + 1
            row.failed_auth_at = now

    # -- groups ------------------------------------------------------------------
    def create_group(self, ref: dict[str, Any], *, default_domain_id: str = "default") -> dict[str, Any]:
        name = ref.get("name")
        if not isinstance(name, str) or not name.strip() or len(name) > 64:
            raise errors.ValidationError("Invalid input for field 'name': a group needs a name of 1-64 characters.")
        domain_id = ref.get("domain_id") or default_domain_id
        group_id = new_id()
        with self.svc.db.writer() as session:
            self.svc.resources.get_domain_row(session, domain_id)
            if session.scalar(sa.select(models.Group.id).where(models.Group.name == name,
                                                              models.Group.domain_id == domain_id)):
                raise errors.Conflict(f"Conflict occurred attempting to store group - Duplicate entry found with name "
                                      f"{name} at domain ID {domain_id}.")
            row = models.Group(id=group_id, name=name, domain_id=domain_id, description=ref.get("description"),
                               extra=extra_fields(ref, GROUP_FIELDS))
            session.add(row)
            session.flush()
            result = group_dict(row)
        self.svc.changed("group", "created", group_id)
        return result

    def get_group(self, group_id: str) -> dict[str, Any]:
        with self.svc.db.reader() as session:
            return group_dict(self.get_group_row(session, group_id))

    def list_groups(self, filters: dict[str, Any]) -> list[dict[str, Any]]:
        with self.svc.db.reader() as session:
            query = sa.select(models.Group).order_by(models.Group.name)
            if filters.get("domain_id"):
                query = query.where(models.Group.domain_id == filters["domain_id"])
            groups = [group_dict(r) for r in session.scalars(query).all()]
        return apply_filters(groups, filters, ("name", "id", "description"))

    def update_group(self, group_id: str, ref: dict[str, Any]) -> dict[str, Any]:
        with self.svc.db.writer() as session:
            row = self.get_group_row(session, group_id)
            if "domain_id" in ref and ref["domain_id"] != row.domain_id:
                raise errors.ValidationError("Cannot change the domain of a group.")
            if "name" in ref and ref["name"] != row.name:
                name = ref["name"]
                if not isinstance(name, str) or not name.strip() or len(name) > 64:
                    raise errors.ValidationError("Invalid input for field 'name'.")
                if session.scalar(sa.select(models.Group.id).where(models.Group.name == name,
                                                                  models.Group.domain_id == row.domain_id)):
                    raise errors.Conflict(f"Conflict occurred attempting to store group - Duplicate entry found with "
                                          f"name {name}.")
                row.name = name
            if "description" in ref:
                row.description = ref["description"]
            extra = extra_fields(ref, GROUP_FIELDS)
            if extra:
                row.extra = {**(row.extra or {}), **extra}
            session.flush()
            result = group_dict(row)
        self.svc.changed("group", "updated", group_id)
        return result

    def delete_group(self, group_id: str) -> None:
        with self.svc.db.writer() as session:
            self._delete_group_row(session, self.get_group_row(session, group_id))
        self.svc.changed("group", "deleted", group_id)

    def _delete_group_row(self, session: orm.Session, row: models.Group) -> None:
        members = list(session.scalars(sa.select(models.GroupMembership.user_id).where(
            models.GroupMembership.group_id == row.id)))
        self.svc.assignments.delete_for_actor(session, row.id)
        session.execute(sa.delete(models.GroupMembership).where(models.GroupMembership.group_id == row.id))
        session.delete(row)
        for user_id in members:
            self.svc.revocation.add(session, user_id=user_id)

    def add_member(self, group_id: str, user_id: str) -> None:
        with self.svc.db.writer() as session:
            self.get_group_row(session, group_id)
            self.get_row(session, user_id)
            if session.get(models.GroupMembership, (user_id, group_id)) is None:
                session.add(models.GroupMembership(user_id=user_id, group_id=group_id))
        self.svc.changed("group", "updated", group_id)

    def remove_member(self, group_id: str, user_id: str) -> None:
        with self.svc.db.writer() as session:
            self.get_group_row(session, group_id)
            self.get_row(session, user_id)
            membership = session.get(models.GroupMembership, (user_id, group_id))
            if membership is None:
                raise errors.NotFound(f"Could not find user, {user_id}, in group {group_id}.")
            session.delete(membership)
            self.svc.revocation.add(session, user_id=user_id)
        self.svc.changed("group", "updated", group_id)

    def check_member(self, group_id: str, user_id: str) -> None:
        with self.svc.db.reader() as session:
            self.get_group_row(session, group_id)
            self.get_row(session, user_id)
            if session.get(models.GroupMembership, (user_id, group_id)) is None:
                raise errors.NotFound(f"Could not find user, {user_id}, in group {group_id}.")

    def list_group_users(self, group_id: str, filters: dict[str, Any]) -> list[dict[str, Any]]:
        with self.svc.db.reader() as session:
            self.get_group_row(session, group_id)
            rows = session.scalars(sa.select(models.User).join(
                models.GroupMembership, models.GroupMembership.user_id == models.User.id).where(
                models.GroupMembership.group_id == group_id).order_by(models.User.name)).all()
            users = [user_dict(r) for r in rows]
        users = apply_filters(users, filters, ("name", "enabled", "id", "domain_id"))
        if filters.get("password_expires_at"):
            users = _filter_expiry(users, filters["password_expires_at"])
        return users

    def list_user_groups(self, user_id: str, filters: dict[str, Any]) -> list[dict[str, Any]]:
        with self.svc.db.reader() as session:
            self.get_row(session, user_id)
            rows = session.scalars(sa.select(models.Group).join(
                models.GroupMembership, models.GroupMembership.group_id == models.Group.id).where(
                models.GroupMembership.user_id == user_id).order_by(models.Group.name)).all()
            groups = [group_dict(r) for r in rows]
        return apply_filters(groups, filters, ("name", "id", "domain_id"))


def _filter_expiry(users: list[dict[str, Any]], spec: str) -> list[dict[str, Any]]:
    """`password_expires_at=lt:2026-01-01T00:00:00Z` (operators lt, lte, gt, gte, eq, neq; default eq)."""
    op, _, value = spec.partition(":")
    if op not in ("lt", "lte", "gt", "gte", "eq", "neq"):
        op, value = "eq", spec
    when = parse_time(value, "password_expires_at")
    result = []
    for user in users:
        expires = parse_time(user["password_expires_at"], "password_expires_at") if user["password_expires_at"] else None
        if expires is None or when is None:
            continue
        if {"lt": expires < when, "lte": expires <= when, "gt": expires > when, "gte": expires >= when,
                "eq": expires == when, "neq": expires != when}[op]:
            result.append(user)
    return result
