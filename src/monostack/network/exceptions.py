"""Neutron's errors: the class name is the `type` of the NeutronError body.

    {"NeutronError": {"type": "NetworkNotFound", "message": "Network x could not be found.", "detail": ""}}

Clients (openstacksdk, Tempest) match on the status code and sometimes on the
type, so both are Neutron's; the messages follow neutron-lib's wording.
"""

from __future__ import annotations

from monostack.common import errors


class NeutronNotFound(errors.NotFound):
    template = "{what} {id} could not be found."
    what = "Resource"

    def __init__(self, id: str = "", **kw: object):
        super().__init__(self.template.format(what=self.what, id=id, **kw))


class NetworkNotFound(NeutronNotFound):
    what = "Network"


class SubnetNotFound(NeutronNotFound):
    what = "Subnet"


class PortNotFound(NeutronNotFound):
    what = "Port"


class RouterNotFound(NeutronNotFound):
    what = "Router"


class FloatingIPNotFound(NeutronNotFound):
    template = "Floating IP {id} could not be found"


class SecurityGroupNotFound(NeutronNotFound):
    template = "Security group {id} does not exist"


class SecurityGroupRuleNotFound(NeutronNotFound):
    template = "Security group rule {id} does not exist"


class SubnetPoolNotFound(NeutronNotFound):
    template = "Subnet pool {id} could not be found."


class RbacPolicyNotFound(NeutronNotFound):
    template = "RBAC policy with ID {id} could not be found"


class AgentNotFound(NeutronNotFound):
    template = "Agent {id} could not be found."


class ExtensionNotFound(NeutronNotFound):
    template = "Extension with alias {id} does not exist."


class TagNotFound(NeutronNotFound):
    template = "Tag {tag} could not be found for {id}."


class RouterInterfaceNotFound(errors.NotFound):
    pass


class RouterInterfaceNotFoundForSubnet(errors.NotFound):
    pass


class ExternalGatewayForFloatingIPNotFound(errors.NotFound):
    pass


class AvailabilityZoneNotFound(errors.NotFound):
    pass


class NotFound(errors.NotFound):
    pass


class InvalidInput(errors.BadRequest):
    def __init__(self, message: str):
        super().__init__(f"Invalid input for operation: {message}.")


class HTTPBadRequest(errors.BadRequest):
    """What Neutron's API layer answers for a body that fails attribute validation."""


class BadRequest(errors.BadRequest):
    def __init__(self, resource: str, msg: str):
        super().__init__(f"Bad {resource} request: {msg}.")


class InvalidAllocationPool(errors.BadRequest):
    pass


class OverlappingAllocationPools(errors.Conflict):
    pass


class OutOfBoundsAllocationPool(errors.BadRequest):
    pass


class GatewayConflictWithAllocationPools(errors.Conflict):
    pass


class InvalidIpForSubnet(errors.BadRequest):
    pass


class InvalidIpForNetwork(errors.BadRequest):
    pass


class PolicyNotAuthorized(errors.Forbidden):
    pass


class NetworkInUse(errors.Conflict):
    def __init__(self, net_id: str):
        super().__init__(f"Unable to complete operation on network {net_id}. There are one or more ports "
                         "still in use on the network.")


class SubnetInUse(errors.Conflict):
    def __init__(self, subnet_id: str, reason: str = "One or more ports have an IP allocation from this subnet."):
        super().__init__(f"Unable to complete operation on subnet {subnet_id}: {reason}")


class PortInUse(errors.Conflict):
    pass


class IpAddressGenerationFailure(errors.Conflict):
    def __init__(self, net_id: str):
        super().__init__(f"No more IP addresses available on network {net_id}.")


class IpAddressAlreadyAllocated(errors.Conflict):
    def __init__(self, ip: str, subnet_id: str):
        super().__init__(f"IP address {ip} already allocated in subnet {subnet_id}")


class IpAddressInUse(errors.Conflict):
    def __init__(self, net_id: str, ip: str):
        super().__init__(f"Unable to complete operation for network {net_id}. The IP address {ip} is in use.")


class MacAddressInUse(errors.Conflict):
    def __init__(self, net_id: str, mac: str):
        super().__init__(f"Unable to complete operation for network {net_id}. The mac address {mac} is in use.")


class OverQuota(errors.Conflict):
    def __init__(self, resources: list[str]):
        super().__init__(f"Quota exceeded for resources: {resources}.")


class SecurityGroupRuleExists(errors.Conflict):
    def __init__(self, rule_id: str):
        super().__init__(f"Security group rule already exists. Rule id is {rule_id}.")


class SecurityGroupInUse(errors.Conflict):
    def __init__(self, sg_id: str):
        super().__init__(f"Security Group {sg_id} in use.")


class SecurityGroupCannotRemoveDefault(errors.Conflict):
    def __init__(self) -> None:
        super().__init__("Removing default security group not allowed.")


class SecurityGroupCannotUpdateDefault(errors.Conflict):
    def __init__(self) -> None:
        super().__init__("Updating default security group not allowed.")


class RouterInUse(errors.Conflict):
    def __init__(self, router_id: str, reason: str = "still has ports"):
        super().__init__(f"Router {router_id} {reason}")


class RouterInterfaceInUseByFloatingIP(errors.Conflict):
    pass


class FloatingIPPortAlreadyAssociated(errors.Conflict):
    pass


class FlatNetworkInUse(errors.Conflict):
    def __init__(self, physnet: str):
        super().__init__(f"Unable to create the flat network. Physical network {physnet} is in use.")


class VlanIdInUse(errors.Conflict):
    def __init__(self, seg_id: int, physnet: str):
        super().__init__(f"Unable to create the network. The VLAN {seg_id} on physical network {physnet} is in use.")


class TunnelIdInUse(errors.Conflict):
    def __init__(self, tunnel_id: int):
        super().__init__(f"Unable to create the network. The tunnel ID {tunnel_id} is in use.")


class NoNetworkAvailable(errors.ServiceUnavailable):
    def __init__(self) -> None:
        super().__init__("Unable to create the network. No tenant network is available for allocation.")


class SubnetPoolInUse(errors.Conflict):
    pass


class PrefixPoolExhausted(errors.BadRequest):
    pass


class RbacPolicyInUse(errors.Conflict):
    pass


class DuplicateRbacPolicy(errors.Conflict):
    def __init__(self) -> None:
        super().__init__("An RBAC policy already exists with those values.")


class RevisionNumberConstraintFailed(errors.APIError):
    code, title = 412, "Precondition Failed"


class AgentAlreadyExists(errors.Conflict):
    pass


class QuotaResourceUnknown(errors.NotFound):
    pass


class ExtensionNotSupported(errors.BadRequest):
    pass
