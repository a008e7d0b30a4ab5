"""Routers, floating IPs, security groups, quotas, RBAC, subnet pools and agents through the HTTP API."""

from __future__ import annotations

from typing import Any

from tests.network.conftest import ALT_PROJECT, DEMO_PROJECT
from tests.network.test_api_basics import error_type, make_net, make_subnet


async def external(api: Any, cidr: str = "172.24.4.0/24") -> tuple[dict[str, Any], dict[str, Any]]:
    net = await make_net(api, "admin", name="public", **{"router:external": True})
    sub = await make_subnet(api, net, cidr, token="admin", enable_dhcp=False)
    return net, sub


async def test_router_gateway_interfaces_routes(api: Any) -> None:
    pub, pub_sub = await external(api)
    net = await make_net(api)
    sub = await make_subnet(api, net, "10.20.0.0/24")
    r = await api.as_("demo").post("/routers", json={"router": {"name": "r1",
                                                                "external_gateway_info": {"network_id": pub["id"]}}})
    assert r.status_code == 201, r.text
    router = r.json()["router"]
    gw = router["external_gateway_info"]
    assert gw["network_id"] == pub["id"] and gw["enable_snat"] is True
    assert gw["external_fixed_ips"][0]["subnet_id"] == pub_sub["id"]
    assert "distributed" not in router  # admin-only
    r = await api.as_("demo").put(f"/routers/{router['id']}", json={"router": {
        "external_gateway_info": {"network_id": pub["id"], "enable_snat": False}}})
    assert r.status_code == 403  # enable_snat is the admin's
    r = await api.as_("demo").put(f"/routers/{router['id']}/add_router_interface", json={"subnet_id": sub["id"]})
    assert r.status_code == 200, r.text
    info = r.json()
    assert info["subnet_id"] == sub["id"] and info["id"] == router["id"]
    port = (await api.as_("demo").get(f"/ports/{info['port_id']}")).json()["port"]
    assert port["device_owner"] == "network:router_interface" and port["fixed_ips"][0]["ip_address"] == "10.20.0.1"
    r = await api.as_("demo").put(f"/routers/{router['id']}/add_router_interface", json={"subnet_id": sub["id"]})
    assert r.status_code == 400
    # In use: the subnet, the router, and the interface port itself.
    r = await api.as_("demo").delete(f"/subnets/{sub['id']}")
    assert r.status_code == 409 and error_type(r) == "SubnetInUse"
    r = await api.as_("demo").delete(f"/routers/{router['id']}")
    assert r.status_code == 409 and error_type(r) == "RouterInUse"
    assert (await api.as_("demo").delete(f"/ports/{info['port_id']}")).status_code == 409
    # Extra routes.
    r = await api.as_("demo").put(f"/routers/{router['id']}", json={"router": {
        "routes": [{"destination": "192.168.50.0/24", "nexthop": "10.20.0.10"}]}})
    assert r.status_code == 200 and r.json()["router"]["routes"] == [
        {"destination": "192.168.50.0/24", "nexthop": "10.20.0.10"}]
    r = await api.as_("demo").put(f"/routers/{router['id']}/add_extraroutes", json={"router": {
        "routes": [{"destination": "192.168.51.0/24", "nexthop": "10.20.0.11"}]}})
    assert len(r.json()["router"]["routes"]) == 2
    r = await api.as_("demo").put(f"/routers/{router['id']}/remove_extraroutes", json={"router": {
        "routes": [{"destination": "192.168.50.0/24", "nexthop": "10.20.0.10"}]}})
    assert r.json()["router"]["routes"] == [{"destination": "192.168.51.0/24", "nexthop": "10.20.0.11"}]
    r = await api.as_("demo").put(f"/routers/{router['id']}", json={"router": {
        "routes": [{"destination": "192.168.52.0/24", "nexthop": "10.99.0.1"}]}})
    assert r.status_code == 400
    await api.as_("demo").put(f"/routers/{router['id']}", json={"router": {"routes": []}})
    r = await api.as_("demo").put(f"/routers/{router['id']}/remove_router_interface", json={"subnet_id": sub["id"]})
    assert r.status_code == 200 and r.json()["port_id"] == info["port_id"]
    r = await api.as_("demo").put(f"/routers/{router['id']}/remove_router_interface", json={"subnet_id": sub["id"]})
    assert r.status_code == 404 and error_type(r) == "RouterInterfaceNotFoundForSubnet"
    assert (await api.as_("demo").delete(f"/subnets/{sub['id']}")).status_code == 204
    assert (await api.as_("demo").delete(f"/routers/{router['id']}")).status_code == 204
    assert (await api.get("/ports", params={"device_owner": "network:router_gateway"})).json()["ports"] == []


