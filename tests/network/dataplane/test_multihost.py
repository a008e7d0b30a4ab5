"""Two hosts, each a network namespace with its own mount of /run/netns (so neither sees the
other's namespaces, as on two machines), joined by a veth underlay.  On each runs
`monostack network-agent`, a process of its own reaching the service over RabbitMQ: host A is
the network node (DHCP), host B a compute-only host.  A guest on each host is on one VXLAN
network: B's guest takes its address from A's dnsmasq across the tunnel, the two ping each
other, each agent learnt the other's tunnel address from the service, both ports went ACTIVE.
SIGKILL of B's agent leaves the path up; the restarted agent converges without a duplicate
flood entry; once B's agent is stopped and deleted, A drops its flood entry toward B."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pathlib
import random
import signal
import subprocess
import sys
import time
from typing import Any, AsyncIterator

import pytest
from yarl import URL

from monostack.common.bus import create_bus
from monostack.network.rpc import TOPIC, AgentEndpoint
from tests.netns_forward import forward_into
from tests.rabbit import RABBIT_URL, Rabbit, require_rabbit

from .conftest import Scope, in_ns, sh

pytestmark = pytest.mark.root


class Host:
    """A "host": a network namespace and the data dir of its agent process."""

    def __init__(self, scope: Scope, name: str, tunnel_ip: str, network_node: bool) -> None:
        self.name, self.tunnel_ip, self.network_node = name, tunnel_ip, network_node
        self.ns = f"{scope.prefix}-{name}"
        self.data_dir = scope.tmp / name
        self.data_dir.mkdir()
        self.proc: subprocess.Popen | None = None
        sh("ip", "netns", "add", self.ns)
        scope.guests.append(self.ns)  # deleted at teardown, with every link in it
        in_ns(self.ns, "ip", "link", "set", "lo", "up")

    def start_agent(self, rabbit: Rabbit) -> None:
        env = dict(os.environ, MONOSTACK_DEFAULT__HOST=self.ns, MONOSTACK_BUS__URL=RABBIT_URL,
                   MONOSTACK_BUS__CONTROL_EXCHANGE=rabbit.control_exchange, MONOSTACK_BUS__HEARTBEAT="10",
                   MONOSTACK_NETWORK__LOCAL_IP=self.tunnel_ip,
                   MONOSTACK_NETWORK__NETWORK_NODE=str(self.network_node).lower(),
                   MONOSTACK_NETWORK__PHYSICAL_INTERFACE_MAPPINGS="")
        # A private /run/netns: the agent's qdhcp- namespaces are this host's alone.
        script = 'mount -t tmpfs tmpfs /run/netns && exec "$@"'
        log = open(self.data_dir / "agent.out", "ab")
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", self.ns, "unshare", "--mount", "--propagation", "private", "sh", "-c", script,
             "sh", sys.executable, "-m", "monostack.cli", "network-agent", "--data-dir", str(self.data_dir)],
            env=env, stdout=log, stderr=subprocess.STDOUT)
        log.close()

    def stop_agent(self, signum: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signum)
            self.proc.wait(timeout=30)
        self.proc = None

    def kill_dnsmasq(self) -> None:
        """dnsmasq outlives its agent (by design); its namespace goes with it."""
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                cmd = pathlib.Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if cmd.startswith(b"dnsmasq") and str(self.data_dir).encode() in cmd:
                os.kill(int(pid), signal.SIGKILL)

    async def plug_guest(self, scope: Scope, port: dict[str, Any]) -> str:
        """A "guest" namespace whose eth0 is the port's device here.  The agent makes a bound port's tap
        (a tun device, for QEMU) as soon as it hears of the port; the guest's veth takes its place
        and name in one batch, and the agent plugs it as it found it."""
        guest, tap = f"{scope.prefix}-g{self.name}", f"tap{port['id'][:11]}"
        sh("ip", "netns", "add", guest)
        scope.guests.append(guest)
        in_ns(self.ns, "ip", "link", "add", "guest0", "type", "veth", "peer", "name", "eth0",
              "address", port["mac_address"], "netns", guest)
        in_ns(guest, "ip", "link", "set", "lo", "up")
        in_ns(guest, "ip", "link", "set", "eth0", "up")

        async def link(kind: str) -> bool:
            out = in_ns(self.ns, "ip", "-d", "-j", "link", "show", tap, check=False).stdout
            found = json.loads(out or "[]")
            return bool(found) and found[0].get("linkinfo", {}).get("info_kind") == kind and (
                kind == "tun" or (found[0].get("master") or "").startswith("brq"))

        await wait_until(f"the agent's tap on {self.name}", lambda: link("tun"), [self])
        # The agent may remake its tap between our look and the swap (a busy host: its next pass
        # found the port again): the swap is repeated until guest0 is gone, i.e. took the name.
        for _ in range(20):
            done = subprocess.run(["ip", "netns", "exec", self.ns, "ip", "-force", "-batch", "-"],
                                  capture_output=True, input=f"link del {tap}\nlink set guest0 name {tap}\n".encode())
            if in_ns(self.ns, "ip", "link", "show", "guest0", check=False).returncode != 0:
                break
            await asyncio.sleep(0.2)
        else:
            raise AssertionError(f"the guest's veth could not take the name {tap}: {done.stderr.decode()}")
        await wait_until(f"the guest's veth plugged on {self.name}", lambda: link("veth"), [self])
        return guest

    def flood_entries(self, vni: int) -> list[str]:
        out = in_ns(self.ns, "bridge", "-j", "fdb", "show", "dev", f"vxlan-{vni}", check=False).stdout
        return [e["dst"] for e in json.loads(out or "[]") if e.get("mac") == "00:00:00:00:00:00"]

    def log(self) -> str:
        path = self.data_dir / "agent.out"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""


async def wait_until(what: str, check: Any, hosts: list[Host], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            logs = "\n".join(f"--- {h.name}\n{h.log()}" for h in hosts)
            raise AssertionError(f"timed out waiting for {what}\n{logs}")
        await asyncio.sleep(0.3)


@pytest.fixture
async def controller(svc: Any) -> AsyncIterator[Rabbit]:
    """The service on RabbitMQ: its agent endpoint served, its notifications published there."""
    await require_rabbit()
    rabbit = Rabbit()
    bus = create_bus(RABBIT_URL, host="controller", **rabbit.options)
    await bus.start()
    try:
        await bus.serve(TOPIC, AgentEndpoint(svc))
        svc.bus, svc.loop = bus, asyncio.get_running_loop()
        yield rabbit
    finally:
        svc.bus = None
        await bus.stop()
        await rabbit.cleanup()


async def test_two_hosts_share_a_vxlan_network(scope: Scope, controller: Rabbit, api: Any) -> None:
    r = random.randint(1, 254)
    host_a = Host(scope, "ha", f"198.19.{r}.1", network_node=True)
    host_b = Host(scope, "hb", f"198.19.{r}.2", network_node=False)
    hosts = [host_a, host_b]
    with contextlib.ExitStack() as forwards:
        for host in hosts:  # the broker, as over a management network
            forwards.enter_context(forward_into(host.ns, URL(RABBIT_URL).port or 5672))
        await _two_hosts(scope, controller, api, host_a, host_b)


async def _two_hosts(scope: Scope, controller: Rabbit, api: Any, host_a: Host, host_b: Host) -> None:
    hosts = [host_a, host_b]
    try:
        in_ns(host_a.ns, "ip", "link", "add", "uplink", "type", "veth", "peer", "name", "uplink", "netns", host_b.ns)
        for host in hosts:
            in_ns(host.ns, "ip", "addr", "add", f"{host.tunnel_ip}/24", "dev", "uplink")
            in_ns(host.ns, "ip", "link", "set", "uplink", "up")
            host.start_agent(controller)

        async def registered() -> Any:
            agents = (await api.get("/agents")).json()["agents"]
            return {(a["host"], a["agent_type"]): a for a in agents}

        agents = await wait_until("both agents", lambda: _has(registered, [(host_a.ns, "DHCP agent"),
                                                                           (host_b.ns, "Linux bridge agent")]),
                                  hosts)
        assert agents[(host_b.ns, "Linux bridge agent")]["configurations"]["tunneling_ip"] == host_b.tunnel_ip
        assert (host_b.ns, "DHCP agent") not in agents  # a compute-only host

        vni = random.randint(100000, 16000000)
        net = (await api.post("/networks", json={"network": {"name": f"{scope.prefix}-mh",
                                                             "provider:network_type": "vxlan",
                                                             "provider:segmentation_id": vni}})).json()["network"]
        assert net["mtu"] == 1450
        r = random.randint(1, 254)
        cidr = f"10.{64 + r % 32}.{r}.0/24"
        created = await api.post("/subnets", json={"subnet": {"network_id": net["id"], "cidr": cidr,
                                                              "ip_version": 4}})
        assert created.status_code == 201, created.text
        ports, guests = {}, {}
        for host in hosts:
            body = {"network_id": net["id"], "binding:host_id": host.ns, "device_owner": "compute:nova",
                    "device_id": scope.id()}
            port = (await api.post("/ports", json={"port": body})).json()["port"]
            ports[host.name] = port
            guests[host.name] = await host.plug_guest(scope, port)
        async def active() -> bool:
            shown = [(await api.get(f"/ports/{p['id']}")).json()["port"]["status"] for p in ports.values()]
            return shown == ["ACTIVE", "ACTIVE"]

        await wait_until("both ports ACTIVE", active, hosts)
        await wait_until("the flood entries", lambda: _settled(host_a, host_b, vni), hosts)

        # B's guest takes its address from A's DHCP server, across the tunnel.
        leases = {}
        for name, guest in guests.items():
            try:
                leases[name] = await asyncio.to_thread(scope.dhcp, guest)
            except subprocess.CalledProcessError as exc:
                logs = "\n".join(f"--- {h.name}\n{h.log()}" for h in hosts)
                raise AssertionError(f"no lease in {guest}: {exc.stdout}{exc.stderr}\n{logs}") from None
        for name, lease in leases.items():
            assert lease["ip"] == ports[name]["fixed_ips"][0]["ip_address"]
            assert lease.get("mtu") == "1450"
        ip_a, ip_b = leases["ha"]["ip"], leases["hb"]["ip"]
        in_ns(guests["hb"], "ping", "-c", "2", "-W", "2", ip_a)
        in_ns(guests["ha"], "ping", "-c", "1", "-W", "2", "-M", "do", "-s", str(1450 - 28), ip_b)

        # SIGKILL of B's agent: the path stays; a new agent converges with no duplicate entry.
        pinger = subprocess.Popen(["ip", "netns", "exec", guests["ha"], "ping", "-c", "20", "-i", "0.2", "-W", "1",
                                   ip_b], stdout=subprocess.PIPE, text=True)
        host_b.stop_agent(signal.SIGKILL)
        host_b.start_agent(controller)
        out, _ = pinger.communicate(timeout=30)
        assert pinger.returncode == 0 and " 0% packet loss" in out, out
        await asyncio.sleep(2)  # its first convergence
        assert host_b.proc is not None and host_b.proc.poll() is None, host_b.log()
        assert host_b.flood_entries(vni) == [host_a.tunnel_ip]
        in_ns(guests["hb"], "ping", "-c", "1", "-W", "2", ip_a)

        # B goes away for good: stopped, then deleted; A stops flooding toward it.
        host_b.stop_agent()
        agents = await registered()
        for (host, _kind), agent in agents.items():
            if host == host_b.ns:
                assert (await api.delete(f"/agents/{agent['id']}")).status_code == 204

        async def dropped() -> bool:
            return host_a.flood_entries(vni) == []

        await wait_until("A to drop B", dropped, hosts)
    finally:
        for host in hosts:
            host.stop_agent(signal.SIGKILL)
            host.kill_dnsmasq()


async def _has(registered: Any, keys: list[tuple[str, str]]) -> Any:
    agents = await registered()
    return agents if all(k in agents for k in keys) else None


async def _settled(host_a: Host, host_b: Host, vni: int) -> bool:
    return (host_a.flood_entries(vni) == [host_b.tunnel_ip]
            and host_b.flood_entries(vni) == [host_a.tunnel_ip])
