"""Policy: the personas, operator overrides from policy.yaml, and the decision cache."""

import os
import time

from oslo_policy.policy import RuleDefault

from monostack.common.context import RequestContext
from monostack.common.policy import Policy

RULES = [RuleDefault("thing:get", "rule:admin_required or project_id:%(project_id)s"),
         RuleDefault("thing:delete", "rule:admin_required")]


def test_personas_and_targets():
    policy = Policy(RULES)
    member = RequestContext(user_id="u", project_id="p1", roles=["member", "reader"])
    admin = RequestContext(user_id="a", project_id="p0", roles=["admin"])
    assert policy.check(member, "thing:get", {"project_id": "p1"})
    assert not policy.check(member, "thing:get", {"project_id": "p2"})
    assert not policy.check(member, "thing:get", {})  # a missing target never matches a missing value
    assert not policy.check(member, "thing:delete")
    assert policy.check(admin, "thing:delete")
    assert policy.check(member, "thing:get", {"project_id": "p1"})  # cached decision, same answer


def test_operator_policy_file_overrides_and_is_picked_up(tmp_path):
    path = tmp_path / "policy.yaml"
    policy = Policy(RULES, policy_file=str(path))
    member = RequestContext(user_id="u", project_id="p1", roles=["member"])
    assert not policy.check(member, "thing:delete")
    path.write_text('"thing:delete": "role:member"\n')
    os.utime(path, (time.time() + 5, time.time() + 5))
    policy._stamp_checked -= 2  # as if a second had passed
    assert policy.check(member, "thing:delete")
