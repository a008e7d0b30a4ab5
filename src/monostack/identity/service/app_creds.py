"""Application credentials and access rules.

An application credential lets an application authenticate as its user, on
one project, with a subset of the user's roles there, without the user's
password.  Its secret is shown once, at creation, and stored as a bcrypt hash.
Access rules (service, path, method) narrow what its tokens may call; a rule
belongs to the user and is shared by every credential that names it, so it
outlives them and is only deleted on request once unused.

Tokens issued with a credential are checked against it at every validation
(`lookup`): deleting the credential invalidates them at once, because every
write bumps the identity generation, which drops the token validation cache
and this manager's lookup cache with it.
"""

from __future__ import annotations

import base64
import re
import secrets
import threading
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy import orm

from monostack.common import errors
from monostack.identity import models, passwords
from monostack.identity.service import new_id
from monostack.identity.service.assignments import role_dict
from monostack.identity.service.util import apply_filters, extra_fields, parse_time, utcnow

if TYPE_CHECKING:
    from monostack.identity.service import IdentityService

UNAUTHORIZED = "The request you have made requires authentication."
BAD_SECRET = "Invalid application credential ID or secret"
CREATE_FIELDS = {"id", "name", "description", "secret", "expires_at", "roles", "unrestricted", "access_rules",
                 "project_id", "system"}
METHODS = ("DELETE", "GET", "HEAD", "PATCH", "POST", "PUT")
_ID_RE = re.compile(r"^[a-zA-Z0-9-]{1,64}$")
_CACHE_SIZE = 10000


def generate_secret() -> str:
    """64 random bytes, URL-safe base64 without padding (Keystone's format)."""
    return base64.urlsafe_b64encode(secrets.token_bytes(64)).rstrip(b"=").decode("ascii")


def access_rule_dict(row: models.AccessRule) -> dict[str, Any]:
    return {"id": row.id, "service": row.service, "path": row.path, "method": row.method}


def expires_iso(value: Any) -> str | None:
    """Naive ISO 8601, as Keystone serialises the stored datetime (Tempest compares it to isoformat())."""
    return value.isoformat() if value is not None else None


def parse_expiry(value: Any) -> Any:
    """Keystone's parse_expiration_date: a timestamp (Z optional) that is not already past, else 400."""
    if value is None:
        return None
    try:
        when = parse_time(value, "expires_at")
    except errors.ValidationError:
        raise errors.ValidationError("Timestamp not in expected format. The server could not comply with the "
                                     "request since it is either malformed or otherwise incorrect. The client "
                                     "is assumed to be in error.") from None
    if when is not None and when <= utcnow():
        raise errors.ValidationError("The 'expires_at' must not be before now. The server could not comply with "
                                     "the request since it is either malformed or otherwise incorrect. The client "
                                     "is assumed to be in error.")
    return when


