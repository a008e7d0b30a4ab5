"""Trusts (OS-TRUST): delegation of a trustor's roles on a project to a trustee.

The trustee gets project-scoped tokens carrying the delegated roles (as the
trustor when `impersonation` is set) for as long as the trust lives: until it
expires, is deleted, runs out of `remaining_uses`, or the trustor loses the
roles (checked at every validation by the token manager).  A trust may allow
redelegation: its trustee, holding a token of it, creates a further trust with
at most its roles, expiry and remaining depth (`redelegation_count`).

`lookup` is what token issue and validation see; it is cached until the next
identity change, and every trust write bumps the generation.
"""

from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import orm

from monostack.common import errors
from monostack.identity import models
from monostack.identity.service import new_id
from monostack.identity.service.app_creds import parse_expiry
from monostack.identity.service.assignments import role_dict
from monostack.identity.service.util import extra_fields, utcnow
from monostack.identity.token_format import isotime

if TYPE_CHECKING:
    from monostack.identity.service import IdentityService

RESOURCE = "OS-TRUST:trust"
MAX_REDELEGATION_COUNT = 3  # Keystone's [trust] max_redelegation_count default
TRUST_FIELDS = {"id", "trustor_user_id", "trustee_user_id", "project_id", "impersonation", "expires_at",
                "remaining_uses", "allow_redelegation", "redelegation_count", "redelegated_trust_id", "roles",
                "deleted_at", "roles_links"}
_CACHE_SIZE = 10000
_MAX_INT = 2**31 - 1  # the columns are 32-bit integers


def trust_dict(row: models.Trust) -> dict[str, Any]:
    data = {"id": row.id, "trustor_user_id": row.trustor_user_id, "trustee_user_id": row.trustee_user_id,
            "project_id": row.project_id, "impersonation": row.impersonation,
            "expires_at": isotime(row.expires_at), "remaining_uses": row.remaining_uses,
            "redelegated_trust_id": row.redelegated_trust_id, "redelegation_count": row.redelegation_count,
            "deleted_at": None}
    for key, value in (row.extra or {}).items():
        data.setdefault(key, value)
    return data


def _usable(row: models.Trust | None) -> bool:
    """Not deleted, not expired.  (The API also hides a used-up trust, as Keystone does: see `_row`.)"""
    return row is not None and row.deleted_at is None and (row.expires_at is None or utcnow() < row.expires_at)


