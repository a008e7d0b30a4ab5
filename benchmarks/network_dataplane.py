#!/usr/bin/env python3
"""The Networking data plane on this host: time to a first DHCP lease, and guest-to-guest TCP
throughput through the bridge with security groups, against a plain veth pair.

No cloud: the data plane library (monostack.network.dataplane.Agent) is driven directly, as
tests/network/dataplane do, with a scope of its own -- every id starts with a random prefix
("b" + 5 hex digits), so every bridge, namespace, nft table and dnsmasq made carries it and
the agent leaves alone anything else on the host (another cloud's agent, other runs).  At the
end (also on an error or Ctrl-C) an empty HostState with the same scope is applied, which
removes all the agent made, then anything still carrying the prefix is removed and listed in
the results as a leftover (should be none).  Needs root.

(a) DHCP, ROUNDS times: a "guest" namespace whose eth0 is a veth (the host end named as the
    port's tap, like QEMU's), then Agent.apply of a state with a new network (type local),
    a subnet and a DHCP port plus the guest's port: timed are the apply, until dnsmasq
    listens on UDP 67 in the qdhcp namespace (polled with `ss` every 10 ms), and until busybox
    udhcpc in the guest (started right after the apply returns, as test_dhcp.py runs it) has
    its lease -- all from the start of the apply.  Each round's state is then removed (empty
    apply, timed too).
(b) TCP throughput: two guests on one network (MTU 1500), each port with a security group
    allowing egress and TCP 5201 ingress (nft rules of the agent enforced on both ports,
    anti-spoofing included), addresses set statically; iperf3 -c in guest 1 to iperf3 -s in
    guest 2 (DURATION s, one stream) -- against iperf3 over a plain veth pair between two
    namespaces, same MTU, in the same run; REPEATS runs of each, alternating which goes
    first.  Reported: receiver Gbit/s of each run (iperf3's JSON), the medians and their
    ratio, and that a port the group does not open (5202) is blocked.

    .venv/bin/python benchmarks/network_dataplane.py [--rounds 3] [--duration 10] [--repeats 3] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pathlib
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from monostack.network.dataplane import names  # noqa: E402
from monostack.network.dataplane.agent import Agent, AgentConfig  # noqa: E402
from monostack.network.dataplane.desired import HostState, SecurityGroup, SecurityGroupRule  # noqa: E402
from tests.network.dataplane.builders import dhcp_port, network, port  # noqa: E402
from tests.network.dataplane.conftest import Scope, cleanup_scope, in_ns, sh  # noqa: E402

import _compute_cloud as cc  # noqa: E402


def dnsmasq_listening(ns: str) -> bool:
    out = sh("ip", "netns", "exec", ns, "ss", "-H", "-lun", "sport", "= :67", check=False).stdout
    return bool(out.strip())


async def dhcp_round(agent: Agent, scope: Scope, i: int) -> dict[str, Any]:
    net = network(scope, cidr=f"10.{70 + i}.0.0/24", mtu=1500)
    group = SecurityGroup(id=scope.id(), rules=[SecurityGroupRule(id="r-egress", direction="egress")])
    guest_port = port(scope, net, 11, sgs=[group.id])
    guest = scope.guest(guest_port.id, guest_port.mac_address)
    state = HostState(networks=[net], ports=[guest_port, dhcp_port(scope, net)], security_groups=[group])
    load = cc.LoadMeter()
    t0 = time.monotonic()
    changes = await agent.apply(state)
    apply_s = time.monotonic() - t0
    ns = names.dhcp_ns(net.id)
    listen_s = None
    while time.monotonic() - t0 < 30:
        if dnsmasq_listening(ns):
            listen_s = time.monotonic() - t0
            break
        await asyncio.sleep(0.01)
    t1 = time.monotonic()
    lease = await asyncio.to_thread(scope.dhcp, guest)
    lease_s = time.monotonic() - t0
    udhcpc_s = time.monotonic() - t1
    if lease.get("ip") != "10.%d.0.11" % (70 + i):
        raise RuntimeError(f"unexpected lease {lease}")
    t2 = time.monotonic()
    await agent.apply(HostState())
    remove_s = time.monotonic() - t2
    sh("ip", "netns", "del", guest, check=False)
    scope.guests.remove(guest)
    return {"round": i + 1, "apply_s": apply_s, "dnsmasq_listening_s": listen_s, "first_lease_s": lease_s,
            "udhcpc_s": udhcpc_s, "lease_ip": lease.get("ip"), "changes": changes, "remove_s": remove_s,
            "load": load.done()}


def iperf(client_ns: str, server_ns: str, server_ip: str, duration: int, procs: list) -> dict[str, Any]:
    server = subprocess.Popen(["ip", "netns", "exec", server_ns, "iperf3", "-s", "-1", "-B", server_ip],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    procs.append(server)
    for _ in range(100):
        if ":5201" in in_ns(server_ns, "ss", "-ltn").stdout:
            break
        time.sleep(0.05)
    load = cc.LoadMeter()
    out = in_ns(client_ns, "iperf3", "-c", server_ip, "-t", str(duration), "-J", timeout=duration + 60).stdout
    server.wait(30)
    data = json.loads(out)
    end = data["end"]
    return {"sender_gbit_s": end["sum_sent"]["bits_per_second"] / 1e9,
            "receiver_gbit_s": end["sum_received"]["bits_per_second"] / 1e9,
            "retransmits": end["sum_sent"].get("retransmits"),
            "host_cpu_pct": end.get("cpu_utilization_percent", {}).get("host_total"),
            "remote_cpu_pct": end.get("cpu_utilization_percent", {}).get("remote_total"),
            "load": load.done()}


async def throughput(agent: Agent, scope: Scope, duration: int, repeats: int, procs: list) -> dict[str, Any]:
    # through the bridge, security groups enforced
    net = network(scope, cidr="10.79.0.0/24", mtu=1500)
    group = SecurityGroup(id=scope.id(), rules=[
        SecurityGroupRule(id="r-egress", direction="egress"),
        SecurityGroupRule(id="r-iperf", direction="ingress", protocol="tcp", port_range_min=5201,
                          port_range_max=5201, remote_ip_prefix="10.79.0.0/24")])
    p1, p2 = port(scope, net, 11, sgs=[group.id]), port(scope, net, 12, sgs=[group.id])
    g1, g2 = scope.guest(p1.id, p1.mac_address), scope.guest(p2.id, p2.mac_address)
    await agent.apply(HostState(networks=[net], ports=[p1, p2, dhcp_port(scope, net)], security_groups=[group]))
    for ns, p in ((g1, p1), (g2, p2)):
        in_ns(ns, "ip", "addr", "add", f"{p.fixed_ips[0].ip_address}/24", "dev", "eth0")
    # the enforcement is there: a port the group does not open is refused/dropped
    blocked = in_ns(g1, "python3", "-c", "import socket,sys\ntry:\n socket.create_connection(('10.79.0.12', 5202),"
                    " timeout=1); print('open')\nexcept OSError as e: print('blocked')").stdout.strip()
    # a plain veth pair between two namespaces, next to it
    a, b = f"{scope.prefix}-va", f"{scope.prefix}-vb"
    scope.guests += [a, b]
    sh("ip", "netns", "add", a)
    sh("ip", "netns", "add", b)
    sh("ip", "link", "add", f"{scope.prefix}va", "netns", a, "type", "veth", "peer", "name",
       f"{scope.prefix}vb", "netns", b)
    for ns, dev, ip in ((a, f"{scope.prefix}va", "10.78.0.1"), (b, f"{scope.prefix}vb", "10.78.0.2")):
        in_ns(ns, "ip", "link", "set", "lo", "up")
        in_ns(ns, "ip", "addr", "add", f"{ip}/24", "dev", dev)
        in_ns(ns, "ip", "link", "set", dev, "mtu", "1500", "up")
    # alternate which goes first: the machine's other load moves from minute to minute
    bridge_runs, plain_runs = [], []
    for i in range(repeats):
        pair = [("bridge", g1, g2, "10.79.0.12", bridge_runs), ("plain", a, b, "10.78.0.2", plain_runs)]
        for label, client, server, ip, runs in (pair if i % 2 == 0 else pair[::-1]):
            runs.append(iperf(client, server, ip, duration, procs))
            cc.say(f"iperf3 {label} run {len(runs)}: {runs[-1]['receiver_gbit_s']:.2f} Gbit/s")
    await agent.apply(HostState())
    med = lambda runs: statistics.median(r["receiver_gbit_s"] for r in runs)  # noqa: E731
    return {"bridge_with_security_groups": {"runs": bridge_runs, "receiver_gbit_s_median": med(bridge_runs),
                                            "port_5202_from_guest1": blocked},
            "plain_veth": {"runs": plain_runs, "receiver_gbit_s_median": med(plain_runs)},
            "ratio_receiver_medians": med(bridge_runs) / med(plain_runs)}


async def run(args: argparse.Namespace, tmp: pathlib.Path) -> dict[str, Any]:
    scope = Scope(tmp)
    scope.prefix = "b" + scope.prefix[1:]  # "b" for benchmark; random otherwise, like the tests'
    config = AgentConfig(state_dir=str(tmp / "agent"), scope=scope.prefix, firewall_table=f"monostack_{scope.prefix}")
    agent = Agent(config)
    procs: list[subprocess.Popen] = []
    results: dict[str, Any] = {"benchmark": "network_dataplane", "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                               "machine": cc.machine_info(), "loadavg_at_start": list(os.getloadavg()),
                               "scope": scope.prefix,
                               "config": {"rounds": args.rounds, "duration_s": args.duration, "repeats": args.repeats},
                               "versions": {"dnsmasq": sh("dnsmasq", "--version").stdout.splitlines()[0],
                                            "iperf3": sh("iperf3", "--version", check=False).stdout.splitlines()[0]}}
    try:
        rounds = []
        for i in range(args.rounds):
            rounds.append(await dhcp_round(agent, scope, i))
            cc.say(f"dhcp round {i + 1}: apply {rounds[-1]['apply_s'] * 1e3:.0f} ms, lease at "
                   f"{rounds[-1]['first_lease_s'] * 1e3:.0f} ms")
        results["dhcp"] = {"rounds": rounds, **{f"{k}_median_s": statistics.median(r[k] for r in rounds)
                                                 for k in ("apply_s", "dnsmasq_listening_s", "first_lease_s",
                                                           "udhcpc_s", "remove_s")}}
        results["throughput"] = await throughput(agent, scope, args.duration, args.repeats, procs)
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        try:
            await agent.apply(HostState())
        finally:
            await agent.close()
            for ns in scope.guests:
                sh("ip", "netns", "del", ns, check=False)
            results["leftovers_after_cleanup"] = cleanup_scope(scope.prefix)
    results["loadavg_at_end"] = list(os.getloadavg())
    return results


def report(r: dict[str, Any]) -> None:
    d = r["dhcp"]
    print(f"\nnetwork data plane (scope {r['scope']}; load average at start {r['loadavg_at_start'][0]:.2f}, "
          f"at end {r['loadavg_at_end'][0]:.2f})")
    print(f"(a) new network + subnet + DHCP port, {len(d['rounds'])} rounds (medians, from the start of the apply):")
    print(f"    apply {d['apply_s_median_s'] * 1e3:.0f} ms, "
          f"dnsmasq listening {d['dnsmasq_listening_s_median_s'] * 1e3:.0f} ms, "
          f"first lease {d['first_lease_s_median_s'] * 1e3:.0f} ms "
          f"(udhcpc alone {d['udhcpc_s_median_s'] * 1e3:.0f} ms); "
          f"removal {d['remove_s_median_s'] * 1e3:.0f} ms")
    t = r["throughput"]
    b, p = t["bridge_with_security_groups"], t["plain_veth"]
    print(f"(b) TCP, one iperf3 stream, {len(b['runs'])} runs of {r['config']['duration_s']} s each, "
          "alternating (receiver Gbit/s):")
    runs = lambda x: ", ".join(f"{run['receiver_gbit_s']:.2f}" for run in x["runs"])  # noqa: E731
    print(f"    guest -> guest via bridge + security groups  median {b['receiver_gbit_s_median']:6.2f}  ({runs(b)}; "
          f"port 5202: {b['port_5202_from_guest1']})")
    print(f"    plain veth pair                              median {p['receiver_gbit_s_median']:6.2f}  ({runs(p)})")
    print(f"    ratio of the medians {t['ratio_receiver_medians']:.0%}")
    print(f"leftovers after cleanup: {r['leftovers_after_cleanup'] or 'none'}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3, help="iperf3 runs of each path, alternating")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("needs root (namespaces, bridges, nft)", file=sys.stderr)
        return 2
    if not shutil.which("iperf3"):
        print("needs iperf3 (apt-get install -y iperf3)", file=sys.stderr)
        return 2
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="bench-dataplane-"))
    # SIGTERM as Ctrl-C, so the cleanup in run() happens
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        results = asyncio.run(run(args, tmp))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    report(results)
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
