"""The Networking service's default policy rules: Neutron's defaults for the personas.

Rule names are Neutron's (`create_network`, `create_network:shared`,
`get_port:binding:vif_type`, ...), so an operator's Neutron policy.yaml
applies unchanged.  `<action>_<resource>:<attribute>` rules guard single
attributes: on create and update they are checked only when the request
names the attribute; on reads an attribute the rule denies is left out of the
answer (binding:* and provider:* are admin-only).

Which resources a caller sees at all (its own, shared and external networks,
RBAC grants) is decided by the service layer; the read rules here only say who
may read.  Targets carry `project_id` (the resource's owner) and, for
resources on a network, `network_project_id` (the network's owner).
"""

from oslo_policy.policy import RuleDefault

ADMIN = "role:admin"
ANY = ""
READER = f"{ADMIN} or role:reader"
MEMBER = "role:member and project_id:%(project_id)s"
ADMIN_OR_MEMBER = f"{ADMIN} or ({MEMBER})"
ADMIN_OR_READER = f"{ADMIN} or (role:reader and project_id:%(project_id)s)"
NET_OWNER_MEMBER = "role:member and project_id:%(network_project_id)s"
ADMIN_OR_NET_OWNER = f"{ADMIN} or ({NET_OWNER_MEMBER})"
ADMIN_OR_MEMBER_OR_NET_OWNER = f"{ADMIN} or ({MEMBER}) or ({NET_OWNER_MEMBER})"
ADMIN_OR_READER_OR_NET_OWNER = (f"{ADMIN} or (role:reader and project_id:%(project_id)s) "
                                "or (role:reader and project_id:%(network_project_id)s)")
# device_owner "network:*" (routers, DHCP, floating IPs) is the network owner's or the admin's to set.
DEVICE_OWNER = f"{ADMIN} or 'False':%(network_device)s or ({NET_OWNER_MEMBER})"

