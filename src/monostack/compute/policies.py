"""The Compute service's default policy rules: Nova's defaults for the personas.

Rule names are Nova's (`os_compute_api:...`), so an operator's Nova
policy.yaml applies unchanged.  Targets carry `project_id` (the server's or
resource's owner) and, for keypairs, `user_id`.  Rules not listed fall back
to "default" (admin).
"""

from oslo_policy.policy import RuleDefault

ADMIN = "role:admin"
PROJECT_MEMBER = "role:member and project_id:%(project_id)s"
PROJECT_READER = "role:reader and project_id:%(project_id)s"
ADMIN_OR_MEMBER = f"{ADMIN} or ({PROJECT_MEMBER})"
ADMIN_OR_READER = f"{ADMIN} or ({PROJECT_READER})"
ADMIN_OR_OWNER_USER = f"{ADMIN} or user_id:%(user_id)s"
ANY = "@"

_MEMBER_ACTIONS = [
    "servers:create", "servers:delete", "servers:update", "servers:reboot", "servers:resize",
    "servers:confirm_resize", "servers:revert_resize", "servers:rebuild", "servers:create_image",
    "servers:start", "servers:stop", "servers:trigger_crash_dump", "servers:create:attach_network",
    "servers:create:attach_volume", "servers:create:trusted_certs",
    "os-pause-server:pause", "os-pause-server:unpause", "os-suspend-server:suspend",
    "os-suspend-server:resume", "os-lock-server:lock", "os-lock-server:unlock", "os-rescue",
    "os-unrescue", "os-shelve:shelve", "os-shelve:unshelve", "os-console-output",
    "os-remote-consoles", "os-admin-password", "os-create-backup", "os-deferred-delete:restore",
    "os-deferred-delete:force", "os-attach-interfaces:create", "os-attach-interfaces:delete",
    "os-volumes-attachments:create", "os-volumes-attachments:update", "os-volumes-attachments:delete",
    "server-metadata:create", "server-metadata:update", "server-metadata:update_all", "server-metadata:delete",
    "os-server-tags:update", "os-server-tags:update_all", "os-server-tags:delete", "os-server-tags:delete_all",
    "os-multinic:add", "os-multinic:remove", "os-server-password:clear",
    "os-security-groups:add", "os-security-groups:remove",
    "os-volumes:create", "os-volumes:delete", "os-volumes:snapshots:create", "os-volumes:snapshots:delete",
]
_READER_ACTIONS = [
    "servers:index", "servers:detail", "servers:show", "servers:show:flavor-extra-specs",
    "os-instance-actions:list", "os-instance-actions:show", "os-attach-interfaces:list",
    "os-attach-interfaces:show", "os-volumes-attachments:index", "os-volumes-attachments:show",
    "server-metadata:index", "server-metadata:show", "os-server-tags:index", "os-server-tags:show",
    "os-server-password:show", "ips:index", "ips:show", "os-security-groups:list",
    "os-server-groups:index", "os-server-groups:show", "limits", "os-simple-tenant-usage:show",
    "os-quota-sets:show", "os-quota-sets:detail", "os-availability-zone:list",
    "os-volumes:list", "os-volumes:detail", "os-volumes:show", "os-volumes:snapshots:list",
    "os-volumes:snapshots:detail", "os-volumes:snapshots:show",
]
_ADMIN_ACTIONS = [
    "os-volumes-attachments:swap", "servers:index:get_all_tenants", "servers:detail:get_all_tenants",
    "servers:allow_all_filters",
    "servers:show:host_status", "servers:show:host_status:unknown-only", "servers:create:forced_host",
    "servers:create:requested_destination", "servers:migrations:index", "servers:migrations:show",
    "servers:migrations:force_complete", "servers:migrations:delete", "os-extended-server-attributes",
    "os-migrate-server:migrate", "os-migrate-server:migrate_live", "os-evacuate", "os-shelve:shelve_offload",
    "os-lock-server:unlock:unlock_override", "os-server-diagnostics", "os-admin-actions:reset_state",
    "os-admin-actions:inject_network_info", "os-instance-actions:events", "os-instance-actions:events:details",
    "os-hypervisors:list", "os-hypervisors:list-detail", "os-hypervisors:show", "os-hypervisors:statistics",
    "os-hypervisors:uptime", "os-hypervisors:search", "os-hypervisors:servers", "os-services:list",
    "os-services:update", "os-services:delete", "os-aggregates:index", "os-aggregates:create",
    "os-aggregates:show", "os-aggregates:update", "os-aggregates:delete", "os-aggregates:add_host",
    "os-aggregates:remove_host", "os-aggregates:set_metadata", "os-aggregates:images",
    "os-flavor-manage:create", "os-flavor-manage:update", "os-flavor-manage:delete",
    "os-flavor-extra-specs:create", "os-flavor-extra-specs:update", "os-flavor-extra-specs:delete",
    "os-flavor-access:add_tenant_access", "os-flavor-access:remove_tenant_access", "os-flavor-access",
    "os-quota-sets:update", "os-quota-sets:delete", "os-quota-class-sets:update", "os-quota-class-sets:show",
    "os-simple-tenant-usage:list", "os-availability-zone:detail", "os-migrations:index",
    "os-server-external-events:create", "os-assisted-volume-snapshots:create",
    "os-assisted-volume-snapshots:delete", "os-instance-usage-audit-log:list",
    "os-hosts:list", "os-hosts:show", "os-hosts:update", "os-hosts:reboot", "os-console-auth-tokens",
]

