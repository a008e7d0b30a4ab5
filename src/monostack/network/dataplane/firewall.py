"""Security groups and anti-spoofing for guest ports, in the host namespace.

Why two tables: this kernel has no conntrack for the bridge family
(nf_conntrack_bridge), so stateful filtering uses br_netfilter, as Neutron's
iptables firewall does: bridged IPv4/IPv6 frames also traverse the inet
hooks (net.bridge.bridge-nf-call-iptables/ip6tables = 1). In those inet
hooks the devices are the bridge, not the port, so the bridge table tells
the inet table which ports a frame comes from and goes to, in the packet
mark (source port number << 16 | destination port number):

- `bridge <name>`: prerouting (before br_netfilter) jumps per source port to
  from-<port>: set the source mark, then stateless anti-spoofing (only the
  port's MAC and fixed IPs plus allowed address pairs, ARP likewise, DHCP
  client traffic from 0.0.0.0; DHCP/DHCPv6 server replies and router
  advertisements from a guest are dropped) unless port security is off;
  forward (before br_netfilter) sets the destination mark per output port.
- `inet <name>`: forward and input dispatch on the marks to egress-<port>
  and ingress-<port> chains: established/related pass, invalid drop, DHCP
  and neighbour discovery pass, then the port's security group rules
  (remote groups expanded to their member IPs), default drop.

Conntrack zones: bridged traffic of all networks is tracked in the host
namespace, where two networks with the same CIDR could mix their
connections; the inet table's raw prerouting puts every frame entering a
network's bridge (br_netfilter shows the bridge as the input device there)
into that network's zone. Zone numbers are kept in the state dir so they stay
put across restarts (a renumbered zone would orphan live connections).
Networks where the host itself holds an address stay in zone 0 with the
host's own connections.

Both tables are written in one `nft -f` transaction whenever anything in
them changes (a rule, a member IP, a port): the whole firewall moves from
the old rules to the new ones at once, and conntrack keeps established
connections across the rewrite. A port's number comes from a hash of its id
(collisions moved to the next free number), so it rarely changes and
agents of different scopes on one host (tests side by side) seldom share
numbers; a renumbering would be harmless anyway, marks live only as long
as a packet.
"""

from __future__ import annotations

import hashlib
import ipaddress

from monostack.network.dataplane import names, nft
from monostack.network.dataplane.desired import HostState, Port, SecurityGroupRule

PROTOCOLS = {"icmp": 1, "igmp": 2, "tcp": 6, "egp": 8, "udp": 17, "ipv6-encap": 41,
             "ipv6-route": 43, "ipv6-frag": 44, "rsvp": 46, "gre": 47, "esp": 50, "ah": 51,
             "ipv6-icmp": 58, "icmpv6": 58, "ipv6-nonxt": 59, "ipv6-opts": 60, "ospf": 89,
             "pgm": 113, "vrrp": 112, "sctp": 132, "udplite": 136, "dccp": 33}
PORTED = {6, 17, 33, 132, 136}
DHCP_V4 = "udp sport 68 udp dport 67"
ND_TYPES = "{ nd-router-solicit, nd-neighbor-solicit, nd-neighbor-advert, nd-redirect }"
MLD_TYPES = "{ mld-listener-query, mld-listener-report, mld2-listener-report, mld-listener-done }"


def protected_ports(state: HostState, host: str) -> list[Port]:
    """Guest ports on this host whose network we build, by id (mark numbers follow this order)."""
    nets = {n.id for n in state.networks}
    return sorted((p for p in state.ports if p.is_guest and p.bound_to(host) and p.network_id in nets),
                  key=lambda p: p.id)


def port_numbers(ports: list[Port]) -> dict[str, int]:
    """Port id -> a number in 1..65535 for the marks."""
    numbers: dict[str, int] = {}
    used: set[int] = set()
    for port in ports:
        n = int(hashlib.sha256(port.id.encode()).hexdigest()[:8], 16) % 65535 + 1
        while n in used:
            n = n % 65535 + 1
        used.add(n)
        numbers[port.id] = n
    return numbers


def own_devices(state: HostState) -> list[str]:
    """Our bridge ports that are not guest ports: their frames must carry no
    stale mark of ours."""
    nets = {n.id for n in state.networks}
    devs = {names.tap(p.id) for p in state.ports if not p.is_guest and p.network_id in nets}
    for r in state.routers:
        devs |= {names.tap(i.port_id) for i in r.interfaces}
        if r.external_gateway:
            devs.add(names.tap(r.external_gateway.port_id))
    devs |= {names.vxlan(n.segmentation_id) for n in state.networks if n.network_type == "vxlan"}
    return sorted(devs)


