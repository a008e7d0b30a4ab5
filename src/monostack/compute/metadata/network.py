"""network_data.json and the addresses EC2's meta-data shows, from the
server's ports, in Nova's format (nova/virt/netutils.py).

Nova describes only the first IPv4 and the first IPv6 subnet of each port,
and of those only the first address: the guest gets one address per family
and interface.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from monostack.compute.metadata.instance import Interface, Subnet

# VIF types network_data.json names as they are; any other is "phy".
_EXPOSED_VIF_TYPES = ("bridge", "dvs", "hw_veb", "hyperv", "ovs", "tap", "vhostuser", "vif")


def _first_subnet(iface: Interface, version: int) -> Subnet | None:
    return next((s for s in iface.subnets if s.version == version), None)


def _link(iface: Interface) -> dict[str, Any]:
    # With a DHCP server on the network the guest learns the MTU by DHCP,
    # so Nova leaves it out of the link.
    mtu = None if any(s.dhcp_server for s in iface.subnets) else iface.mtu
    return {
        "id": iface.link_name,
        "vif_id": iface.port_id,
        "type": iface.vif_type if iface.vif_type in _EXPOSED_VIF_TYPES else "phy",
        "mtu": mtu,
        "ethernet_mac_address": iface.mac_address,
    }


def _dns_services(subnet: Subnet) -> list[dict[str, str]]:
    return [{"type": "dns", "address": addr} for addr in subnet.dns_nameservers]


def _default_route(subnet: Subnet) -> list[dict[str, str]]:
    if not subnet.gateway:
        return []
    anywhere = "0.0.0.0" if subnet.version == 4 else "::"
    return [{"network": anywhere, "netmask": anywhere, "gateway": subnet.gateway}]


def _network(iface: Interface, subnet: Subnet, num: int, link_id: str) -> dict[str, Any]:
    version = subnet.version
    suffix = ""
    if subnet.ipv6_address_mode is not None:
        suffix = f"_{subnet.ipv6_address_mode}"
    elif subnet.dhcp_server is not None or subnet.enable_dhcp:
        # The guest asks DHCP: no address in the document.
        return {"id": f"network{num}", "type": f"ipv{version}_dhcp", "link": link_id,
                "network_id": iface.network_id}
    net = ipaddress.ip_network(subnet.cidr, strict=False)
    routes = _default_route(subnet)
    for route in subnet.host_routes:
        dest = ipaddress.ip_network(route.destination, strict=False)
        routes.append({"network": str(dest.network_address), "netmask": str(dest.netmask),
                       "gateway": route.nexthop})
    return {
        "id": f"network{num}",
        "type": f"ipv{version}{suffix}",
        "link": link_id,
        "ip_address": subnet.ips[0].address,
        "netmask": str(net.netmask),
        "routes": routes,
        "network_id": iface.network_id,
        "services": _dns_services(subnet),
    }


def network_data(interfaces: list[Interface]) -> dict[str, Any] | None:
    """The network_data.json document; None when the server has no port
    (the document is then ``{}``)."""
    if not interfaces:
        return None
    links: list[dict[str, Any]] = []
    networks: list[dict[str, Any]] = []
    services: list[dict[str, str]] = []
    for iface in interfaces:
        if not iface.subnets:
            continue
        v4, v6 = _first_subnet(iface, 4), _first_subnet(iface, 6)
        link = _link(iface)
        links.append(link)
        for subnet in (v4, v6):
            if subnet is None or not subnet.ips:
                continue
            networks.append(_network(iface, subnet, len(networks), link["id"]))
            services += [dns for dns in _dns_services(subnet) if dns not in services]
    return {"links": links, "networks": networks, "services": services}


def ec2_addresses(interfaces: list[Interface]) -> tuple[list[str], list[str], list[str]]:
    """(fixed IPv4, fixed IPv6, floating) addresses of all ports, in port order."""
    v4: list[str] = []
    v6: list[str] = []
    floating: list[str] = []
    for iface in interfaces:
        for subnet in iface.subnets:
            for ip in subnet.ips:
                (v4 if ipaddress.ip_address(ip.address).version == 4 else v6).append(ip.address)
                floating += ip.floating_ips
    return v4, v6, floating
