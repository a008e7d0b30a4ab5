"""The Networking agent of one host: the database's picture of the host, made real.

It asks the service for everything the host should have (`host_state`: the
networks with a port here, those ports with their security groups, the DHCP
ports, the routers and floating IPs, the other hosts' tunnel addresses), turns
it into the data plane's HostState (`to_host_state`, the same field names) and
lets `dataplane.Agent.apply` converge the host.  It converges at start, after
every notification of a change (changes close together are applied once), and
every `resync_interval` seconds in case one was missed.  After an apply, each
port of a guest whose tap is in its bridge (firewalled) is reported up, which
makes the service tell Compute `network-vif-plugged`; a port whose tap is gone
is reported down.  It reports its heartbeat as Neutron's Linux bridge agent of
this host and, on a network node (DHCP servers and routers here), as its DHCP,
L3 and metadata agents.  Stopping it tears nothing down.

It reaches the service through `plugin`, the bus endpoint's methods
(`rpc.AgentEndpoint` in the service's own process, `rpc.PluginClient` over
the bus on another host: `monostack network-agent`).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from typing import Any

from monostack.common.config import Config
from monostack.network.dataplane.agent import Agent, AgentConfig
from monostack.network.dataplane.desired import (AddressPair, ExternalGateway, FixedIP, FloatingIP, HostState,
                                                 Network, Port, Router, RouterInterface, SecurityGroup,
                                                 SecurityGroupRule, Subnet)

LOG = logging.getLogger(__name__)
NETWORK_NODE_AGENTS = ("DHCP agent", "L3 agent", "Metadata agent")
WATCHED = ("network.*", "subnet.*", "port.*", "router.*", "floatingip.*", "security_group.*",
           "security_group_rule.*", "agent.*")


def to_host_state(state: dict[str, Any], *, host_gateway: bool = True) -> HostState:
    """The service's `host_state` dicts as the data plane's dataclasses.  With `host_gateway`, the
    host holds the gateway address of each external flat/local network (DevStack's br-ex), so it
    reaches floating IPs and routers' gateways."""
    networks = []
    for net in state["networks"]:
        segment = (net.get("segments") or [{}])[0]
        subnets = [Subnet(id=s["id"], cidr=s["cidr"], gateway_ip=s.get("gateway_ip"), ip_version=s["ip_version"],
                          enable_dhcp=bool(s.get("enable_dhcp", True)),
                          dns_nameservers=list(s.get("dns_nameservers") or []),
                          host_routes=list(s.get("host_routes") or []), ipv6_ra_mode=s.get("ipv6_ra_mode"),
                          ipv6_address_mode=s.get("ipv6_address_mode"))
                   for s in net.get("subnets", [])]
        network_type = segment.get("provider:network_type") or "vxlan"
        host_addresses = []
        if host_gateway and net.get("router:external") and network_type in ("flat", "local"):
            host_addresses = [f"{s.gateway_ip}/{s.prefixlen}" for s in subnets if s.gateway_ip]
        networks.append(Network(id=net["id"], network_type=network_type,
                                physical_network=segment.get("provider:physical_network"),
                                segmentation_id=segment.get("provider:segmentation_id"), mtu=net.get("mtu") or 1500,
                                subnets=subnets, host_addresses=host_addresses))
    groups: dict[str, SecurityGroup] = {}
    ports = []
    for entry in state["ports"] + state.get("dhcp_ports", []):
        ports.append(_port(entry))
        for rule in entry.get("security_group_rules", []):
            group = groups.setdefault(rule["security_group_id"], SecurityGroup(id=rule["security_group_id"]))
            if not any(r.id == rule["id"] for r in group.rules):
                group.rules.append(SecurityGroupRule(
                    id=rule["id"], direction=rule["direction"], ethertype=rule.get("ethertype") or "IPv4",
                    protocol=rule.get("protocol"), port_range_min=rule.get("port_range_min"),
                    port_range_max=rule.get("port_range_max"), remote_ip_prefix=rule.get("remote_ip_prefix"),
                    remote_group_id=rule.get("remote_group_id")))
        for group_id in entry.get("security_groups") or []:
            groups.setdefault(group_id, SecurityGroup(id=group_id))
    for group_id, ips in (state.get("security_group_members") or {}).items():
        groups.setdefault(group_id, SecurityGroup(id=group_id)).member_ips = sorted(set(ips))
    routers = [_router(r) for r in state.get("routers", [])]
    return HostState(networks=networks, ports=ports, security_groups=list(groups.values()), routers=routers,
                     vxlan_peers=list(state.get("vxlan_peers") or []))


def _port(entry: dict[str, Any]) -> Port:
    pairs = [AddressPair(ip_address=p["ip_address"], mac_address=p.get("mac_address"))
             for p in entry.get("allowed_address_pairs") or []]
    return Port(id=entry["id"], network_id=entry["network_id"], mac_address=entry["mac_address"],
                fixed_ips=[FixedIP(subnet_id=f["subnet_id"], ip_address=f["ip_address"])
                           for f in entry.get("fixed_ips") or []],
                device_owner=entry.get("device_owner") or "", device_id=entry.get("device_id") or "",
                project_id=entry.get("project_id") or entry.get("tenant_id") or "",
                security_groups=list(entry.get("security_groups") or []), allowed_address_pairs=pairs,
                port_security_enabled=bool(entry.get("port_security_enabled", True)),
                admin_state_up=bool(entry.get("admin_state_up", True)),
                binding_host_id=entry.get("binding:host_id") or "")


def _first_ip(port: dict[str, Any]) -> tuple[str, str]:
    v4 = [f for f in port.get("fixed_ips") or [] if ipaddress.ip_address(f["ip_address"]).version == 4]
    chosen = (v4 or port.get("fixed_ips") or [{"subnet_id": "", "ip_address": ""}])[0]
    return chosen["subnet_id"], chosen["ip_address"]


def _router(entry: dict[str, Any]) -> Router:
    interfaces = []
    for port in entry.get("interfaces") or []:
        for fixed in port.get("fixed_ips") or []:
            interfaces.append(RouterInterface(port_id=port["id"], network_id=port["network_id"],
                                              subnet_id=fixed["subnet_id"], ip_address=fixed["ip_address"],
                                              mac_address=port["mac_address"]))
    gateway = None
    gw_port = entry.get("gw_port")
    if gw_port:
        subnet_id, address = _first_ip(gw_port)
        info = entry.get("external_gateway_info") or {}
        gateway = ExternalGateway(port_id=gw_port["id"], network_id=gw_port["network_id"], subnet_id=subnet_id,
                                  ip_address=address, mac_address=gw_port["mac_address"],
                                  enable_snat=bool(info.get("enable_snat", True)))
    fips = [FloatingIP(id=f["id"], floating_ip_address=f["floating_ip_address"],
                       fixed_ip_address=f["fixed_ip_address"], port_id=f.get("port_id") or "")
            for f in entry.get("floatingips") or [] if f.get("fixed_ip_address")]
    return Router(id=entry["id"], interfaces=interfaces, external_gateway=gateway, floating_ips=fips,
                  routes=list(entry.get("routes") or []))


class NetworkAgent:
    def __init__(self, plugin: Any, bus: Any, config: AgentConfig, *, resync_interval: float = 30.0,
                 report_interval: float = 10.0, host_gateway: bool = True, network_node: bool = True):
        self.plugin = plugin
        self.bus = bus
        self.host = config.host
        self.dataplane = Agent(config)
        self.resync_interval = resync_interval
        self.report_interval = report_interval
        self.host_gateway = host_gateway
        self.network_node = network_node
        self._wanted = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self.converged = asyncio.Event()  # set after each successful apply (tests wait on it)

    async def start(self) -> None:
        await self._report(start=True)
        for event_type in WATCHED:
            await self.bus.subscribe(self._notified, event_types=event_type, pool=f"network-agent-{self.host}")
        self._wanted.set()
        self._tasks = [asyncio.create_task(self._converge_loop()), asyncio.create_task(self._report_loop()),
                       asyncio.create_task(self._watch_links())]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.dataplane.close()

    async def _watch_links(self) -> None:
        """Converge when a tap appears or goes (Compute plugs a guest's port: no notification says
        so), from the kernel's own link events (`ip monitor link`), as soon as they happen."""
        while True:
            try:
                monitor = await asyncio.create_subprocess_exec(
                    "ip", "-o", "monitor", "link", stdin=asyncio.subprocess.DEVNULL,
                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
            except OSError as exc:
                LOG.warning("cannot watch links (%s): taps are found at the periodic resync", exc)
                return
            try:
                assert monitor.stdout is not None
                while line := await monitor.stdout.readline():
                    if b" tap" in line or b"Deleted" in line:
                        self._wanted.set()
            finally:
                if monitor.returncode is None:
                    monitor.kill()
                    await monitor.wait()
            await asyncio.sleep(1)  # the monitor ended: start another

    def _notified(self, notification: Any) -> None:
        self._wanted.set()

    def wake(self) -> None:
        """Converge soon (a change the agent was not notified of, e.g. a tap Compute made)."""
        self._wanted.set()

    async def _converge_loop(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._wanted.wait(), self.resync_interval)
            except TimeoutError:
                pass
            await asyncio.sleep(0.02)  # changes that come together are applied together
            self._wanted.clear()
            try:
                await self.converge()
            except Exception:
                LOG.exception("the data plane of %s did not converge; retrying", self.host)
                await asyncio.sleep(1)
                self._wanted.set()

    async def converge(self) -> list[str]:
        state = await self.plugin.host_state(self.host, network_node=self.network_node)
        desired = to_host_state(state, host_gateway=self.host_gateway)
        changes = await self.dataplane.apply(desired)
        if changes:
            LOG.info("data plane of %s: %d changes", self.host, len(changes))
        await self._report_ports(state)
        self.converged.set()
        return changes

    async def _report_ports(self, state: dict[str, Any]) -> None:
        """Guest ports up once plugged and firewalled, down once their tap is gone; after a whole
        apply, the DHCP and router ports it made, and the floating IPs it wired, are up too."""
        plugged = self.dataplane.plugged
        service_ports = list(state.get("dhcp_ports", []))
        for router in state.get("routers", []):
            service_ports += list(router.get("interfaces") or []) + ([router["gw_port"]] if router.get("gw_port")
                                                                      else [])
            for fip in router.get("floatingips") or []:
                wanted = "ACTIVE" if fip.get("port_id") else "DOWN"
                if fip.get("status") != wanted:
                    await self.plugin.set_floatingip_status(fip["id"], wanted)
        for port in service_ports:
            if port.get("status") != "ACTIVE":
                await self.plugin.set_port_status(port["id"], "device_up", self.host)
        for port in state["ports"]:  # a network node also gets the other hosts' ports: not its to report
            if (not (port.get("device_owner") or "").startswith("compute:")
                    or port.get("binding:host_id") not in ("", self.host)):
                continue
            if port["id"] in plugged and port.get("status") != "ACTIVE":
                await self.plugin.set_port_status(port["id"], "device_up", self.host)
            elif port["id"] not in plugged and port.get("status") == "ACTIVE":
                await self.plugin.set_port_status(port["id"], "device_down", self.host)

    async def _report_loop(self) -> None:
        while True:
            await asyncio.sleep(self.report_interval)
            try:
                await self._report()
            except Exception:  # a missed heartbeat is sent again at the next beat
                LOG.exception("could not report the agents of %s", self.host)

    async def _report(self, start: bool = False) -> None:
        config = self.dataplane.config
        configurations: dict[str, Any] = {"bridge_mappings": {}, "interface_mappings":
                                          config.physical_interface_mappings}
        if config.local_ip:  # what Neutron's Linux bridge agent reports; the other hosts flood to it
            configurations.update(tunnel_types=["vxlan"], tunneling_ip=config.local_ip)
        for agent_type in ("Linux bridge agent",) + (NETWORK_NODE_AGENTS if self.network_node else ()):
            await self.plugin.report_state(agent_type, self.host, configurations=configurations, start_flag=start)


def build(plugin: Any, bus: Any, conf: Config, host: str, public_url: str) -> NetworkAgent:
    """This host's agent as `[network]` configures it (`public_url`: the cloud's, whose compute metadata
    API the metadata proxies forward to)."""
    net = conf.network  # type: ignore[attr-defined]
    mappings = dict(item.split(":", 1) for item in net.physical_interface_mappings if ":" in item)
    compute = getattr(conf, "compute", None)
    config = AgentConfig(state_dir=str(net.state_dir), host=host, physical_interface_mappings=mappings,
                         local_ip=net.local_ip or None, metadata_upstream=f"{public_url}/compute/metadata",
                         metadata_proxy_shared_secret=getattr(compute, "metadata_proxy_shared_secret", "") or "")
    return NetworkAgent(plugin, bus, config, resync_interval=net.resync_interval, host_gateway=net.host_gateway,
                        network_node=net.network_node)