class ApplicationCredentialManager:
    def __init__(self, svc: "IdentityService"):
        self.svc = svc
        self._cache: dict[str, dict[str, Any] | None] = {}
        self._cache_generation = -1
        self._cache_lock = threading.Lock()

    # -- rows and dicts ------------------------------------------------------------
    def _row(self, session: orm.Session, app_cred_id: str, user_id: str | None = None
             ) -> models.ApplicationCredential:
        row = session.get(models.ApplicationCredential, app_cred_id)
        if row is None or (user_id is not None and row.user_id != user_id):
            raise errors.NotFound(f"Could not find Application Credential: {app_cred_id}.")
        return row

    def _to_dict(self, session: orm.Session, row: models.ApplicationCredential) -> dict[str, Any]:
        role_ids = [r.role_id for r in row.roles]
        roles = session.scalars(sa.select(models.Role).where(models.Role.id.in_(role_ids))).all() if role_ids else []
        data: dict[str, Any] = {
            "id": row.id, "name": row.name, "description": row.description, "user_id": row.user_id,
            "project_id": row.project_id, "system": row.system, "expires_at": expires_iso(row.expires_at),
            "unrestricted": bool(row.unrestricted),
            # A role deleted since creation just drops out (Keystone skips it too).
            "roles": [_public_role(role_dict(r)) for r in sorted(roles, key=lambda r: r.name)]}
        rules = self._rules_of(session, row)
        if rules:
            data["access_rules"] = rules
        return data

    @staticmethod
    def _rules_of(session: orm.Session, row: models.ApplicationCredential) -> list[dict[str, Any]]:
        ids = [link.access_rule_id for link in row.access_rules]
        if not ids:
            return []
        rules = {r.id: r for r in session.scalars(sa.select(models.AccessRule).where(models.AccessRule.id.in_(ids)))}
        return [access_rule_dict(rules[i]) for i in ids if i in rules]

    # -- create ----------------------------------------------------------------------
    def create(self, user_id: str, ref: dict[str, Any], *, project_id: str | None, system: str | None,
               token_role_ids: set[str]) -> dict[str, Any]:
        """Create for the caller's own scope; `token_role_ids` are the caller token's (effective) roles."""
        if not project_id and not system:
            raise errors.ValidationError("Application credentials can only be created with a project-scoped or "
                                         "system-scoped token.")
        name, description, unrestricted, secret = _check_create(ref)
        expires_at = parse_expiry(ref.get("expires_at"))
        rules_in = _validate_rules(ref.get("access_rules"))
        # bcrypt is slow: hash before taking the (SQLite-serialised) write transaction.
        secret_hash = passwords.hash_password(secret, self.svc.conf.identity.password_hash_rounds)
        app_cred_id = new_id()
        try:
            with self.svc.db.writer() as session:
                role_ids = self._resolve_roles(session, ref.get("roles"), token_role_ids)
                if session.scalar(sa.select(models.ApplicationCredential.id).where(
                        models.ApplicationCredential.user_id == user_id,
                        models.ApplicationCredential.name == name)):
                    raise _duplicate(name)
                row = models.ApplicationCredential(
                    id=app_cred_id, name=name, secret_hash=secret_hash, description=description, user_id=user_id,
                    project_id=None if system else project_id, system=system, expires_at=expires_at,
                    unrestricted=unrestricted, created_at=utcnow())
                row.roles = [models.ApplicationCredentialRole(role_id=r) for r in sorted(role_ids)]
                row.access_rules = [models.ApplicationCredentialAccessRule(access_rule_id=rule_id)
                                    for rule_id in self._ensure_rules(session, user_id, rules_in)]
                session.add(row)
                session.flush()
                result = self._to_dict(session, row)
        except sa_exc.IntegrityError:
            raise _duplicate(name) from None  # a concurrent create with the same name or rule
        result["secret"] = secret
        self.svc.changed("application_credential", "created", app_cred_id)
        return result

    def _resolve_roles(self, session: orm.Session, wanted: Any, token_role_ids: set[str]) -> set[str]:
        """The roles asked for (by id or name) plus what they imply; all must be in the caller's token."""
        if wanted is None or wanted == []:
            return set(token_role_ids)
        if not isinstance(wanted, list):
            raise errors.ValidationError("Invalid input for field 'roles': must be a list.")
        ids: set[str] = set()
        for role in wanted:
            if not isinstance(role, dict) or len(role) != 1 or not isinstance(next(iter(role.values())), str) \
                    or next(iter(role)) not in ("id", "name"):
                raise errors.ValidationError("Invalid input for field 'roles': each role is {'id': ...} or "
                                             "{'name': ...}.")
            if "id" in role:
                ids.add(role["id"])
            else:
                row = self.svc.assignments.role_by_name(session, role["name"])
                if row is None:
                    raise errors.NotFound(f"Could not find role: {role['name']}.")
                ids.add(row.id)
        if not ids <= token_role_ids:
            raise errors.ValidationError("Invalid application credential: Cannot create an application credential "
                                         "with unassigned role")
        return ids

    def _ensure_rules(self, session: orm.Session, user_id: str, rules: list[dict[str, str]]) -> list[str]:
        """Ids of the user's access rules matching `rules`, creating the missing ones (one rule per
        user, service, path and method, as Keystone de-duplicates them)."""
        found: list[str] = []
        for rule in rules:
            row = session.get(models.AccessRule, rule["id"]) if rule.get("id") else None
            if row is not None and row.user_id != user_id:
                raise errors.ValidationError(f"Invalid input for field 'access_rules': unknown rule {rule['id']}.")
            if row is None and rule.get("service") is not None:
                row = session.scalar(sa.select(models.AccessRule).where(
                    models.AccessRule.user_id == user_id, models.AccessRule.service == rule["service"],
                    models.AccessRule.path == rule["path"], models.AccessRule.method == rule["method"]))
                if row is None:
                    row = models.AccessRule(id=rule.get("id") or new_id(), user_id=user_id, service=rule["service"],
                                            path=rule["path"], method=rule["method"])
                    session.add(row)
                    session.flush()
            if row is None:
                raise errors.ValidationError(f"Invalid input for field 'access_rules': unknown rule {rule['id']}.")
            if row.id not in found:
                found.append(row.id)
        return found

    # -- read and delete ---------------------------------------------------------------
    def list(self, user_id: str, filters: dict[str, Any]) -> list[dict[str, Any]]:
        with self.svc.db.reader() as session:
            rows = session.scalars(sa.select(models.ApplicationCredential).where(
                models.ApplicationCredential.user_id == user_id).order_by(models.ApplicationCredential.name)).all()
            result = [self._to_dict(session, r) for r in rows]
        return apply_filters(result, filters, ("name",))

    def get(self, user_id: str, app_cred_id: str) -> dict[str, Any]:
        with self.svc.db.reader() as session:
            return self._to_dict(session, self._row(session, app_cred_id, user_id))

    def owner_of(self, app_cred_id: str) -> str | None:
        """The user an application credential belongs to (policy checks use it, not the URL's user)."""
        with self.svc.db.reader() as session:
            row = session.get(models.ApplicationCredential, app_cred_id)
            return row.user_id if row is not None else None

    def delete(self, user_id: str, app_cred_id: str) -> None:
        with self.svc.db.writer() as session:
            session.delete(self._row(session, app_cred_id, user_id))
        # The generation bump makes every token issued with it fail validation (lookup -> None).
        self.svc.changed("application_credential", "deleted", app_cred_id)

    def delete_for_user(self, session: orm.Session, user_id: str) -> None:
        """With the user: their credentials, then their access rules (Keystone's user-deleted callback)."""
        for row in session.scalars(sa.select(models.ApplicationCredential).where(
                models.ApplicationCredential.user_id == user_id)).all():
            session.delete(row)
        session.flush()
        session.execute(sa.delete(models.AccessRule).where(models.AccessRule.user_id == user_id))

    def delete_for_project(self, session: orm.Session, project_id: str, *, user_id: str | None = None) -> None:
        """With the project (or when a user loses their last role on it): its application credentials."""
        query = sa.select(models.ApplicationCredential).where(models.ApplicationCredential.project_id == project_id)
        if user_id is not None:
            query = query.where(models.ApplicationCredential.user_id == user_id)
        for row in session.scalars(query).all():
            session.delete(row)

    # -- access rules ---------------------------------------------------------------------
    def list_access_rules(self, user_id: str, filters: dict[str, Any]) -> list[dict[str, Any]]:
        with self.svc.db.reader() as session:
            rows = session.scalars(sa.select(models.AccessRule).where(models.AccessRule.user_id == user_id)
                                   .order_by(models.AccessRule.service, models.AccessRule.path)).all()
            result = [access_rule_dict(r) for r in rows]
        return apply_filters(result, filters, ("service", "path", "method"))

    def _rule_row(self, session: orm.Session, user_id: str, rule_id: str) -> models.AccessRule:
        row = session.get(models.AccessRule, rule_id)
        if row is None or row.user_id != user_id:
            raise errors.NotFound(f"Could not find Access Rule: {rule_id}.")
        return row

    def get_access_rule(self, user_id: str, rule_id: str) -> dict[str, Any]:
        with self.svc.db.reader() as session:
            return access_rule_dict(self._rule_row(session, user_id, rule_id))

    def delete_access_rule(self, user_id: str, rule_id: str) -> None:
        with self.svc.db.writer() as session:
            row = self._rule_row(session, user_id, rule_id)
            if session.scalar(sa.select(models.ApplicationCredentialAccessRule.application_credential_id).where(
                    models.ApplicationCredentialAccessRule.access_rule_id == rule_id).limit(1)):
                raise errors.Forbidden("May not delete access rule in use")
            session.delete(row)
        self.svc.changed("access_rule", "deleted", rule_id)

    # -- authentication (the `application_credential` auth method) -------------------------
    def authenticate(self, ref: Any) -> dict[str, Any]:
        """Blocking (bcrypt): check id or name (+ user) and secret; the token's view of the credential."""
        if not isinstance(ref, dict):
            raise errors.ValidationError("Invalid input for field 'identity/application_credential'.")
        with self.svc.db.reader() as session:
            row = self._find_for_auth(session, ref)
            user = session.get(models.User, row.user_id)
            domain = session.get(models.Project, user.domain_id) if user is not None else None
            if user is None or not user.enabled or domain is None or not domain.enabled:
                raise errors.Unauthorized(UNAUTHORIZED)
            view = self._view(session, row)
            secret_hash = row.secret_hash
        secret = ref.get("secret")
        if not isinstance(secret, str) or not passwords.check_password(secret, secret_hash):
            raise errors.Unauthorized(BAD_SECRET)
        if view["expires_at"] is not None and utcnow() >= view["expires_at"]:
            raise errors.Unauthorized(BAD_SECRET)
        return view

    def _find_for_auth(self, session: orm.Session, ref: dict[str, Any]) -> models.ApplicationCredential:
        _strings(ref, "application_credential", "id", "name")
        if ref.get("id"):
            row = session.get(models.ApplicationCredential, ref["id"])
        elif ref.get("name"):
            user_ref = ref.get("user")
            if not isinstance(user_ref, dict) or not (user_ref.get("id") or user_ref.get("name")):
                raise errors.ValidationError("Invalid input for field 'application_credential': 'user' is required "
                                             "with a name.")
            _strings(user_ref, "application_credential/user", "id", "name")
            user_id = user_ref.get("id") or self._user_id_by_name(session, user_ref)
            row = session.scalar(sa.select(models.ApplicationCredential).where(
                models.ApplicationCredential.user_id == user_id, models.ApplicationCredential.name == ref["name"]))
        else:
            raise errors.ValidationError("Invalid input for field 'application_credential': 'id' or 'name' is a "
                                         "required property")
        if row is None:
            raise errors.Unauthorized(UNAUTHORIZED)
        return row

    @staticmethod
    def _user_id_by_name(session: orm.Session, user_ref: dict[str, Any]) -> str:
        domain = user_ref.get("domain")
        if not isinstance(domain, dict) or not (domain.get("id") or domain.get("name")):
            raise errors.ValidationError("Expecting to find domain in user. The server could not comply with the "
                                         "request since it is either malformed or otherwise incorrect. The client "
                                         "is assumed to be in error.")
        _strings(domain, "application_credential/user/domain", "id", "name")
        query = sa.select(models.User.id).join(models.Project, models.Project.id == models.User.domain_id).where(
            models.User.name == user_ref["name"], models.Project.is_domain.is_(True))
        query = query.where(models.Project.id == domain["id"]) if domain.get("id") else \
            query.where(models.Project.name == domain["name"])
        user_id = session.scalar(query)
        if user_id is None:
            raise errors.Unauthorized(UNAUTHORIZED)
        return user_id

    def _view(self, session: orm.Session, row: models.ApplicationCredential) -> dict[str, Any]:
        return {"id": row.id, "name": row.name, "user_id": row.user_id, "project_id": row.project_id,
                "system": row.system, "role_ids": [r.role_id for r in row.roles],
                "unrestricted": bool(row.unrestricted), "expires_at": row.expires_at,
                "access_rules": self._rules_of(session, row)}

    def lookup(self, app_cred_id: str) -> dict[str, Any] | None:
        """The credential a token names, or None (deleted or expired: the token is invalid).  Cached until
        the next identity change, so validating many tokens of one credential reads it once."""
        generation = self.svc.generation
        with self._cache_lock:
            if self._cache_generation != generation:
                self._cache.clear()
                self._cache_generation = generation
            if app_cred_id in self._cache:
                view = self._cache[app_cred_id]
                return None if view is None or _expired(view) else view
        with self.svc.db.reader() as session:
            row = session.get(models.ApplicationCredential, app_cred_id)
            view = self._view(session, row) if row is not None else None
        with self._cache_lock:
            if self._cache_generation == generation and len(self._cache) < _CACHE_SIZE:
                self._cache[app_cred_id] = view
        return None if view is None or _expired(view) else view


