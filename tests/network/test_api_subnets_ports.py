"""Subnets, IPAM and ports through the HTTP API: validation, Neutron's 4xx, DHCP ports."""

from __future__ import annotations

from typing import Any

from tests.network.test_api_basics import error_type, make_net, make_subnet


async def test_subnet_defaults_and_dhcp_port(api: Any) -> None:
    net = await make_net(api)
    sub = await make_subnet(api, net, "10.1.0.0/24", dns_nameservers=["8.8.8.8"],
                            host_routes=[{"destination": "10.9.0.0/16", "nexthop": "10.1.0.254"}])
    assert sub["gateway_ip"] == "10.1.0.1"
    assert sub["allocation_pools"] == [{"start": "10.1.0.2", "end": "10.1.0.254"}]
    assert sub["enable_dhcp"] is True and sub["dns_nameservers"] == ["8.8.8.8"]
    ports = (await api.as_("demo").get("/ports", params={"network_id": net["id"]})).json()["ports"]
    assert [p["device_owner"] for p in ports] == ["network:dhcp"]
    assert ports[0]["fixed_ips"] == [{"subnet_id": sub["id"], "ip_address": "10.1.0.2"}]
    net_now = (await api.as_("demo").get(f"/networks/{net['id']}")).json()["network"]
    assert net_now["subnets"] == [sub["id"]]
    # Turning DHCP off frees the DHCP port's address (the port goes with its last one).
    r = await api.as_("demo").put(f"/subnets/{sub['id']}", json={"subnet": {"enable_dhcp": False}})
    assert r.status_code == 200
    assert (await api.as_("demo").get("/ports", params={"network_id": net["id"]})).json()["ports"] == []


async def test_subnet_bad_input(api: Any) -> None:
    net = await make_net(api)
    await make_subnet(api, net, "10.2.0.0/24")
    cases = [
        ({"cidr": "10.2.0.128/25"}, 400, "InvalidInput"),  # overlaps
        ({"cidr": "10.3.0.5/24"}, 400, "HTTPBadRequest"),  # host bits set
        ({"cidr": "not-a-cidr"}, 400, "HTTPBadRequest"),
        ({"cidr": "10.4.0.0/24", "gateway_ip": "10.5.0.1"}, 400, "InvalidInput"),  # gateway outside
        ({"cidr": "10.4.0.0/24", "ip_version": 6}, 400, "InvalidInput"),
        ({"cidr": "10.4.0.0/24", "allocation_pools": [{"start": "10.4.1.1", "end": "10.4.1.5"}]}, 400,
         "OutOfBoundsAllocationPool"),
        ({"cidr": "10.4.0.0/24", "allocation_pools": [{"start": "10.4.0.9", "end": "10.4.0.5"}]}, 400,
         "InvalidAllocationPool"),
        ({"cidr": "10.4.0.0/24", "allocation_pools": [{"start": "10.4.0.2", "end": "10.4.0.9"},
                                                     {"start": "10.4.0.5", "end": "10.4.0.20"}]}, 409,
         "OverlappingAllocationPools"),
        ({"cidr": "10.4.0.0/24", "gateway_ip": "10.4.0.5",
          "allocation_pools": [{"start": "10.4.0.2", "end": "10.4.0.9"}]}, 409, "GatewayConflictWithAllocationPools"),
        ({"cidr": "fd00::/64", "ip_version": 6, "ipv6_ra_mode": "slaac", "ipv6_address_mode": "dhcpv6-stateful"},
         400, "InvalidInput"),
        ({"cidr": "10.4.0.0/24", "ipv6_ra_mode": "slaac"}, 400, "InvalidInput"),
    ]
    for fields, status, kind in cases:
        body = {"network_id": net["id"], "ip_version": 4, **fields}
        r = await api.as_("demo").post("/subnets", json={"subnet": body})
        assert (r.status_code, error_type(r)) == (status, kind), (fields, r.text)
    r = await api.as_("alt").post("/subnets", json={"subnet": {"network_id": net["id"], "ip_version": 4,
                                                               "cidr": "10.6.0.0/24"}})
    assert r.status_code == 404


