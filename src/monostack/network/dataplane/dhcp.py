"""DHCP for one network: dnsmasq in qdhcp-<network>, as Neutron's DHCP agent runs it.

Files under <state_dir>/dhcp/<network id>/: `host` (one static entry per
port: MAC, host-<ip dashes>, IP), `opts` (per-subnet options), `pid`.
dnsmasq reads both files again on SIGHUP, so a port coming or going is a
rewrite + SIGHUP, no restart. The command line only changes when subnets
do; then dnsmasq is restarted. dnsmasq daemonizes: it keeps serving while
the agent is down, and the agent finds it again by its pid file.

Metadata placement: always through the DHCP port (Neutron's
force_metadata): 169.254.169.254/32 sits on the ns- device and every IPv4
subnet gets the classless route 169.254.169.254/32 via the DHCP port's IP
(option 121, with the default route repeated there since clients that take
121 ignore option 3). One listener per network, also on isolated networks.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import shutil
import signal

from monostack.network.dataplane import host, names
from monostack.network.dataplane.desired import Network, Port

LOG = logging.getLogger(__name__)

METADATA_IP = "169.254.169.254"
DOMAIN = "openstacklocal"


def hostname(ip: str) -> str:
    return "host-" + ip.replace(".", "-").replace(":", "-")


def _tag(subnet_id: str) -> str:
    return "subnet-" + subnet_id


def render_hosts(network: Network, ports: list[Port]) -> str:
    lines = []
    dhcp_subnets = {s.id for s in network.subnets if s.enable_dhcp}
    for port in sorted(ports, key=lambda p: p.id):
        for fip in port.fixed_ips:
            if fip.subnet_id not in dhcp_subnets:
                continue
            ip = fip.ip_address
            shown = f"[{ip}]" if ":" in ip else ip
            lines.append(f"{port.mac_address},{hostname(ip)}.{DOMAIN},{shown}")
    return "".join(line + "\n" for line in lines)


def render_opts(network: Network, dhcp_port: Port) -> str:
    lines = []
    for subnet in network.subnets:
        if not subnet.enable_dhcp:
            continue
        tag = _tag(subnet.id)
        if subnet.ip_version == 4:
            dhcp_ip = next((f.ip_address for f in dhcp_port.fixed_ips if f.subnet_id == subnet.id), None)
            routes: list[tuple[str, str]] = []
            if dhcp_ip:
                routes.append((f"{METADATA_IP}/32", dhcp_ip))
            routes += [(r["destination"], r["nexthop"]) for r in subnet.host_routes
                       if ipaddress.ip_network(r["destination"], strict=False).version == 4]
            if subnet.gateway_ip:
                routes.append(("0.0.0.0/0", subnet.gateway_ip))
                lines.append(f"tag:{tag},option:router,{subnet.gateway_ip}")
            else:
                lines.append(f"tag:{tag},option:router")  # no router: send none
            if routes:
                flat = ",".join(f"{d},{n}" for d, n in routes)
                lines.append(f"tag:{tag},option:classless-static-route,{flat}")
                lines.append(f"tag:{tag},249,{flat}")  # Windows' copy of option 121
            if subnet.dns_nameservers:
                lines.append(f"tag:{tag},option:dns-server,{','.join(subnet.dns_nameservers)}")
            lines.append(f"tag:{tag},option:mtu,{network.mtu}")
        else:
            if subnet.dns_nameservers:
                lines.append(f"tag:{tag},option6:dns-server,"
                             + ",".join(f"[{d}]" for d in subnet.dns_nameservers))
    return "".join(line + "\n" for line in lines)


def command(network: Network, dhcp_port: Port, directory: str, lease_seconds: int) -> list[str]:
    dev = names.dhcp_dev(dhcp_port.id)
    argv = ["dnsmasq", "--no-hosts", "--no-resolv", "--strict-order", "--except-interface=lo",
            f"--pid-file={directory}/pid", f"--dhcp-hostsfile={directory}/host",
            f"--dhcp-optsfile={directory}/opts", "--leasefile-ro", "--dhcp-authoritative",
            "--bind-interfaces", f"--interface={dev}", "--conf-file=/dev/null",
            f"--domain={DOMAIN}", "--port=0",  # DHCP only: no DNS server here
            f"--log-facility={directory}/log",
            # Stay root: the files are re-read on SIGHUP, and the state dir may be 0700.
            "--user=root"]
    for subnet in network.subnets:
        if not subnet.enable_dhcp:
            continue
        net = ipaddress.ip_network(subnet.cidr, strict=False)
        if subnet.ip_version == 4:
            argv.append(f"--dhcp-range=set:{_tag(subnet.id)},{net.network_address},static,"
                        f"{net.netmask},{lease_seconds}s")
        else:
            # As Neutron: DHCPv6 for stateful and stateless address modes (and
            # when neither mode is set); SLAAC needs no DHCP. Router
            # advertisements come from the router (ra.py), not from here.
            if subnet.ipv6_address_mode == "slaac" or (subnet.ipv6_ra_mode and not subnet.ipv6_address_mode):
                continue
            argv.append(f"--dhcp-range=set:{_tag(subnet.id)},{net.network_address},static,"
                        f"{net.prefixlen},{lease_seconds}s")
    # As many leases as the subnets have addresses (dnsmasq's default is 1000).
    size = sum(min(ipaddress.ip_network(s.cidr, strict=False).num_addresses, 1 << 16)
               for s in network.subnets if s.enable_dhcp)
    argv.append(f"--dhcp-lease-max={max(size, 16)}")
    return argv


def _pid(directory: str) -> int | None:
    """The pid from the pid file when that process is a live dnsmasq."""
    try:
        with open(f"{directory}/pid") as f:
            pid = int(f.read().strip())
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read().split(b"\0")
    except (OSError, ValueError):
        return None
    return pid if cmdline and cmdline[0].endswith(b"dnsmasq") else None


def _write_if_changed(path: str, text: str) -> bool:
    try:
        with open(path) as f:
            if f.read() == text:
                return False
    except FileNotFoundError:
        pass
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)
    return True


def _leases_of(hosts: str) -> set[tuple[str, str]]:
    """(MAC, IPv4 address) of each entry of a hosts file."""
    entries = set()
    for line in hosts.splitlines():
        parts = line.split(",")
        if len(parts) == 3 and not parts[2].startswith("["):
            entries.add((parts[0], parts[2]))
    return entries


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except FileNotFoundError:
        return ""


async def ensure(network: Network, dhcp_port: Port, ports: list[Port], state_dir: str,
                 lease_seconds: int) -> list[str]:
    directory = os.path.join(state_dir, "dhcp", network.id)
    os.makedirs(directory, exist_ok=True)
    changes = []
    hosts = render_hosts(network, ports + [dhcp_port])
    # dnsmasq keeps the leases it gave in memory: an address whose port went (or changed its MAC)
    # stays leased to the old MAC, and dnsmasq refuses it to the next port that gets it ("not
    # using configured address ... because it is leased to ..."). Those leases are released.
    gone = _leases_of(_read(f"{directory}/host")) - _leases_of(hosts)
    files_changed = _write_if_changed(f"{directory}/host", hosts)
    files_changed |= _write_if_changed(f"{directory}/opts", render_opts(network, dhcp_port))
    argv = command(network, dhcp_port, directory, lease_seconds)
    cmd_changed = _write_if_changed(f"{directory}/cmdline", "\n".join(argv))
    pid = _pid(directory)
    if pid is not None and cmd_changed:
        await _terminate(pid)
        pid = None
        changes.append(f"dnsmasq {network.id} restarted")
    if pid is None:
        await host.run(*argv, netns=names.dhcp_ns(network.id))
        changes.append(f"dnsmasq {network.id} started")
    elif files_changed:
        os.kill(pid, signal.SIGHUP)
        changes.append(f"dnsmasq {network.id} reloaded")
        if gone and not await _release(network.id, dhcp_port, gone):
            await _terminate(pid)  # without dhcp_release: a new dnsmasq has no leases
            await host.run(*argv, netns=names.dhcp_ns(network.id))
            changes.append(f"dnsmasq {network.id} restarted")
    return changes


async def _release(network_id: str, dhcp_port: Port, leases: set[tuple[str, str]]) -> bool:
    """DHCPRELEASE for each (MAC, address) on the client's behalf, as Neutron's DHCP agent does
    (dnsmasq-utils' dhcp_release); False when that tool is missing."""
    if shutil.which("dhcp_release") is None:
        LOG.warning("dhcp_release (dnsmasq-utils) is missing: dnsmasq of %s restarted to drop leases", network_id)
        return False
    for mac, ip in sorted(leases):
        await host.run("dhcp_release", names.dhcp_dev(dhcp_port.id), ip, mac, netns=names.dhcp_ns(network_id),
                       check=False)
    return True


async def _terminate(pid: int) -> None:
    """SIGTERM, and wait (up to 5 s, then SIGKILL) until its sockets are free."""
    os.kill(pid, signal.SIGTERM)
    for _ in range(50):
        if not _alive(pid):
            return
        await asyncio.sleep(0.1)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"  # a zombie holds no sockets
    except (OSError, IndexError):
        return False


async def stop(network_id: str, state_dir: str) -> list[str]:
    directory = os.path.join(state_dir, "dhcp", network_id)
    pid = _pid(directory)
    if pid is not None:
        await _terminate(pid)
    for name in ("host", "opts", "cmdline", "pid", "log"):
        try:
            os.unlink(f"{directory}/{name}")
        except FileNotFoundError:
            pass
    try:
        os.rmdir(directory)
    except OSError:
        pass
    return [f"dnsmasq {network_id} stopped"] if pid else []


def known_networks(state_dir: str) -> set[str]:
    try:
        return set(os.listdir(os.path.join(state_dir, "dhcp")))
    except FileNotFoundError:
        return set()
