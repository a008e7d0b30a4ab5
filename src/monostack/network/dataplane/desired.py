"""The desired state of one host's data plane, in Neutron's own field names.

A later step builds a `HostState` from the Networking database (one row of
networks/subnets/ports/routers/floatingips/securitygroups -> one dataclass
here, same field names); the agent (agent.py) makes the host match it.
Everything is plain data: `HostState.from_dict(json)` / `to_dict()` round-trip
so a state can be written to a file (tests, the agent's command line).
"""

from __future__ import annotations

import dataclasses
import ipaddress
from typing import Any

COMPUTE_OWNER_PREFIX = "compute:"  # Neutron's device_owner for guest ports
DHCP_OWNER = "network:dhcp"


@dataclasses.dataclass
class Subnet:
    id: str
    cidr: str
    gateway_ip: str | None = None
    ip_version: int = 4
    enable_dhcp: bool = True
    dns_nameservers: list[str] = dataclasses.field(default_factory=list)
    # [{"destination": "10.9.0.0/24", "nexthop": "10.0.0.254"}], as the API shows them
    host_routes: list[dict[str, str]] = dataclasses.field(default_factory=list)
    ipv6_ra_mode: str | None = None
    ipv6_address_mode: str | None = None

    @property
    def prefixlen(self) -> int:
        return ipaddress.ip_network(self.cidr, strict=False).prefixlen


@dataclasses.dataclass
class Network:
    id: str
    # provider:network_type / provider:physical_network / provider:segmentation_id.
    # "local" (or flat on a physical network mapped to "") is a bridge with no
    # uplink: how the host-side "public" network of `monostack up` is made.
    network_type: str = "vxlan"
    physical_network: str | None = None
    segmentation_id: int | None = None
    mtu: int = 1500
    subnets: list[Subnet] = dataclasses.field(default_factory=list)
    # Addresses ("172.24.4.1/24") the host itself holds on this network's
    # bridge, as DevStack's br-ex: the host reaches floating IPs through it.
    host_addresses: list[str] = dataclasses.field(default_factory=list)

    def subnet(self, subnet_id: str) -> Subnet | None:
        return next((s for s in self.subnets if s.id == subnet_id), None)


@dataclasses.dataclass
class FixedIP:
    subnet_id: str
    ip_address: str


@dataclasses.dataclass
class AddressPair:
    ip_address: str  # an address or a CIDR
    mac_address: str | None = None  # None: the port's own MAC


@dataclasses.dataclass
class Port:
    id: str
    network_id: str
    mac_address: str
    fixed_ips: list[FixedIP] = dataclasses.field(default_factory=list)
    device_owner: str = ""
    device_id: str = ""
    project_id: str = ""  # tenant_id: the metadata proxy's X-Tenant-ID
    security_groups: list[str] = dataclasses.field(default_factory=list)
    allowed_address_pairs: list[AddressPair] = dataclasses.field(default_factory=list)
    port_security_enabled: bool = True
    admin_state_up: bool = True
    # binding:host_id: ports bound elsewhere are still listed for DHCP (every
    # port of a network this host serves) but are not plugged here.
    binding_host_id: str = ""

    @property
    def is_guest(self) -> bool:
        return self.device_owner.startswith(COMPUTE_OWNER_PREFIX)

    def bound_to(self, host: str) -> bool:
        """Plugged and firewalled on `host` (an unbound port: on whichever host has its tap)."""
        return self.binding_host_id in ("", host)

    def ips(self, version: int | None = None) -> list[str]:
        return [f.ip_address for f in self.fixed_ips
                if version is None or ipaddress.ip_address(f.ip_address).version == version]


@dataclasses.dataclass
class SecurityGroupRule:
    id: str
    direction: str  # "ingress" | "egress"
    ethertype: str = "IPv4"  # "IPv4" | "IPv6"
    protocol: str | None = None  # None = any; name ("tcp", "icmp", ...) or number as a string
    port_range_min: int | None = None
    port_range_max: int | None = None
    remote_ip_prefix: str | None = None
    remote_group_id: str | None = None


@dataclasses.dataclass
class SecurityGroup:
    id: str
    rules: list[SecurityGroupRule] = dataclasses.field(default_factory=list)
    # The fixed IPs (and address pair IPs) of every port in the group, on any
    # host: what a rule with remote_group_id = this group expands to.
    member_ips: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class RouterInterface:
    """A qr- port: the router's address (usually the gateway_ip) on one subnet."""

    port_id: str
    network_id: str
    subnet_id: str
    ip_address: str
    mac_address: str


@dataclasses.dataclass
class ExternalGateway:
    """external_gateway_info plus its port: a qg- device on the external network."""

    port_id: str
    network_id: str
    subnet_id: str
    ip_address: str
    mac_address: str
    enable_snat: bool = True


@dataclasses.dataclass
class FloatingIP:
    id: str
    floating_ip_address: str
    fixed_ip_address: str
    port_id: str = ""


@dataclasses.dataclass
class Router:
    id: str
    interfaces: list[RouterInterface] = dataclasses.field(default_factory=list)
    external_gateway: ExternalGateway | None = None
    floating_ips: list[FloatingIP] = dataclasses.field(default_factory=list)
    # routes (extra routes): [{"destination": ..., "nexthop": ...}]
    routes: list[dict[str, str]] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class HostState:
    networks: list[Network] = dataclasses.field(default_factory=list)
    # Guest ports bound here, the DHCP ports of the networks, and every other
    # port of those networks (for the DHCP host entries).
    ports: list[Port] = dataclasses.field(default_factory=list)
    security_groups: list[SecurityGroup] = dataclasses.field(default_factory=list)
    routers: list[Router] = dataclasses.field(default_factory=list)
    # VXLAN: the tunnel addresses of the other hosts (flood entries toward each).
    vxlan_peers: list[str] = dataclasses.field(default_factory=list)

    def network(self, network_id: str) -> Network | None:
        return next((n for n in self.networks if n.id == network_id), None)

    def router(self, router_id: str) -> Router | None:
        return next((r for r in self.routers if r.id == router_id), None)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "HostState":
        return _build(cls, data)


def _build(cls: Any, data: Any) -> Any:
    """Dataclass from nested dicts, by the type hints above."""
    import typing
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for field in dataclasses.fields(cls):
        if field.name not in data:
            continue
        kwargs[field.name] = _value(hints[field.name], data[field.name])
    return cls(**kwargs)


def _value(hint: Any, value: Any) -> Any:
    import typing
    if value is None:
        return None
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is list:
        return [_value(args[0], v) for v in value]
    if origin in (typing.Union, getattr(__import__("types"), "UnionType")):
        inner = [a for a in args if a is not type(None)]
        return _value(inner[0], value)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value)
    return value