def _proto_number(protocol: str | None, ethertype: str) -> int | None:
    if protocol in (None, "", "any"):
        return None
    number = PROTOCOLS.get(protocol.lower()) if not protocol.isdigit() else int(protocol)
    if number is None:
        raise ValueError(f"unknown protocol {protocol!r}")
    if number == 1 and ethertype == "IPv6":
        return 58  # Neutron: "icmp" on an IPv6 rule means ICMPv6
    return number


def render_rule(rule: SecurityGroupRule, state: HostState, verdict: str) -> str | None:
    """One rule as an nft statement, None when it can match nothing (an empty remote group,
    a prefix of the other family)."""
    family = "ip6" if rule.ethertype == "IPv6" else "ip"
    version = 6 if family == "ip6" else 4
    parts = ["meta nfproto ipv6" if version == 6 else "meta nfproto ipv4"]
    peer = "saddr" if rule.direction == "ingress" else "daddr"
    if rule.remote_ip_prefix:
        net = ipaddress.ip_network(rule.remote_ip_prefix, strict=False)
        if net.version != version:
            return None
        if net.prefixlen:
            parts.append(f"{family} {peer} {net}")
    elif rule.remote_group_id:
        group = next((g for g in state.security_groups if g.id == rule.remote_group_id), None)
        members = {ip for ip in (group.member_ips if group else [])
                   if ipaddress.ip_network(ip, strict=False).version == version}
        if not members:
            return None
        parts.append(f"{family} {peer} {nft.anon_set(members)}")
    number = _proto_number(rule.protocol, rule.ethertype)
    if number is not None:
        parts.append(f"meta l4proto {number}")
        lo, hi = rule.port_range_min, rule.port_range_max
        if number in PORTED and lo is not None:
            hi = lo if hi is None else hi
            parts.append(f"th dport {lo}" if lo == hi else f"th dport {lo}-{hi}")
        elif number in (1, 58) and lo is not None:
            kind = "icmp" if number == 1 else "icmpv6"
            parts.append(f"{kind} type {lo}")
            if hi is not None:
                parts.append(f"{kind} code {hi}")
    parts.append(verdict)
    return " ".join(parts)


def _port_addresses(port: Port) -> tuple[set[str], set[str], set[str]]:
    macs = {port.mac_address.lower()}
    v4 = set(port.ips(4))
    v6 = set(port.ips(6))
    for pair in port.allowed_address_pairs:
        if pair.mac_address:
            macs.add(pair.mac_address.lower())
        net = ipaddress.ip_network(pair.ip_address, strict=False)
        (v4 if net.version == 4 else v6).add(str(net) if net.prefixlen < net.max_prefixlen
                                             else str(net.network_address))
    return macs, v4, v6


def _from_chain(port: Port, mark: int) -> list[str]:
    lines = [f"    meta mark set {mark << 16:#010x}"]
    if not port.port_security_enabled:
        return lines
    macs, v4, v6 = _port_addresses(port)
    lines += [
        f"    ether saddr != {nft.anon_set(macs)} drop",
        # ARP: only our addresses (0.0.0.0 for DHCP-time probes).
        f"    arp saddr ether != {nft.anon_set(macs)} drop",
        f"    ether type arp arp saddr ip != {nft.anon_set(v4 | {'0.0.0.0'})} drop",
        "    ether type arp accept",
        # DHCP servers inside guests must not answer other guests.
        "    ether type ip udp sport 67 udp dport 68 drop",
        f"    ether type ip ip saddr 0.0.0.0 {DHCP_V4} accept",
    ]
    lines.append(f"    ether type ip ip saddr != {nft.anon_set(v4)} drop" if v4
                 else "    ether type ip drop")
    lines.append("    ether type ip accept")
    lines += [
        "    ether type ip6 udp sport 547 udp dport 546 drop",
        "    ether type ip6 icmpv6 type nd-router-advert drop",
        # Link-local addresses (neighbour discovery, DHCPv6 client) and :: for DAD.
        "    ether type ip6 ip6 saddr { ::, fe80::/10 } accept",
    ]
    lines.append(f"    ether type ip6 ip6 saddr != {nft.anon_set(v6)} drop" if v6
                 else "    ether type ip6 drop")
    lines += ["    ether type ip6 accept", "    drop"]  # nothing but IPv4, IPv6 and ARP
    return lines


