"""Device and namespace names, as Neutron's Linux bridge agent makes them.

Every name fits IFNAMSIZ (15 characters). The agent treats a host object as
its own only when the name has one of these prefixes (and, when the agent is
scoped, the id part starts with the scope: tests run side by side that way).
"""

from __future__ import annotations

IFNAMSIZ = 15
ID_LEN = 11  # Neutron's RESOURCE_ID_LENGTH for device names

BRIDGE = "brq"
TAP = "tap"  # guest taps, and the host ends of the ns-/qr-/qg- veth pairs
VXLAN = "vxlan-"
DHCP_NS = "qdhcp-"
ROUTER_NS = "qrouter-"
DHCP_DEV = "ns-"
ROUTER_INTERNAL = "qr-"
ROUTER_GATEWAY = "qg-"


def _dev(prefix: str, ident: str) -> str:
    name = prefix + ident[:ID_LEN]
    assert len(name) <= IFNAMSIZ, name
    return name


def bridge(network_id: str) -> str:
    return _dev(BRIDGE, network_id)


def tap(port_id: str) -> str:
    return _dev(TAP, port_id)


def dhcp_dev(port_id: str) -> str:
    return _dev(DHCP_DEV, port_id)


def router_internal(port_id: str) -> str:
    return _dev(ROUTER_INTERNAL, port_id)


def router_gateway(port_id: str) -> str:
    return _dev(ROUTER_GATEWAY, port_id)


def vxlan(vni: int) -> str:
    return f"{VXLAN}{vni}"


def vlan(interface: str, vlan_id: int) -> str:
    """`eth1.100`, the interface name cut so the whole fits IFNAMSIZ."""
    suffix = f".{vlan_id}"
    return interface[:IFNAMSIZ - len(suffix)] + suffix


def dhcp_ns(network_id: str) -> str:
    return DHCP_NS + network_id


def router_ns(router_id: str) -> str:
    return ROUTER_NS + router_id


def id_of(name: str, prefix: str) -> str:
    return name[len(prefix):]
