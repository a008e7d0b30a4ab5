"""A VXLAN tenant network between this host and a second "host" (a
namespace with its own bridge and vxlan device, reached over a veth
underlay): guests on both sides talk through the static flood entries."""

from __future__ import annotations

import random

import pytest

from monostack.network.dataplane.desired import HostState

from .builders import network, open_group, port
from .conftest import in_ns, sh

pytestmark = pytest.mark.root


async def test_guest_reaches_a_guest_on_another_host(scope, agent):
    r = random.randint(1, 254)
    local, remote = f"198.19.{r}.1", f"198.19.{r}.2"
    vni = random.randint(100000, 16000000)
    underlay, host_b = f"{scope.prefix}u", f"{scope.prefix}-hostb"
    sh("ip", "netns", "add", host_b)
    scope.guests.append(host_b)  # removed at teardown
    sh("ip", "link", "add", underlay, "type", "veth", "peer", "name", "uplink", "netns", host_b)
    sh("ip", "addr", "add", f"{local}/24", "dev", underlay)
    sh("ip", "link", "set", underlay, "up")
    # Host B: what its agent would make, by hand; the "guest" there is its bridge address.
    for argv in (["ip", "addr", "add", f"{remote}/24", "dev", "uplink"],
                 ["ip", "link", "set", "uplink", "up"],
                 ["ip", "link", "add", "br0", "mtu", "1450", "type", "bridge"],
                 ["ip", "link", "add", f"vxlan-{vni}", "mtu", "1450", "type", "vxlan", "id", str(vni),
                  "local", remote, "dstport", "4789", "nolearning"],
                 ["ip", "link", "set", f"vxlan-{vni}", "master", "br0", "up"],
                 ["bridge", "fdb", "append", "00:00:00:00:00:00", "dev", f"vxlan-{vni}", "dst", local],
                 ["ip", "addr", "add", "10.62.0.12/24", "dev", "br0"],
                 ["ip", "link", "set", "br0", "up"]):
        in_ns(host_b, *argv)
    try:
        agent.config.local_ip = local
        net = network(scope, cidr="10.62.0.0/24", mtu=1450)
        net.network_type, net.segmentation_id = "vxlan", vni
        group = open_group(scope)
        p1 = port(scope, net, 11, sgs=[group.id])
        g1 = scope.guest(p1.id, p1.mac_address)
        in_ns(g1, "ip", "addr", "add", "10.62.0.11/24", "dev", "eth0")
        in_ns(g1, "ip", "link", "set", "eth0", "mtu", "1450")
        state = HostState(networks=[net], ports=[p1], security_groups=[group], vxlan_peers=[remote])
        await agent.apply(state)
        in_ns(g1, "ping", "-c", "2", "-W", "2", "10.62.0.12")
        # Full-size frames fit: the network MTU leaves room for the VXLAN header.
        in_ns(g1, "ping", "-c", "1", "-W", "2", "-M", "do", "-s", str(1450 - 28), "10.62.0.12")
        # Without the peer in the state, the flood entry goes and so does the path.
        state.vxlan_peers = []
        assert f"vxlan-{vni} no flood to {remote}" in await agent.apply(state)
        in_ns(g1, "ip", "neigh", "flush", "dev", "eth0")
        assert in_ns(g1, "ping", "-c", "1", "-W", "1", "10.62.0.12", check=False).returncode != 0
    finally:
        sh("ip", "link", "del", underlay, check=False)