async def test_gateway_null_and_ipv6(api: Any) -> None:
    net = await make_net(api)
    sub = await make_subnet(api, net, "10.7.0.0/29", gateway_ip=None, enable_dhcp=False)
    assert sub["gateway_ip"] is None
    assert sub["allocation_pools"] == [{"start": "10.7.0.1", "end": "10.7.0.6"}]
    v6 = await make_subnet(api, net, "fd00:1::/64", ipv6_ra_mode="slaac", ipv6_address_mode="slaac")
    assert v6["gateway_ip"] == "fd00:1::1"
    r = await api.as_("demo").post("/ports", json={"port": {"network_id": net["id"]}})
    port = r.json()["port"]
    addresses = {ip["subnet_id"]: ip["ip_address"] for ip in port["fixed_ips"]}
    assert addresses[sub["id"]] == "10.7.0.1"
    assert addresses[v6["id"]].startswith("fd00:1::")  # EUI-64 from the MAC
    mac = port["mac_address"].split(":")
    assert addresses[v6["id"]].endswith(f"{mac[4]}{mac[5]}".lstrip("0") or "0")


async def test_ports_fixed_ips_mac_and_errors(api: Any) -> None:
    net = await make_net(api)
    sub = await make_subnet(api, net, "10.8.0.0/24")
    r = await api.as_("demo").post("/ports", json={"port": {"network_id": net["id"], "name": "p1"}})
    assert r.status_code == 201
    p1 = r.json()["port"]
    assert p1["mac_address"].startswith("fa:16:3e:") and p1["status"] == "DOWN"
    assert p1["fixed_ips"][0]["ip_address"] == "10.8.0.3"  # .2 is the DHCP port's
    assert len(p1["security_groups"]) == 1
    assert "binding:host_id" not in p1 and "binding:vnic_type" in p1
    r = await api.as_("admin").post("/ports", json={"port": {
        "network_id": net["id"], "fixed_ips": [{"subnet_id": sub["id"], "ip_address": "10.8.0.50"}]}})
    assert r.status_code == 201 and r.json()["port"]["fixed_ips"][0]["ip_address"] == "10.8.0.50"
    r = await api.as_("admin").post("/ports", json={"port": {
        "network_id": net["id"], "fixed_ips": [{"ip_address": "10.8.0.50"}]}})
    assert r.status_code == 409 and error_type(r) == "IpAddressInUse"
    r = await api.as_("admin").post("/ports", json={"port": {
        "network_id": net["id"], "fixed_ips": [{"ip_address": "10.99.0.5"}]}})
    assert r.status_code == 400 and error_type(r) == "InvalidIpForNetwork"
    r = await api.as_("admin").post("/ports", json={"port": {"network_id": net["id"],
                                                             "mac_address": p1["mac_address"]}})
    assert r.status_code == 409 and error_type(r) == "MacAddressInUse"
    r = await api.as_("demo").post("/ports", json={"port": {"network_id": net["id"], "mac_address": "zz"}})
    assert r.status_code == 400
    r = await api.as_("demo").post("/ports", json={"port": {"network_id": "4e8e5957-649f-477b-9e5b-f1f75b21c03c"}})
    assert r.status_code == 404 and error_type(r) == "NetworkNotFound"
    # Update: new fixed IPs; the old address is free again.
    r = await api.as_("admin").put(f"/ports/{p1['id']}", json={"port": {
        "fixed_ips": [{"subnet_id": sub["id"], "ip_address": "10.8.0.77"}]}})
    assert r.status_code == 200 and r.json()["port"]["fixed_ips"][0]["ip_address"] == "10.8.0.77"
    r = await api.as_("admin").post("/ports", json={"port": {
        "network_id": net["id"], "fixed_ips": [{"ip_address": "10.8.0.3"}]}})
    assert r.status_code == 201
    r = await api.as_("demo").get("/ports", params={"fixed_ips": "ip_address=10.8.0.77"})
    assert [p["id"] for p in r.json()["ports"]] == [p1["id"]]
    # A network with ports is in use; its DHCP port alone does not count.
    r = await api.as_("demo").delete(f"/networks/{net['id']}")
    assert r.status_code == 409 and error_type(r) == "NetworkInUse"
    r = await api.as_("demo").delete(f"/subnets/{sub['id']}")
    assert r.status_code == 409 and error_type(r) == "SubnetInUse"
    for port in (await api.get("/ports", params={"network_id": net["id"]})).json()["ports"]:
        if port["device_owner"] != "network:dhcp":
            assert (await api.delete(f"/ports/{port['id']}")).status_code == 204
    assert (await api.as_("demo").delete(f"/networks/{net['id']}")).status_code == 204
    assert (await api.get("/ports", params={"network_id": net["id"]})).json()["ports"] == []