def _check_create(ref: dict[str, Any]) -> tuple[str, str | None, bool, str]:
    """Keystone's create schema: name, description, unrestricted, secret (generated when absent)."""
    unknown = set(ref) - CREATE_FIELDS
    if unknown:
        raise errors.ValidationError(f"Invalid input for field 'application_credential': Additional properties "
                                     f"are not allowed ({', '.join(sorted(unknown))} were unexpected)")
    name = ref.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 255:
        raise errors.ValidationError("Invalid input for field 'name': 'name' is a required property of 1-255 "
                                     "characters")
    description = ref.get("description")
    if description is not None and not isinstance(description, str):
        raise errors.ValidationError("Invalid input for field 'description': must be a string or null.")
    unrestricted = ref.get("unrestricted")
    if unrestricted is not None and not isinstance(unrestricted, bool):
        raise errors.ValidationError(f"Invalid input for field 'unrestricted': {unrestricted!r} is not of type "
                                     f"'boolean', 'null'")
    secret = ref.get("secret")
    if secret is not None and not isinstance(secret, str):
        raise errors.ValidationError("Invalid input for field 'secret': must be a string or null.")
    return name, description, bool(unrestricted), secret or generate_secret()


def _strings(ref: dict[str, Any], where: str, *fields: str) -> None:
    for field in fields:
        if ref.get(field) is not None and not isinstance(ref[field], str):
            raise errors.ValidationError(f"Invalid input for field '{where}/{field}': {ref[field]!r} is not of type "
                                         f"'string'")


