"""Guests on one tenant network get their addresses from dnsmasq and ping each other."""

from __future__ import annotations

import pytest

from monostack.network.dataplane.desired import (FixedIP, HostState, Router, RouterInterface,
                                                 SecurityGroupRule, Subnet)

from .builders import dhcp_port, network, open_group, port
from .conftest import in_ns

pytestmark = pytest.mark.root


async def test_two_guests_get_addresses_by_dhcp_and_ping(scope, agent):
    net = network(scope, mtu=1400, dns_nameservers=["10.50.0.53"],
                  host_routes=[{"destination": "10.99.0.0/24", "nexthop": "10.50.0.254"}])
    group = open_group(scope)
    p1, p2 = port(scope, net, 11, sgs=[group.id]), port(scope, net, 12, sgs=[group.id])
    g1, g2 = scope.guest(p1.id, p1.mac_address), scope.guest(p2.id, p2.mac_address)
    state = HostState(networks=[net], ports=[p1, p2, dhcp_port(scope, net)], security_groups=[group])
    await agent.apply(state)
    assert agent.plugged == {p1.id, p2.id}

    lease1, lease2 = scope.dhcp(g1), scope.dhcp(g2)
    assert lease1["ip"] == "10.50.0.11" and lease2["ip"] == "10.50.0.12"
    assert lease1["mtu"] == "1400"
    assert lease1["dns"].split() == ["10.50.0.53"]
    routes = lease1["staticroutes"].split()
    assert routes == ["169.254.169.254/32", "10.50.0.2", "10.99.0.0/24", "10.50.0.254",
                      "0.0.0.0/0", "10.50.0.1"]
    assert "host-10-50-0-11" in lease1.get("hostname", "host-10-50-0-11")
    assert "mtu 1400" in in_ns(g1, "ip", "link", "show", "eth0").stdout
    assert "10.99.0.0/24 via 10.50.0.254" in in_ns(g1, "ip", "route").stdout
    in_ns(g1, "ping", "-c", "2", "-W", "2", "10.50.0.12")
    in_ns(g2, "ping", "-c", "2", "-W", "2", "10.50.0.11")


async def test_new_port_reaches_running_dnsmasq_by_reload(scope, agent):
    net = network(scope, cidr="10.63.0.0/24")
    group = open_group(scope)
    p1 = port(scope, net, 11, sgs=[group.id])
    state = HostState(networks=[net], ports=[p1, dhcp_port(scope, net)], security_groups=[group])
    await agent.apply(state)
    pid = open(agent.config.state_dir + f"/dhcp/{net.id}/pid").read().strip()
    p2 = port(scope, net, 12, sgs=[group.id])
    g2 = scope.guest(p2.id, p2.mac_address)
    state.ports.append(p2)
    changes = await agent.apply(state)
    assert f"dnsmasq {net.id} reloaded" in changes and not any("started" in c for c in changes)
    assert open(agent.config.state_dir + f"/dhcp/{net.id}/pid").read().strip() == pid
    assert scope.dhcp(g2)["ip"] == "10.63.0.12"


async def test_an_address_freed_by_a_port_goes_to_the_next_port_at_once(scope, agent):
    """dnsmasq keeps its leases in memory: the address of a port that went stays leased to its
    MAC unless the lease is released, and a new port given that address would get no answer."""
    net = network(scope, cidr="10.64.0.0/24")
    group = open_group(scope)
    first = port(scope, net, 11, sgs=[group.id])
    g1 = scope.guest(first.id, first.mac_address)
    state = HostState(networks=[net], ports=[first, dhcp_port(scope, net)], security_groups=[group])
    await agent.apply(state)
    assert scope.dhcp(g1)["ip"] == "10.64.0.11"
    second = port(scope, net, 11, sgs=[group.id])  # Neutron hands the freed address out again
    assert second.mac_address != first.mac_address
    g2 = scope.guest(second.id, second.mac_address)
    pid = open(agent.config.state_dir + f"/dhcp/{net.id}/pid").read().strip()
    state.ports = [second, state.ports[1]]
    await agent.apply(state)
    assert scope.dhcp(g2)["ip"] == "10.64.0.11"
    assert open(agent.config.state_dir + f"/dhcp/{net.id}/pid").read().strip() == pid  # released, not restarted


@pytest.mark.parametrize("mode", ["dhcpv6-stateful", "dhcpv6-stateless"])
async def test_dhcpv6_gives_the_port_its_address_or_only_options(scope, agent, mode):
    """The router's advertisements say "managed" (stateful) or "other config" (stateless):
    dnsmasq hands the guest the port's own IPv6 address (not one SLAAC would form), or only the
    options, with the subnet's DNS server."""
    net = network(scope, cidr="10.61.0.0/24")
    v6 = Subnet(id=scope.id(), cidr="fd00:61::/64", gateway_ip="fd00:61::1", ip_version=6,
                ipv6_ra_mode=mode, ipv6_address_mode=mode, dns_nameservers=["fd00:61::53"])
    net.subnets.append(v6)
    group = open_group(scope)
    group.rules.append(SecurityGroupRule(id="r-egress6", direction="egress", ethertype="IPv6"))
    p1 = port(scope, net, 11, sgs=[group.id])
    p1.fixed_ips.append(FixedIP(v6.id, "fd00:61::11"))
    dhcp = dhcp_port(scope, net)
    dhcp.fixed_ips.append(FixedIP(v6.id, "fd00:61::2"))
    g1 = scope.guest(p1.id, p1.mac_address)
    qr_port, qr_mac = scope.id(), scope.mac()
    router = Router(id=scope.id(), interfaces=[
        RouterInterface(port_id=qr_port, network_id=net.id, subnet_id=v6.id, ip_address="fd00:61::1",
                        mac_address=qr_mac)])
    state = HostState(networks=[net], ports=[p1, dhcp], security_groups=[group], routers=[router])
    await agent.apply(state)
    lease = scope.dhcp6(g1)
    assert lease.get("new_dhcp6_name_servers") == "fd00:61::53", lease
    if mode == "dhcpv6-stateful":
        assert lease.get("new_dhcp6_ia_na1_ia_addr1") == "fd00:61::11", lease
    else:
        assert not any(k.startswith("new_dhcp6_ia_na") for k in lease), lease
