"""Real guests on real networks, through the real CLI: two servers on `private` take their
addresses by DHCP and ping each other; the key the guest read from the metadata service
(no config drive) lets the host SSH in through a floating IP; the security group's SSH rule
opens and closes that path live; the guest reaches the host through the router's SNAT; two
projects use the same CIDR without seeing each other; a second interface attached to a running
server appears inside the guest; SIGKILL of the whole cloud leaves the guests connected, and
the restarted cloud converges with no duplicate rule and no leaked namespace or link.
Everything the cloud made on the host is removed after."""

from __future__ import annotations

import asyncio
import os
import pathlib
import signal
import subprocess
import time
from typing import Any, Iterator

import pytest

from tests import guests
from tests.compute.conftest import kill_guests
from tests.conftest import RunningCloud, own_cloud, start_cloud

pytestmark = [pytest.mark.qemu, pytest.mark.root]
SERVICES = "identity,image,placement,compute,network"
ENV = {"MONOSTACK_DEFAULT__SERVICES": SERVICES, "MONOSTACK_IMAGE__GUEST_IMAGES": "true",
       "MONOSTACK_COMPUTE__HEARTBEAT_INTERVAL": "2", "MONOSTACK_NETWORK__RUN_AGENT": "true"}


def clean_host(data_dir: pathlib.Path, links: set[str]) -> None:
    """Every bridge, namespace, dnsmasq and nft table the cloud's agent made (it tears nothing down
    when it stops, by design: guests keep their network while the agent is away), and the taps
    and bridges Compute plugged its guests into (`links`)."""
    from monostack.network.dataplane.agent import Agent, AgentConfig
    from monostack.network.dataplane.desired import HostState

    async def clean() -> None:
        agent = Agent(AgentConfig(state_dir=str(data_dir / "network")))
        try:
            await agent.apply(HostState())
        finally:
            await agent.close()

    asyncio.run(clean())
    for name in sorted(links, key=lambda n: not n.startswith("tap")):  # taps, then their bridges
        if os.path.exists(f"/sys/class/net/{name}"):
            subprocess.run(["ip", "link", "del", "dev", name], check=False)


def cloud_links(cloud: RunningCloud) -> set[str]:
    """The tap of every port and the bridge of every network of the cloud (Linux bridge agent names)."""
    ports = cli(cloud, "port", "list", "-f", "json", "-c", "ID", user="monostack-admin")
    networks = cli(cloud, "network", "list", "-f", "json", "-c", "ID", user="monostack-admin")
    return {f"tap{p['ID'][:11]}" for p in ports} | {f"brq{n['ID'][:11]}" for n in networks}


@pytest.fixture(scope="module")
def net_cloud(tmp_path_factory: pytest.TempPathFactory, db_backend: str) -> Iterator[RunningCloud]:
    if os.geteuid() != 0:
        pytest.skip("the Networking agent needs root")
    running = None
    links: set[str] = set()
    try:
        for running in own_cloud(tmp_path_factory, db_backend, "net", extra_env=ENV):
            try:
                yield running
            finally:
                links = cloud_links(running)
    finally:
        if running is not None:
            kill_guests(running.data_dir)
            clean_host(running.data_dir, links)


def cli(cloud: RunningCloud, *args: str, user: str = "monostack", check: bool = True) -> Any:
    return guests.cli(cloud, *args, check=check, user=user)  # as the demo user by default


