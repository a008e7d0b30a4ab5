"""The Networking service layer without HTTP: concurrent IPAM, segment allocation, the port
lifecycle and its seam for Nova's events, host_state for the data-plane agent, events."""

from __future__ import annotations

import concurrent.futures
import threading
from typing import Any

import pytest

from monostack.common import errors
from monostack.network import exceptions as nexc
from tests.network.conftest import DEMO_PROJECT, context

ADMIN, DEMO = context("admin"), context("demo")


def _network_with_subnet(svc: Any, cidr: str = "10.0.0.0/28", **subnet: Any) -> tuple[dict, dict]:
    net = svc.create_network(DEMO, {"name": "n"})
    sub = svc.create_subnet(DEMO, {"network_id": net["id"], "cidr": cidr, "ip_version": 4, **subnet})
    return net, sub


def test_concurrent_ipam_never_hands_out_an_address_twice(svc: Any) -> None:
    # A /28 without DHCP: 13 addresses (.2-.14); 20 threads race for them.
    net, _ = _network_with_subnet(svc, enable_dhcp=False)
    barrier = threading.Barrier(20)

    def create(_: int) -> Any:
        barrier.wait()
        try:
            return svc.create_port(DEMO, {"network_id": net["id"]})
        except errors.APIError as err:
            return err

    with concurrent.futures.ThreadPoolExecutor(20) as pool:
        results = list(pool.map(create, range(20)))
    ports = [r for r in results if isinstance(r, dict)]
    failures = [r for r in results if not isinstance(r, dict)]
    addresses = [p["fixed_ips"][0]["ip_address"] for p in ports]
    assert len(ports) == 13 and len(set(addresses)) == 13
    assert sorted(addresses, key=lambda a: int(a.split(".")[-1])) == [f"10.0.0.{i}" for i in range(2, 15)]
    assert len(failures) == 7 and all(isinstance(f, nexc.IpAddressGenerationFailure) for f in failures), {(type(f).__name__, str(f)[:60]) for f in failures}
    assert all(f.code == 409 for f in failures)
    # Freed on delete, and handed out again.
    svc.delete_port(DEMO, ports[0]["id"])
    again = svc.create_port(DEMO, {"network_id": net["id"]})
    assert again["fixed_ips"][0]["ip_address"] == addresses[0]


def test_concurrent_requests_for_the_same_address(svc: Any) -> None:
    net, sub = _network_with_subnet(svc, "10.0.1.0/24")
    barrier = threading.Barrier(8)

    def create(_: int) -> Any:
        barrier.wait()
        try:
            return svc.create_port(ADMIN, {"network_id": net["id"], "project_id": DEMO_PROJECT,
                                           "fixed_ips": [{"subnet_id": sub["id"], "ip_address": "10.0.1.100"}]})
        except errors.APIError as err:
            return err

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(create, range(8)))
    assert sum(isinstance(r, dict) for r in results) == 1
    assert all(isinstance(r, errors.Conflict) for r in results if not isinstance(r, dict))


def test_concurrent_networks_get_distinct_segments(make_network_svc: Any) -> None:
    svc = make_network_svc(network={"vni_ranges": "100:109"})
    with concurrent.futures.ThreadPoolExecutor(12) as pool:
        results = list(pool.map(lambda _: _try(lambda: svc.create_network(DEMO, {})), range(12)))
    made = [r for r in results if isinstance(r, dict)]
    assert len(made) == 10
    assert sorted(r["provider:segmentation_id"] for r in made) == list(range(100, 110))
    assert all(isinstance(r, nexc.NoNetworkAvailable) for r in results if not isinstance(r, dict))


def _try(fn: Any) -> Any:
    try:
        return fn()
    except errors.APIError as err:
        return err


def test_concurrent_default_security_group_is_made_once(svc: Any) -> None:
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        ids = set(pool.map(lambda _: svc.ensure_default_group("p-race"), range(6)))
    assert len(ids) == 1


def test_port_lifecycle_and_vif_plugged_seam(svc: Any) -> None:
    net, _ = _network_with_subnet(svc, "10.0.2.0/24")
    plugged: list[dict] = []
    svc.on_vif_plugged = plugged.append
    port = svc.create_port(ADMIN, {"network_id": net["id"], "project_id": DEMO_PROJECT,
                                   "device_owner": "compute:nova", "device_id": "server-1"})
    assert port["status"] == "DOWN" and port["binding:vif_type"] == "unbound"
    port = svc.update_port(ADMIN, port["id"], {"binding:host_id": "node1"})
    assert port["binding:vif_type"] == "bridge" and port["status"] == "DOWN"
    assert svc.set_port_status(port["id"], "wire", host="node1")["status"] == "BUILD"
    # A crash while the agent wires it: recovery takes it back to DOWN.
    svc.recover()
    assert svc.get_port(None, port["id"])["status"] == "DOWN"
    assert svc.set_port_status(port["id"], "device_up", host="other-host") is None  # stale host
    assert svc.set_port_status(port["id"], "device_up", host="node1")["status"] == "ACTIVE"
    assert [p["id"] for p in plugged] == [port["id"]]
    svc.set_port_status(port["id"], "device_up", host="node1")
    assert len(plugged) == 1  # only on the transition
    moved = svc.update_port(ADMIN, port["id"], {"binding:host_id": "node2"})
    assert moved["status"] == "DOWN" and moved["binding:host_id"] == "node2"
    unbound = svc.update_port(ADMIN, port["id"], {"binding:host_id": ""})
    assert unbound["binding:vif_type"] == "unbound"


