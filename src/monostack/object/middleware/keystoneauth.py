"""Keystone authentication and authorization (Swift's authtoken + keystoneauth).

A token (X-Auth-Token) is validated by the cloud's validator; an invalid or
missing one leaves the request anonymous (delay_auth_decision), so container
ACLs (.r: referrers) can still allow it.  The verdict itself comes later,
from the controllers, through `swift.authorize`:

- the reseller admin role may do anything;
- a token scoped to the account's project with an operator role owns the account;
- a project reader role may GET and HEAD it;
- others need a container ACL naming them (project:user, by id or name, or
  wildcards), one of their roles, or a referrer rule;
- nobody may DELETE their own account.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

from monostack.common import errors
from monostack.object.middleware.acl import clean_acl, parse_acl, referrer_allowed
from monostack.object.proxy.http import Request, Response, error

LOG = logging.getLogger(__name__)

PROJECT_DOMAIN_SYSMETA = "x-account-sysmeta-project-domain-id"
UNKNOWN_ID = "_unknown"


def identity_from_context(ctx: Any) -> dict[str, Any]:
    return {"user": (ctx.user_id, ctx.user_name), "tenant": (ctx.project_id, ctx.project_name),
            "roles": list(ctx.roles), "user_domain": (ctx.user_domain_id, None),
            "project_domain": (ctx.project_domain_id, None)}


class KeystoneAuth:
    def __init__(self, app: Any, proxy: Any, validator: Any, conf: Any):
        self.app = app
        self.proxy = proxy
        self.validator = validator
        section = conf.object
        self.reseller_prefix = section.reseller_prefix
        self.operator_roles = {r.lower() for r in section.operator_roles}
        self.reader_roles = {r.lower() for r in section.project_reader_roles}
        self.reseller_admin_role = section.reseller_admin_role.lower()
        self.default_domain_id = "default"

    async def __call__(self, req: Request) -> Response:
        env = req.environ
        if env.get("swift.authorize_override"):
            return await self.app(req)
        identity = env.get("keystone.identity")
        if identity is None:
            token = req.headers.get("x-auth-token") or req.headers.get("x-storage-token")
            if token and self.validator is not None:
                ctx = env.get("swift.context")
                try:
                    await self.validator.authenticate(token, ctx)
                except errors.APIError:
                    LOG.debug("invalid token: the request goes on as anonymous")
                else:
                    if ctx.project_id:
                        identity = identity_from_context(ctx)
        if identity is not None:
            env["keystone.identity"] = identity
            env["remote_user"] = identity["tenant"]
            env["swift.authorize"] = functools.partial(self.authorize, identity)
            if self.reseller_admin_role in (r.lower() for r in identity["roles"]):
                env["reseller_request"] = True
        else:
            env["swift.authorize"] = self.authorize_anonymous
        env["swift.clean_acl"] = clean_acl
        return await self.app(req)

    # -- helpers ----------------------------------------------------------------------------
    def _account_matches(self, account: str | None, tenant_id: str | None) -> bool:
        return bool(account and tenant_id and account == f"{self.reseller_prefix}{tenant_id}")

    async def _account_domain(self, req: Request, account: str) -> tuple[bool, str | None]:
        info = await self.proxy.account_info(account, req)
        exists = 200 <= info["status"] < 300 and info.get("account_really_exists", True)
        return exists, info.get("sysmeta", {}).get("project-domain-id")

    async def _set_project_domain_id(self, req: Request, account: str, container: str | None, obj: str | None,
                                     identity: dict[str, Any]) -> None:
        """Remember the project's domain in the account (names in ACLs are only trusted in the default one)."""
        if PROJECT_DOMAIN_SYSMETA in req.headers:
            return
        if obj or (container and req.method != "PUT") or req.method not in ("PUT", "POST"):
            return
        tenant_id = identity["tenant"][0]
        exists, sysmeta_id = await self._account_domain(req, account)
        req_has_id, req_id, new_id = False, None, None
        if self._account_matches(account, tenant_id):
            req_has_id = True
            req_id = identity["project_domain"][0]
        if not exists:
            new_id = req_id if req_has_id else UNKNOWN_ID
        elif sysmeta_id is None and req_id == self.default_domain_id:
            new_id = req_id
        elif sysmeta_id == UNKNOWN_ID and req_has_id:
            new_id = req_id or ""
        if new_id is not None:
            req.headers[PROJECT_DOMAIN_SYSMETA] = new_id

    async def _names_allowed(self, req: Request, account: str, identity: dict[str, Any]) -> bool:
        user_domain = identity["user_domain"][0]
        if user_domain and user_domain != self.default_domain_id:
            return False
        project_domain = identity["project_domain"][0]
        if project_domain and project_domain != self.default_domain_id:
            return False
        if self._account_matches(account, identity["tenant"][0]):
            return True
        exists, domain = await self._account_domain(req, account)
        return exists and domain in (self.default_domain_id, None)

    @staticmethod
    def _cross_tenant(identity: dict[str, Any], groups: list[str], allow_names: bool) -> str | None:
        tenant_id, tenant_name = identity["tenant"]
        user_id, user_name = identity["user"]
        tenants = [tenant_id, "*"] + ([tenant_name] if allow_names else [])
        users = [user_id, "*"] + ([user_name] if allow_names else [])
        for tenant in tenants:
            for user in users:
                entry = f"{tenant}:{user}"
                if entry in groups:
                    return entry
        return None

    @staticmethod
    def _unconfirmed(req: Request, obj: str | None, referrers: list[str], groups: list[str]) -> bool | None:
        """Referrer ACLs: True/False when they decide, None when they say nothing."""
        if referrer_allowed(req.headers.get("referer"), referrers):
            if obj or ".rlistings" in groups:
                return True
            return False
        return None

    def denied(self, req: Request) -> Response:
        return error(403) if req.environ.get("remote_user") else error(401)

    # -- verdicts ------------------------------------------------------------------------------
    async def authorize(self, identity: dict[str, Any], req: Request) -> Response | None:
        req.environ.pop("swift_owner", None)
        if req.method == "OPTIONS":
            return None
        try:
            _version, account, container, obj = req.split_path(1, 4, True)
        except ValueError:
            return error(404)
        if account:
            await self._set_project_domain_id(req, account, container, obj, identity)
        roles = [r.lower() for r in identity["roles"]]
        if self.reseller_admin_role in roles:
            req.environ["swift_owner"] = True
            return None
        if not container and not obj and req.method == "DELETE":
            return self.denied(req)
        referrers, groups = parse_acl(req.environ.get("swift.acl"))
        if groups and account:
            allow_names = await self._names_allowed(req, account, identity)
            if self._cross_tenant(identity, groups, allow_names) is not None:
                return None
        by_referrer = self._unconfirmed(req, obj, referrers, groups)
        if by_referrer:
            return None
        if not self._account_matches(account, identity["tenant"][0]):
            return self.denied(req)
        if self.operator_roles.intersection(roles):
            req.environ["swift_owner"] = True
            return None
        if self.reader_roles.intersection(roles) and req.method in ("GET", "HEAD"):
            return None
        if by_referrer is not None:
            return self.denied(req)
        lowered = [g.lower() for g in groups]
        if any(role in lowered for role in roles):
            return None
        return self.denied(req)

    async def authorize_anonymous(self, req: Request) -> Response | None:
        try:
            _version, account, _container, obj = req.split_path(1, 4, True)
        except ValueError:
            return error(404)
        if req.method == "OPTIONS":
            return None
        if not account or not account.startswith(self.reseller_prefix):
            return self.denied(req)
        referrers, groups = parse_acl(req.environ.get("swift.acl"))
        if not self._unconfirmed(req, obj, referrers, groups):
            return self.denied(req)
        return None