@pytest.fixture(scope="module")
def key(net_cloud: RunningCloud, tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    path = tmp_path_factory.mktemp("ssh") / "id"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    for user in ("monostack", "monostack-alt"):
        cli(net_cloud, "keypair", "create", "--public-key", f"{path}.pub", "k", user=user)
    guests.wait_guest_image(net_cloud)
    return path


def ssh(key: pathlib.Path, address: str, command: str, timeout: float = 20) -> subprocess.CompletedProcess:
    return subprocess.run(["ssh", "-i", str(key), "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                           "-o", "ConnectTimeout=5", "-o", "BatchMode=yes", f"root@{address}", command],
                          capture_output=True, text=True, timeout=timeout)


def wait_ssh(key: pathlib.Path, address: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if ssh(key, address, "true").returncode == 0:
                return
        except subprocess.TimeoutExpired:
            pass
        assert time.monotonic() < deadline, f"no SSH to {address}"
        time.sleep(2)


def console(cloud: RunningCloud, server: str, user: str = "monostack") -> str:
    return cli(cloud, "console", "log", "show", server, user=user).stdout


def wait_console(cloud: RunningCloud, server: str, marker: str, user: str = "monostack", timeout: float = 180) -> str:
    deadline = time.monotonic() + timeout
    while marker not in (text := console(cloud, server, user)):
        assert time.monotonic() < deadline, f"{server}: no {marker!r} on the console:\n{text[-2000:]}"
        time.sleep(2)
    return text


def address(cloud: RunningCloud, server: str, network: str, user: str = "monostack") -> str:
    shown = cli(cloud, "server", "show", server, "-f", "json", user=user)
    return shown["addresses"][network][0]


def test_two_guests_on_private_talk_and_the_host_reaches_them_by_floating_ip(net_cloud: RunningCloud,
                                                                           key: pathlib.Path) -> None:
    for name in ("vm1", "vm2"):
        created = cli(net_cloud, "server", "create", "--image", "monostack-guest", "--flavor", "m1.nano",
                      "--key-name", "k", "--network", "private", "--wait", name, "-f", "json")
        assert created["status"] == "ACTIVE"
    ip1, ip2 = address(net_cloud, "vm1", "private"), address(net_cloud, "vm2", "private")
    assert ip1 != ip2
    for name in ("vm1", "vm2"):  # keys from the metadata service: no config drive was asked for
        text = wait_console(net_cloud, name, "MONOSTACK-GUEST: login prompt")
        assert "metadata from http://169.254.169.254" in text and "keys installed 1" in text

    fip = cli(net_cloud, "floating", "ip", "create", "public", "-f", "json")["floating_ip_address"]
    cli(net_cloud, "server", "add", "floating", "ip", "vm1", fip)
    # The default group lets nothing in from outside: SSH answers only once a rule allows it.
    assert ssh(key, fip, "true").returncode != 0
    rule = cli(net_cloud, "security", "group", "rule", "create", "--proto", "tcp", "--dst-port", "22", "default",
               "-f", "json")["id"]
    wait_ssh(key, fip)
    done = ssh(key, fip, f"hostname; ping -c 3 -W 2 {ip2}; ping -c 2 -W 2 172.24.4.1")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[0] == "vm1"
    assert done.stdout.count(" 0% packet loss") == 2  # vm2 on private, and the host through SNAT
    addresses = cli(net_cloud, "server", "show", "vm1", "-f", "json")["addresses"]["private"]
    assert fip in addresses  # Compute heard of the floating IP (network-changed)

    cli(net_cloud, "security", "group", "rule", "delete", rule)  # closed again, live
    time.sleep(2)
    assert ssh(key, fip, "true").returncode != 0
    cli(net_cloud, "security", "group", "rule", "create", "--proto", "tcp", "--dst-port", "22", "default")
    wait_ssh(key, fip, timeout=30)

    # A second interface, attached to the running server, appears inside the guest.
    cli(net_cloud, "network", "create", "second")
    cli(net_cloud, "subnet", "create", "--network", "second", "--subnet-range", "10.9.0.0/24", "second-subnet")
    cli(net_cloud, "server", "add", "network", "vm1", "second")
    assert address(net_cloud, "vm1", "second").startswith("10.9.0.")
    deadline = time.monotonic() + 30
    while "eth1" not in ssh(key, fip, "ls /sys/class/net").stdout:
        assert time.monotonic() < deadline, "the attached interface never appeared in the guest"
        time.sleep(1)


def test_two_projects_with_the_same_cidr_do_not_see_each_other(net_cloud: RunningCloud, key: pathlib.Path) -> None:
    alt = "monostack-alt"
    cli(net_cloud, "network", "create", "private", user=alt)
    cli(net_cloud, "subnet", "create", "--network", "private", "--subnet-range", "10.0.0.0/26", "private-subnet",
        user=alt)
    net = cli(net_cloud, "network", "show", "private", "-f", "json", user=alt)["id"]
    # An address demo's private network does not use, so that only the other project's guest has it.
    cli(net_cloud, "server", "create", "--image", "monostack-guest", "--flavor", "m1.nano", "--key-name", "k",
        "--nic", f"net-id={net},v4-fixed-ip=10.0.0.50", "--wait", "alt1", user=alt)
    assert address(net_cloud, "alt1", "private", user=alt) == "10.0.0.50"
    text = wait_console(net_cloud, "alt1", "MONOSTACK-GUEST: login prompt", user=alt)
    assert "keys installed 1" in text  # its own DHCP and metadata on the same CIDR
    fip = next(a for a in cli(net_cloud, "server", "show", "vm1", "-f", "json")["addresses"]["private"]
               if a.startswith("172.24.4."))
    own = address(net_cloud, "vm2", "private")
    assert " 0% packet loss" in ssh(key, fip, f"ping -c 2 -W 2 {own}").stdout
    assert "100% packet loss" in ssh(key, fip, "ping -c 2 -W 2 10.0.0.50").stdout


def _host_view() -> tuple[set[str], set[str], int]:
    """Our namespaces, our links, and how many nftables rules the host has."""
    namespaces = {line.split()[0] for line in subprocess.run(["ip", "netns"], capture_output=True, text=True
                                                            ).stdout.splitlines() if line.startswith("q")}
    links = set(os.listdir("/sys/class/net"))
    rules = subprocess.run(["nft", "-a", "list", "ruleset"], capture_output=True, text=True).stdout.count("# handle")
    return namespaces, {n for n in links if n.startswith(("brq", "tap", "vxlan-"))}, rules


def test_guests_keep_their_network_while_the_cloud_is_killed_and_it_converges_on_restart(
        net_cloud: RunningCloud, key: pathlib.Path) -> None:
    fip = next(a for a in cli(net_cloud, "server", "show", "vm1", "-f", "json")["addresses"]["private"]
               if a.startswith("172.24.4."))
    vm2 = address(net_cloud, "vm2", "private")
    before = _host_view()
    net_cloud.process.send_signal(signal.SIGKILL)
    net_cloud.process.wait()
    # Nothing serves the API now; the data plane still carries the guests' traffic.
    done = ssh(key, fip, f"ping -c 5 -W 2 {vm2}")
    assert " 0% packet loss" in done.stdout, done.stdout + done.stderr
    assert _host_view() == before

    restarted = start_cloud(net_cloud.data_dir, extra_env=ENV, timeout=120)
    net_cloud.url, net_cloud.process = restarted.url, restarted.process  # the fixture stops this one
    deadline = time.monotonic() + 60
    while cli(net_cloud, "port", "list", "--server", "vm1", "-f", "value", "-c", "Status",
              check=False).stdout.split() != ["ACTIVE", "ACTIVE"]:
        assert time.monotonic() < deadline, "the agent did not report vm1's ports up again"
        time.sleep(1)
    time.sleep(3)  # a few convergences
    assert _host_view() == before  # no duplicate rule, no new or leaked namespace or link
    done = ssh(key, fip, f"ping -c 2 -W 2 {vm2}")
    assert " 0% packet loss" in done.stdout