_RULES: dict[str, str] = {
    "context_is_admin": ADMIN,
    "default": ADMIN,
    # networks
    "create_network": ADMIN_OR_MEMBER,
    "create_network:shared": ADMIN,
    "create_network:router:external": ADMIN,
    "create_network:is_default": ADMIN,
    "create_network:segments": ADMIN,
    "create_network:provider:network_type": ADMIN,
    "create_network:provider:physical_network": ADMIN,
    "create_network:provider:segmentation_id": ADMIN,
    "get_network": READER,
    "get_network:router:external": ANY,
    "get_network:segments": ADMIN,
    "get_network:provider:network_type": ADMIN,
    "get_network:provider:physical_network": ADMIN,
    "get_network:provider:segmentation_id": ADMIN,
    "update_network": ADMIN_OR_MEMBER,
    "update_network:shared": ADMIN,
    "update_network:router:external": ADMIN,
    "update_network:is_default": ADMIN,
    "update_network:segments": ADMIN,
    "update_network:provider:network_type": ADMIN,
    "update_network:provider:physical_network": ADMIN,
    "update_network:provider:segmentation_id": ADMIN,
    "delete_network": ADMIN_OR_MEMBER,
    # subnets
    "create_subnet": ADMIN_OR_NET_OWNER,
    "create_subnet:segment_id": ADMIN,
    "create_subnet:service_types": ADMIN,
    "get_subnet": READER,
    "get_subnet:segment_id": ADMIN,
    "update_subnet": ADMIN_OR_NET_OWNER,
    "update_subnet:segment_id": ADMIN,
    "update_subnet:service_types": ADMIN,
    "delete_subnet": ADMIN_OR_NET_OWNER,
    # subnet pools
    "create_subnetpool": ADMIN_OR_MEMBER,
    "create_subnetpool:shared": ADMIN,
    "create_subnetpool:is_default": ADMIN,
    "get_subnetpool": READER,
    "update_subnetpool": ADMIN_OR_MEMBER,
    "update_subnetpool:is_default": ADMIN,
    "delete_subnetpool": ADMIN_OR_MEMBER,
    # ports
    "create_port": ADMIN_OR_MEMBER,
    "create_port:device_owner": DEVICE_OWNER,
    "create_port:mac_address": ADMIN_OR_NET_OWNER,
    "create_port:fixed_ips:ip_address": ADMIN_OR_NET_OWNER,
    "create_port:port_security_enabled": f"{ADMIN_OR_NET_OWNER} or ({MEMBER})",
    "create_port:binding:host_id": ADMIN,
    "create_port:binding:profile": ADMIN,
    "create_port:allowed_address_pairs": ADMIN_OR_MEMBER_OR_NET_OWNER,
    "get_port": READER,
    "get_port:binding:vif_type": ADMIN,
    "get_port:binding:vif_details": ADMIN,
    "get_port:binding:host_id": ADMIN,
    "get_port:binding:profile": ADMIN,
    "update_port": ADMIN_OR_MEMBER_OR_NET_OWNER,
    "update_port:device_owner": DEVICE_OWNER,
    "update_port:mac_address": ADMIN,
    "update_port:fixed_ips:ip_address": ADMIN_OR_NET_OWNER,
    "update_port:port_security_enabled": ADMIN_OR_MEMBER_OR_NET_OWNER,
    "update_port:binding:host_id": ADMIN,
    "update_port:binding:profile": ADMIN,
    "update_port:allowed_address_pairs": ADMIN_OR_MEMBER_OR_NET_OWNER,
    "delete_port": ADMIN_OR_MEMBER_OR_NET_OWNER,
    # routers
    "create_router": ADMIN_OR_MEMBER,
    "create_router:external_gateway_info": ADMIN_OR_MEMBER,
    "create_router:external_gateway_info:network_id": ADMIN_OR_MEMBER,
    "create_router:external_gateway_info:enable_snat": ADMIN,
    "create_router:external_gateway_info:external_fixed_ips": ADMIN,
    "create_router:distributed": ADMIN,
    "create_router:ha": ADMIN,
    "get_router": READER,
    "get_router:distributed": ADMIN,
    "get_router:ha": ADMIN,
    "update_router": ADMIN_OR_MEMBER,
    "update_router:external_gateway_info": ADMIN_OR_MEMBER,
    "update_router:external_gateway_info:network_id": ADMIN_OR_MEMBER,
    "update_router:external_gateway_info:enable_snat": ADMIN,
    "update_router:external_gateway_info:external_fixed_ips": ADMIN,
    "update_router:distributed": ADMIN,
    "update_router:ha": ADMIN,
    "delete_router": ADMIN_OR_MEMBER,
    "add_router_interface": ADMIN_OR_MEMBER,
    "remove_router_interface": ADMIN_OR_MEMBER,
    "add_extraroutes": ADMIN_OR_MEMBER,
    "remove_extraroutes": ADMIN_OR_MEMBER,
    # floating IPs
    "create_floatingip": ADMIN_OR_MEMBER,
    "create_floatingip:floating_ip_address": ADMIN,
    "get_floatingip": READER,
    "update_floatingip": ADMIN_OR_MEMBER,
    "delete_floatingip": ADMIN_OR_MEMBER,
    # security groups
    "create_security_group": ADMIN_OR_MEMBER,
    "get_security_group": READER,
    "update_security_group": ADMIN_OR_MEMBER,
    "delete_security_group": ADMIN_OR_MEMBER,
    "create_security_group_rule": ADMIN_OR_MEMBER,
    "get_security_group_rule": READER,
    "delete_security_group_rule": ADMIN_OR_MEMBER,
    # RBAC
    "create_rbac_policy": ADMIN_OR_MEMBER,
    "create_rbac_policy:target_tenant": f"{ADMIN} or 'False':%(wildcard)s",
    "get_rbac_policy": ADMIN_OR_READER,
    "update_rbac_policy": ADMIN_OR_MEMBER,
    "update_rbac_policy:target_tenant": f"{ADMIN} or 'False':%(wildcard)s",
    "delete_rbac_policy": ADMIN_OR_MEMBER,
    # quotas, agents, availability zones, IP availability
    "get_quota": ADMIN_OR_READER,
    "update_quota": ADMIN,
    "delete_quota": ADMIN,
    "get_agent": ADMIN,
    "update_agent": ADMIN,
    "delete_agent": ADMIN,
    "get_availability_zone": READER,
    "get_network_ip_availability": ADMIN,
}

RULES = [RuleDefault(name, check) for name, check in _RULES.items()]
