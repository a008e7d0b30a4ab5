"""Routers: one qrouter-<router id> namespace each, as Neutron's L3 agent.

- a qr-<port> device per router port on an internal network (the subnets'
  gateway addresses), its veth peer tap<port> in that network's bridge;
- a qg-<port> device on the external network's bridge with the gateway
  address, the floating IPs as /32s on it, a default route via the
  external subnet's gateway;
- one nftables table "monostack" (family ip) in the namespace, replaced
  atomically: floating IPs as DNAT (fip -> fixed) and SNAT (fixed -> fip),
  then SNAT of the internal subnets leaving qg- to the gateway address when
  enable_snat;
- with metadata on, guests' requests to 169.254.169.254:80 arriving on a
  qr- device are redirected to the metadata proxy's port in the namespace
  (metadata.py; Neutron's L3 agent does the same for its haproxy);
- radvd for IPv6 subnets with an ipv6_ra_mode (ra.py);
- gratuitous ARP (arping -U) from qg- for the gateway address and each
  floating IP that appears, so the external side updates its ARP caches.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging

from monostack.network.dataplane import host, links, names, nft, ra
from monostack.network.dataplane.desired import HostState, Network, Router

LOG = logging.getLogger(__name__)
TABLE = "monostack"
METADATA_IP = "169.254.169.254"
METADATA_PROXY_PORT = 9697  # Neutron's port for the router's metadata proxy

_PENDING: set[asyncio.Task] = set()  # gratuitous ARPs being sent
_FORWARDING: set[str] = set()  # namespaces this process turned forwarding on in


def render_nat(router: Router, state: HostState, metadata: bool = False) -> str:
    gw = router.external_gateway
    fips = sorted(router.floating_ips, key=lambda f: f.floating_ip_address) if gw else []
    lines = ["  chain prerouting {", "    type nat hook prerouting priority dstnat; policy accept;"]
    if metadata and router.interfaces:
        lines.append(f'    iifname "{names.ROUTER_INTERNAL}*" ip daddr {METADATA_IP} tcp dport 80 '
                     f"redirect to :{METADATA_PROXY_PORT}")
    lines += [f"    ip daddr {f.floating_ip_address} dnat to {f.fixed_ip_address}" for f in fips]
    lines += ["  }", "  chain output {", "    type nat hook output priority -100; policy accept;"]
    lines += [f"    ip daddr {f.floating_ip_address} dnat to {f.fixed_ip_address}" for f in fips]
    lines += ["  }", "  chain postrouting {", "    type nat hook postrouting priority srcnat; policy accept;"]
    if gw:
        qg = nft.quote(names.router_gateway(gw.port_id))
        lines += [f"    oifname {qg} ip saddr {f.fixed_ip_address} snat to {f.floating_ip_address}"
                  for f in fips]
        if gw.enable_snat and ipaddress.ip_address(gw.ip_address).version == 4:
            internal = set()
            for itf in router.interfaces:
                net = state.network(itf.network_id)
                sub = net.subnet(itf.subnet_id) if net else None
                if sub and sub.ip_version == 4:
                    internal.add(str(ipaddress.ip_network(sub.cidr, strict=False)))
            if internal:
                lines.append(f"    oifname {qg} ip saddr {nft.anon_set(internal)} snat to {gw.ip_address}")
            if fips:
                # Hairpin: a guest reaching a floating IP from inside (DNATed, leaving by an internal
                # interface) is SNATed to the gateway address, so the answer comes back through the
                # router and is un-NATed (Neutron's "--ctstate DNAT -j SNAT" rule).
                lines.append(f"    oifname != {qg} ct status dnat snat to {gw.ip_address}")
    lines.append("  }")
    return "\n".join(lines) + "\n"


async def _default_via(ns: str) -> str | None:
    for r in await host.run_json("ip", "-j", "route", "show", "default", netns=ns):
        return r.get("gateway")
    return None


async def ensure(router: Router, state: HostState, bridges: dict[str, str], current: dict,
                 state_dir: str, metadata: bool = False) -> list[str]:
    ns = names.router_ns(router.id)
    changes = []
    if await host.ensure_netns(ns):
        changes.append(f"namespace {ns} created")
    if ns not in _FORWARDING:  # once per agent process: a restart re-asserts it
        await host.write_sysctl("net/ipv4/ip_forward", "1", netns=ns)
        await host.write_sysctl("net/ipv6/conf/all/forwarding", "1", netns=ns)
        _FORWARDING.add(ns)
    inner = await host.links(ns)
    wanted_devs = set()
    # One port may carry several subnets (an IPv4 and an IPv6 one): its
    # addresses are set together.
    by_port: dict[str, tuple[Network, set[str], str]] = {}
    for itf in router.interfaces:
        net = state.network(itf.network_id)
        sub = net.subnet(itf.subnet_id) if net else None
        if net is None or sub is None or net.id not in bridges:
            continue
        by_port.setdefault(itf.port_id, (net, set(), itf.mac_address))[1].add(
            f"{itf.ip_address}/{sub.prefixlen}")
    for port_id, (net, addrs, mac) in sorted(by_port.items()):
        dev = names.router_internal(port_id)
        wanted_devs.add(dev)
        changes += await links.ensure_veth(port_id, dev, ns, mac, bridges[net.id], net.mtu,
                                           current, inner)
        changes += (await links.ensure_addresses(dev, addrs, ns))[0]
    gw = router.external_gateway
    announce: list[str] = []
    qg = ""
    if gw:
        net = state.network(gw.network_id)
        sub = net.subnet(gw.subnet_id) if net else None
        if net is not None and sub is not None and net.id in bridges:
            qg = names.router_gateway(gw.port_id)
            wanted_devs.add(qg)
            changes += await links.ensure_veth(gw.port_id, qg, ns, gw.mac_address, bridges[net.id],
                                               net.mtu, current, inner)
            addrs = {f"{gw.ip_address}/{sub.prefixlen}"}
            addrs |= {f"{f.floating_ip_address}/32" for f in router.floating_ips}
            c, added = await links.ensure_addresses(qg, addrs, ns)
            changes += c
            announce = [a.split("/")[0] for a in added]
            if sub.gateway_ip and await _default_via(ns) != sub.gateway_ip:
                await host.run("ip", "route", "replace", "default", "via", sub.gateway_ip,
                               "dev", qg, netns=ns)
                changes.append(f"{ns} default via {sub.gateway_ip}")
    changes += await _ensure_extra_routes(ns, router)
    # Devices of interfaces that went away (their tap peers go with them).
    for dev in inner:
        if dev.startswith((names.ROUTER_INTERNAL, names.ROUTER_GATEWAY)) and dev not in wanted_devs:
            await links.delete_link(dev, ns)
            changes.append(f"{ns} {dev} removed")
    if await nft.ensure_table("ip", TABLE, render_nat(router, state, metadata), state_dir, ns, netns=ns):
        changes.append(f"{ns} nat rules loaded")
    changes += await ra.ensure(router, state, state_dir)
    for ip in announce:
        # Not awaited: arping waits a second for replies; the apply need not.
        task = asyncio.get_running_loop().create_task(_garp(ns, qg, ip))
        _PENDING.add(task)
        task.add_done_callback(_PENDING.discard)
    return changes


async def _ensure_extra_routes(ns: str, router: Router) -> list[str]:
    """The router's extra routes (IPv4), exactly: other routes via a gateway go."""
    changes = []
    have = {r["dst"]: r["gateway"] for r in await host.run_json("ip", "-j", "route", "show", netns=ns)
            if r.get("gateway") and r.get("dst") != "default"}
    wanted = {str(ipaddress.ip_network(r["destination"], strict=False)): r["nexthop"]
              for r in router.routes if ipaddress.ip_network(r["destination"], strict=False).version == 4}
    for dst, via in sorted(wanted.items()):
        if have.get(dst) != via:
            await host.run("ip", "route", "replace", dst, "via", via, netns=ns)
            changes.append(f"{ns} route {dst} via {via}")
    for dst in sorted(set(have) - set(wanted)):
        await host.run("ip", "route", "del", dst, netns=ns, check=False)
        changes.append(f"{ns} route {dst} removed")
    return changes


async def drain() -> None:
    """Wait for the gratuitous ARPs still being sent."""
    if _PENDING:
        await asyncio.gather(*list(_PENDING), return_exceptions=True)


async def _garp(ns: str, dev: str, ip: str) -> None:
    try:
        await host.run("arping", "-U", "-c", "1", "-I", dev, ip, netns=ns, check=False, timeout=5)
    except Exception:  # best effort: ARP caches also learn on the next request
        LOG.debug("gratuitous ARP for %s on %s failed", ip, dev, exc_info=True)


async def remove(router_id: str, state_dir: str) -> list[str]:
    ns = names.router_ns(router_id)
    await ra.stop(router_id, state_dir)
    await host.delete_netns(ns)
    _FORWARDING.discard(ns)
    nft.forget(state_dir, ns)
    return [f"namespace {ns} removed"]
