"""Routers: SNAT to the gateway address, floating IPs (DNAT + SNAT), and
networks with the same CIDR kept apart."""

from __future__ import annotations

import ipaddress
import json
import random
import socket
import threading
import time

import pytest

from monostack.network.dataplane import names
from monostack.network.dataplane import router as router_plane
from monostack.network.dataplane.desired import (ExternalGateway, FloatingIP, HostState, Router,
                                                 RouterInterface, SecurityGroupRule)

from .builders import dhcp_port, network, open_group, port
from .conftest import in_ns, sh
from .test_security_groups import CLIENT, SERVER

pytestmark = pytest.mark.root


class PeerRecorder:
    """A TCP server on the host that notes who connects."""

    def __init__(self, address: str) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((address, 8080))
        self.sock.listen(16)
        self.peers: list[str] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, peer = self.sock.accept()
            except OSError:
                return
            self.peers.append(peer[0])
            conn.sendall(b"hello")
            conn.close()

    def close(self) -> None:
        self.sock.close()


def external(scope):
    """A host-side external network (as `monostack up`'s public): the host holds .1."""
    cidr = f"198.18.{random.randint(1, 254)}.0/24"
    net = network(scope, cidr=cidr, mtu=1500)
    host_ip = str(ipaddress.ip_network(cidr)[1])
    net.host_addresses = [f"{host_ip}/24"]
    return net, host_ip


async def test_snat_and_floating_ip(scope, agent):
    ext, host_ip = external(scope)
    ext_net = ipaddress.ip_network(ext.subnets[0].cidr)
    gw_ip, fip_ip = str(ext_net[10]), str(ext_net[20])
    net = network(scope, cidr="10.53.0.0/24")
    group = open_group(scope)
    group.rules.append(SecurityGroupRule(id="r-tcp", direction="ingress", protocol="tcp",
                                         port_range_min=8080, port_range_max=8080))
    p1, p2 = port(scope, net, 11, sgs=[group.id]), port(scope, net, 12, sgs=[group.id])
    g1, g2 = scope.guest(p1.id, p1.mac_address), scope.guest(p2.id, p2.mac_address)
    router = Router(
        id=scope.id(),
        interfaces=[RouterInterface(port_id=scope.id(), network_id=net.id, subnet_id=net.subnets[0].id,
                                    ip_address="10.53.0.1", mac_address=scope.mac())],
        external_gateway=ExternalGateway(port_id=scope.id(), network_id=ext.id,
                                         subnet_id=ext.subnets[0].id, ip_address=gw_ip,
                                         mac_address=scope.mac(), enable_snat=True),
        floating_ips=[FloatingIP(id=scope.id(), floating_ip_address=fip_ip,
                                 fixed_ip_address="10.53.0.11", port_id=p1.id)])
    state = HostState(networks=[ext, net], ports=[p1, p2, dhcp_port(scope, net)],
                      security_groups=[group], routers=[router])
    await agent.apply(state)
    assert await agent.apply(state) == []
    scope.dhcp(g1), scope.dhcp(g2)
    recorder = PeerRecorder(host_ip)
    try:
        # g2 has no floating IP: SNAT to the router's gateway address.
        assert in_ns(g2, "python3", "-c", CLIENT, host_ip).stdout.strip() == "hello"
        # g1 leaves as its floating IP.
        assert in_ns(g1, "python3", "-c", CLIENT, host_ip).stdout.strip() == "hello"
        assert recorder.peers == [gw_ip, fip_ip]
    finally:
        recorder.close()
    # The host reaches g1 through its floating IP.
    sh("ping", "-c", "2", "-W", "2", fip_ip)
    scope.spawn("ip", "netns", "exec", g1, "python3", "-c", SERVER)
    for _ in range(50):  # until the guest's server listens
        try:
            with socket.create_connection((fip_ip, 8080), timeout=3) as conn:
                assert conn.recv(5) == b"hello"
            break
        except ConnectionRefusedError:
            time.sleep(0.1)
    else:
        raise AssertionError("the guest's server never answered through the floating IP")
    # A guest on the same network reaches it through its floating IP too (hairpin through the
    # router: the DNATed connection leaves SNATed to the gateway, so the answer comes back the same way).
    assert in_ns(g2, "python3", "-c", CLIENT, fip_ip).stdout.strip() == "hello"

    # Disassociating the floating IP takes the address and the rules away.
    router.floating_ips = []
    changes = await agent.apply(state)
    assert any("removed" in c for c in changes)
    assert sh("ping", "-c", "1", "-W", "1", fip_ip, check=False).returncode != 0
    ns = "qrouter-" + router.id
    assert fip_ip not in in_ns(ns, "ip", "addr").stdout
    assert fip_ip not in in_ns(ns, "nft", "list", "ruleset").stdout


async def test_a_floating_ip_is_announced_by_gratuitous_arp(scope, agent):
    """A floating IP that moves to another router (another MAC): the router's gratuitous ARP
    updates the host's stale neighbour entry before any traffic asks for it."""
    ext, _ = external(scope)
    ext_net = ipaddress.ip_network(ext.subnets[0].cidr)
    gw_ip, fip_ip = str(ext_net[10]), str(ext_net[20])
    net = network(scope, cidr="10.54.0.0/24")
    p1 = port(scope, net, 11)
    gateway_mac = scope.mac()
    router = Router(
        id=scope.id(),
        interfaces=[RouterInterface(port_id=scope.id(), network_id=net.id, subnet_id=net.subnets[0].id,
                                    ip_address="10.54.0.1", mac_address=scope.mac())],
        external_gateway=ExternalGateway(port_id=scope.id(), network_id=ext.id, subnet_id=ext.subnets[0].id,
                                         ip_address=gw_ip, mac_address=gateway_mac, enable_snat=True))
    state = HostState(networks=[ext, net], ports=[p1], routers=[router])
    await agent.apply(state)
    bridge = names.bridge(ext.id)
    old_mac = "fa:16:3e:00:00:99"  # where the address was before (another router's gateway)
    sh("ip", "neigh", "replace", fip_ip, "lladdr", old_mac, "dev", bridge, "nud", "stale")

    router.floating_ips = [FloatingIP(id=scope.id(), floating_ip_address=fip_ip, fixed_ip_address="10.54.0.11",
                                      port_id=p1.id)]
    await agent.apply(state)
    await router_plane.drain()
    entry = json.loads(sh("ip", "-j", "neigh", "show", fip_ip, "dev", bridge).stdout)
    assert entry and entry[0]["lladdr"] == gateway_mac, entry


