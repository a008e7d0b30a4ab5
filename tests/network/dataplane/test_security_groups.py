"""Security groups per port: default deny ingress, rules added and removed
live, anti-spoofing."""

from __future__ import annotations

import time

import pytest

from monostack.network.dataplane.desired import HostState, SecurityGroupRule

from .builders import dhcp_port, network, open_group, port
from .conftest import in_ns

pytestmark = pytest.mark.root

SERVER = ("import socket\n"
          "s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
          "s.bind(('0.0.0.0', 8080)); s.listen(16)\n"
          "while True:\n"
          "    c, _ = s.accept(); c.sendall(b'hello'); c.close()\n")
CLIENT = ("import socket, sys\n"
          "try:\n"
          "    c = socket.create_connection((sys.argv[1], 8080), timeout=1.5)\n"
          "    print(c.recv(5).decode())\n"
          "except OSError as e:\n"
          "    print('blocked', e)\n")


def tcp(ns: str, ip: str) -> str:
    return in_ns(ns, "python3", "-c", CLIENT, ip).stdout.strip()


async def test_rules_live_and_anti_spoofing(scope, agent):
    net = network(scope, cidr="10.51.0.0/24")
    group = open_group(scope)
    p1, p2 = port(scope, net, 11, sgs=[group.id]), port(scope, net, 12, sgs=[group.id])
    g1, g2 = scope.guest(p1.id, p1.mac_address), scope.guest(p2.id, p2.mac_address)
    state = HostState(networks=[net], ports=[p1, p2, dhcp_port(scope, net)], security_groups=[group])
    await agent.apply(state)
    scope.dhcp(g1), scope.dhcp(g2)
    scope.spawn("ip", "netns", "exec", g2, "python3", "-c", SERVER)
    # The server is up (ICMP allowed, so the guest answers), TCP 8080 is not allowed yet.
    in_ns(g1, "ping", "-c", "1", "-W", "2", "10.51.0.12")
    for _ in range(50):  # until the server listens (seen from inside g2)
        if ":8080" in in_ns(g2, "ss", "-ltn").stdout:
            break
        time.sleep(0.1)
    assert tcp(g1, "10.51.0.12").startswith("blocked")

    group.rules.append(SecurityGroupRule(id="r-tcp", direction="ingress", protocol="tcp",
                                         port_range_min=8080, port_range_max=8080,
                                         remote_ip_prefix="10.51.0.0/24"))
    changes = await agent.apply(state)
    assert changes == [f"firewall monostack_{scope.prefix} loaded"]
    assert tcp(g1, "10.51.0.12") == "hello"

    group.rules.pop()
    await agent.apply(state)
    assert tcp(g1, "10.51.0.12").startswith("blocked")

    # A spoofed source address is dropped at the port, the real one passes.
    in_ns(g1, "ip", "addr", "add", "10.51.0.99/24", "dev", "eth0")
    assert in_ns(g1, "ping", "-c", "1", "-W", "1", "-I", "10.51.0.99", "10.51.0.12",
                 check=False).returncode != 0
    in_ns(g1, "ping", "-c", "1", "-W", "2", "-I", "10.51.0.11", "10.51.0.12")
    # ... unless an allowed address pair covers it,
    from monostack.network.dataplane.desired import AddressPair
    p1.allowed_address_pairs.append(AddressPair("10.51.0.99"))
    await agent.apply(state)
    in_ns(g1, "ping", "-c", "1", "-W", "2", "-I", "10.51.0.99", "10.51.0.12")
    # ... or port security is off.
    p1.allowed_address_pairs.clear()
    await agent.apply(state)
    assert in_ns(g1, "ping", "-c", "1", "-W", "1", "-I", "10.51.0.99", "10.51.0.12",
                 check=False).returncode != 0
    p1.port_security_enabled = False
    p1.security_groups = []
    await agent.apply(state)
    in_ns(g1, "ping", "-c", "1", "-W", "2", "-I", "10.51.0.99", "10.51.0.12")


async def test_remote_group_members_and_default_deny(scope, agent):
    net = network(scope, cidr="10.52.0.0/24")
    web = open_group(scope)
    web.rules = [SecurityGroupRule(id="r-egress", direction="egress")]
    client_group = open_group(scope)
    client_group.rules = [SecurityGroupRule(id="r-egress", direction="egress")]
    # web allows ICMP only from members of client_group.
    web.rules.append(SecurityGroupRule(id="r-icmp", direction="ingress", protocol="icmp",
                                       remote_group_id=client_group.id))
    p1, p2 = port(scope, net, 11, sgs=[client_group.id]), port(scope, net, 12, sgs=[web.id])
    g1, _g2 = scope.guest(p1.id, p1.mac_address), scope.guest(p2.id, p2.mac_address)
    in_ns(g1, "ip", "addr", "add", "10.52.0.11/24", "dev", "eth0")
    in_ns(_g2, "ip", "addr", "add", "10.52.0.12/24", "dev", "eth0")
    state = HostState(networks=[net], ports=[p1, p2], security_groups=[web, client_group])
    await agent.apply(state)
    # No members yet: ingress denied.
    assert in_ns(g1, "ping", "-c", "1", "-W", "1", "10.52.0.12", check=False).returncode != 0
    client_group.member_ips = ["10.52.0.11"]
    await agent.apply(state)
    in_ns(g1, "ping", "-c", "1", "-W", "2", "10.52.0.12")
    # Default deny ingress the other way (client_group has no ingress rule).
    assert in_ns(_g2, "ping", "-c", "1", "-W", "1", "10.52.0.11", check=False).returncode != 0


async def test_ipv6_rules_and_neighbour_discovery(scope, agent):
    from monostack.network.dataplane.desired import FixedIP, Subnet
    net = network(scope, cidr="10.58.0.0/24")
    net.subnets.append(Subnet(id=scope.id(), cidr="fd00:58::/64", gateway_ip="fd00:58::1",
                              ip_version=6, enable_dhcp=False))
    group = open_group(scope)
    group.rules = [SecurityGroupRule(id="r-egress6", direction="egress", ethertype="IPv6")]
    p1, p2 = port(scope, net, 11, sgs=[group.id]), port(scope, net, 12, sgs=[group.id])
    for p, last in ((p1, 11), (p2, 12)):
        p.fixed_ips.append(FixedIP(net.subnets[1].id, f"fd00:58::{last}"))
    g1, g2 = scope.guest(p1.id, p1.mac_address), scope.guest(p2.id, p2.mac_address)
    for g, last in ((g1, 11), (g2, 12)):
        in_ns(g, "ip", "addr", "add", f"fd00:58::{last}/64", "dev", "eth0", "nodad")
        in_ns(g, "ip", "addr", "add", f"fd00:58::{last + 100}/64", "dev", "eth0", "nodad")
    state = HostState(networks=[net], ports=[p1, p2], security_groups=[group])
    await agent.apply(state)
    # Neighbour discovery passes, ICMPv6 echo is not allowed yet.
    assert in_ns(g1, "ping", "-6", "-c", "1", "-W", "1", "fd00:58::12", check=False).returncode != 0
    group.rules.append(SecurityGroupRule(id="r-icmp6", direction="ingress", ethertype="IPv6",
                                         protocol="icmp"))
    await agent.apply(state)
    in_ns(g1, "ping", "-6", "-c", "1", "-W", "2", "-I", "fd00:58::11", "fd00:58::12")
    # An IPv6 source that is not the port's is dropped.
    assert in_ns(g1, "ping", "-6", "-c", "1", "-W", "1", "-I", "fd00:58::111", "fd00:58::12",
                 check=False).returncode != 0
