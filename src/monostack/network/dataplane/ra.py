"""IPv6 router advertisements: radvd in the qrouter namespace, as Neutron's L3 agent.

For each router interface on an IPv6 subnet with an ipv6_ra_mode, radvd
advertises the prefix on the qr- device with Neutron's flags:
slaac (autonomous), dhcpv6-stateless (autonomous + other config) and
dhcpv6-stateful (managed, not autonomous); the link MTU and the subnet's
DNS servers (RDNSS) too. DHCPv6 itself comes from the network's dnsmasq.
The config is rewritten and radvd told with SIGHUP when it changes; the
process lives in the namespace, so removing the router stops it.
"""

from __future__ import annotations

import asyncio
import os
import signal

from monostack.network.dataplane import host, names
from monostack.network.dataplane.desired import HostState, Router

MIN_INTERVAL, MAX_INTERVAL = 10, 30  # seconds; guests also ask (router solicitations)
FLAGS = {  # ra mode -> (AdvManagedFlag, AdvOtherConfigFlag, AdvAutonomous)
    "slaac": ("off", "off", "on"),
    "dhcpv6-stateless": ("off", "on", "on"),
    "dhcpv6-stateful": ("on", "off", "off"),
}


def render(router: Router, state: HostState) -> str:
    blocks = []
    for itf in sorted(router.interfaces, key=lambda i: i.port_id):
        net = state.network(itf.network_id)
        sub = net.subnet(itf.subnet_id) if net else None
        if sub is None or sub.ip_version != 6 or sub.ipv6_ra_mode not in FLAGS:
            continue
        managed, other, autonomous = FLAGS[sub.ipv6_ra_mode]
        lines = [f"interface {names.router_internal(itf.port_id)} {{",
                 "  AdvSendAdvert on;", f"  MinRtrAdvInterval {MIN_INTERVAL};",
                 f"  MaxRtrAdvInterval {MAX_INTERVAL};", f"  AdvLinkMTU {net.mtu};",
                 f"  AdvManagedFlag {managed};", f"  AdvOtherConfigFlag {other};",
                 f"  prefix {sub.cidr} {{", "    AdvOnLink on;", f"    AdvAutonomous {autonomous};",
                 "  };"]
        if sub.dns_nameservers:
            lines += [f"  RDNSS {' '.join(sub.dns_nameservers)} {{", "  };"]
        lines.append("};")
        blocks.append("\n".join(lines))
    return "\n".join(blocks) + "\n" if blocks else ""


def _pid(path: str) -> int | None:
    try:
        with open(path) as f:
            pid = int(f.read().strip())
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return pid if f.read().split(b"\0")[0].endswith(b"radvd") else None
    except (OSError, ValueError):
        return None


async def ensure(router: Router, state: HostState, state_dir: str) -> list[str]:
    ns = names.router_ns(router.id)
    directory = os.path.join(state_dir, "ra", router.id)
    conf = render(router, state)
    pid = _pid(f"{directory}/pid")
    if not conf:
        return await stop(router.id, state_dir)
    os.makedirs(directory, exist_ok=True)
    try:
        with open(f"{directory}/radvd.conf") as f:
            same = f.read() == conf
    except FileNotFoundError:
        same = False
    if not same:
        with open(f"{directory}/radvd.conf.tmp", "w") as f:
            f.write(conf)
        os.replace(f"{directory}/radvd.conf.tmp", f"{directory}/radvd.conf")
    if pid is None:
        await host.run("radvd", "-C", f"{directory}/radvd.conf", "-p", f"{directory}/pid",
                       "-m", "logfile", "-l", f"{directory}/log", netns=ns)
        return [f"radvd {router.id} started"]
    if not same:
        os.kill(pid, signal.SIGHUP)
        return [f"radvd {router.id} reloaded"]
    return []


async def stop(router_id: str, state_dir: str) -> list[str]:
    directory = os.path.join(state_dir, "ra", router_id)
    pid = _pid(f"{directory}/pid")
    if pid is not None:
        os.kill(pid, signal.SIGTERM)
        for _ in range(50):
            if _pid(f"{directory}/pid") is None:
                break
            await asyncio.sleep(0.1)
    if os.path.isdir(directory):
        for name in os.listdir(directory):
            os.unlink(os.path.join(directory, name))
        os.rmdir(directory)
    return [f"radvd {router_id} stopped"] if pid else []