async def test_floating_ips(api: Any) -> None:
    pub, _ = await external(api, "172.24.5.0/24")
    net = await make_net(api)
    sub = await make_subnet(api, net, "10.21.0.0/24")
    port = (await api.as_("demo").post("/ports", json={"port": {"network_id": net["id"]}})).json()["port"]
    r = await api.as_("demo").post("/floatingips", json={"floatingip": {"floating_network_id": pub["id"],
                                                                        "port_id": port["id"]}})
    assert r.status_code == 404 and error_type(r) == "ExternalGatewayForFloatingIPNotFound"
    r = await api.as_("demo").post("/floatingips", json={"floatingip": {"floating_network_id": net["id"]}})
    assert r.status_code == 400
    router = (await api.as_("demo").post("/routers", json={"router": {
        "external_gateway_info": {"network_id": pub["id"]}}})).json()["router"]
    await api.as_("demo").put(f"/routers/{router['id']}/add_router_interface", json={"subnet_id": sub["id"]})
    r = await api.as_("demo").post("/floatingips", json={"floatingip": {"floating_network_id": pub["id"]}})
    assert r.status_code == 201
    fip = r.json()["floatingip"]
    assert fip["floating_ip_address"].startswith("172.24.5.") and fip["port_id"] is None
    assert fip["status"] == "DOWN" and fip["router_id"] is None
    r = await api.as_("demo").put(f"/floatingips/{fip['id']}", json={"floatingip": {"port_id": port["id"]}})
    assert r.status_code == 200
    body = r.json()["floatingip"]
    assert body["fixed_ip_address"] == port["fixed_ips"][0]["ip_address"] and body["router_id"] == router["id"]
    assert body["port_details"]["mac_address"] == port["mac_address"]
    r = await api.as_("demo").put(f"/routers/{router['id']}/remove_router_interface", json={"subnet_id": sub["id"]})
    assert r.status_code == 409
    r = await api.as_("demo").put(f"/floatingips/{fip['id']}", json={"floatingip": {"port_id": None}})
    assert r.json()["floatingip"]["port_id"] is None and r.json()["floatingip"]["router_id"] is None
    r = await api.as_("demo").post("/floatingips", json={"floatingip": {
        "floating_network_id": pub["id"], "floating_ip_address": "172.24.5.100"}})
    assert r.status_code == 403  # choosing the address is the admin's
    r = await api.as_("admin").post("/floatingips", json={"floatingip": {
        "floating_network_id": pub["id"], "floating_ip_address": "172.24.5.100"}})
    assert r.status_code == 201 and r.json()["floatingip"]["floating_ip_address"] == "172.24.5.100"
    assert (await api.as_("alt").get(f"/floatingips/{fip['id']}")).status_code == 404
    assert (await api.as_("demo").delete(f"/floatingips/{fip['id']}")).status_code == 204
    assert (await api.as_("demo").get(f"/floatingips/{fip['id']}")).status_code == 404


