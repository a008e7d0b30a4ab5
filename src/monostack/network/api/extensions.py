"""/v2.0/extensions: exactly the API extensions this service implements."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from monostack.common.auth import authenticated
from monostack.common.context import RequestContext
from monostack.common.http import JSONResponse
from monostack.network import exceptions as nexc

# alias -> (name, description)
EXTENSIONS: dict[str, tuple[str, str]] = {
    "agent": ("agent", "The agent management extension."),
    "allowed-address-pairs": ("Allowed Address Pairs", "Provides allowed address pairs"),
    "availability_zone": ("Availability Zone", "The availability zone extension."),
    "binding": ("Port Binding", "Expose port bindings of a virtual port to external application"),
    "default-subnetpools": ("Default Subnetpools", "Provides ability to mark and use a subnetpool as the default."),
    "external-net": ("Neutron external network", "Adds external network attribute to network resource."),
    "ext-gw-mode": ("Neutron L3 Configurable external gateway mode",
                    "Extension of the router abstraction for specifying whether SNAT should occur on the external "
                    "gateway"),
    "extraroute": ("Neutron Extra Route", "Extra routes configuration for L3 router"),
    "extraroute-atomic": ("Atomically add/remove extra routes",
                          "Edit extra routes of a router on server side by atomically adding/removing extra routes"),
    "fip-port-details": ("Floating IP Port Details Extension", "Add port_details attribute to Floating IP resource"),
    "ip-substring-filtering": ("IP address substring filtering", "Provides IP address substring filtering when "
                               "listing ports"),
    "net-mtu": ("Network MTU", "Provides MTU attribute for a network resource."),
    "net-mtu-writable": ("Network MTU (writable)", "Provides a writable MTU attribute for a network resource."),
    "network_availability_zone": ("Network Availability Zone", "Availability zone support for network."),
    "network-ip-availability": ("Network IP Availability", "Provides IP availability data for each network and "
                                "subnet."),
    "pagination": ("Pagination support", "Extension that indicates that pagination is enabled."),
    "port-security": ("Port Security", "Provides port security"),
    "project-id": ("project_id field enabled", "Extension that indicates that project_id field is enabled."),
    "provider": ("Provider Network", "Expose mapping of virtual networks to physical networks"),
    "quotas": ("Quota management support", "Expose functions for quotas management per project"),
    "quota_details": ("Quota details management support", "Expose functions for quotas usage statistics per "
                      "project"),
    "rbac-policies": ("RBAC Policies", "Allows creation and modification of policies that control tenant access to "
                      "resources."),
    "revision-if-match": ("If-Match constraints based on revision_number", "Extension indicating that If-Match "
                          "based on revision_number is supported."),
    "router": ("Neutron L3 Router", "Router abstraction for basic L3 forwarding between L2 Neutron networks and "
               "access to external networks via a NAT gateway."),
    "router_availability_zone": ("Router Availability Zone", "Availability zone support for router."),
    "security-group": ("security-group", "The security groups extension."),
    "security-groups-normalized-cidr": ("Security group rule normalized CIDR",
                                        "Add new field with normalized remote_ip_prefix cidr in SG rule"),
    "sorting": ("Sorting support", "Extension that indicates that sorting is enabled."),
    "standard-attr-description": ("standard-attr-description", "Extension to add descriptions to standard "
                                  "attributes"),
    "standard-attr-revisions": ("Resource revision numbers", "This extension will display the revision number of "
                                "neutron resources."),
    "standard-attr-tag": ("Tag support for resources with standard attribute: subnet, trunk, network_segment_range, "
                          "router, network, policy, subnetpool, port, security_group, floatingip",
                          "Enables to set tag on resources with standard attribute."),
    "standard-attr-timestamp": ("Resource timestamps", "Adds created_at and updated_at fields to all Neutron "
                                "resources that have Neutron standard attributes."),
    "stateful-security-group": ("Stateful security group", "Indicates if the security group is stateful or not"),
    "subnet_allocation": ("Subnet Allocation", "Enables allocation of subnets from a subnet pool"),
    "service-type": ("Neutron Service Type Management", "API for retrieving service providers for Neutron "
                     "advanced services (none are offered: the list is empty)"),
    "tag": ("Tag support", "Enables to set tag on resources."),
    "tag-ext": ("Tag support for resources: subnet, subnetpool, port, router", "Extends tag support to more L2 "
                "and L3 resources."),
}
UPDATED = "2013-02-01T10:00:00-00:00"


def aliases() -> list[str]:
    return sorted(EXTENSIONS)


def _extension(alias: str) -> dict[str, Any]:
    name, description = EXTENSIONS[alias]
    return {"name": name, "alias": alias, "description": description, "updated": UPDATED, "links": []}


def register(router: APIRouter) -> None:
    @router.get("/v2.0/extensions")
    @router.get("/v2.0/extensions.json", include_in_schema=False)
    async def list_extensions(request: Request, ctx: RequestContext = Depends(authenticated)) -> Any:
        return JSONResponse({"extensions": [_extension(alias) for alias in aliases()]})

    @router.get("/v2.0/service-providers")
    async def service_providers(request: Request, ctx: RequestContext = Depends(authenticated)) -> Any:
        return JSONResponse({"service_providers": []})

    @router.get("/v2.0/extensions/{alias}")
    async def show_extension(alias: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> Any:
        if alias not in EXTENSIONS:
            raise nexc.ExtensionNotFound(alias)
        return JSONResponse({"extension": _extension(alias)})
