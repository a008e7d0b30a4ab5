"""Small builders of desired states for the tests."""

from __future__ import annotations

import ipaddress

from monostack.network.dataplane.desired import (FixedIP, Network, Port, SecurityGroup,
                                                 SecurityGroupRule, Subnet)


def network(scope, cidr: str = "10.50.0.0/24", mtu: int = 1400, **kwargs) -> Network:
    net = ipaddress.ip_network(cidr)
    kwargs.setdefault("gateway_ip", str(net[1]))
    subnet = Subnet(id=scope.id(), cidr=cidr, **kwargs)
    return Network(id=scope.id(), network_type="local", mtu=mtu, subnets=[subnet])


def port(scope, net: Network, host: int, owner: str = "compute:nova", sgs=(), **kwargs) -> Port:
    subnet = net.subnets[0]
    ip = str(ipaddress.ip_network(subnet.cidr)[host])
    return Port(id=scope.id(), network_id=net.id, mac_address=scope.mac(),
                fixed_ips=[FixedIP(subnet.id, ip)], device_owner=owner,
                device_id=scope.id() if owner.startswith("compute:") else "",
                project_id="proj-" + scope.prefix, security_groups=list(sgs), **kwargs)


def dhcp_port(scope, net: Network, host: int = 2) -> Port:
    return port(scope, net, host, owner="network:dhcp")


def open_group(scope) -> SecurityGroup:
    """Egress anything, ingress ICMP from anywhere (what the tests ping with)."""
    return SecurityGroup(id=scope.id(), rules=[
        SecurityGroupRule(id="r-egress", direction="egress"),
        SecurityGroupRule(id="r-icmp", direction="ingress", protocol="icmp")])
