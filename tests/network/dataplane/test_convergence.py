"""Convergence: a second apply changes nothing, an empty state removes
everything of ours, and the data plane keeps working while the agent is
down (SIGKILL) and after it comes back."""

from __future__ import annotations

import dataclasses
import json
import os
import random
import subprocess
import sys
import time

import pytest

from monostack.network.dataplane import nft
from monostack.network.dataplane.desired import HostState, Network

from .builders import dhcp_port, network, open_group, port
from .conftest import in_ns, make_config, sh

pytestmark = pytest.mark.root


def ours(prefix: str) -> dict[str, list[str]]:
    links = sorted(n for n in os.listdir("/sys/class/net") if prefix in n)
    netns = sorted(n for n in os.listdir("/run/netns") if prefix in n)
    return {"links": links, "netns": netns}


async def rule_count(table: str) -> int:
    return await nft.count_rules("bridge", table) + await nft.count_rules("inet", table)


async def test_apply_twice_then_empty(scope, agent):
    # One network of each kind: VXLAN (toward two remote hosts), VLAN and flat
    # on "physical" interfaces (veths: this kernel has no dummy devices).
    phys, flat = f"{scope.prefix}p", f"{scope.prefix}f"
    for dev in (phys, flat):
        sh("ip", "link", "add", dev, "type", "veth", "peer", "name", dev + "x")
    vlan_ok = sh("ip", "link", "add", "link", phys, "name", f"{scope.prefix}v", "type", "vlan",
                 "id", "9", check=False).returncode == 0  # no 802.1q in some kernels
    sh("ip", "link", "del", f"{scope.prefix}v", check=False)
    try:
        agent.config.physical_interface_mappings = {"physnet1": phys, "physnet2": flat}
        agent.config.local_ip = "127.0.0.1"
        vni = random.randint(100000, 16000000)
        tenant = network(scope, cidr="10.56.0.0/24", mtu=1450)
        tenant.network_type, tenant.segmentation_id = "vxlan", vni
        vlan = Network(id=scope.id(), network_type="vlan", physical_network="physnet1",
                       segmentation_id=101, mtu=1500)
        flat_net = Network(id=scope.id(), network_type="flat", physical_network="physnet2", mtu=1500)
        group = open_group(scope)
        p1 = port(scope, tenant, 11, sgs=[group.id])
        p2 = port(scope, tenant, 12, sgs=[group.id])  # a tap, as for QEMU
        g1 = scope.guest(p1.id, p1.mac_address)
        networks = [tenant, vlan, flat_net] if vlan_ok else [tenant, flat_net]
        state = HostState(networks=networks, ports=[p1, p2, dhcp_port(scope, tenant)],
                          security_groups=[group], vxlan_peers=["192.0.2.7", "192.0.2.8"])
        first = await agent.apply(state)
        assert first
        table = agent.config.firewall_table
        rules, links = await rule_count(table), ours(scope.prefix)
        assert await agent.apply(state) == []
        assert await rule_count(table) == rules and ours(scope.prefix) == links
        # What was made: the vxlan device with its flood entries, the vlan
        # subinterface, taps with the network's MTU.
        fdb = sh("bridge", "fdb", "show", "dev", f"vxlan-{vni}").stdout
        assert fdb.count("00:00:00:00:00:00") == 2
        detail = sh("ip", "-d", "link", "show", f"vxlan-{vni}").stdout
        assert "nolearning" in detail and "mtu 1450" in detail
        assert f"{phys}.101" in links or not vlan_ok
        tap = sh("ip", "-d", "link", "show", "tap" + p2.id[:11]).stdout
        assert "tun" in tap and "mtu 1450" in tap and f"master brq{tenant.id[:11]}" in tap
        assert f"master brq{flat_net.id[:11]}" in sh("ip", "link", "show", flat).stdout
        # Compute's QEMU driver finds the tap and leaves it alone.
        from monostack.compute.drivers import taps
        assert await taps.ensure("tap" + p2.id[:11], f"brq{tenant.id[:11]}", 1450) is False
        # A port going away: its tap goes; the rest stays.
        state.ports.remove(p2)
        changes = await agent.apply(state)
        assert f"tap{p2.id[:11]} removed" in changes
        assert await agent.apply(state) == []
        # A new agent (as after a restart) on the same state dir: nothing to do.
        from monostack.network.dataplane.agent import Agent
        await agent.close()  # its listeners go, as with a process that died
        again = Agent(dataclasses.replace(agent.config))
        try:
            assert [c for c in await again.apply(state) if "metadata" not in c] == []
        finally:
            await again.close()

        assert await agent.apply(HostState()) != []
        left = ours(scope.prefix)
        assert left == {"links": sorted([flat, flat + "x", phys, phys + "x"]), "netns": [g1]}, left
        assert not [t for t in await nft.tables() if scope.prefix in t[1]]
        assert not os.listdir(os.path.join(agent.config.state_dir, "dhcp"))
    finally:
        for dev in (phys, flat):
            sh("ip", "link", "del", dev, check=False)