def _expired(view: dict[str, Any]) -> bool:
    return view["expires_at"] is not None and utcnow() >= view["expires_at"]


def _public_role(role: dict[str, Any]) -> dict[str, Any]:
    return {k: role.get(k) for k in ("id", "name", "domain_id", "description", "options")}


def _duplicate(name: str) -> errors.Conflict:
    return errors.Conflict(f"Conflict occurred attempting to store application_credential - Duplicate entry found "
                           f"with name {name}.")


def _validate_rules(rules: Any) -> list[dict[str, str]]:
    """Keystone's access rule schema: service (id string), path (starts with /), method (HTTP verb); or an id."""
    if rules is None:
        return []
    if not isinstance(rules, list):
        raise errors.ValidationError("Invalid input for field 'access_rules': must be a list.")
    result = []
    for rule in rules:
        if not isinstance(rule, dict) or set(rule) - {"id", "service", "path", "method"}:
            raise errors.ValidationError("Invalid input for field 'access_rules': each rule has only id, service, "
                                         "path and method.")
        rule_id = rule.get("id")
        if rule_id is not None and (not isinstance(rule_id, str) or not _ID_RE.match(rule_id)):
            raise errors.ValidationError(f"Invalid input for field 'access_rules/id': {rule_id!r}.")
        given = {k for k in ("service", "path", "method") if rule.get(k) is not None}
        if not given and rule_id:
            result.append({"id": rule_id})
            continue
        service, path, method = rule.get("service"), rule.get("path"), rule.get("method")
        if not isinstance(service, str) or not _ID_RE.match(service):
            raise errors.ValidationError(f"Invalid input for field 'access_rules/service': {service!r}.")
        if not isinstance(path, str) or not path.startswith("/") or len(path) > 128:
            raise errors.ValidationError(f"Invalid input for field 'access_rules/path': {path!r} must start with / "
                                         f"(at most 128 characters).")
        if method not in METHODS:
            raise errors.ValidationError(f"Invalid input for field 'access_rules/method': {method!r} is not one of "
                                         f"{list(METHODS)}.")
        result.append({"id": rule_id, "service": service, "path": path, "method": method})
    return result
