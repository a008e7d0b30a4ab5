"""What the data plane writes, without root: names, dnsmasq files, nft rules, state files."""

from __future__ import annotations

import pytest

from monostack.network.dataplane import dhcp, firewall, names, router
from monostack.network.dataplane.desired import (AddressPair, ExternalGateway, FixedIP, FloatingIP,
                                                 HostState, Network, Port, Router, RouterInterface,
                                                 SecurityGroup, SecurityGroupRule, Subnet)

NET = "6f1c2d3e-aaaa-bbbb-cccc-000000000001"
PORT = "0a1b2c3d-4e5f-6789-abcd-ef0123456789"


def test_names_as_the_linux_bridge_agent():
    assert names.bridge(NET) == "brq6f1c2d3e-aa"
    assert names.tap(PORT) == "tap0a1b2c3d-4e"
    assert names.dhcp_dev(PORT) == "ns-0a1b2c3d-4e"
    assert names.router_internal(PORT) == "qr-0a1b2c3d-4e"
    assert names.router_gateway(PORT) == "qg-0a1b2c3d-4e"
    assert names.vxlan(16777215) == "vxlan-16777215"
    assert names.vlan("enp0s31f6long", 4094) == "enp0s31f6l.4094"
    assert names.dhcp_ns(NET) == "qdhcp-" + NET
    for name in (names.bridge(NET), names.tap(PORT), names.vxlan(16777215), names.vlan("x" * 15, 4094)):
        assert len(name) <= 15


def _state():
    subnet = Subnet(id="s1", cidr="10.0.0.0/24", gateway_ip="10.0.0.1", dns_nameservers=["8.8.8.8"],
                    host_routes=[{"destination": "10.9.0.0/16", "nexthop": "10.0.0.254"}])
    net = Network(id=NET, mtu=1450, segmentation_id=7, subnets=[subnet])
    dhcp_port = Port(id="d" * 36, network_id=NET, mac_address="fa:16:3e:00:00:02",
                     fixed_ips=[FixedIP("s1", "10.0.0.2")], device_owner="network:dhcp")
    guest = Port(id=PORT, network_id=NET, mac_address="fa:16:3e:00:00:0b",
                 fixed_ips=[FixedIP("s1", "10.0.0.11")], device_owner="compute:nova",
                 security_groups=["sg"], allowed_address_pairs=[AddressPair("10.0.0.128/25")])
    group = SecurityGroup(id="sg", member_ips=["10.0.0.11", "10.0.0.12"], rules=[
        SecurityGroupRule(id="1", direction="ingress", protocol="tcp", port_range_min=22,
                          port_range_max=22),
        SecurityGroupRule(id="2", direction="ingress", protocol="icmp", remote_group_id="sg"),
        SecurityGroupRule(id="3", direction="egress", ethertype="IPv6"),
        SecurityGroupRule(id="4", direction="ingress", protocol="udp", port_range_min=1000,
                          port_range_max=2000, remote_ip_prefix="192.168.0.0/16"),
        SecurityGroupRule(id="5", direction="ingress", ethertype="IPv6", protocol="icmp",
                          port_range_min=128, remote_ip_prefix="10.0.0.0/8"),  # wrong family: none
    ])
    return HostState(networks=[net], ports=[dhcp_port, guest], security_groups=[group])


def test_dnsmasq_files():
    state = _state()
    net, (dhcp_port, guest) = state.networks[0], state.ports
    assert dhcp.render_hosts(net, [guest]) == "fa:16:3e:00:00:0b,host-10-0-0-11.openstacklocal,10.0.0.11\n"
    opts = dhcp.render_opts(net, dhcp_port).splitlines()
    assert "tag:subnet-s1,option:router,10.0.0.1" in opts
    assert ("tag:subnet-s1,option:classless-static-route,169.254.169.254/32,10.0.0.2,"
            "10.9.0.0/16,10.0.0.254,0.0.0.0/0,10.0.0.1") in opts
    assert "tag:subnet-s1,option:dns-server,8.8.8.8" in opts
    assert "tag:subnet-s1,option:mtu,1450" in opts
    argv = dhcp.command(net, dhcp_port, "/state", 600)
    assert "--dhcp-range=set:subnet-s1,10.0.0.0,static,255.255.255.0,600s" in argv
    assert "--interface=ns-ddddddddddd" in argv