async def test_exhausted_pool(api: Any) -> None:
    net = await make_net(api)
    await make_subnet(api, net, "10.9.0.0/29", enable_dhcp=False)  # .2-.6: five addresses
    for _ in range(5):
        assert (await api.as_("demo").post("/ports", json={"port": {"network_id": net["id"]}})).status_code == 201
    r = await api.as_("demo").post("/ports", json={"port": {"network_id": net["id"]}})
    assert r.status_code == 409
    assert r.json()["NeutronError"] == {"type": "IpAddressGenerationFailure", "detail": "",
                                        "message": f"No more IP addresses available on network {net['id']}."}


async def test_binding_and_port_security(api: Any) -> None:
    net = await make_net(api)
    await make_subnet(api, net, "10.10.0.0/24")
    r = await api.as_("admin").post("/ports", json={"port": {"network_id": net["id"], "device_owner": "compute:nova",
                                                             "binding:host_id": "node1"}})
    port = r.json()["port"]
    assert port["binding:vif_type"] == "bridge" and port["binding:host_id"] == "node1"
    assert port["binding:vif_details"] == {"port_filter": True, "connectivity": "l2",
                                           "bridge_name": f"brq{net['id'][:11]}"}
    r = await api.as_("demo").put(f"/ports/{port['id']}", json={"port": {"binding:host_id": "x"}})
    assert r.status_code == 403
    r = await api.as_("demo").post("/ports", json={"port": {"network_id": net["id"], "port_security_enabled": False,
                                                            "security_groups": []}})
    assert r.status_code == 201 and r.json()["port"]["security_groups"] == []
    r = await api.as_("demo").post("/ports", json={"port": {
        "network_id": net["id"], "allowed_address_pairs": [{"ip_address": "10.10.0.200/32"}]}})
    pairs = r.json()["port"]["allowed_address_pairs"]
    assert pairs[0]["ip_address"] == "10.10.0.200/32" and pairs[0]["mac_address"] == r.json()["port"]["mac_address"]
    r = await api.as_("demo").post("/ports", json={"port": {"network_id": net["id"], "device_owner": "network:dhcp"}})
    assert r.status_code == 201  # the network owner may
    r = await api.as_("alt").post("/ports", json={"port": {"network_id": net["id"]}})
    assert r.status_code == 404


async def test_network_ip_availability(api: Any) -> None:
    net = await make_net(api)
    sub = await make_subnet(api, net, "10.11.0.0/28")
    await api.as_("demo").post("/ports", json={"port": {"network_id": net["id"]}})
    r = await api.get(f"/network-ip-availabilities/{net['id']}")
    body = r.json()["network_ip_availability"]
    assert body["total_ips"] == 13 and body["used_ips"] == 2
    assert body["subnet_ip_availability"][0]["subnet_id"] == sub["id"]
    assert (await api.as_("demo").get(f"/network-ip-availabilities/{net['id']}")).status_code == 404
