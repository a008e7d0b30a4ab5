"""Policy enforcement with oslo.policy.

Each service declares its rules (oslo.policy `RuleDefault`s written for the
current OpenStack personas: admin, member, reader; project and system scope)
and gets a `Policy`.  An operator's policy.yaml overrides any rule.  Service
code calls `policy.authorize(ctx, "identity:get_user", target)`; a denial is a
403 in the service's error format.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any, Iterable

from oslo_config import cfg
from oslo_policy import opts as policy_opts
from oslo_policy import policy as oslo_policy

from monostack.common import errors
from monostack.common.context import RequestContext

LOG = logging.getLogger(__name__)

# Rule building blocks shared by every service.
BASE_RULES = [
    oslo_policy.RuleDefault("admin_required", "role:admin or is_admin:1"),
    oslo_policy.RuleDefault("service_role", "role:service"),
    oslo_policy.RuleDefault("system_reader", "role:reader and system_scope:all"),
    oslo_policy.RuleDefault("system_admin", "role:admin and system_scope:all"),
    oslo_policy.RuleDefault("project_reader", "role:reader and project_id:%(project_id)s"),
    oslo_policy.RuleDefault("project_member", "role:member and project_id:%(project_id)s"),
    oslo_policy.RuleDefault("owner", "user_id:%(user_id)s"),
]


class Policy:
    def __init__(self, rules: Iterable[oslo_policy.RuleDefault], *, policy_file: str | None = None,
                 enforce_scope: bool = False, enforce_new_defaults: bool = True, cache_size: int = 10000):
        conf = cfg.ConfigOpts()
        conf([], project="monostack", default_config_files=[], default_config_dirs=[])
        # oslo.policy finds the file when it appears later, and re-reads it when it changes.
        policy_opts.set_defaults(conf, policy_file=policy_file or "policy.yaml", enforce_scope=enforce_scope,
                                 enforce_new_defaults=enforce_new_defaults)
        conf.set_override("policy_dirs", [], group="oslo_policy")
        self._enforcer = oslo_policy.Enforcer(conf, policy_file=policy_file, use_conf=True)
        self._enforcer.register_defaults(list(BASE_RULES) + list(rules))
        self._enforcer.load_rules()
        self._policy_file = policy_file
        # Decisions, keyed by rule, the caller's credentials and the target: oslo.policy
        # costs about 100 us a check, more than the rest of a token validation.
        self._decisions: dict[tuple, bool] = {}
        self._cache_size = cache_size
        self._file_stamp = self._stamp()
        self._stamp_checked = time.monotonic()

    def _stamp(self) -> float | None:
        try:
            return os.stat(self._policy_file).st_mtime if self._policy_file else None
        except OSError:
            return None

    def check(self, ctx: RequestContext, rule: str, target: dict[str, Any] | None = None) -> bool:
        if ctx.is_service:
            return True
        # A missing value must never match another missing value ("None" == "None").
        target = {k: v for k, v in (target or {}).items() if v is not None}
        now = time.monotonic()
        if now - self._stamp_checked > 1.0:
            self._stamp_checked = now
            stamp = self._stamp()
            if stamp != self._file_stamp:
                self._file_stamp = stamp
                self._decisions = {}
        try:
            key: tuple | None = (rule, ctx.user_id, ctx.user_domain_id, ctx.project_id, ctx.project_domain_id,
                                 ctx.domain_id, ctx.system_scope, tuple(ctx.roles), tuple(sorted(target.items())))
            hit = self._decisions.get(key)  # type: ignore[arg-type]
        except TypeError:  # an unhashable target value: decide without the cache
            key, hit = None, None
        if hit is not None:
            return hit
        creds = {k: v for k, v in ctx.policy_creds().items() if v is not None}
        try:
            allowed = bool(self._enforcer.enforce(rule, target, creds))
        except oslo_policy.InvalidScope:
            allowed = False
        if key is not None:
            if len(self._decisions) >= self._cache_size:
                self._decisions = {}
            self._decisions[key] = allowed
        return allowed

    def authorize(self, ctx: RequestContext, rule: str, target: dict[str, Any] | None = None) -> None:
        if not self.check(ctx, rule, target):
            raise errors.Forbidden(f"You are not authorized to perform the requested action: {rule}.")

    def rules(self) -> dict[str, str]:
        return {name: str(rule) for name, rule in self._enforcer.rules.items()}
