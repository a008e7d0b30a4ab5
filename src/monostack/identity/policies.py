"""Identity's default policy rules, for the current personas.

admin (any scope) manages everything, as in Keystone's defaults; a reader with
system scope reads everything; a domain reader reads inside its domain; any
user reads and manages what is its own (its user, its projects, its
application credentials, its tokens).  Targets are flattened dicts
(`target.user.id`, ...), as Keystone passes them.  An operator's policy.yaml
overrides any of these.
"""

from oslo_policy.policy import RuleDefault

ADMIN = "rule:admin_required"
SYSTEM_READER = "(role:reader and system_scope:all)"
ADMIN_OR_READER = f"{ADMIN} or {SYSTEM_READER}"
DOMAIN_READER = "(role:reader and domain_id:%(target.domain_id)s)"
OWNER = "user_id:%(target.user.id)s"

_RULES = {
    # domains and projects
    "identity:get_domain": f"{ADMIN_OR_READER} or token.domain.id:%(target.domain.id)s "
                           f"or token.project.domain.id:%(target.domain.id)s",
    "identity:list_domains": ADMIN_OR_READER,
    "identity:create_domain": ADMIN, "identity:update_domain": ADMIN, "identity:delete_domain": ADMIN,
    "identity:get_project": f"{ADMIN_OR_READER} or (role:reader and domain_id:%(target.project.domain_id)s) "
                            f"or project_id:%(target.project.id)s",
    "identity:list_projects": f"{ADMIN_OR_READER} or {DOMAIN_READER}",
    "identity:list_user_projects": f"{ADMIN_OR_READER} or {OWNER}",
    "identity:create_project": ADMIN, "identity:update_project": ADMIN, "identity:delete_project": ADMIN,
    "identity:list_project_tags": f"{ADMIN_OR_READER} or project_id:%(target.project.id)s",
    "identity:get_project_tag": f"{ADMIN_OR_READER} or project_id:%(target.project.id)s",
    "identity:update_project_tags": ADMIN, "identity:create_project_tag": ADMIN,
    "identity:delete_project_tags": ADMIN, "identity:delete_project_tag": ADMIN,
    # users and groups
    "identity:get_user": f"{ADMIN_OR_READER} or (role:reader and token.domain.id:%(target.user.domain_id)s) "
                         f"or {OWNER}",
    "identity:list_users": f"{ADMIN_OR_READER} or {DOMAIN_READER}",
    "identity:create_user": ADMIN, "identity:update_user": ADMIN, "identity:delete_user": ADMIN,
    "identity:get_group": f"{ADMIN_OR_READER} or (role:reader and token.domain.id:%(target.group.domain_id)s)",
    "identity:list_groups": f"{ADMIN_OR_READER} or {DOMAIN_READER}",
    "identity:list_groups_for_user": f"{ADMIN_OR_READER} or {OWNER}",
    "identity:create_group": ADMIN, "identity:update_group": ADMIN, "identity:delete_group": ADMIN,
    "identity:list_users_in_group": ADMIN_OR_READER,
    "identity:check_user_in_group": ADMIN_OR_READER,
    "identity:add_user_to_group": ADMIN, "identity:remove_user_from_group": ADMIN,
    # roles and assignments
    "identity:get_role": ADMIN_OR_READER, "identity:list_roles": ADMIN_OR_READER,
    "identity:create_role": ADMIN, "identity:update_role": ADMIN, "identity:delete_role": ADMIN,
    "identity:get_domain_role": ADMIN_OR_READER, "identity:list_domain_roles": ADMIN_OR_READER,
    "identity:create_domain_role": ADMIN, "identity:update_domain_role": ADMIN, "identity:delete_domain_role": ADMIN,
    "identity:get_implied_role": ADMIN_OR_READER, "identity:list_implied_roles": ADMIN_OR_READER,
    "identity:list_role_inference_rules": ADMIN_OR_READER,
    "identity:create_implied_role": ADMIN, "identity:delete_implied_role": ADMIN,
    "identity:check_implied_role": ADMIN_OR_READER,
    "identity:check_grant": ADMIN_OR_READER, "identity:list_grants": ADMIN_OR_READER,
    "identity:create_grant": ADMIN, "identity:revoke_grant": ADMIN,
    "identity:list_role_assignments": f"{ADMIN_OR_READER} or {DOMAIN_READER}",
    "identity:list_system_grants_for_user": ADMIN_OR_READER,
    "identity:check_system_grant_for_user": ADMIN_OR_READER,
    "identity:create_system_grant_for_user": ADMIN, "identity:revoke_system_grant_for_user": ADMIN,
    "identity:list_system_grants_for_group": ADMIN_OR_READER,
    "identity:check_system_grant_for_group": ADMIN_OR_READER,
    "identity:create_system_grant_for_group": ADMIN, "identity:revoke_system_grant_for_group": ADMIN,
    # catalog
    "identity:get_region": "", "identity:list_regions": "",
    "identity:create_region": ADMIN, "identity:update_region": ADMIN, "identity:delete_region": ADMIN,
    "identity:get_service": ADMIN_OR_READER, "identity:list_services": ADMIN_OR_READER,
    "identity:create_service": ADMIN, "identity:update_service": ADMIN, "identity:delete_service": ADMIN,
    "identity:get_endpoint": ADMIN_OR_READER, "identity:list_endpoints": ADMIN_OR_READER,
    "identity:create_endpoint": ADMIN, "identity:update_endpoint": ADMIN, "identity:delete_endpoint": ADMIN,
    # tokens
    "identity:check_token": f"{ADMIN_OR_READER} or rule:service_role or user_id:%(target.token.user_id)s",
    "identity:validate_token": f"{ADMIN_OR_READER} or rule:service_role or user_id:%(target.token.user_id)s",
    "identity:revoke_token": f"{ADMIN} or rule:service_role or user_id:%(target.token.user_id)s",
    "identity:revocation_list": f"{ADMIN_OR_READER} or rule:service_role",
    # application credentials, credentials, EC2, trusts
    "identity:get_application_credential": f"{ADMIN_OR_READER} or {OWNER}",
    "identity:list_application_credentials": f"{ADMIN_OR_READER} or {OWNER}",
    "identity:create_application_credential": OWNER,
    "identity:delete_application_credential": f"{ADMIN} or {OWNER}",
    "identity:get_access_rule": f"{ADMIN_OR_READER} or {OWNER}",
    "identity:list_access_rules": f"{ADMIN_OR_READER} or {OWNER}",
    "identity:delete_access_rule": f"{ADMIN} or {OWNER}",
    "identity:get_credential": f"{ADMIN_OR_READER} or user_id:%(target.credential.user_id)s",
    "identity:list_credentials": f"{ADMIN_OR_READER} or user_id:%(target.credential.user_id)s",
    "identity:create_credential": f"{ADMIN} or user_id:%(target.credential.user_id)s",
    "identity:update_credential": f"{ADMIN} or user_id:%(target.credential.user_id)s",
    "identity:delete_credential": f"{ADMIN} or user_id:%(target.credential.user_id)s",
    "identity:ec2_get_credential": f"{ADMIN_OR_READER} or user_id:%(target.credential.user_id)s",
    "identity:ec2_list_credentials": f"{ADMIN_OR_READER} or {OWNER}",
    "identity:ec2_create_credential": f"{ADMIN} or {OWNER}",
    "identity:ec2_delete_credential": f"{ADMIN} or user_id:%(target.credential.user_id)s",
    "identity:create_trust": "user_id:%(trust.trustor_user_id)s",
    "identity:list_trusts": ADMIN_OR_READER,
    "identity:list_trusts_for_trustor": f"{ADMIN_OR_READER} or user_id:%(target.trust.trustor_user_id)s",
    "identity:list_trusts_for_trustee": f"{ADMIN_OR_READER} or user_id:%(target.trust.trustee_user_id)s",
    "identity:list_roles_for_trust": f"{ADMIN_OR_READER} or user_id:%(target.trust.trustor_user_id)s "
                                     f"or user_id:%(target.trust.trustee_user_id)s",
    "identity:get_role_for_trust": f"{ADMIN_OR_READER} or user_id:%(target.trust.trustor_user_id)s "
                                   f"or user_id:%(target.trust.trustee_user_id)s",
    "identity:delete_trust": f"{ADMIN} or user_id:%(target.trust.trustor_user_id)s",
    "identity:get_trust": f"{ADMIN_OR_READER} or user_id:%(target.trust.trustor_user_id)s "
                          f"or user_id:%(target.trust.trustee_user_id)s",
    # signed-request logins (EC2 and S3 APIs): admins and services only, as in current Keystone
    "identity:ec2tokens_validate": f"{ADMIN} or rule:service_role",
    "identity:s3tokens_validate": f"{ADMIN} or rule:service_role",
    # everything else Keystone has (policies, limits, endpoint groups, domain configs, federation)
    "identity:admin_only": ADMIN,
    "identity:admin_or_reader": ADMIN_OR_READER,
    "identity:any_user": "",
    # OS-EP-FILTER
    "identity:get_endpoint_group": ADMIN_OR_READER, "identity:list_endpoint_groups": ADMIN_OR_READER,
    "identity:create_endpoint_group": ADMIN, "identity:update_endpoint_group": ADMIN,
    "identity:delete_endpoint_group": ADMIN,
    "identity:list_projects_associated_with_endpoint_group": ADMIN_OR_READER,
    "identity:list_endpoints_associated_with_endpoint_group": ADMIN_OR_READER,
    "identity:get_endpoint_group_in_project": ADMIN_OR_READER,
    "identity:list_endpoint_groups_for_project": ADMIN_OR_READER,
    "identity:add_endpoint_group_to_project": ADMIN, "identity:remove_endpoint_group_from_project": ADMIN,
    "identity:add_endpoint_to_project": ADMIN, "identity:remove_endpoint_from_project": ADMIN,
    "identity:check_endpoint_in_project": ADMIN_OR_READER,
    "identity:list_endpoints_for_project": ADMIN_OR_READER,
    "identity:list_projects_for_endpoint": ADMIN_OR_READER,
    # /v3/policies and OS-ENDPOINT-POLICY
    "identity:get_policy": ADMIN_OR_READER, "identity:list_policies": ADMIN_OR_READER,
    "identity:create_policy": ADMIN, "identity:update_policy": ADMIN, "identity:delete_policy": ADMIN,
    "identity:create_policy_association_for_endpoint": ADMIN,
    "identity:check_policy_association_for_endpoint": ADMIN_OR_READER,
    "identity:delete_policy_association_for_endpoint": ADMIN,
    "identity:create_policy_association_for_service": ADMIN,
    "identity:check_policy_association_for_service": ADMIN_OR_READER,
    "identity:delete_policy_association_for_service": ADMIN,
    "identity:create_policy_association_for_region_and_service": ADMIN,
    "identity:check_policy_association_for_region_and_service": ADMIN_OR_READER,
    "identity:delete_policy_association_for_region_and_service": ADMIN,
    "identity:get_policy_for_endpoint": ADMIN_OR_READER, "identity:list_endpoints_for_policy": ADMIN_OR_READER,
    # domain configuration
    "identity:create_domain_config": ADMIN, "identity:update_domain_config": ADMIN,
    "identity:delete_domain_config": ADMIN, "identity:get_domain_config": ADMIN_OR_READER,
    "identity:get_domain_config_default": ADMIN_OR_READER, "identity:get_security_compliance_domain_config": "",
    # OS-OAUTH1 consumers
    "identity:get_consumer": ADMIN_OR_READER, "identity:list_consumers": ADMIN_OR_READER,
    "identity:create_consumer": ADMIN, "identity:update_consumer": ADMIN, "identity:delete_consumer": ADMIN,
    # unified limits
    "identity:get_registered_limit": "", "identity:list_registered_limits": "",
    "identity:create_registered_limits": ADMIN, "identity:update_registered_limit": ADMIN,
    "identity:delete_registered_limit": ADMIN,
    "identity:get_limit_model": "", "identity:list_limits": "",
    "identity:get_limit": f"{ADMIN_OR_READER} or rule:service_role or project_id:%(target.limit.project_id)s "
                          f"or domain_id:%(target.limit.domain_id)s "
                          f"or domain_id:%(target.limit.project.domain_id)s",
    "identity:create_limits": ADMIN, "identity:update_limit": ADMIN, "identity:delete_limit": ADMIN,
    # OS-FEDERATION
    "identity:get_identity_provider": ADMIN_OR_READER, "identity:list_identity_providers": ADMIN_OR_READER,
    "identity:create_identity_provider": ADMIN, "identity:update_identity_provider": ADMIN,
    "identity:delete_identity_provider": ADMIN,
    "identity:get_protocol": ADMIN_OR_READER, "identity:list_protocols": ADMIN_OR_READER,
    "identity:create_protocol": ADMIN, "identity:update_protocol": ADMIN, "identity:delete_protocol": ADMIN,
    "identity:get_mapping": ADMIN_OR_READER, "identity:list_mappings": ADMIN_OR_READER,
    "identity:create_mapping": ADMIN, "identity:update_mapping": ADMIN, "identity:delete_mapping": ADMIN,
    "identity:get_service_provider": ADMIN_OR_READER, "identity:list_service_providers": ADMIN_OR_READER,
    "identity:create_service_provider": ADMIN, "identity:update_service_provider": ADMIN,
    "identity:delete_service_provider": ADMIN,
}

RULES = [RuleDefault(name, check) for name, check in _RULES.items()]