async def test_same_cidr_networks_stay_apart(scope, agent):
    group = open_group(scope)
    net_a, net_b = network(scope, cidr="10.54.0.0/24"), network(scope, cidr="10.54.0.0/24")
    a1, a2 = port(scope, net_a, 11, sgs=[group.id]), port(scope, net_a, 12, sgs=[group.id])
    b1 = port(scope, net_b, 12, sgs=[group.id])
    ga1, ga2, gb1 = (scope.guest(p.id, p.mac_address) for p in (a1, a2, b1))
    state = HostState(networks=[net_a, net_b],
                      ports=[a1, a2, b1, dhcp_port(scope, net_a), dhcp_port(scope, net_b)],
                      security_groups=[group])
    await agent.apply(state)
    for g in (ga1, ga2, gb1):
        scope.dhcp(g)
    in_ns(ga1, "ping", "-c", "1", "-W", "2", "10.54.0.12")
    neigh = in_ns(ga1, "ip", "neigh", "show", "10.54.0.12").stdout
    assert a2.mac_address in neigh and b1.mac_address not in neigh
    # Nobody on network B holds .11.
    assert in_ns(gb1, "ping", "-c", "1", "-W", "1", "10.54.0.11", check=False).returncode != 0
    # Each network's connections are tracked in its own conntrack zone: both
    # DHCP ports are 10.54.0.2.
    in_ns(ga1, "ping", "-c", "1", "-W", "2", "10.54.0.2")
    in_ns(gb1, "ping", "-c", "1", "-W", "2", "10.54.0.2")
    zones = json.loads((scope.tmp / "agent" / "zones.json").read_text())
    za, zb = zones[net_a.id], zones[net_b.id]
    assert za != zb
    with open("/proc/net/nf_conntrack") as f:
        table = f.read().splitlines()
    icmp = [t for t in table if " icmp " in t]
    assert [t for t in icmp if "src=10.54.0.11 dst=10.54.0.2 " in t and f"zone={za} " in t]
    assert [t for t in icmp if "src=10.54.0.12 dst=10.54.0.2 " in t and f"zone={zb} " in t]


def eui64(prefix: str, mac: str) -> str:
    octets = [int(b, 16) for b in mac.split(":")]
    octets[0] ^= 0x02
    iid = octets[:3] + [0xff, 0xfe] + octets[3:]
    return str(ipaddress.ip_network(prefix)[int.from_bytes(bytes(iid), "big")])


async def test_ipv6_slaac_from_the_router(scope, agent):
    from monostack.network.dataplane.desired import FixedIP, Subnet
    net = network(scope, cidr="10.59.0.0/24", mtu=1400)
    v6 = Subnet(id=scope.id(), cidr="fd00:59::/64", gateway_ip="fd00:59::1", ip_version=6,
                ipv6_ra_mode="slaac", ipv6_address_mode="slaac", dns_nameservers=["fd00:59::53"])
    net.subnets.append(v6)
    group = open_group(scope)
    group.rules.append(SecurityGroupRule(id="r-egress6", direction="egress", ethertype="IPv6"))
    p1 = port(scope, net, 11, sgs=[group.id])
    address = eui64(v6.cidr, p1.mac_address)
    p1.fixed_ips.append(FixedIP(v6.id, address))
    g1 = scope.guest(p1.id, p1.mac_address)
    # One router port on both subnets, as Neutron makes it for a dual-stack network.
    qr_port, qr_mac = scope.id(), scope.mac()
    router = Router(id=scope.id(), interfaces=[
        RouterInterface(port_id=qr_port, network_id=net.id, subnet_id=v6.id,
                        ip_address="fd00:59::1", mac_address=qr_mac),
        RouterInterface(port_id=qr_port, network_id=net.id, subnet_id=net.subnets[0].id,
                        ip_address="10.59.0.1", mac_address=qr_mac)])
    state = HostState(networks=[net], ports=[p1], security_groups=[group], routers=[router])
    changes = await agent.apply(state)
    assert f"radvd {router.id} started" in changes
    assert await agent.apply(state) == []
    for _ in range(200):  # router solicitations every 4 s, advertisements every 10-30 s
        if address in in_ns(g1, "ip", "-6", "addr", "show", "dev", "eth0").stdout:
            break
        time.sleep(0.1)
    else:
        raise AssertionError("no SLAAC address")
    assert "default via fe80::" in in_ns(g1, "ip", "-6", "route").stdout
    assert in_ns(g1, "cat", "/proc/sys/net/ipv6/conf/eth0/mtu").stdout.strip() == "1400"
    in_ns(g1, "ping", "-6", "-c", "1", "-W", "3", "fd00:59::1")
    qr = in_ns("qrouter-" + router.id, "ip", "addr", "show", "qr-" + qr_port[:11]).stdout
    assert "10.59.0.1/24" in qr and "fd00:59::1/64" in qr