def test_host_state_for_the_agent(svc: Any) -> None:
    pub = svc.create_network(ADMIN, {"name": "public", "router:external": True,
                                     "provider:network_type": "flat", "provider:physical_network": "public"})
    svc.create_subnet(ADMIN, {"network_id": pub["id"], "cidr": "172.24.4.0/24", "ip_version": 4,
                              "enable_dhcp": False})
    net, sub = _network_with_subnet(svc, "10.0.3.0/24", dns_nameservers=["192.0.2.53"])
    group = svc.ensure_default_group(DEMO_PROJECT)
    a = svc.create_port(ADMIN, {"network_id": net["id"], "project_id": DEMO_PROJECT, "binding:host_id": "node1",
                                "device_owner": "compute:nova"})
    b = svc.create_port(DEMO, {"network_id": net["id"]})  # not bound: a member of the group elsewhere
    router = svc.create_router(DEMO, {"external_gateway_info": {"network_id": pub["id"]}})
    svc.add_router_interface(DEMO, router["id"], {"subnet_id": sub["id"]})
    fip = svc.create_floatingip(DEMO, {"floating_network_id": pub["id"], "port_id": a["id"]})
    state = svc.host_state("node1")
    assert [p["id"] for p in state["ports"]] == [a["id"]]
    port = state["ports"][0]
    assert port["tap_name"] == f"tap{a['id'][:11]}" and port["bridge_name"] == f"brq{net['id'][:11]}"
    assert {r["direction"] for r in port["security_group_rules"]} == {"ingress", "egress"}
    members = state["security_group_members"][group]
    assert a["fixed_ips"][0]["ip_address"] in members and b["fixed_ips"][0]["ip_address"] in members
    nets = {n["id"]: n for n in state["networks"]}
    assert nets[net["id"]]["segments"][0]["provider:network_type"] == "vxlan"
    assert nets[net["id"]]["subnets"][0]["dns_nameservers"] == ["192.0.2.53"]
    assert nets[pub["id"]]["segments"][0]["provider:physical_network"] == "public"
    assert [p["network_id"] for p in state["dhcp_ports"]] == [net["id"]]
    (r,) = state["routers"]
    assert r["gw_port"]["fixed_ips"][0]["ip_address"].startswith("172.24.4.")
    assert r["interfaces"][0]["fixed_ips"][0]["ip_address"] == "10.0.3.1"
    assert r["floatingips"][0]["id"] == fip["id"] and r["floatingips"][0]["fixed_ip_address"] == a["fixed_ips"][0][
        "ip_address"]


