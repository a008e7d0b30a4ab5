"""Bridges, their uplinks (vxlan / vlan / flat) and the devices plugged into them.

Each `ensure_*` returns a list of the changes it made (empty when the host
already matched), which is how the agent shows that a second apply is a no-op.

Port plugging works for two kinds of device named tap<port id[:11]>:
- a tap (`ip tuntap add mode tap`, persistent): made here when missing, so
  Compute's QEMU driver finds it and opens it by ifname (script=no); the
  driver leaves an existing tap alone (compute/drivers/taps.py);
- a veth whose peer is already somewhere else (a test "guest" namespace, or
  the ns-/qr-/qg- end of a DHCP or router port): only plugged.
"""

from __future__ import annotations

from monostack.network.dataplane import host, names


async def ensure_bridge(name: str, mtu: int, current: dict) -> list[str]:
    changes = []
    link = current.get(name)
    if link is None:
        # No STP and no forwarding delay: ports forward the moment they are up.
        await host.run("ip", "link", "add", name, "type", "bridge", "stp_state", "0",
                       "forward_delay", "0")
        changes.append(f"bridge {name} created")
        link = {"mtu": 0, "operstate": "DOWN", "flags": []}
    if link.get("mtu") != mtu:
        await host.run("ip", "link", "set", "dev", name, "mtu", str(mtu))
        if current.get(name):
            changes.append(f"bridge {name} mtu {mtu}")
    if "UP" not in link.get("flags", []):
        await host.run("ip", "link", "set", "dev", name, "up")
    return changes


async def _enslave(dev: str, bridge: str, mtu: int, link: dict | None, up: bool = True) -> list[str]:
    changes = []
    link = link or {}
    if link.get("mtu") != mtu:
        await host.run("ip", "link", "set", "dev", dev, "mtu", str(mtu))
        changes.append(f"{dev} mtu {mtu}")
    if link.get("master") != bridge:
        await host.run("ip", "link", "set", "dev", dev, "master", bridge)
        changes.append(f"{dev} plugged into {bridge}")
    if up and "UP" not in link.get("flags", []):
        await host.run("ip", "link", "set", "dev", dev, "up")
        if link:
            changes.append(f"{dev} up")
    return changes


async def ensure_vxlan(vni: int, bridge: str, mtu: int, local_ip: str, underlay_dev: str | None,
                       peers: list[str], current: dict, port: int = 4789) -> list[str]:
    name = names.vxlan(vni)
    changes = []
    link = current.get(name)
    if link is not None and (link["kind"] != "vxlan" or link["data"].get("id") != vni
                             or link["data"].get("local") != local_ip):
        await host.run("ip", "link", "del", "dev", name)
        changes.append(f"{name} replaced")
        link = None
    if link is None:
        argv = ["ip", "link", "add", name, "type", "vxlan", "id", str(vni), "local", local_ip,
                "dstport", str(port), "nolearning"]
        if underlay_dev:
            argv += ["dev", underlay_dev]
        await host.run(*argv)
        changes.append(f"{name} created")
    changes += await _enslave(name, bridge, mtu, link)
    changes += await _ensure_flood(name, peers)
    return changes


async def _ensure_flood(dev: str, peers: list[str]) -> list[str]:
    """One all-zero FDB entry per remote host: BUM traffic goes to each (head-end replication)."""
    entries = await host.run_json("bridge", "-j", "fdb", "show", "dev", dev)
    have = {e.get("dst") for e in entries if e.get("mac") == "00:00:00:00:00:00" and e.get("dst")}
    changes = []
    for peer in sorted(set(peers) - have):
        await host.run("bridge", "fdb", "append", "00:00:00:00:00:00", "dev", dev, "dst", peer)
        changes.append(f"{dev} flood to {peer}")
    for peer in sorted(have - set(peers)):
        await host.run("bridge", "fdb", "del", "00:00:00:00:00:00", "dev", dev, "dst", peer)
        changes.append(f"{dev} no flood to {peer}")
    return changes


