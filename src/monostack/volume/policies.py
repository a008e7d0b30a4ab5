"""Block Storage policy rules (Cinder's names, written for the admin, member and reader personas)."""

from __future__ import annotations

from oslo_policy import policy as oslo_policy

ADMIN = "rule:admin_required"
MEMBER = "rule:admin_required or rule:project_member"
READER = "rule:admin_required or rule:project_reader"


def _rule(name: str, check: str) -> oslo_policy.RuleDefault:
    return oslo_policy.RuleDefault(name, check)


RULES = [_rule(name, check) for name, check in [
    # volumes
    ("volume:create", MEMBER),
    ("volume:create_from_image", MEMBER),
    ("volume:get", READER),
    ("volume:get_all", READER),
    ("volume:update", MEMBER),
    ("volume:delete", MEMBER),
    ("volume:force_delete", ADMIN),
    ("volume:get_all_tenants", ADMIN),  # all_tenants=1 in lists
    ("volume_extension:volume_tenant_attribute", READER),
    ("volume_extension:volume_host_attribute", ADMIN),
    ("volume_extension:volume_mig_status_attribute", ADMIN),
    ("volume:create_volume_metadata", MEMBER),
    ("volume:get_volume_metadata", READER),
    ("volume:update_volume_metadata", MEMBER),
    ("volume:delete_volume_metadata", MEMBER),
    ("volume:extend", MEMBER),
    ("volume:extend_attached_volume", MEMBER),
    ("volume:reimage", MEMBER),
    ("volume:reimage_reserved", ADMIN),  # Nova, rebuilding the server the volume boots
    ("volume:retype", MEMBER),
    ("volume:update_readonly_flag", MEMBER),
    ("volume_extension:volume_actions:upload_image", MEMBER),
    ("volume_extension:volume_admin_actions:reset_status", ADMIN),
    ("volume_extension:volume_admin_actions:force_detach", ADMIN),
    ("volume_extension:volume_actions:attach", MEMBER),
    ("volume_extension:volume_actions:detach", MEMBER),
    ("volume_extension:volume_actions:reserve", MEMBER),
    ("volume_extension:volume_actions:unreserve", MEMBER),
    ("volume_extension:volume_actions:begin_detaching", MEMBER),
    ("volume_extension:volume_actions:roll_detaching", MEMBER),
    ("volume_extension:volume_actions:initialize_connection", MEMBER),
    ("volume_extension:volume_actions:terminate_connection", MEMBER),
    ("volume_extension:volume_actions:set_bootable", MEMBER),
    # snapshots
    ("volume:create_snapshot", MEMBER),
    ("volume:get_snapshot", READER),
    ("volume:get_all_snapshots", READER),
    ("volume:update_snapshot", MEMBER),
    ("volume:delete_snapshot", MEMBER),
    ("volume:snapshot_metadata", MEMBER),
    ("volume_extension:snapshot_admin_actions:reset_status", ADMIN),
    ("volume_extension:snapshot_admin_actions:force_delete", ADMIN),
    ("snapshot_extension:snapshot_actions:update_snapshot_status", MEMBER),
    # backups
    ("backup:create", MEMBER),
    ("backup:get", READER),
    ("backup:get_all", READER),
    ("backup:delete", MEMBER),
    ("backup:restore", MEMBER),
    ("backup:update", MEMBER),
    ("backup:export-import", ADMIN),
    ("volume_extension:backup_admin_actions:reset_status", ADMIN),
    ("volume_extension:backup_admin_actions:force_delete", ADMIN),
    # types, QoS
    ("volume_extension:types_manage", ADMIN),
    ("volume_extension:type_get", READER),
    ("volume_extension:type_get_all", READER),
    ("volume_extension:access_types_extra_specs", ADMIN),
    ("volume_extension:volume_type_access", ADMIN),
    ("volume_extension:volume_type_encryption:create", ADMIN),
    ("volume_extension:volume_type_encryption:get", ADMIN),
    ("volume_extension:volume_type_encryption:update", ADMIN),
    ("volume_extension:volume_type_encryption:delete", ADMIN),
    ("volume_extension:volume_type_access:addProjectAccess", ADMIN),
    ("volume_extension:qos_specs_manage", ADMIN),
    ("volume_extension:default_set_or_update", ADMIN),
    ("volume_extension:default_get", ADMIN),
    # quotas, limits, services, zones
    ("volume_extension:quotas:show", READER),
    ("volume_extension:quotas:update", ADMIN),
    ("volume_extension:quotas:delete", ADMIN),
    ("volume_extension:quota_classes", ADMIN),
    ("volume_extension:services:index", ADMIN),
    ("volume_extension:services:update", ADMIN),
    ("volume_extension:capabilities", ADMIN),
    ("volume_extension:scheduler_stats:get_pools", ADMIN),
    # transfers, attachments, messages
    ("volume:create_transfer", MEMBER),
    ("volume:accept_transfer", MEMBER),
    ("volume:delete_transfer", MEMBER),
    ("volume:get_transfer", READER),
    ("volume:get_all_transfers", READER),
    ("volume:attachment_create", MEMBER),
    ("volume:attachment_update", MEMBER),
    ("volume:attachment_delete", MEMBER),
    ("volume:attachment_complete", MEMBER),
    ("volume:multiattach", MEMBER),
    # generic volume groups
    ("group:group_types_manage", ADMIN),
    ("group:create", MEMBER),
    ("group:get", READER),
    ("group:get_all", READER),
    ("group:update", MEMBER),
    ("group:delete", MEMBER),
    ("group:reset_status", ADMIN),
    ("group:create_group_snapshot", MEMBER),
    ("group:get_group_snapshot", READER),
    ("group:get_all_group_snapshots", READER),
    ("group:delete_group_snapshot", MEMBER),
    ("group:reset_group_snapshot_status", ADMIN),
    ("message:get", READER),
    ("message:get_all", READER),
    ("message:delete", MEMBER),
]]
