"""Token issue, validation and revocation.

Issue: authenticate every method in the request (password, token,
application_credential), resolve the scope, check the user has roles on it,
pack a Fernet token.  Validation: decrypt, check expiry and revocation, then
look up the user, scope and roles -- and cache the result by token, keyed to
the identity generation, so validating a known token touches no database until
something in Identity changes (which also covers revocation: every revoking
write bumps the generation).
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import threading
from typing import TYPE_CHECKING, Any

import orjson
import sqlalchemy as sa

from monostack.common import errors
from monostack.common.auth import fill_context
from monostack.common.context import RequestContext
from monostack.identity import models
from monostack.identity import token_format as tf
from monostack.identity.fernet import InvalidToken
from monostack.identity.service import auth_schema
from monostack.identity.service.revocation import TokenFacts
from monostack.identity.service.users import current_password
from monostack.identity.service.util import utcnow

if TYPE_CHECKING:
    from monostack.identity.service import IdentityService

UNAUTHORIZED = "The request you have made requires authentication."


@dataclasses.dataclass
class ValidatedToken:
    token_id: str
    payload: tf.TokenPayload
    user: dict[str, Any]  # {"id", "name", "domain": {"id", "name"}, "password_expires_at"}
    roles: list[dict[str, str]]
    project: dict[str, Any] | None = None  # {"id", "name", "domain": {...}}
    domain: dict[str, Any] | None = None
    app_cred: dict[str, Any] | None = None
    trust: dict[str, Any] | None = None
    generation: int = -1
    _json: dict[bool, bytes] = dataclasses.field(default_factory=dict)
    _summary: dict[str, Any] | None = None

    @property
    def expired(self) -> bool:
        return utcnow() >= self.payload.expires_at

    def body(self, catalog: list[dict[str, Any]] | None) -> dict[str, Any]:
        p = self.payload
        token: dict[str, Any] = {"methods": p.methods, "user": self.user, "audit_ids": p.audit_ids,
                                 "expires_at": tf.isotime(p.expires_at), "issued_at": tf.isotime(p.issued_at)}
        if p.scope_type != tf.UNSCOPED:
            if self.project is not None:
                token["project"] = self.project
                token["is_domain"] = False
            elif self.domain is not None:
                token["domain"] = self.domain
            elif p.system:
                token["system"] = {p.system: True}
            token["roles"] = self.roles
            if catalog is not None:
                token["catalog"] = catalog
        if self.app_cred is not None:
            token["application_credential"] = {
                "id": self.app_cred["id"], "name": self.app_cred["name"],
                "restricted": not self.app_cred.get("unrestricted", False)}
            if self.app_cred.get("access_rules"):
                token["application_credential"]["access_rules"] = self.app_cred["access_rules"]
        if self.trust is not None:
            token["OS-TRUST:trust"] = {"id": self.trust["id"], "impersonation": self.trust["impersonation"],
                                       "trustee_user": {"id": self.trust["trustee_user_id"]},
                                       "trustor_user": {"id": self.trust["trustor_user_id"]}}
        return {"token": token}

    def to_context(self, ctx: RequestContext) -> RequestContext:
        """Fill a request context from this token (the auth middleware's job, on every request)."""
        if self._summary is None:
            self._summary = self.body(None)["token"]
        return fill_context(ctx, self._summary, self.token_id)


@dataclasses.dataclass
class _Scope:
    user: dict[str, Any]
    user_domain_id: str
    roles: list[dict[str, str]] = dataclasses.field(default_factory=list)
    role_ids: set[str] = dataclasses.field(default_factory=set)
    project: dict[str, Any] | None = None
    domain: dict[str, Any] | None = None
    scope_domain_id: str | None = None
    app_cred: dict[str, Any] | None = None
    trust: dict[str, Any] | None = None
    generation: int = -1


class TokenManager:
    def __init__(self, svc: "IdentityService"):
        self.svc = svc
        self._scopes: dict[tuple, _Scope] = {}
        self._targets: dict[tuple, Any] = {}
        self._targets_generation = -1
        self._cache: collections.OrderedDict[str, ValidatedToken] = collections.OrderedDict()
        self._cache_lock = threading.Lock()

    # -- validation ---------------------------------------------------------------
    def cached(self, token_id: str) -> ValidatedToken | None:
        """The fast path: a token validated since the last identity change (no I/O)."""
        hit = self._cache.get(token_id)
        if hit is None or hit.generation != self.svc.generation or hit.expired:
            return None
        return hit

    def validate(self, token_id: str, *, allow_expired: bool = False) -> ValidatedToken:
        """Blocking.  Raises NotFound for an invalid, expired or revoked token (Keystone's 404)."""
        if not allow_expired:
            hit = self.cached(token_id)
            if hit is not None:
                return hit
        generation = self.svc.generation
        payload = self._decrypt(token_id)
        now = utcnow()
        if now >= payload.expires_at:
            window = dt.timedelta(seconds=self.svc.conf.identity.allow_expired_window)
            if not allow_expired or now >= payload.expires_at + window:
                raise errors.NotFound("The token has expired." if not allow_expired else
                                      "The token is too old, even with allow_expired.")
        validated = self._build(token_id, payload)
        validated.generation = generation
        if not validated.expired:
            with self._cache_lock:
                self._cache[token_id] = validated
                if len(self._cache) > self.svc.conf.identity.cache_size:
                    self._cache.popitem(last=False)
        return validated

    def _decrypt(self, token_id: str) -> tf.TokenPayload:
        if not token_id or len(token_id) > 1024:
            raise errors.NotFound("Could not recognize Fernet token")
        try:
            return tf.unpack(self.svc.token_keys.decrypt(token_id))
        except (InvalidToken, tf.MalformedToken, ValueError, TypeError, UnicodeError):
            raise errors.NotFound("Could not recognize Fernet token") from None

    def _build(self, token_id: str, payload: tf.TokenPayload) -> ValidatedToken:
        """Look up what the token names; raises NotFound when any of it is gone, disabled or revoked."""
        scope = self._scope(payload)
        validated = ValidatedToken(token_id=token_id, payload=payload, user=scope.user, roles=scope.roles,
                                   project=scope.project, domain=scope.domain, app_cred=scope.app_cred,
                                   trust=scope.trust)
        facts = TokenFacts(issued_at=payload.issued_at, user_id=payload.user_id, user_domain_id=scope.user_domain_id,
                           project_id=payload.project_id, scope_domain_id=scope.scope_domain_id,
                           role_ids=scope.role_ids, trust_id=payload.trust_id, audit_id=payload.audit_ids[0],
                           audit_chain_id=payload.audit_ids[-1],
                           trustor_id=scope.trust["trustor_user_id"] if scope.trust else None,
                           trustee_id=scope.trust["trustee_user_id"] if scope.trust else None)
        if self.svc.revocation.is_revoked(facts):
            raise errors.NotFound("Failed to validate token")
        return validated

    def _scope(self, payload: tf.TokenPayload) -> "_Scope":
        """The user, scope and roles a token stands for -- the same for every token of
        that user and scope, so it is cached until the next identity change (which
        makes issuing and rescoping cost no role queries after the first time)."""
        key = (payload.user_id, payload.scope_type, payload.scope_id, payload.app_cred_id, payload.trust_id)
        generation = self.svc.generation
        hit = self._scopes.get(key)
        if hit is not None and hit.generation == generation:
            return hit
        scope = self._load_scope(payload)
        scope.generation = generation
        if len(self._scopes) >= self.svc.conf.identity.cache_size:
            self._scopes.clear()
        self._scopes[key] = scope
        return scope

    def _load_scope(self, payload: tf.TokenPayload) -> "_Scope":
        not_found = errors.NotFound("Failed to validate token")
        with self.svc.db.reader() as session:
            user = session.get(models.User, payload.user_id)
            if user is None or not user.enabled:
                raise not_found
            user_domain = session.get(models.Project, user.domain_id)
            if user_domain is None or not user_domain.enabled:
                raise not_found
            pw = current_password(user)
            scope = _Scope(user={"id": user.id, "name": user.name,
                                 "domain": {"id": user_domain.id, "name": user_domain.name},
                                 "password_expires_at": tf.isotime(pw.expires_at) if pw else None},
                           user_domain_id=user.domain_id)
            if payload.scope_type == tf.PROJECT:
                project = session.get(models.Project, payload.scope_id)
                if project is None or not project.enabled or project.is_domain:
                    raise not_found
                domain = session.get(models.Project, project.domain_id)
                if domain is None or not domain.enabled:
                    raise not_found
                scope.scope_domain_id = domain.id
                scope.project = {"id": project.id, "name": project.name,
                                 "domain": {"id": domain.id, "name": domain.name}}
            elif payload.scope_type == tf.DOMAIN:
                domain = session.get(models.Project, payload.scope_id)
                if domain is None or not domain.enabled or not domain.is_domain:
                    raise not_found
                scope.scope_domain_id = domain.id
                scope.domain = {"id": domain.id, "name": domain.name}
            if payload.scope_type != tf.UNSCOPED:
                scope.role_ids = self._scoped_role_ids(session, payload, scope)
                if not scope.role_ids:
                    raise not_found
                scope.roles = self.svc.assignments.roles_by_ids(session, scope.role_ids)
        return scope

    def _scoped_role_ids(self, session: Any, payload: tf.TokenPayload, validated: "_Scope") -> set[str]:
        if payload.trust_id:
            trust = self.svc.trusts.lookup(payload.trust_id)
            if trust is None:
                return set()
            validated.trust = trust
            holder = trust["trustor_user_id"]
            have = self.svc.assignments.effective_role_ids(session, holder, project_id=payload.project_id)
            wanted = self.svc.assignments.expand(session, set(trust["role_ids"]))
            if not set(trust["role_ids"]) <= have:
                return set()
            return wanted & have
        role_ids = self.svc.assignments.effective_role_ids(
            session, payload.user_id, project_id=payload.project_id, domain_id=payload.domain_id,
            system=payload.system)
        if payload.app_cred_id:
            app_cred = self.svc.app_creds.lookup(payload.app_cred_id)
            if app_cred is None:
                return set()
            validated.app_cred = app_cred
            role_ids &= self.svc.assignments.expand(session, set(app_cred["role_ids"]))
        return role_ids

    def render(self, validated: ValidatedToken, *, nocatalog: bool = False) -> bytes:
        """The JSON body of a token response, cached on the validated token."""
        cached = validated._json.get(nocatalog)
        if cached is not None:
            return cached
        catalog = None
        if not nocatalog and validated.payload.scope_type != tf.UNSCOPED:
            catalog = self.catalog_for(validated)
        data = orjson.dumps(validated.body(catalog))
        validated._json[nocatalog] = data
        return data

    def catalog_for(self, validated: ValidatedToken) -> list[dict[str, Any]]:
        return self.svc.catalog.for_token(user_id=validated.user["id"], project_id=validated.payload.project_id,
                                          domain_id=validated.payload.domain_id)

    # -- revocation ---------------------------------------------------------------
    def revoke(self, token_id: str) -> None:
        validated = self.validate(token_id)
        with self.svc.db.writer() as session:
            self.svc.revocation.add(session, audit_id=validated.payload.audit_ids[0],
                                    issued_before=validated.payload.issued_at)
        self.svc.changed("token", "revoked", validated.payload.audit_ids[0])

    # -- issue ------------------------------------------------------------------------
    def issue(self, auth: Any, *, caller_token: ValidatedToken | None = None) -> ValidatedToken:
        """Blocking: authenticate and scope an `auth` request body; returns the new token."""
        auth_schema.check(auth)
        identity = auth["identity"]
        methods = identity.get("methods")
        if not isinstance(methods, list) or not methods or not all(isinstance(m, str) for m in methods):
            raise errors.ValidationError("Invalid input for field 'identity/methods': 'methods' is a required "
                                         "property")
        for method in methods:
            if method not in ("password", "token", "application_credential"):
                raise errors.Unauthorized(f"Attempted to authenticate with an unsupported method.")
            if method not in identity:
                raise errors.ValidationError(f"Invalid input for field 'identity': '{method}' is a required property")
        scope = auth.get("scope")
        now = utcnow()
        expires_at = now + dt.timedelta(seconds=self.svc.conf.identity.token_expiration)
        audit_ids = [tf.new_audit_id()]
        user_id: str | None = None
        app_cred: dict[str, Any] | None = None
        parent: ValidatedToken | None = None

        if "token" in methods:
            token_ref = identity["token"]
            if not isinstance(token_ref, dict) or not isinstance(token_ref.get("id"), str):
                raise errors.ValidationError("Invalid input for field 'identity/token/id': 'id' is a required "
                                             "property")
            parent = self.validate(token_ref["id"])  # an invalid or revoked token: 404, as Keystone
            if parent.payload.app_cred_id:
                raise errors.Forbidden("Application credentials cannot request a scope.")
            if parent.payload.trust_id:
                raise errors.Forbidden("Rescoping a trust-scoped token is not allowed.")
            user_id = parent.payload.user_id
            expires_at = parent.payload.expires_at  # rescoping never extends a token's life
            audit_ids = [tf.new_audit_id(), parent.payload.audit_ids[-1]]
        if "password" in methods:
            password_ref = identity["password"]
            if not isinstance(password_ref, dict) or not isinstance(password_ref.get("user"), dict):
                raise errors.ValidationError("Invalid input for field 'identity/password/user': 'user' is a "
                                             "required property")
            row = self.svc.users.find_for_auth(password_ref["user"])
            if user_id is not None and row.id != user_id:
                raise errors.Unauthorized(UNAUTHORIZED)
            if not row.enabled:
                # Keystone checks the password before saying the user is disabled.
                self.svc.users.check_password_auth(row, password_ref["user"].get("password"))
                raise errors.Unauthorized(f"The account is disabled for user: {row.id}.")
            self.svc.users.check_password_auth(row, password_ref["user"].get("password"))
            user_id = row.id
        if "application_credential" in methods:
            app_cred = self.svc.app_creds.authenticate(identity["application_credential"])
            if user_id is not None and app_cred["user_id"] != user_id:
                raise errors.Unauthorized(UNAUTHORIZED)
            user_id = app_cred["user_id"]
            if app_cred.get("expires_at") and app_cred["expires_at"] < expires_at:
                expires_at = app_cred["expires_at"]
            if scope is not None:
                raise errors.Unauthorized("Application credentials cannot request a scope.")
        assert user_id is not None

        scope_type, scope_id, trust_id = self._resolve_scope(user_id, scope, app_cred)
        if trust_id is not None:
            trust = self.svc.trusts.lookup(trust_id)
            if trust is None or user_id != trust["trustee_user_id"]:
                raise errors.Forbidden("The trustee is not this user.")
            if trust.get("expires_at") and trust["expires_at"] < expires_at:
                expires_at = trust["expires_at"]
            if trust["impersonation"]:
                user_id = trust["trustor_user_id"]
        if parent is not None:
            methods = parent.payload.methods + methods
        payload = tf.TokenPayload(
            user_id=user_id, methods=list(dict.fromkeys(methods)), expires_at=expires_at, issued_at=now,
            audit_ids=audit_ids, scope_type=scope_type, scope_id=scope_id,
            app_cred_id=app_cred["id"] if app_cred else None, trust_id=trust_id)
        token_id = self.svc.token_keys.encrypt(tf.pack(payload))
        try:
            validated = self.validate(token_id)
        except errors.NotFound:
            if scope_type == tf.UNSCOPED:
                raise errors.Unauthorized(UNAUTHORIZED) from None
            raise errors.Unauthorized(f"User {user_id} has no access to the requested scope.") from None
        if trust_id is not None:
            self.svc.trusts.consume(trust_id)  # only a token actually issued uses up the trust
        return validated

    def _resolve_scope(self, user_id: str, scope: Any, app_cred: dict[str, Any] | None
                       ) -> tuple[int, str | None, str | None]:
        """(scope type, scope id, trust id) for the request's `scope`."""
        if app_cred is not None:
            if app_cred.get("system"):
                return tf.SYSTEM, "all", None
            return tf.PROJECT, app_cred["project_id"], None
        if scope is None:
            # No scope asked for: the user's default project, if usable (Keystone's behaviour).
            with self.svc.db.reader() as session:
                user = session.get(models.User, user_id)
                default = user.default_project_id if user else None
                if default:
                    project = session.get(models.Project, default)
                    if project is not None and project.enabled and not project.is_domain and \
                            self.svc.assignments.effective_role_ids(session, user_id, project_id=default):
                        return tf.PROJECT, default, None
            return tf.UNSCOPED, None, None
        if scope == "unscoped":
            return tf.UNSCOPED, None, None
        if not isinstance(scope, dict) or len(scope) != 1:
            raise errors.ValidationError("Invalid input for field 'scope': specify one of project, domain, system "
                                         "or OS-TRUST:trust.")
        (kind, ref), = scope.items()
        if kind == "system":
            if not isinstance(ref, dict) or ref.get("all") is not True:
                raise errors.ValidationError("Invalid input for field 'scope/system'.")
            return tf.SYSTEM, "all", None
        if kind == "OS-TRUST:trust":
            if not isinstance(ref, dict) or not isinstance(ref.get("id"), str):
                raise errors.ValidationError("Invalid input for field 'scope/OS-TRUST:trust'.")
            trust = self.svc.trusts.lookup(ref["id"])
            if trust is None:
                raise errors.Unauthorized(f"Could not find trust: {ref['id']}.")
            return tf.PROJECT if trust.get("project_id") else tf.UNSCOPED, trust.get("project_id"), trust["id"]
        if not isinstance(ref, dict):
            raise errors.ValidationError(f"Invalid input for field 'scope/{kind}'.")
        if kind == "domain":
            if not (ref.get("id") or ref.get("name")):
                raise errors.ValidationError("Invalid input for field 'scope/domain': id or name is required.")
            row = self._target(id=ref.get("id"), name=ref.get("name"), domain=True)
            if row is None:
                raise errors.Unauthorized(f"Could not find domain: {ref.get('id') or ref.get('name')}.")
            if not row.enabled:
                raise errors.Unauthorized(f"Domain {row.id} is disabled.")
            return tf.DOMAIN, row.id, None
        if kind == "project":
            if ref.get("id"):
                row = self._target(id=ref["id"], domain=False)
            elif ref.get("name"):
                domain_ref = ref.get("domain")
                if not isinstance(domain_ref, dict) or not (domain_ref.get("id") or domain_ref.get("name")):
                    raise errors.ValidationError("Invalid input for field 'scope/project': a project name needs "
                                                 "a domain.")
                domain = self._target(id=domain_ref.get("id"), name=domain_ref.get("name"), domain=True)
                if domain is None:
                    raise errors.Unauthorized(
                        f"Could not find domain: {domain_ref.get('id') or domain_ref.get('name')}.")
                row = self._target(name=ref["name"], in_domain=domain.id, domain=False)
            else:
                raise errors.ValidationError("Invalid input for field 'scope/project': id or name is required.")
            if row is None:
                raise errors.Unauthorized(f"Could not find project: {ref.get('id') or ref.get('name')}.")
            if not row.enabled:
                raise errors.Unauthorized(f"Project {row.id} is disabled.")
            domain = self._target(id=row.domain_id, domain=True)
            if domain is None or not domain.enabled:
                raise errors.Unauthorized(f"Domain {row.domain_id} is disabled.")
            return tf.PROJECT, row.id, None
        raise errors.ValidationError(f"Invalid input for field 'scope': unknown scope {kind}.")

    def _target(self, *, domain: bool, id: str | None = None, name: str | None = None,
                in_domain: str | None = None) -> Any:
        """(id, enabled, domain_id) of a project or domain named in a scope, or None:
        a narrow query (no ORM entity, no tags), cached until the next identity change."""
        key = (domain, id, name, in_domain)
        generation = self.svc.generation
        if self._targets_generation != generation:
            self._targets, self._targets_generation = {}, generation
        if key in self._targets:
            return self._targets[key]
        query = sa.select(models.Project.id, models.Project.enabled, models.Project.domain_id).where(
            models.Project.is_domain.is_(domain))
        if id is not None:
            query = query.where(models.Project.id == id)
        else:
            query = query.where(models.Project.name == name)
            if in_domain is not None:
                query = query.where(models.Project.domain_id == in_domain)
        with self.svc.db.reader() as session:
            row = session.execute(query).first()
        if len(self._targets) < self.svc.conf.identity.cache_size:
            self._targets[key] = row
        return row