class TrustManager:
    def __init__(self, svc: "IdentityService"):
        self.svc = svc
        self._cache: dict[str, dict[str, Any] | None] = {}
        self._cache_generation = -1
        self._cache_lock = threading.Lock()

    def _row(self, session: orm.Session, trust_id: str) -> models.Trust:
        """A trust as the API sees it: usable and with uses left, else 404."""
        row = session.get(models.Trust, trust_id)
        if not _usable(row) or (row.remaining_uses is not None and row.remaining_uses <= 0):
            raise errors.NotFound(f"Could not find trust: {trust_id}.")
        return row

    def _roles(self, session: orm.Session, row: models.Trust) -> list[dict[str, Any]]:
        ids = [r.role_id for r in row.roles]
        rows = session.scalars(sa.select(models.Role).where(models.Role.id.in_(ids))).all() if ids else []
        return [role_dict(r) for r in sorted(rows, key=lambda r: r.name)]

    # -- create -------------------------------------------------------------------------
    def create(self, ref: dict[str, Any], *, caller_trust_id: str | None = None) -> dict[str, Any]:
        """`ref` is the request's trust (the API has checked the caller is its trustor); a caller holding
        a trust-scoped token is redelegating that trust."""
        req = _check_create(ref)
        trust_id = new_id()
        with self.svc.db.writer() as session:
            self.svc.users.get_row(session, req.trustee_id)
            role_ids = self._resolve_roles(session, ref.get("roles") or [], req.trustor_id, req.project_id)
            parent, expires_at, count = None, req.expires_at, req.count
            if caller_trust_id:
                parent = self._row(session, caller_trust_id)
                expires_at, count = self._check_redelegation(session, parent, role_ids, req)
            row = models.Trust(
                id=trust_id, trustor_user_id=req.trustor_id, trustee_user_id=req.trustee_id,
                project_id=req.project_id, impersonation=req.impersonation, expires_at=expires_at,
                remaining_uses=req.remaining_uses, redelegated_trust_id=parent.id if parent else None,
                redelegation_count=MAX_REDELEGATION_COUNT if count is None else count,
                extra=extra_fields(ref, TRUST_FIELDS))
            row.roles = [models.TrustRole(role_id=r) for r in role_ids]
            session.add(row)
            session.flush()
            result = self._full(session, row)
        self.svc.changed(RESOURCE, "created", trust_id)
        return result

    def _resolve_roles(self, session: orm.Session, wanted: Any, trustor_id: str, project_id: str | None) -> list[str]:
        """Role ids (given by id or name); the trustor must hold each on the project (404 otherwise)."""
        if not isinstance(wanted, list):
            raise errors.ValidationError("Invalid input for field 'roles': must be a list.")
        ids: list[str] = []
        for role in wanted:
            if not isinstance(role, dict) or len(role) != 1 or next(iter(role)) not in ("id", "name") \
                    or not isinstance(next(iter(role.values())), str):
                raise errors.ValidationError("Invalid input for field 'roles': each role is {'id': ...} or "
                                             "{'name': ...}.")
            if "id" in role:
                role_id = role["id"]
            else:
                row = self.svc.assignments.role_by_name(session, role["name"])
                if row is None:
                    raise errors.NotFound(f"Could not find role: {role['name']}.")
                role_id = row.id
            if role_id not in ids:
                ids.append(role_id)
        held: set[str] = set()
        if project_id:
            self.svc.resources.get_project_row(session, project_id)
            held = self.svc.assignments.effective_role_ids(session, trustor_id, project_id=project_id)
        for role_id in ids:
            if role_id not in held:
                raise errors.NotFound(f"Could not find role: {role_id}.")
        return ids

    def _check_redelegation(self, session: orm.Session, parent: models.Trust, role_ids: list[str],
                            req: SimpleNamespace) -> tuple[Any, int]:
        """Keystone's rules: every trust up the chain must allow it and give at least as much.
        Returns the new trust's expiry (the chain's when none is asked) and redelegation count."""
        remaining = (parent.redelegation_count or 0) - 1
        if req.redelegatable and req.count and req.count != remaining:
            raise errors.Forbidden('Modifying "redelegation_count" upon redelegation is forbidden. Omitting this '
                                   'parameter is advised.')
        expires_at = req.expires_at
        ancestor: models.Trust | None = parent
        while ancestor is not None:
            depth = ancestor.redelegation_count or 0
            if not 0 < depth <= MAX_REDELEGATION_COUNT:
                raise errors.Forbidden(f"Remaining redelegation depth of {depth} out of allowed range of "
                                       f"[0..{MAX_REDELEGATION_COUNT}]")
            if req.remaining_uses is not None:
                raise errors.Forbidden(f'Field "remaining_uses" is set to {req.remaining_uses} while it must not '
                                       f'be set in order to redelegate a trust')
            if expires_at is None:
                expires_at = ancestor.expires_at
            elif ancestor.expires_at is not None and ancestor.expires_at < expires_at:
                raise errors.Forbidden("Requested expiration time is more than redelegated trust can provide")
            if not set(role_ids) <= {r.role_id for r in ancestor.roles}:
                raise errors.Forbidden("Some of requested roles are not in redelegated trust")
            if req.impersonation and not ancestor.impersonation:
                raise errors.Forbidden(f"Impersonation is not allowed because redelegated trust does not specify "
                                       f"impersonation. Redelegated trust id: {ancestor.id}")
            ancestor = session.get(models.Trust, ancestor.redelegated_trust_id) \
                if ancestor.redelegated_trust_id else None
        return expires_at, remaining if req.redelegatable else 0

    # -- read ---------------------------------------------------------------------------
    def _full(self, session: orm.Session, row: models.Trust) -> dict[str, Any]:
        data = trust_dict(row)
        data["roles"] = self._roles(session, row)
        return data

    def get(self, trust_id: str) -> dict[str, Any]:
        with self.svc.db.reader() as session:
            return self._full(session, self._row(session, trust_id))

    def list(self, *, trustor_user_id: str | None = None, trustee_user_id: str | None = None) -> list[dict[str, Any]]:
        """Without roles, as Keystone lists them; deleted trusts are left out."""
        with self.svc.db.reader() as session:
            query = sa.select(models.Trust).where(models.Trust.deleted_at.is_(None))
            if trustor_user_id:
                query = query.where(models.Trust.trustor_user_id == trustor_user_id)
            if trustee_user_id:
                query = query.where(models.Trust.trustee_user_id == trustee_user_id)
            return [trust_dict(r) for r in session.scalars(query.order_by(models.Trust.id)).all()]

    def roles(self, trust_id: str) -> list[dict[str, Any]]:
        with self.svc.db.reader() as session:
            return self._roles(session, self._row(session, trust_id))

    def role(self, trust_id: str, role_id: str) -> dict[str, Any]:
        for role in self.roles(trust_id):
            if role["id"] == role_id:
                return role
        raise errors.NotFound(f"Could not find role: {role_id}.")

    # -- delete -------------------------------------------------------------------------
    def delete(self, trust_id: str) -> None:
        """The trust and every trust redelegated from it; their tokens are revoked."""
        deleted: list[str] = []
        with self.svc.db.writer() as session:
            row = session.get(models.Trust, trust_id)
            if row is None or row.deleted_at is not None:
                raise errors.NotFound(f"Could not find trust: {trust_id}.")
            frontier = [row]
            while frontier:
                current = frontier.pop()
                deleted.append(current.id)
                frontier.extend(session.scalars(sa.select(models.Trust).where(
                    models.Trust.redelegated_trust_id == current.id, models.Trust.deleted_at.is_(None))).all())
                session.delete(current)
                self.svc.revocation.add(session, trust_id=current.id)
        for deleted_id in deleted:
            self.svc.changed(RESOURCE, "deleted", deleted_id)

    def delete_for_user(self, session: orm.Session, user_id: str) -> None:
        for row in session.scalars(sa.select(models.Trust).where(sa.or_(
                models.Trust.trustor_user_id == user_id, models.Trust.trustee_user_id == user_id))).all():
            session.delete(row)

    def delete_for_project(self, session: orm.Session, project_id: str) -> None:
        for row in session.scalars(sa.select(models.Trust).where(models.Trust.project_id == project_id)).all():
            session.delete(row)
            self.svc.revocation.add(session, trust_id=row.id)

    # -- what tokens see ----------------------------------------------------------------
    def lookup(self, trust_id: str) -> dict[str, Any] | None:
        """The trust a token names, or None when it is deleted or expired, one of its parents is, or one
        of the users in its chain is gone or disabled.  A used-up trust is still returned (its tokens stay
        valid); `consume` refuses it new ones."""
        if not self.svc.conf.identity.trust_enabled:
            return None
        generation = self.svc.generation
        with self._cache_lock:
            if self._cache_generation != generation:
                self._cache.clear()
                self._cache_generation = generation
            if trust_id in self._cache:
                return _current(self._cache[trust_id])
        view = self._load(trust_id)
        with self._cache_lock:
            if self._cache_generation == generation and len(self._cache) < _CACHE_SIZE:
                self._cache[trust_id] = view
        return _current(view)

    def _load(self, trust_id: str) -> dict[str, Any] | None:
        with self.svc.db.reader() as session:
            row = session.get(models.Trust, trust_id)
            if not _usable(row):
                return None
            assert row is not None
            expires_at = row.expires_at
            chain, seen = row, {row.id}
            while chain is not None:
                for user_id in (chain.trustor_user_id, chain.trustee_user_id):
                    user = session.get(models.User, user_id)
                    if user is None or not user.enabled:
                        return None
                if not chain.redelegated_trust_id:
                    break
                parent = session.get(models.Trust, chain.redelegated_trust_id)
                if not _usable(parent) or parent.id in seen:
                    return None
                seen.add(parent.id)
                if parent.expires_at is not None and (expires_at is None or parent.expires_at < expires_at):
                    expires_at = parent.expires_at
                chain = parent
            return {"id": row.id, "trustor_user_id": row.trustor_user_id, "trustee_user_id": row.trustee_user_id,
                    "project_id": row.project_id, "impersonation": row.impersonation,
                    "role_ids": [r.role_id for r in row.roles], "expires_at": expires_at,
                    "remaining_uses": row.remaining_uses}

    def consume(self, trust_id: str) -> None:
        """Use up one of a limited trust's uses, atomically; none left: 401, as Keystone answers."""
        with self.svc.db.writer() as session:
            row = session.get(models.Trust, trust_id)
            if not _usable(row):
                raise errors.Unauthorized(f"Could not find trust: {trust_id}.")
            if row.remaining_uses is None:
                return
            updated = session.execute(sa.update(models.Trust).where(
                models.Trust.id == trust_id, models.Trust.remaining_uses > 0).values(
                remaining_uses=models.Trust.remaining_uses - 1).execution_options(synchronize_session=False))
            if updated.rowcount != 1:
                raise errors.Unauthorized(f"Could not find trust: {trust_id}.")
        self.svc.changed()


