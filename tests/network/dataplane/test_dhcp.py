"""Guests on one tenant network get their addresses from dnsmasq and ping each other."""

from __future__ import annotations

import pytest

from monostack.network.dataplane.desired import HostState

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
