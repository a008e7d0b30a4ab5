"""network_data.json, compared with Nova's documented example and the cases
of its netutils tests."""

from __future__ import annotations

import dataclasses
import json

from monostack.compute.metadata import Documents, FixedIP, Interface, Subnet
from monostack.compute.metadata.network import ec2_addresses, network_data

from tests.compute.metadata.sample import NETWORK, PORT, dhcp_port, sample, static_port


def test_guide_example_dhcp_port() -> None:
    # doc/source/user/metadata.rst, network_data.json
    assert network_data([dhcp_port()]) == {
        "links": [{"ethernet_mac_address": "fa:16:3e:9c:bf:3d", "id": "tapcd9f6d46-4a",
                   "mtu": None, "type": "bridge", "vif_id": PORT}],
        "networks": [{"id": "network0", "link": "tapcd9f6d46-4a", "network_id": NETWORK,
                      "type": "ipv4_dhcp"}],
        "services": [{"address": "8.8.8.8", "type": "dns"}],
    }


def test_static_ipv4_and_ipv6() -> None:
    port = static_port()
    doc = network_data([port])
    assert doc["links"] == [{"id": "tap0b1ef3a4-5a", "vif_id": port.port_id, "type": "ovs",
                             "mtu": 1500, "ethernet_mac_address": "fa:16:3e:00:00:02"}]
    v4, v6 = doc["networks"]
    assert v4 == {
        "id": "network0", "link": "tap0b1ef3a4-5a", "type": "ipv4", "ip_address": "10.10.0.2",
        "netmask": "255.255.255.0",
        "routes": [{"network": "0.0.0.0", "netmask": "0.0.0.0", "gateway": "10.10.0.1"},
                   {"network": "0.0.0.0", "netmask": "255.255.255.0", "gateway": "192.168.1.1"}],
        "services": [{"address": "1.2.3.4", "type": "dns"}, {"address": "2.3.4.5", "type": "dns"}],
        "network_id": port.network_id,
    }
    assert v6 == {
        "id": "network1", "link": "tap0b1ef3a4-5a", "type": "ipv6", "ip_address": "fd00::2",
        "netmask": "ffff:ffff:ffff::",
        "routes": [{"network": "::", "netmask": "::", "gateway": "fd00::1"},
                   {"network": "::", "netmask": "ffff:ffff:ffff::", "gateway": "fd00::1:1"}],
        "services": [{"address": "1:2:3:4::", "type": "dns"}, {"address": "2:3:4:5::", "type": "dns"}],
        "network_id": port.network_id,
    }
    assert doc["services"] == v4["services"] + v6["services"]


def test_dhcp_hides_address_and_mtu() -> None:
    port = static_port()
    port.subnets[0].dhcp_server = "10.10.0.3"
    port.subnets[1].enable_dhcp = True  # OVN-style: no DHCP port, DHCP enabled
    doc = network_data([port])
    assert [n["type"] for n in doc["networks"]] == ["ipv4_dhcp", "ipv6_dhcp"]
    assert set(doc["networks"][1]) == {"id", "type", "link", "network_id"}
    assert doc["links"][0]["mtu"] is None  # a DHCP port tells the MTU
    port.subnets[0].dhcp_server = None
    port.subnets[0].enable_dhcp = True
    assert network_data([port])["links"][0]["mtu"] == 1500


def test_ipv6_address_modes() -> None:
    for mode in ("slaac", "dhcpv6-stateful", "dhcpv6-stateless"):
        port = static_port()
        port.subnets[1].ipv6_address_mode = mode
        port.subnets[1].enable_dhcp = True
        net = network_data([port])["networks"][1]
        assert net["type"] == f"ipv6_{mode}"
        assert net["ip_address"] == "fd00::2" and net["netmask"] == "ffff:ffff:ffff::"


def test_link_types_and_names() -> None:
    port = dataclasses.replace(dhcp_port(), vif_type="binding_failed", devname="eth-custom")
    link = network_data([port])["links"][0]
    assert link["type"] == "phy" and link["id"] == "eth-custom"
    for kind in ("bridge", "dvs", "hw_veb", "hyperv", "ovs", "tap", "vhostuser", "vif"):
        assert network_data([dataclasses.replace(dhcp_port(), vif_type=kind)])["links"][0]["type"] == kind


def test_only_first_subnet_and_address_per_family() -> None:
    port = static_port()
    port.subnets[0].ips.append(FixedIP("10.10.0.9"))
    port.subnets.insert(1, Subnet(cidr="10.20.0.0/24", ips=[FixedIP("10.20.0.5")]))
    doc = network_data([port])
    assert [n["ip_address"] for n in doc["networks"]] == ["10.10.0.2", "fd00::2"]


def test_several_ports_numbering_and_shared_dns() -> None:
    second = static_port()
    second.subnets = [Subnet(cidr="192.168.5.0/24", gateway=None, dns_nameservers=["1.2.3.4"],
                             ips=[FixedIP("192.168.5.7")])]
    doc = network_data([static_port(), Interface("p-empty", "fa:16:3e:00:00:09", "n"), second])
    assert [n["id"] for n in doc["networks"]] == ["network0", "network1", "network2"]
    assert doc["networks"][2]["routes"] == []  # no gateway, no default route
    assert len(doc["links"]) == 2  # the port without addresses has no link
    assert [s["address"] for s in doc["services"]] == ["1.2.3.4", "2.3.4.5", "1:2:3:4::", "2:3:4:5::"]


def test_subnet_without_address_keeps_link() -> None:
    port = Interface("p1", "fa:16:3e:00:00:01", "n1", subnets=[Subnet(cidr="10.0.0.0/24")])
    assert network_data([port]) == {"links": [network_data([port])["links"][0]], "networks": [],
                                    "services": []}


def test_no_ports_is_empty_document() -> None:
    assert network_data([]) is None
    assert json.loads(Documents(sample(network_info=[])).lookup(
        "/openstack/latest/network_data.json").body) == {}


def test_ec2_addresses() -> None:
    v4, v6, floating = ec2_addresses([dhcp_port(), static_port()])
    assert v4 == ["10.0.0.5", "10.10.0.2"]
    assert v6 == ["fd00::2"]
    assert floating == ["172.24.4.10"]