def test_security_group_rules():
    state = _state()
    rules = {r.id: r for r in state.security_groups[0].rules}
    assert firewall.render_rule(rules["1"], state, "accept") == \
        "meta nfproto ipv4 meta l4proto 6 th dport 22 accept"
    assert firewall.render_rule(rules["2"], state, "accept") == \
        "meta nfproto ipv4 ip saddr { 10.0.0.11, 10.0.0.12 } meta l4proto 1 accept"
    assert firewall.render_rule(rules["3"], state, "return") == "meta nfproto ipv6 return"
    assert firewall.render_rule(rules["4"], state, "accept") == \
        "meta nfproto ipv4 ip saddr 192.168.0.0/16 meta l4proto 17 th dport 1000-2000 accept"
    assert firewall.render_rule(rules["5"], state, "accept") is None
    with pytest.raises(ValueError):
        firewall.render_rule(SecurityGroupRule(id="x", direction="ingress", protocol="bogus"),
                             state, "accept")
    bridge, inet = firewall.render(state, {NET: 3})
    assert "ether saddr != fa:16:3e:00:00:0b drop" in bridge
    assert "ip saddr != { 10.0.0.11, 10.0.0.128/25 } drop" in bridge
    assert "ether type ip udp sport 67 udp dport 68 drop" in bridge  # no DHCP servers in guests
    assert "ether type ip6 icmpv6 type nd-router-advert drop" in bridge
    assert 'ct zone set iifname map { "brq6f1c2d3e-aa" : 3 }' in inet
    # The DHCP port is no guest: no chain of its own, but its frames carry no stale mark.
    assert "from-ddddddddddd" not in bridge and '"tapddddddddddd"' in bridge


def test_router_nat():
    state = _state()
    ext = Network(id="e" * 36, network_type="local",
                  subnets=[Subnet(id="es", cidr="172.24.4.0/24", gateway_ip="172.24.4.1")])
    state.networks.append(ext)
    r = Router(id="r", interfaces=[RouterInterface("i" * 36, NET, "s1", "10.0.0.1", "fa:16:3e:00:00:01")],
               external_gateway=ExternalGateway("g" * 36, ext.id, "es", "172.24.4.10", "fa:16:3e:00:00:10"),
               floating_ips=[FloatingIP("f", "172.24.4.20", "10.0.0.11")])
    nat = router.render_nat(r, state)
    assert "ip daddr 172.24.4.20 dnat to 10.0.0.11" in nat
    assert 'oifname "qg-ggggggggggg" ip saddr 10.0.0.11 snat to 172.24.4.20' in nat
    assert 'oifname "qg-ggggggggggg" ip saddr 10.0.0.0/24 snat to 172.24.4.10' in nat
    assert 'oifname != "qg-ggggggggggg" ct status dnat snat to 172.24.4.10' in nat  # hairpin
    r.external_gateway.enable_snat = False
    assert "snat to 172.24.4.10" not in router.render_nat(r, state)
    # Metadata through the router: what guests send to 169.254.169.254:80 goes to the proxy.
    redirect = 'iifname "qr-*" ip daddr 169.254.169.254 tcp dport 80 redirect to :9697'
    assert redirect not in nat
    assert redirect in router.render_nat(r, state, metadata=True)
    r.interfaces = []
    assert "169.254.169.254" not in router.render_nat(r, state, metadata=True)


def test_state_round_trip():
    state = _state()
    assert HostState.from_dict(state.to_dict()) == state
