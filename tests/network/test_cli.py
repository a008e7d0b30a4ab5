"""The unmodified `openstack` CLI against a started cloud running the Networking service:
network, subnet, port, router, floating ip, security group (and the admin's views)."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys
from typing import Any, Iterator

import pytest

from tests.conftest import RunningCloud, own_cloud

OPENSTACK = str(pathlib.Path(sys.executable).parent / "openstack")


@pytest.fixture(scope="module")
def net_cloud(tmp_path_factory: pytest.TempPathFactory, db_backend: str) -> Iterator[RunningCloud]:
    yield from own_cloud(tmp_path_factory, db_backend, prefix="network-cli",
                         extra_env={"MONOSTACK_DEFAULT__SERVICES": "identity,network"})


def cli(cloud: RunningCloud, *args: str, name: str = "monostack", check: bool = True) -> Any:
    result = subprocess.run([OPENSTACK, "--os-cloud", name, *args], capture_output=True, text=True, timeout=120,
                            env=cloud.env())
    if check:
        assert result.returncode == 0, f"{args}: {result.stderr}"
    return result


def js(cloud: RunningCloud, *args: str, name: str = "monostack") -> Any:
    return json.loads(cli(cloud, *args, "-f", "json", name=name).stdout)


def test_bootstrap_gives_devstacks_networks(net_cloud: RunningCloud) -> None:
    public = js(net_cloud, "network", "show", "public", name="monostack-admin")
    assert public["router:external"] is True and public["provider:network_type"] == "flat"
    assert js(net_cloud, "subnet", "show", "public-subnet", name="monostack-admin")["cidr"] == "172.24.4.0/24"
    assert js(net_cloud, "subnet", "show", "private-subnet")["cidr"] == "10.0.0.0/26"
    router = js(net_cloud, "router", "show", "router1")
    assert router["external_gateway_info"]["network_id"] == public["id"]
    assert router["interfaces_info"][0]["ip_address"] == "10.0.0.1"
    # The demo user sees its own network and the external one, not the other project's.
    assert {n["Name"] for n in js(net_cloud, "network", "list")} >= {"public", "private"}
    assert "private" not in {n["Name"] for n in js(net_cloud, "network", "list", name="monostack-alt")}


def test_network_subnet_port_lifecycle(net_cloud: RunningCloud) -> None:
    net = js(net_cloud, "network", "create", "cli-net")
    assert net["status"] == "ACTIVE" and net["mtu"] == 1450
    sub = js(net_cloud, "subnet", "create", "--network", "cli-net", "--subnet-range", "10.50.0.0/24",
             "--dns-nameserver", "192.0.2.53", "cli-sub")
    assert sub["gateway_ip"] == "10.50.0.1" and sub["dns_nameservers"] == ["192.0.2.53"]
    port = js(net_cloud, "port", "create", "--network", "cli-net", "--fixed-ip", "subnet=cli-sub,ip-address=10.50.0.20",
              "cli-port")
    assert port["fixed_ips"][0]["ip_address"] == "10.50.0.20" and port["status"] == "DOWN"
    names = [n["Name"] for n in js(net_cloud, "network", "list")]
    assert "cli-net" in names
    assert js(net_cloud, "port", "show", "cli-port")["mac_address"].startswith("fa:16:3e:")
    ports = js(net_cloud, "port", "list", "--network", "cli-net")
    assert {p["Fixed IP Addresses"][0]["ip_address"] for p in ports} == {"10.50.0.2", "10.50.0.20"}
    # Bad input answers Neutron's errors.
    clash = cli(net_cloud, "port", "create", "--network", "cli-net", "--fixed-ip", "ip-address=10.50.0.20", "x",
                check=False)
    assert clash.returncode != 0 and "10.50.0.20 is in use" in clash.stderr
    overlap = cli(net_cloud, "subnet", "create", "--network", "cli-net", "--subnet-range", "10.50.0.128/25", "o",
                  check=False)
    assert overlap.returncode != 0 and "overlaps with another subnet" in overlap.stderr
    in_use = cli(net_cloud, "network", "delete", "cli-net", check=False)
    assert in_use.returncode != 0
    cli(net_cloud, "port", "set", "--name", "renamed", "cli-port")
    cli(net_cloud, "port", "delete", "renamed")
    cli(net_cloud, "subnet", "delete", "cli-sub")
    cli(net_cloud, "network", "delete", "cli-net")
    assert "cli-net" not in [n["Name"] for n in js(net_cloud, "network", "list")]


def test_router_floating_ip_security_group(net_cloud: RunningCloud) -> None:
    admin = "monostack-admin"
    # `public` is the bootstrap's external network.
    js(net_cloud, "network", "create", "cli-private")
    js(net_cloud, "subnet", "create", "--network", "cli-private", "--subnet-range", "10.60.0.0/24", "private-sub")
    router = js(net_cloud, "router", "create", "cli-router")
    cli(net_cloud, "router", "set", "--external-gateway", "public", "cli-router")
    cli(net_cloud, "router", "add", "subnet", "cli-router", "private-sub")
    shown = js(net_cloud, "router", "show", "cli-router")
    assert shown["external_gateway_info"]["external_fixed_ips"][0]["ip_address"].startswith("172.24.4.")
    assert shown["interfaces_info"][0]["ip_address"] == "10.60.0.1"
    failed = cli(net_cloud, "subnet", "delete", "private-sub", check=False)
    assert failed.returncode != 0

    group = js(net_cloud, "security", "group", "create", "web")
    rule = js(net_cloud, "security", "group", "rule", "create", "--protocol", "tcp", "--dst-port", "22", "web")
    assert rule["port_range_min"] == 22 and rule["direction"] == "ingress"
    dup = cli(net_cloud, "security", "group", "rule", "create", "--protocol", "tcp", "--dst-port", "22", "web",
              check=False)
    assert dup.returncode != 0 and "already exists" in dup.stderr
    groups = {g["Name"] for g in js(net_cloud, "security", "group", "list")}
    assert groups == {"default", "web"}

    port = js(net_cloud, "port", "create", "--network", "cli-private", "--security-group", "web", "vm-port")
    assert port["security_group_ids"] == [group["id"]]
    fip = js(net_cloud, "floating", "ip", "create", "public")
    assert fip["floating_ip_address"].startswith("172.24.4.")
    cli(net_cloud, "floating", "ip", "set", "--port", "vm-port", fip["id"])
    assert js(net_cloud, "floating", "ip", "show", fip["id"])["fixed_ip_address"] == port["fixed_ips"][0][
        "ip_address"]
    listed = js(net_cloud, "floating", "ip", "list")
    assert [f["Floating IP Address"] for f in listed] == [fip["floating_ip_address"]]
    cli(net_cloud, "floating", "ip", "unset", "--port", fip["id"])
    cli(net_cloud, "floating", "ip", "delete", fip["id"])
    cli(net_cloud, "port", "delete", "vm-port")
    cli(net_cloud, "security", "group", "delete", "web")
    cli(net_cloud, "router", "remove", "subnet", "cli-router", "private-sub")
    cli(net_cloud, "router", "unset", "--external-gateway", "cli-router")
    cli(net_cloud, "router", "delete", router["id"])
    # The admin's views.
    aliases = {e["Alias"] for e in js(net_cloud, "extension", "list", "--network", name=admin)}
    assert {"router", "external-net", "security-group", "quotas"} <= aliases
    availability = js(net_cloud, "ip", "availability", "list", name=admin)
    assert any(a["Network Name"] == "public" for a in availability)
    quota = {row["Resource"]: row["Limit"] for row in js(net_cloud, "quota", "show", "--network", name=admin)}
    assert quota["networks"] == 100 and quota["ports"] == 500
