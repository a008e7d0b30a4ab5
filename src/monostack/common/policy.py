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
                 enforce_scope: bool = False, enforce_new_defaults: bool = True):
        conf = cfg.ConfigOpts()
        conf([], project="monostack", default_config_files=[], default_config_dirs=[])
        use_file = policy_file if policy_file and os.path.exists(policy_file) else None
        policy_opts.set_defaults(conf, policy_file=use_file or "policy.yaml", enforce_scope=enforce_scope,
                                 enforce_new_defaults=enforce_new_defaults)
        conf.set_override("policy_dirs", [], group="oslo_policy")
        self._enforcer = oslo_policy.Enforcer(conf, policy_file=use_file, use_conf=True)
        self._enforcer.register_defaults(list(BASE_RULES) + list(rules))
        self._enforcer.load_rules()

    def check(self, ctx: RequestContext, rule: str, target: dict[str, Any] | None = None) -> bool:
        if ctx.is_service:
            return True
        # A missing value must never match another missing value ("None" == "None").
        creds = {k: v for k, v in ctx.policy_creds().items() if v is not None}
        target = {k: v for k, v in (target or {}).items() if v is not None}
        try:
            return bool(self._enforcer.enforce(rule, target, creds))
        except oslo_policy.InvalidScope:
            return False

    def authorize(self, ctx: RequestContext, rule: str, target: dict[str, Any] | None = None) -> None:
        if not self.check(ctx, rule, target):
            raise errors.Forbidden(f"You are not authorized to perform the requested action: {rule}.")

    def rules(self) -> dict[str, str]:
        return {name: str(rule) for name, rule in self._enforcer.rules.items()}