async def test_security_groups_and_rules(api: Any) -> None:
    groups = (await api.as_("alt").get("/security-groups")).json()["security_groups"]
    assert [g["name"] for g in groups] == ["default"]
    default = groups[0]
    rules = default["security_group_rules"]
    assert sorted((r["direction"], r["ethertype"], r["remote_group_id"]) for r in rules) == sorted([
        ("egress", "IPv4", None), ("egress", "IPv6", None),
        ("ingress", "IPv4", default["id"]), ("ingress", "IPv6", default["id"])])
    r = await api.as_("alt").delete(f"/security-groups/{default['id']}")
    assert r.status_code == 409 and error_type(r) == "SecurityGroupCannotRemoveDefault"
    sg = (await api.as_("alt").post("/security-groups", json={"security_group": {"name": "web"}})).json()[
        "security_group"]
    assert len(sg["security_group_rules"]) == 2
    rule = {"security_group_id": sg["id"], "direction": "ingress", "protocol": "tcp", "port_range_min": 22,
            "port_range_max": 22, "remote_ip_prefix": "0.0.0.0/0"}
    r = await api.as_("alt").post("/security-group-rules", json={"security_group_rule": rule})
    assert r.status_code == 201, r.text
    created = r.json()["security_group_rule"]
    assert created["ethertype"] == "IPv4" and created["protocol"] == "tcp"
    r = await api.as_("alt").post("/security-group-rules", json={"security_group_rule": rule})
    assert r.status_code == 409 and error_type(r) == "SecurityGroupRuleExists"
    assert created["id"] in r.json()["NeutronError"]["message"]
    bad = [
        {"protocol": "tcp", "port_range_min": 30, "port_range_max": 20},
        {"protocol": "tcp", "port_range_min": 0, "port_range_max": 70000},
        {"protocol": "bogus"},
        {"protocol": "icmp", "port_range_min": 300},
        {"remote_ip_prefix": "::/0"},
        {"remote_ip_prefix": "10.0.0.0/8", "remote_group_id": sg["id"]},
        {"protocol": "gre", "port_range_min": 1, "port_range_max": 2},
    ]
    for fields in bad:
        r = await api.as_("alt").post("/security-group-rules", json={"security_group_rule": {
            "security_group_id": sg["id"], "direction": "ingress", **fields}})
        assert r.status_code == 400, (fields, r.text)
    r = await api.as_("alt").post("/security-group-rules", json={"security_group_rule": {
        "security_group_id": sg["id"], "direction": "ingress", "protocol": "17", "ethertype": "IPv6",
        "remote_group_id": default["id"]}})
    assert r.status_code == 201 and r.json()["security_group_rule"]["protocol"] == "17"
    assert (await api.as_("demo").get(f"/security-groups/{sg['id']}")).status_code == 404
    assert (await api.as_("alt").delete(f"/security-group-rules/{created['id']}")).status_code == 204
    # A group on a port is in use.
    net = await make_net(api, "alt")
    await make_subnet(api, net, "10.22.0.0/24", token="alt")
    port = (await api.as_("alt").post("/ports", json={"port": {"network_id": net["id"],
                                                               "security_groups": [sg["id"]]}})).json()["port"]
    assert port["security_groups"] == [sg["id"]]
    r = await api.as_("alt").delete(f"/security-groups/{sg['id']}")
    assert r.status_code == 409 and error_type(r) == "SecurityGroupInUse"
    await api.as_("alt").put(f"/ports/{port['id']}", json={"port": {"security_groups": []}})
    assert (await api.as_("alt").delete(f"/security-groups/{sg['id']}")).status_code == 204


async def test_quotas(api: Any) -> None:
    r = await api.as_("demo").get(f"/quotas/{DEMO_PROJECT}")
    assert r.json()["quota"]["network"] == 100
    assert (await api.as_("demo").get(f"/quotas/{ALT_PROJECT}")).status_code == 403
    assert (await api.as_("demo").put(f"/quotas/{DEMO_PROJECT}", json={"quota": {"network": 1}})).status_code == 403
    r = await api.put(f"/quotas/{DEMO_PROJECT}", json={"quota": {"network": 1, "port": 20}})
    assert r.status_code == 200 and r.json()["quota"]["network"] == 1
    assert DEMO_PROJECT in [q["project_id"] for q in (await api.get("/quotas")).json()["quotas"]]
    await make_net(api)
    r = await api.as_("demo").post("/networks", json={"network": {}})
    assert r.status_code == 409 and error_type(r) == "OverQuota"
    details = (await api.as_("demo").get(f"/quotas/{DEMO_PROJECT}/details")).json()["quota"]
    assert details["network"] == {"limit": 1, "used": 1, "reserved": 0}
    assert (await api.put(f"/quotas/{DEMO_PROJECT}", json={"quota": {"bogus": 1}})).status_code == 400
    assert (await api.delete(f"/quotas/{DEMO_PROJECT}")).status_code == 204
    assert (await api.as_("demo").get(f"/quotas/{DEMO_PROJECT}")).json()["quota"]["network"] == 100
    assert (await api.get(f"/quotas/{DEMO_PROJECT}/default")).json()["quota"]["port"] == 500