def start_agent(scope, state: HostState) -> subprocess.Popen:
    config = dataclasses.asdict(make_config(scope))
    (scope.tmp / "config.json").write_text(json.dumps(config))
    (scope.tmp / "state.json").write_text(json.dumps(state.to_dict()))
    proc = scope.spawn(sys.executable, "-m", "monostack.network.dataplane",
                       "--config", str(scope.tmp / "config.json"),
                       "--state", str(scope.tmp / "state.json"), "--interval", "30")
    line = json.loads(proc.stdout.readline())
    assert "errors" not in line, line
    return proc, line["applied"]


async def test_agent_killed_and_restarted_without_interrupting_guests(scope, agent):
    net = network(scope, cidr="10.57.0.0/24")
    group = open_group(scope)
    p1, p2 = port(scope, net, 11, sgs=[group.id]), port(scope, net, 12, sgs=[group.id])
    g1, g2 = scope.guest(p1.id, p1.mac_address), scope.guest(p2.id, p2.mac_address)
    state = HostState(networks=[net], ports=[p1, p2, dhcp_port(scope, net)], security_groups=[group])
    proc, applied = start_agent(scope, state)
    assert applied
    scope.dhcp(g1), scope.dhcp(g2)
    pinger = scope.spawn("ip", "netns", "exec", g1, "ping", "-i", "0.1", "-c", "60", "-W", "1",
                         "10.57.0.12")
    time.sleep(1.5)
    proc.kill()
    proc.wait()
    time.sleep(1.5)  # the agent is down; guests keep talking
    proc, applied = start_agent(scope, state)
    # The restarted agent finds everything in place: only its in-process
    # metadata listener is new.
    assert [c for c in applied if "metadata" not in c] == []
    out, _ = pinger.communicate(timeout=30)
    assert " 0% packet loss" in out.decode(), out.decode()
    proc.terminate()
    proc.wait(timeout=10)
    # Stopping the agent tears nothing down either.
    in_ns(g1, "ping", "-c", "1", "-W", "2", "10.57.0.12")
    # The fixture's agent (same scope and state dir) removes it all.


async def test_taps_and_bridges_of_compute_are_left_alone(scope, agent):
    """A tap Compute plugged (compute/vifs.py) for a port the agent does not
    know (yet) stays, and so does its bridge; the agent's own go."""
    from monostack.compute import vifs
    net = network(scope, cidr="10.61.0.0/24")
    p1 = port(scope, net, 11)
    bridge, tap = "brq" + net.id[:11], "tap" + p1.id[:11]
    await vifs.plug({"type": "bridge", "bridge": bridge, "devname": tap, "mtu": 1400})
    try:
        assert await agent.apply(HostState()) == []
        assert os.path.exists(f"/sys/class/net/{tap}") and os.path.exists(f"/sys/class/net/{bridge}")
        # Once the port is in the state the agent takes the tap as it is ...
        state = HostState(networks=[net], ports=[p1])
        assert f"tap {tap} created" not in await agent.apply(state)
        # ... and when the port leaves, the tap is still Compute's to unplug.
        await agent.apply(HostState())
        assert os.path.exists(f"/sys/class/net/{tap}")
    finally:
        await vifs.unplug({"type": "bridge", "devname": tap})
    assert "bridge " + bridge + " removed" in await agent.apply(HostState())