def test_host_state_of_two_hosts(svc: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A network node and a compute-only host: each learns the other's tunnel address; the network
    node also gets the compute host's ports (its DHCP entries and metadata), the compute host only its
    own; agents that come, change their address or go are announced."""
    sent: list[tuple[str, dict]] = []
    monkeypatch.setattr(svc, "emit", lambda event_type, payload: sent.append((event_type, payload)))
    lb = "Linux bridge agent"
    svc.report_state(lb, "node1", configurations={"tunneling_ip": "192.0.2.1"}, start_flag=True)
    svc.report_state("DHCP agent", "node1", configurations={"tunneling_ip": "192.0.2.1"}, start_flag=True)
    svc.report_state(lb, "node2", configurations={"tunneling_ip": "192.0.2.9"}, start_flag=True)
    svc.report_state(lb, "node3", configurations={}, start_flag=True)  # no tunnels: not a peer
    assert [kind for kind, _ in sent] == ["agent.create.end"] * 4
    sent.clear()
    svc.report_state(lb, "node2", configurations={"tunneling_ip": "192.0.2.9"})  # a heartbeat: nothing to tell
    assert sent == []
    svc.report_state(lb, "node2", configurations={"tunneling_ip": "192.0.2.2"})
    assert [(kind, p["agent"]["host"]) for kind, p in sent] == [("agent.update.end", "node2")]

    net, _ = _network_with_subnet(svc, "10.0.5.0/24")
    on1 = svc.create_port(ADMIN, {"network_id": net["id"], "project_id": DEMO_PROJECT, "binding:host_id": "node1",
                                  "device_owner": "compute:nova"})
    on2 = svc.create_port(ADMIN, {"network_id": net["id"], "project_id": DEMO_PROJECT, "binding:host_id": "node2",
                                  "device_owner": "compute:nova"})
    node1 = svc.host_state("node1")
    assert node1["vxlan_peers"] == ["192.0.2.2"]
    assert sorted(p["id"] for p in node1["ports"]) == sorted([on1["id"], on2["id"]])
    assert {p["binding:host_id"] for p in node1["ports"]} == {"node1", "node2"}
    assert [p["network_id"] for p in node1["dhcp_ports"]] == [net["id"]]
    node2 = svc.host_state("node2", network_node=False)
    assert node2["vxlan_peers"] == ["192.0.2.1"]
    assert [p["id"] for p in node2["ports"]] == [on2["id"]] and node2["dhcp_ports"] == []
    assert [n["id"] for n in node2["networks"]] == [net["id"]]

    sent.clear()
    (agent2,) = [a for a in svc.list_agents() if a["host"] == "node2"]
    svc.delete_agent(agent2["id"])
    assert [kind for kind, _ in sent] == ["agent.delete.end"]
    assert svc.host_state("node1")["vxlan_peers"] == []


def test_events_are_published_after_commit(svc: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[tuple[str, dict]] = []
    monkeypatch.setattr(svc, "emit", lambda event_type, payload: sent.append((event_type, payload)))
    net, sub = _network_with_subnet(svc, "10.0.4.0/24")
    port = svc.create_port(DEMO, {"network_id": net["id"]})
    svc.delete_port(DEMO, port["id"])
    kinds = [kind for kind, _ in sent]
    assert kinds[:2] == ["network.create.end", "port.create.end"]  # the DHCP port, then the subnet
    assert "subnet.create.end" in kinds and kinds[-2:] == ["port.create.end", "port.delete.end"]
    svc.create_port(DEMO, {"network_id": net["id"]})
    sent.clear()
    with pytest.raises(nexc.NetworkInUse):
        svc.delete_network(DEMO, net["id"])
    assert sent == []  # a rolled-back change announces nothing


def test_ipv6_modes_and_dhcpv6_stateful(svc: Any) -> None:
    net = svc.create_network(DEMO, {})
    stateful = svc.create_subnet(DEMO, {"network_id": net["id"], "cidr": "fd00:aa::/64", "ip_version": 6,
                                        "ipv6_ra_mode": "dhcpv6-stateful", "ipv6_address_mode": "dhcpv6-stateful"})
    port = svc.create_port(DEMO, {"network_id": net["id"]})
    assert port["fixed_ips"][0]["subnet_id"] == stateful["id"]
    assert port["fixed_ips"][0]["ip_address"] == "fd00:aa::3"  # ::2 is the DHCP port's
    with pytest.raises(nexc.InvalidInput):
        svc.create_subnet(DEMO, {"network_id": net["id"], "cidr": "fd00:bb::/80", "ip_version": 6,
                                 "ipv6_address_mode": "slaac"})


async def test_notifications_reach_a_bus_subscriber(make_network_svc: Any) -> None:
    """What a data-plane agent does: subscribe to port events and receive the committed state."""
    import asyncio

    from monostack.common.bus import create_bus

    bus = create_bus("memory://network-events-test")
    await bus.start()
    received: list[Any] = []
    arrived = asyncio.Event()

    async def on_event(notification: Any) -> None:
        received.append(notification)
        arrived.set()

    try:
        await bus.subscribe(on_event, event_types="port.*")
        svc = make_network_svc()
        svc.bus, svc.loop = bus, asyncio.get_running_loop()
        net = await asyncio.to_thread(svc.create_network, DEMO, {})
        port = await asyncio.to_thread(svc.create_port, DEMO, {"network_id": net["id"]})
        await asyncio.wait_for(arrived.wait(), 5)
        first = received[0]
        event_type = first["event_type"] if isinstance(first, dict) else first.event_type
        payload = first["payload"] if isinstance(first, dict) else first.payload
        assert event_type == "port.create.end" and payload["port"]["id"] == port["id"]
    finally:
        await bus.stop()


async def test_agent_endpoint_over_the_bus(svc: Any) -> None:
    import asyncio

    from monostack.common.bus import create_bus
    from monostack.network.rpc import TOPIC, AgentEndpoint, PluginClient

    bus = create_bus("memory://network-rpc-test")
    await bus.start()
    try:
        await bus.serve(TOPIC, AgentEndpoint(svc))
        plugin = PluginClient(bus)  # what the agent of another host calls
        net, _ = await asyncio.to_thread(_network_with_subnet, svc, "10.0.9.0/24")
        port = await asyncio.to_thread(svc.create_port, ADMIN, {"network_id": net["id"], "project_id": DEMO_PROJECT,
                                                               "binding:host_id": "node7"})
        agent = await plugin.report_state("Linux bridge agent", "node7", start_flag=True)
        assert agent["alive"] is True
        state = await plugin.host_state("node7", network_node=False)
        assert [p["id"] for p in state["ports"]] == [port["id"]] and state["dhcp_ports"] == []
        up = await plugin.set_port_status(port["id"], "device_up", "node7")
        assert up["status"] == "ACTIVE"
    finally:
        await bus.stop()