async def test_rbac_sharing(api: Any) -> None:
    net = await make_net(api, "demo")
    assert (await api.as_("alt").get(f"/networks/{net['id']}")).status_code == 404
    r = await api.as_("demo").post("/rbac-policies", json={"rbac_policy": {
        "object_type": "network", "object_id": net["id"], "action": "access_as_shared", "target_tenant": ALT_PROJECT}})
    assert r.status_code == 201, r.text
    policy = r.json()["rbac_policy"]
    seen = (await api.as_("alt").get(f"/networks/{net['id']}")).json()["network"]
    assert seen["shared"] is True
    r = await api.as_("demo").post("/rbac-policies", json={"rbac_policy": {
        "object_type": "network", "object_id": net["id"], "action": "access_as_shared", "target_tenant": "*"}})
    assert r.status_code == 403  # wildcards are the admin's
    await make_subnet(api, net, "10.23.0.0/24")
    port = await api.as_("alt").post("/ports", json={"port": {"network_id": net["id"]}})
    assert port.status_code == 201
    r = await api.as_("demo").delete(f"/rbac-policies/{policy['id']}")
    assert r.status_code == 409
    await api.as_("alt").delete(f"/ports/{port.json()['port']['id']}")
    assert (await api.as_("demo").delete(f"/rbac-policies/{policy['id']}")).status_code == 204
    assert (await api.as_("alt").get(f"/networks/{net['id']}")).status_code == 404


async def test_subnet_pools(api: Any) -> None:
    r = await api.as_("admin").post("/subnetpools", json={"subnetpool": {
        "name": "pool", "prefixes": ["10.100.0.0/16"], "default_prefixlen": 26, "shared": True, "is_default": True}})
    assert r.status_code == 201, r.text
    pool = r.json()["subnetpool"]
    assert pool["ip_version"] == 4 and pool["min_prefixlen"] == 8
    net = await make_net(api)
    a = await api.as_("demo").post("/subnets", json={"subnet": {"network_id": net["id"], "ip_version": 4,
                                                                "subnetpool_id": pool["id"]}})
    assert a.status_code == 201, a.text
    assert a.json()["subnet"]["cidr"] == "10.100.0.0/26"
    b = await api.as_("demo").post("/subnets", json={"subnet": {"network_id": net["id"], "ip_version": 4,
                                                                "use_default_subnetpool": True, "prefixlen": 28}})
    assert b.json()["subnet"]["cidr"] == "10.100.0.64/28" and b.json()["subnet"]["subnetpool_id"] == pool["id"]
    r = await api.as_("demo").post("/subnets", json={"subnet": {"network_id": net["id"], "ip_version": 4,
                                                                "subnetpool_id": pool["id"], "prefixlen": 4}})
    assert r.status_code == 400
    assert (await api.as_("admin").delete(f"/subnetpools/{pool['id']}")).status_code == 409


async def test_agents_and_availability_zones(api: Any, svc: Any) -> None:
    assert (await api.get("/agents")).json()["agents"] == []
    svc.report_state("DHCP agent", "node1", configurations={"networks": 1})
    svc.report_state("Linux bridge agent", "node1")
    agents = (await api.get("/agents")).json()["agents"]
    assert {a["agent_type"] for a in agents} == {"DHCP agent", "Linux bridge agent"}
    assert all(a["alive"] for a in agents)
    dhcp = next(a for a in agents if a["agent_type"] == "DHCP agent")
    r = await api.put(f"/agents/{dhcp['id']}", json={"agent": {"description": "d", "admin_state_up": False}})
    assert r.json()["agent"]["description"] == "d" and r.json()["agent"]["admin_state_up"] is False
    assert (await api.as_("demo").get("/agents")).json()["agents"] == []
    svc.update_agent(dhcp["id"], {"admin_state_up": True})
    zones = (await api.as_("demo").get("/availability_zones")).json()["availability_zones"]
    assert zones == [{"name": "nova", "resource": "network", "state": "available"}]
    net = await make_net(api, availability_zone_hints=["nova"])
    assert net["availability_zones"] == ["nova"]
    r = await api.as_("demo").post("/networks", json={"network": {"availability_zone_hints": ["mars"]}})
    assert r.status_code == 404 and error_type(r) == "AvailabilityZoneNotFound"
    assert (await api.delete(f"/agents/{dhcp['id']}")).status_code == 204
    assert (await api.get(f"/agents/{dhcp['id']}")).status_code == 404


async def test_external_network_delete_takes_unassociated_floating_ips(api: Any) -> None:
    pub, _ = await external(api, "172.24.6.0/24")
    fip = (await api.post("/floatingips", json={"floatingip": {"floating_network_id": pub["id"]}})).json()[
        "floatingip"]
    assert (await api.delete(f"/networks/{pub['id']}")).status_code == 204
    assert (await api.get(f"/floatingips/{fip['id']}")).status_code == 404