def render(state: HostState, zones: dict[str, int] | None = None, host: str = "") -> tuple[str, str]:
    """(bridge table body, inet table body) for the guest ports bound to `host`."""
    ports = protected_ports(state, host)
    groups = {g.id: g for g in state.security_groups}
    b_pre = ["  chain prerouting {", "    type filter hook prerouting priority -300; policy accept;"]
    others = own_devices(state)
    if others:
        b_pre.append(f"    iifname {nft.anon_set([nft.quote(d) for d in others])} meta mark set 0x0")
    b_fwd = ["  chain forward {", "    type filter hook forward priority -200; policy accept;"]
    i_fwd = ["  chain forward {", "    type filter hook forward priority 0; policy accept;"]
    i_in = ["  chain input {", "    type filter hook input priority 0; policy accept;"]
    chains_b: list[str] = []
    chains_i: list[str] = []
    src_map, dst_map, egress_map, ingress_map = [], [], [], []
    numbers = port_numbers(ports)
    for port in ports:
        number = numbers[port.id]
        tap = names.tap(port.id)
        key = port.id[:names.ID_LEN]
        src_map.append(f'"{tap}" : jump from-{key}')
        dst_map.append(f'"{tap}" : jump to-{key}')
        chains_b += [f"  chain from-{key} {{"] + _from_chain(port, number) + ["  }"]
        chains_b += [f"  chain to-{key} {{", f"    meta mark set meta mark and 0xffff0000 or {number:#x}",
                     "  }"]
        if not port.port_security_enabled:
            continue  # no security groups either, as Neutron
        egress_map.append(f"{number << 16:#010x} : jump egress-{key}")
        ingress_map.append(f"{number:#x} : jump ingress-{key}")
        rules = [r for g in port.security_groups if g in groups for r in groups[g].rules]
        # Neighbour discovery and MLD first: conntrack calls them invalid.
        egress = [f"    icmpv6 type {ND_TYPES} return", f"    icmpv6 type {MLD_TYPES} return",
                  "    ct state established,related return", "    ct state invalid drop",
                  f"    meta nfproto ipv4 {DHCP_V4} return",
                  "    meta nfproto ipv6 udp sport 546 udp dport 547 return"]
        ingress = ["    icmpv6 type { nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert } accept",
                   f"    icmpv6 type {MLD_TYPES} accept",
                   "    ct state established,related accept", "    ct state invalid drop",
                   "    meta nfproto ipv4 udp sport 67 udp dport 68 accept",
                   "    meta nfproto ipv6 udp sport 547 udp dport 546 accept"]
        for rule in sorted(rules, key=lambda r: r.id):
            text = render_rule(rule, state, "return" if rule.direction == "egress" else "accept")
            if text:
                (egress if rule.direction == "egress" else ingress).append("    " + text)
        chains_i += [f"  chain egress-{key} {{"] + egress + ["    drop", "  }"]
        chains_i += [f"  chain ingress-{key} {{"] + ingress + ["    drop", "  }"]
    if src_map:
        b_pre.append("    iifname vmap { " + ", ".join(src_map) + " }")
        b_fwd.append("    oifname vmap { " + ", ".join(dst_map) + " }")
    if egress_map:
        vmap = "    meta mark and 0xffff0000 vmap { " + ", ".join(egress_map) + " }"
        i_fwd.append(vmap)
        i_in.append(vmap)
    if ingress_map:
        i_fwd.append("    meta mark and 0x0000ffff vmap { " + ", ".join(ingress_map) + " }")
    i_raw = ["  chain zones {", "    type filter hook prerouting priority raw; policy accept;"]
    zone_map = [f'"{names.bridge(net_id)}" : {zone}' for net_id, zone in sorted((zones or {}).items())]
    if zone_map:
        i_raw.append("    ct zone set iifname map { " + ", ".join(zone_map) + " }")
    bridge = "\n".join(b_pre + ["  }"] + b_fwd + ["  }"] + chains_b) + "\n"
    inet = "\n".join(i_raw + ["  }"] + i_fwd + ["  }"] + i_in + ["  }"] + chains_i) + "\n"
    return bridge, inet
