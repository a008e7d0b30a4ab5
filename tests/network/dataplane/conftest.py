"""Fixtures of the data plane tests: a scoped agent, guest namespaces, cleanup.

Every test gets a scope (a short random id prefix): the ids it makes start
with it, so every device, namespace, nft table and dnsmasq it causes carries
it, and teardown removes everything carrying it whatever the test did, so
runs side by side do not collide and nothing outlives a run.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import uuid
from typing import Iterator

import pytest

from monostack.network.dataplane.agent import Agent, AgentConfig
from monostack.network.dataplane.desired import HostState

UDHCPC_SCRIPT = r"""#!/bin/sh
# busybox udhcpc hook: configure the interface as a guest's DHCP client would.
case "$1" in
  deconfig) ip addr flush dev "$interface"; ip link set dev "$interface" up ;;
  bound|renew)
    ip addr flush dev "$interface"
    ip addr add "$ip/$mask" dev "$interface"
    [ -n "$mtu" ] && ip link set dev "$interface" mtu "$mtu"
    if [ -n "$staticroutes" ]; then
      set -- $staticroutes
      while [ -n "$1" ]; do ip route replace "$1" via "$2" dev "$interface"; shift 2; done
    elif [ -n "$router" ]; then
      ip route replace default via "${router%% *}" dev "$interface"
    fi
    env > "$UDHCPC_OUT" ;;
esac
exit 0
"""


def root() -> bool:
    return os.geteuid() == 0


def sh(*argv: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run(list(argv), capture_output=True, text=True, check=check, timeout=timeout)


def in_ns(ns: str, *argv: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess:
    return sh("ip", "netns", "exec", ns, *argv, check=check, timeout=timeout)


class Scope:
    """Ids, names and guests of one test."""

    def __init__(self, tmp_path) -> None:
        self.prefix = "t" + secrets.token_hex(3)[:5]
        self.tmp = tmp_path
        self.guests: list[str] = []
        self.procs: list[subprocess.Popen] = []

    def id(self) -> str:
        return self.prefix + str(uuid.uuid4())[len(self.prefix):]

    @staticmethod
    def mac() -> str:
        return "fa:16:3e:" + ":".join(secrets.token_hex(1) for _ in range(3))

    def guest(self, port_id: str, mac: str) -> str:
        """A "guest": a namespace whose eth0 is a veth, the host end named as
        the port's tap so the agent plugs it like a QEMU tap."""
        ns = f"{self.prefix}-g{len(self.guests)}"
        self.guests.append(ns)
        sh("ip", "netns", "add", ns)
        tap = "tap" + port_id[:11]
        sh("ip", "link", "add", tap, "type", "veth", "peer", "name", "eth0", "address", mac,
           "netns", ns)
        in_ns(ns, "ip", "link", "set", "lo", "up")
        in_ns(ns, "ip", "link", "set", "eth0", "up")
        return ns

    def dhcp(self, ns: str) -> dict[str, str]:
        """Run busybox udhcpc in the guest; the lease's variables."""
        script = self.tmp / "udhcpc.sh"
        if not script.exists():
            script.write_text(UDHCPC_SCRIPT)
            script.chmod(0o755)
        out = self.tmp / f"{ns}.lease"
        env = dict(os.environ, UDHCPC_OUT=str(out))
        subprocess.run(["ip", "netns", "exec", ns, "busybox", "udhcpc", "-i", "eth0", "-n", "-q",
                        "-f", "-t", "8", "-T", "1", "-s", str(script), "-O", "staticroutes",
                        "-O", "mtu"], env=env, check=True, capture_output=True, timeout=30)
        lease = {}
        for line in out.read_text().splitlines():
            if "=" in line:
                k, v = line.split("=", 1)
                lease[k] = v
        return lease

    def dhcp6(self, ns: str) -> dict[str, str]:
        """Run dhcpcd for DHCPv6 in the guest in test mode (it configures nothing, its hook prints
        what the server offered); the variables of the first answer with DNS servers."""
        out = self.tmp / f"{ns}.lease6"
        hook = self.tmp / "dhcpcd-hook.sh"
        hook.write_text(f'#!/bin/sh\n[ -n "$new_dhcp6_name_servers" ] && env > {out}\nexit 0\n')
        hook.chmod(0o755)
        subprocess.run(["ip", "netns", "exec", ns, "dhcpcd", "-6", "-T", "-1", "-t", "40", "-f", "/dev/null", "-o", "dhcp6_name_servers",
                        "-c", str(hook), "eth0"], check=True, capture_output=True, timeout=60)
        return dict(line.split("=", 1) for line in out.read_text().splitlines() if "=" in line)

    def spawn(self, *argv: str) -> subprocess.Popen:
        proc = subprocess.Popen(list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.procs.append(proc)
        return proc

    def cleanup(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        for ns in self.guests:
            sh("ip", "netns", "del", ns, check=False)
        leftovers = cleanup_scope(self.prefix)
        assert not leftovers, f"left behind: {leftovers}"


def cleanup_scope(prefix: str) -> list[str]:
    """Remove anything carrying the prefix; what was found (should be nothing
    once the agent applied an empty state)."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        if cmd.startswith(b"dnsmasq") and prefix.encode() in cmd:
            found.append(f"dnsmasq {pid}")
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass
    for ns in sorted(os.listdir("/run/netns")) if os.path.isdir("/run/netns") else []:
        if prefix in ns:
            found.append(f"netns {ns}")
            sh("ip", "netns", "del", ns, check=False)
    for link in sorted(os.listdir("/sys/class/net")):
        if prefix in link:
            found.append(f"link {link}")
            sh("ip", "link", "del", link, check=False)
    tables = json.loads(sh("nft", "-j", "list", "tables").stdout or '{"nftables": []}')
    for item in tables["nftables"]:
        table = item.get("table")
        if table and prefix in table["name"]:
            found.append(f"nft {table['family']} {table['name']}")
            sh("nft", "delete", "table", table["family"], table["name"], check=False)
    return found


@pytest.fixture
def scope(tmp_path) -> Iterator[Scope]:
    if not root():
        pytest.skip("needs root")
    s = Scope(tmp_path)
    try:
        yield s
    finally:
        s.cleanup()


def make_config(scope: Scope, **kwargs) -> AgentConfig:
    return AgentConfig(state_dir=str(scope.tmp / "agent"), scope=scope.prefix,
                       firewall_table=f"monostack_{scope.prefix}", **kwargs)


@pytest.fixture
async def agent(scope: Scope):
    a = Agent(make_config(scope))
    try:
        yield a
    finally:
        # The agent removes everything of its own; scope.cleanup then checks
        # nothing was left (and removes it if something was).
        try:
            await a.apply(HostState())
        finally:
            await a.close()