def _check_create(ref: dict[str, Any]) -> SimpleNamespace:
    """Keystone's trust schema, and its redelegation rules that need no database."""
    trustor_id, trustee_id = ref.get("trustor_user_id"), ref.get("trustee_user_id")
    for field, value in (("trustor_user_id", trustor_id), ("trustee_user_id", trustee_id)):
        if not isinstance(value, str) or not value:
            raise errors.ValidationError(f"Invalid input for field '{field}': '{field}' is a required property")
    impersonation = ref.get("impersonation")
    if not isinstance(impersonation, bool):
        raise errors.ValidationError("Invalid input for field 'impersonation': 'impersonation' is a required "
                                     "boolean property")
    project_id = ref.get("project_id")
    if project_id is not None and not isinstance(project_id, str):
        raise errors.ValidationError("Invalid input for field 'project_id': must be a string or null.")
    remaining_uses = _optional_int(ref, "remaining_uses", minimum=1)
    count = _optional_int(ref, "redelegation_count", minimum=0)
    allow = ref.get("allow_redelegation")
    if allow is not None and not isinstance(allow, bool):
        raise errors.ValidationError("Invalid input for field 'allow_redelegation': must be a boolean or null.")
    if project_id and not ref.get("roles"):
        raise errors.Forbidden("You are not authorized to perform the requested action: At least one role "
                               "should be specified.")
    expires_at = parse_expiry(ref.get("expires_at"))
    redelegatable = bool(allow) and count != 0
    if not redelegatable:
        count = 0
    elif count is not None and count > MAX_REDELEGATION_COUNT:
        raise errors.Forbidden(f"Requested redelegation depth of {count} is greater than allowed "
                               f"{MAX_REDELEGATION_COUNT}")
    elif remaining_uses is not None:
        raise errors.ValidationError("remaining_uses must not be set if redelegation is allowed")
    # count None: redelegatable at the deepest allowed depth (or the parent's depth less one).
    return SimpleNamespace(trustor_id=trustor_id, trustee_id=trustee_id, impersonation=impersonation,
                           project_id=project_id, remaining_uses=remaining_uses, count=count,
                           redelegatable=redelegatable, expires_at=expires_at)


def _current(view: dict[str, Any] | None) -> dict[str, Any] | None:
    if view is None or (view["expires_at"] is not None and utcnow() >= view["expires_at"]):
        return None
    return view


def _optional_int(ref: dict[str, Any], field: str, *, minimum: int) -> int | None:
    value = ref.get(field)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= _MAX_INT:
        raise errors.ValidationError(f"Invalid input for field '{field}': {value!r} must be an integer >= {minimum} "
                                     f"(and fit a database integer) or null.")
    return value