_RULES: dict[str, str] = {
    "context_is_admin": ADMIN,
    "default": ADMIN,
    "admin_api": ADMIN,
    "os_compute_api:os-keypairs:index": ADMIN_OR_OWNER_USER,
    "os_compute_api:os-keypairs:show": ADMIN_OR_OWNER_USER,
    "os_compute_api:os-keypairs:create": ADMIN_OR_OWNER_USER,
    "os_compute_api:os-keypairs:delete": ADMIN_OR_OWNER_USER,
    # The security group proxy: the Networking service decides who may see or change a group.
    **{f"os_compute_api:os-security-groups:{verb}": ANY for verb in (
        "get", "show", "create", "update", "delete", "rule:create", "rule:delete")},
    "os_compute_api:os-flavor-extra-specs:index": ANY,
    "os_compute_api:os-flavor-extra-specs:show": ANY,
    "os_compute_api:os-server-groups:create": ADMIN_OR_MEMBER,
    "os_compute_api:os-server-groups:delete": ADMIN_OR_MEMBER,
    "os_compute_api:os-server-groups:index:all_projects": ADMIN,
    "os_compute_api:extensions": ANY,
    "os_compute_api:os-tenant-networks:list": ADMIN_OR_READER,
    "os_compute_api:os-tenant-networks:show": ADMIN_OR_READER,
    "os_compute_api:os-networks:list": ADMIN_OR_READER,
    "os_compute_api:os-networks:view": ADMIN_OR_READER,
    "os_compute_api:os-floating-ip-pools:list": ANY,
    **{f"os_compute_api:os-floating-ips:{verb}": ADMIN_OR_READER for verb in ("list", "show")},
    **{f"os_compute_api:os-floating-ips:{verb}": ADMIN_OR_MEMBER for verb in ("create", "delete", "add", "remove")},
}
_RULES.update({f"os_compute_api:{name}": ADMIN_OR_MEMBER for name in _MEMBER_ACTIONS})
_RULES.update({f"os_compute_api:{name}": ADMIN_OR_READER for name in _READER_ACTIONS})
_RULES.update({f"os_compute_api:{name}": ADMIN for name in _ADMIN_ACTIONS})
_RULES["os_compute_api:os-availability-zone:list"] = ANY
_RULES["os_compute_api:limits"] = ANY
_RULES["os_compute_api:os-quota-sets:defaults"] = ANY  # Nova: anyone may read the default quotas

RULES = [RuleDefault(name, check) for name, check in _RULES.items()]
