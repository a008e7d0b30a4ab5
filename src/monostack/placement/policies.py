"""The Placement service's default policy rules: Placement's own rule names, every one
admin or service (Placement is an API for the cloud's services and its operators), except the
project usages, which a project's reader may also see (as in Placement)."""

from oslo_policy.policy import RuleDefault

ADMIN_OR_SERVICE = "role:admin or role:service"
ADMIN_OR_PROJECT_READER_OR_SERVICE = f"{ADMIN_OR_SERVICE} or (role:reader and project_id:%(project_id)s)"

RP = "placement:resource_providers:"
_NAMES = (
    [f"{RP}{action}" for action in ("list", "create", "show", "update", "delete")]
    + [f"{RP}inventories:{action}" for action in ("list", "create", "show", "update", "delete")]
    + [f"{RP}aggregates:{action}" for action in ("list", "update")]
    + [f"{RP}traits:{action}" for action in ("list", "update", "delete")]
    + [f"{RP}allocations:list", f"{RP}usages"]
    + [f"placement:allocations:{action}" for action in ("list", "manage", "update", "delete")]
    + ["placement:allocation_candidates:list", "placement:reshaper:reshape"]
    + [f"placement:resource_classes:{action}" for action in ("list", "create", "show", "update", "delete")]
    + [f"placement:traits:{action}" for action in ("list", "show", "update", "delete")]
)

RULES = [RuleDefault(name, ADMIN_OR_SERVICE) for name in _NAMES]
RULES.append(RuleDefault("placement:usages", ADMIN_OR_PROJECT_READER_OR_SERVICE))