async def ensure_vlan(interface: str, vlan_id: int, bridge: str, mtu: int, current: dict) -> list[str]:
    name = names.vlan(interface, vlan_id)
    changes = []
    link = current.get(name)
    if link is None:
        await host.run("ip", "link", "add", "link", interface, "name", name, "type", "vlan",
                       "id", str(vlan_id))
        changes.append(f"{name} created")
    return changes + await _enslave(name, bridge, mtu, link)


async def ensure_flat(interface: str, bridge: str, mtu: int, current: dict) -> list[str]:
    if interface not in current:
        raise ValueError(f"physical interface {interface} does not exist")
    return await _enslave(interface, bridge, mtu, current[interface])


async def plug_port(port_id: str, bridge: str, mtu: int, current: dict,
                    admin_state_up: bool = True) -> list[str]:
    """The guest side of a port: tap<id> made if missing (a persistent tap for
    QEMU), or an existing tap/veth taken as it is; plugged, MTU set, up
    (down when the port's admin_state_up is false, as Neutron)."""
    name = names.tap(port_id)
    changes = []
    link = current.get(name)
    if link is None:
        await host.run("ip", "tuntap", "add", "dev", name, "mode", "tap")
        changes.append(f"tap {name} created")
    if not admin_state_up:
        changes += await _enslave(name, bridge, mtu, link, up=False)
        if link is None or "UP" in link.get("flags", []):
            await host.run("ip", "link", "set", "dev", name, "down")
            changes.append(f"{name} down")
        return changes
    return changes + await _enslave(name, bridge, mtu, link)


async def ensure_veth(port_id: str, inner: str, netns: str, mac: str, bridge: str, mtu: int,
                      current: dict, inner_links: dict) -> list[str]:
    """A veth pair for a DHCP or router port: tap<id> in the bridge, `inner`
    (ns-/qr-/qg-<id>) in the namespace with the port's MAC."""
    host_end = names.tap(port_id)
    changes = []
    if inner not in inner_links:
        if host_end in current:  # half a pair left over: start again
            await host.run("ip", "link", "del", "dev", host_end)
            current = {k: v for k, v in current.items() if k != host_end}
        await host.run("ip", "link", "add", host_end, "mtu", str(mtu), "type", "veth", "peer",
                       "name", inner, "mtu", str(mtu), "address", mac, "netns", netns)
        changes.append(f"veth {host_end}/{inner} created")
        inner_links = {}
    link = inner_links.get(inner, {})
    if inner_links and link.get("address") != mac:
        await host.run("ip", "link", "set", "dev", inner, "address", mac, netns=netns)
        changes.append(f"{inner} mac {mac}")
    if inner_links and link.get("mtu") != mtu:
        await host.run("ip", "link", "set", "dev", inner, "mtu", str(mtu), netns=netns)
        changes.append(f"{inner} mtu {mtu}")
    if "UP" not in link.get("flags", []):
        await host.run("ip", "link", "set", "dev", inner, "up", netns=netns)
    return changes + await _enslave(host_end, bridge, mtu, current.get(host_end))


async def ensure_addresses(dev: str, wanted: set[str], netns: str | None = None,
                           keep_extra: bool = False) -> tuple[list[str], list[str]]:
    """Make dev's global addresses exactly `wanted`; returns (changes, added)."""
    have = await host.addresses(dev, netns)
    changes, added = [], []
    for addr in sorted(wanted - have):
        await host.run("ip", "addr", "add", addr, "dev", dev, netns=netns)
        changes.append(f"{dev} address {addr}")
        added.append(addr)
    if not keep_extra:
        for addr in sorted(have - wanted):
            await host.run("ip", "addr", "del", addr, "dev", dev, netns=netns)
            changes.append(f"{dev} address {addr} removed")
    return changes, added


async def delete_link(name: str, netns: str | None = None) -> None:
    await host.run("ip", "link", "del", "dev", name, netns=netns, check=False)
