"""The agent core: make this host's data plane match a `HostState`.

`Agent.apply(state)` is idempotent and convergent: it reads what exists
(links, namespaces, dnsmasq pid files, our nft tables), creates or fixes
what is missing or different, and removes what carries our prefixes but is
no longer wanted (never anything else). It returns the list of changes it
made, so a second apply of the same state returns []. Nothing is torn down
when the agent stops: bridges, taps, namespaces, dnsmasq and rules keep
working while it is down, and the next apply (after a restart or a crash)
converges from whatever it finds.

`AgentConfig.scope` limits what the agent considers its own to ids starting
with that string (tests run side by side that way); empty in production.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os

from monostack.network.dataplane import dhcp, firewall, host, links, names, nft, router
from monostack.network.dataplane.desired import DHCP_OWNER, HostState, Network, Port, Router
from monostack.network.dataplane.metadata import MetadataProxy

LOG = logging.getLogger(__name__)
ROUTER_KEY = "router:"  # metadata listener keys of routers (a network's is its id)


@dataclasses.dataclass
class AgentConfig:
    state_dir: str
    host: str = ""  # this host's name, as ports' binding_host_id
    physical_interface_mappings: dict[str, str] = dataclasses.field(default_factory=dict)
    local_ip: str | None = None  # VXLAN tunnel source address
    vxlan_underlay_dev: str | None = None
    vxlan_port: int = 4789
    dhcp_lease_seconds: int = 86400
    metadata_upstream: str = "http://127.0.0.1:5000/compute/metadata"
    metadata_proxy_shared_secret: str = ""
    metadata_port: int = 80
    enable_metadata: bool = True
    firewall_table: str = "monostack"
    scope: str = ""


class ApplyError(RuntimeError):
    def __init__(self, errors: list[str], changes: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors
        self.changes = changes


class Agent:
    def __init__(self, config: AgentConfig) -> None:
        self.config = config
        os.makedirs(config.state_dir, exist_ok=True)
        self.state = HostState()
        self.lock = asyncio.Lock()
        self.metadata = MetadataProxy(config.metadata_upstream, config.metadata_proxy_shared_secret,
                                      self._lookup)
        self._instances: dict[tuple[str, str], tuple[str, str]] = {}
        # Guest ports whose device is in its bridge after the last apply: what
        # a network-vif-plugged event can be sent for.
        self.plugged: set[str] = set()

    # ---- helpers
    def ours(self, ident: str) -> bool:
        return ident.startswith(self.config.scope)

    def _lookup(self, key: str, address: str) -> tuple[str, str] | None:
        """The instance behind a metadata request: key is a network id (the DHCP namespace's
        listener) or "router:<id>" (the router's: any network it has an interface on)."""
        if key.startswith(ROUTER_KEY):
            router_ = self.state.router(key[len(ROUTER_KEY):])
            nets = {itf.network_id for itf in router_.interfaces} if router_ else set()
            return next((self._instances[(n, address)] for n in sorted(nets) if (n, address) in self._instances),
                        None)
        return self._instances.get((key, address))

    async def close(self) -> None:
        """Stop serving metadata; the data plane stays as it is."""
        await self.metadata.close()
        await router.drain()

    # ---- apply
    async def apply(self, state: HostState) -> list[str]:
        async with self.lock:
            changes: list[str] = []
            errors: list[str] = []
            self.state = state
            self._instances = {(p.network_id, ip): (p.device_id, p.project_id)
                               for p in state.ports if p.device_id and p.is_guest for ip in p.ips()}

            async def step(what: str, coro) -> None:
                try:
                    changes.extend(await coro)
                except Exception as exc:  # one broken object must not stop the others
                    LOG.exception("%s failed", what)
                    errors.append(f"{what}: {exc}")

            bridges: dict[str, str] = {}
            current = await host.links()  # one snapshot: each step below makes distinct devices
            for net in state.networks:
                await step(f"network {net.id}", self._network(net, state, bridges, current))
            current = await host.links()
            plugged = set()
            for port in state.ports:
                if port.is_guest and port.bound_to(self.config.host) and port.network_id in bridges:
                    net = state.network(port.network_id)
                    before = len(errors)
                    if names.tap(port.id) not in current:
                        self._remember_tap(names.tap(port.id))
                    await step(f"port {port.id}",
                               links.plug_port(port.id, bridges[net.id], net.mtu, current,
                                               port.admin_state_up))
                    if len(errors) == before:
                        plugged.add(port.id)
            self.plugged = plugged
            await step("firewall", self._firewall(state))
            for net in state.networks:
                if net.id in bridges:
                    await step(f"dhcp {net.id}", self._dhcp(net, state, bridges))
            current = await host.links()
            for r in state.routers:
                await step(f"router {r.id}", self._router(r, state, bridges, current))
            await step("cleanup", self._cleanup(state, bridges))
            if changes:
                LOG.info("data plane changes: %s", "; ".join(changes))
            if errors:
                raise ApplyError(errors, changes)
            return changes

    async def _network(self, net: Network, state: HostState, bridges: dict[str, str],
                       current: dict) -> list[str]:
        br = names.bridge(net.id)
        changes = await links.ensure_bridge(br, net.mtu, current)
        # Known from here on, even if its uplink fails below: a network whose
        # uplink is broken keeps its bridge, ports and DHCP (not "stale").
        bridges[net.id] = br
        cfg = self.config
        if net.network_type == "vxlan" and not cfg.local_ip:
            pass  # one host, no tunnels: the network is its bridge (a stale vxlan device goes in cleanup)
        elif net.network_type == "vxlan":
            changes += await links.ensure_vxlan(net.segmentation_id, br, net.mtu, cfg.local_ip,
                                                cfg.vxlan_underlay_dev, state.vxlan_peers, current,
                                                cfg.vxlan_port)
        elif net.network_type == "vlan":
            iface = cfg.physical_interface_mappings.get(net.physical_network or "")
            if not iface:
                raise ValueError(f"no interface mapped for physical network {net.physical_network!r}")
            changes += await links.ensure_vlan(iface, net.segmentation_id, br, net.mtu, current)
        elif net.network_type == "flat":
            iface = cfg.physical_interface_mappings.get(net.physical_network or "")
            if iface:
                changes += await links.ensure_flat(iface, br, net.mtu, current)
        elif net.network_type != "local":
            raise ValueError(f"unsupported network type {net.network_type!r}")
        c, _ = await links.ensure_addresses(br, set(net.host_addresses))
        changes += c
        return changes

    async def _firewall(self, state: HostState) -> list[str]:
        name = self.config.firewall_table
        key = "firewall-" + name
        if not firewall.protected_ports(state, self.config.host):
            have = await nft.tables()
            gone = []
            for family in ("bridge", "inet"):
                if (family, name) in have:
                    await nft.delete(family, name)
                    gone.append(f"nft table {family} {name} removed")
            nft.forget(self.config.state_dir, key)
            return gone
        # Bridged IP traffic through the inet hooks (conntrack): see firewall.py.
        await host.write_sysctl("net/bridge/bridge-nf-call-iptables", "1")
        await host.write_sysctl("net/bridge/bridge-nf-call-ip6tables", "1")
        bridge_body, inet_body = firewall.render(state, self._zones(state), self.config.host)
        loaded = await nft.ensure_tables([("bridge", name, bridge_body), ("inet", name, inet_body)],
                                         self.config.state_dir, key)
        return [f"firewall {name} loaded"] if loaded else []

    def _zones(self, state: HostState) -> dict[str, int]:
        """Conntrack zone per network, kept in the state dir (see firewall.py)."""
        path = os.path.join(self.config.state_dir, "zones.json")
        try:
            with open(path) as f:
                zones = json.load(f)
        except (FileNotFoundError, ValueError):
            zones = {}
        wanted = {n.id for n in state.networks if not n.host_addresses}
        new = {k: v for k, v in zones.items() if k in wanted}
        used = set(new.values())
        for net_id in sorted(wanted - set(new)):
            zone = next(z for z in range(1, 65536) if z not in used)
            new[net_id] = zone
            used.add(zone)
        if new != zones:
            with open(path + ".tmp", "w") as f:
                json.dump(new, f)
            os.replace(path + ".tmp", path)
        return new

    # Taps this agent made. A tap Compute made (compute/vifs.py, before the
    # port reached this agent's state, or after it left) is Compute's to
    # delete; the agent only deletes its own and the veths of its ports.
    def _taps_path(self) -> str:
        return os.path.join(self.config.state_dir, "taps.json")

    def _made_taps(self) -> set[str]:
        try:
            with open(self._taps_path()) as f:
                return set(json.load(f))
        except (FileNotFoundError, ValueError):
            return set()

    def _save_taps(self, taps: set[str]) -> None:
        with open(self._taps_path() + ".tmp", "w") as f:
            json.dump(sorted(taps), f)
        os.replace(self._taps_path() + ".tmp", self._taps_path())

    def _remember_tap(self, name: str) -> None:
        # Recorded before it is made: a crash in between leaves a name, not a leak.
        self._save_taps(self._made_taps() | {name})

    def _dhcp_port(self, net: Network, state: HostState) -> Port | None:
        if not any(s.enable_dhcp for s in net.subnets):
            return None
        return next((p for p in state.ports if p.network_id == net.id and p.device_owner == DHCP_OWNER),
                    None)

    async def _dhcp(self, net: Network, state: HostState, bridges: dict[str, str]) -> list[str]:
        port = self._dhcp_port(net, state)
        if port is None:
            return []
        ns = names.dhcp_ns(net.id)
        changes = []
        if await host.ensure_netns(ns):
            changes.append(f"namespace {ns} created")
        dev = names.dhcp_dev(port.id)
        changes += await links.ensure_veth(port.id, dev, ns, port.mac_address, bridges[net.id],
                                           net.mtu, await host.links(), await host.links(ns))
        addrs = set()
        for fip in port.fixed_ips:
            sub = net.subnet(fip.subnet_id)
            if sub:
                addrs.add(f"{fip.ip_address}/{sub.prefixlen}")
        metadata = self.config.enable_metadata and bool(port.ips(4))
        if metadata:
            addrs.add(f"{dhcp.METADATA_IP}/32")
        c, _ = await links.ensure_addresses(dev, addrs, ns)
        changes += c
        others = [p for p in state.ports if p.network_id == net.id and p.id != port.id]
        changes += await dhcp.ensure(net, port, others, self.config.state_dir,
                                     self.config.dhcp_lease_seconds)
        if metadata:
            changes += await self.metadata.ensure(net.id, ns, dhcp.METADATA_IP, self.config.metadata_port)
        return changes

    def _router_metadata(self, r: Router) -> bool:
        return self.config.enable_metadata and bool(r.interfaces)

    async def _router(self, r: Router, state: HostState, bridges: dict[str, str], current: dict) -> list[str]:
        metadata = self._router_metadata(r)
        changes = await router.ensure(r, state, bridges, current, self.config.state_dir, metadata)
        if metadata:
            changes += await self.metadata.ensure(ROUTER_KEY + r.id, names.router_ns(r.id), "0.0.0.0",
                                                  router.METADATA_PROXY_PORT)
        return changes

    async def _cleanup(self, state: HostState, bridges: dict[str, str]) -> list[str]:
        changes: list[str] = []
        dhcp_nets = {n.id for n in state.networks if n.id in bridges and self._dhcp_port(n, state)}
        router_ids = {r.id for r in state.routers}
        listeners = dhcp_nets | {ROUTER_KEY + r.id for r in state.routers if self._router_metadata(r)}
        for key in self.metadata.keys() - listeners:
            changes += await self.metadata.stop(key)
        for net_id in dhcp.known_networks(self.config.state_dir) - dhcp_nets:
            if self.ours(net_id):
                changes += await dhcp.stop(net_id, self.config.state_dir)
        for ns in await host.namespaces():
            if ns.startswith(names.DHCP_NS):
                net_id = names.id_of(ns, names.DHCP_NS)
                if self.ours(net_id) and net_id not in dhcp_nets:
                    await host.delete_netns(ns)
                    changes.append(f"namespace {ns} removed")
            elif ns.startswith(names.ROUTER_NS):
                router_id = names.id_of(ns, names.ROUTER_NS)
                if self.ours(router_id) and router_id not in router_ids:
                    changes += await router.remove(router_id, self.config.state_dir)
        # Links: after the namespaces, whose removal takes veth host ends along.
        current = await host.links()
        wanted_bridges = set(bridges.values())
        wanted_taps = {names.tap(p.id) for p in state.ports
                       if p.network_id in bridges and ((p.is_guest and p.bound_to(self.config.host))
                                                       or p.device_owner == DHCP_OWNER)}
        for r in state.routers:
            wanted_taps |= {names.tap(i.port_id) for i in r.interfaces}
            if r.external_gateway:
                wanted_taps.add(names.tap(r.external_gateway.port_id))
        wanted_vxlan = {names.vxlan(n.segmentation_id) for n in state.networks
                        if n.network_type == "vxlan" and n.id in bridges and self.config.local_ip}
        stale_bridges = {name for name in current if name.startswith(names.BRIDGE)
                         and current[name]["kind"] == "bridge"
                         and self.ours(names.id_of(name, names.BRIDGE)) and name not in wanted_bridges}
        mapped = set(self.config.physical_interface_mappings.values())
        made = self._made_taps()
        kept: set[str] = set()  # devices left alone: their bridges stay too
        for name, link in current.items():
            master = link.get("master")
            if name.startswith(names.VXLAN) and link["kind"] == "vxlan" and name not in wanted_vxlan:
                if master in stale_bridges or (not self.config.scope and master not in wanted_bridges):
                    await links.delete_link(name)
                    changes.append(f"{name} removed")
            elif link["kind"] == "vlan" and master in stale_bridges and link.get("link") in mapped:
                await links.delete_link(name)
                changes.append(f"{name} removed")
            elif (name.startswith(names.TAP) and link["kind"] in ("tun", "veth")
                  and self.ours(names.id_of(name, names.TAP)) and name not in wanted_taps):
                if link["kind"] == "tun" and name not in made:
                    kept.add(name)  # Compute's tap
                    continue
                await links.delete_link(name)
                changes.append(f"{name} removed")
        if made:  # forget taps that are gone (deleted here, or by Compute)
            self._save_taps({t for t in made if host.link_exists(t)})
        for name in sorted(stale_bridges):
            if any(current[d].get("master") == name for d in kept):
                LOG.info("bridge %s kept: Compute's taps are still in it", name)
                continue
            await links.delete_link(name)
            changes.append(f"bridge {name} removed")
        return changes

