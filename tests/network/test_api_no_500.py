"""Random bodies against every create (and some updates): Neutron's 4xx for what is wrong,
never a 500.  Deterministic (seeded), a few hundred requests."""

from __future__ import annotations

import collections
import json
import random
from typing import Any

VALUES = [None, "", "x", 0, -1, 1, 4, 6, 99999999999, True, [], {}, ["x"], [{}], {"a": 1}, "10.0.0.0/24", "10.0.0.1",
          "fd00::/64", "::1", "fa:16:3e:00:00:01", "00000000-0000-0000-0000-000000000000", [{"ip_address": "x"}],
          [{"subnet_id": "x"}], [{"start": "10.0.0.5", "end": "x"}], [{"destination": "x", "nexthop": "y"}], 1.5,
          "tcp", "ingress", "IPv6", "*", "network", "access_as_shared", [{"ip_address": "10.0.0.0/33"}]]
FIELDS = {
 "networks": ["name", "admin_state_up", "shared", "router:external", "provider:network_type", "provider:physical_network",
              "provider:segmentation_id", "mtu", "port_security_enabled", "availability_zone_hints", "is_default", "description"],
 "subnets": ["network_id", "cidr", "ip_version", "gateway_ip", "allocation_pools", "dns_nameservers", "host_routes",
             "enable_dhcp", "ipv6_ra_mode", "ipv6_address_mode", "subnetpool_id", "prefixlen", "use_default_subnetpool"],
 "ports": ["network_id", "fixed_ips", "mac_address", "device_owner", "security_groups", "allowed_address_pairs",
           "binding:host_id", "binding:profile", "binding:vnic_type", "port_security_enabled"],
 "routers": ["name", "external_gateway_info", "routes", "admin_state_up", "distributed"],
 "floatingips": ["floating_network_id", "port_id", "fixed_ip_address", "floating_ip_address", "subnet_id"],
 "security-groups": ["name", "stateful"],
 "security-group-rules": ["security_group_id", "direction", "ethertype", "protocol", "port_range_min", "port_range_max",
                          "remote_ip_prefix", "remote_group_id"],
 "subnetpools": ["prefixes", "default_prefixlen", "min_prefixlen", "max_prefixlen", "shared", "is_default", "default_quota"],
 "rbac-policies": ["object_type", "object_id", "action", "target_tenant"],
}
GOOD = {
 "cidr": ["10.0.1.0/24", "10.0.0.0/24", "fd00::/64", "10.0.2.0/30", "10.0.3.0/32", "fd00:1::/127", "0.0.0.0/0"],
 "ip_version": [4, 6], "gateway_ip": [None, "10.0.1.1", "10.0.1.255", "fd00::1", "fe80::1", "10.0.1.0"],
 "allocation_pools": [[{"start": "10.0.1.10", "end": "10.0.1.20"}], [{"start": "fd00::10", "end": "fd00::20"}], []],
 "dns_nameservers": [["8.8.8.8"], ["8.8.8.8", "8.8.8.8"], ["::1"]],
 "host_routes": [[{"destination": "10.9.0.0/16", "nexthop": "10.0.1.9"}], [{"destination": "::/0", "nexthop": "10.0.1.9"}]],
 "ipv6_ra_mode": ["slaac", "dhcpv6-stateful", "dhcpv6-stateless", None],
 "ipv6_address_mode": ["slaac", "dhcpv6-stateful", "dhcpv6-stateless", None],
 "prefixlen": [24, 28, 64, 33], "use_default_subnetpool": [True, False], "subnetpool_id": [None],
 "fixed_ips": [[{"ip_address": "10.0.0.5"}], [{"subnet_id": "SUB"}], [{"subnet_id": "SUB", "ip_address": "10.0.0.255"}],
               [{"ip_address": "10.0.0.0"}], [{"ip_address": "fd00::5"}], [{"subnet_id": "SUB"}] * 3],
 "mac_address": ["fa:16:3e:00:00:01", "01:00:00:00:00:00", "FA-16-3E-00-00-02"],
 "device_owner": ["network:dhcp", "compute:nova", "network:router_interface", ""],
 "security_groups": [[], ["SG"], ["SG", "SG"], ["00000000-0000-0000-0000-000000000000"]],
 "allowed_address_pairs": [[{"ip_address": "10.0.0.100"}], [{"ip_address": "10.0.0.0/24", "mac_address": "fa:16:3e:00:00:09"}]],
 "binding:host_id": ["h1", ""], "binding:profile": [{}, {"a": 1}], "binding:vnic_type": ["normal", "direct"],
 "port_security_enabled": [True, False], "external_gateway_info": [{"network_id": "NET"}, {"network_id": "NET", "enable_snat": False}, None, {}],
 "routes": [[{"destination": "10.5.0.0/16", "nexthop": "10.0.0.7"}]], "distributed": [True, False],
 "port_id": ["PORT", None], "fixed_ip_address": ["10.0.0.9", None], "floating_ip_address": ["10.0.0.44", "10.9.9.9"],
 "direction": ["ingress", "egress"], "ethertype": ["IPv4", "IPv6"], "protocol": ["tcp", "udp", "icmp", "6", 58, "any", None, "ipv6-icmp"],
 "port_range_min": [1, 22, 0, 65535, None], "port_range_max": [22, 1, 65536, None], "remote_ip_prefix": ["10.0.0.0/8", "::/0", "10.0.0.1/8"],
 "remote_group_id": ["SG", None], "prefixes": [["10.10.0.0/16"], ["fd00:9::/48"], ["10.10.0.0/16", "fd00::/48"]],
 "default_prefixlen": [24, 8, 70], "min_prefixlen": [8, 30], "max_prefixlen": [32, 20, 128], "default_quota": [10, 256, None],
 "object_type": ["network", "qos_policy"], "action": ["access_as_shared", "access_as_external", "bogus"], "target_tenant": ["*", "e0000000000000000000000000000003"],
 "provider:network_type": ["vlan", "flat", "vxlan", "local"], "provider:physical_network": ["physnet1", "public", None, "zzz"],
 "provider:segmentation_id": [1, 4095, 100, None], "mtu": [1400, 9000, 68], "router:external": [True, False], "shared": [True, False],
 "is_default": [True, False], "availability_zone_hints": [["nova"], []],
}
MEMBER = {"networks": "network", "subnets": "subnet", "ports": "port", "routers": "router", "floatingips": "floatingip",
          "security-groups": "security_group", "security-group-rules": "security_group_rule", "subnetpools": "subnetpool",
          "rbac-policies": "rbac_policy"}


async def test_random_bodies_never_answer_500(api: Any) -> None:
    random.seed(20261121)
    h = {"X-Auth-Token": "admin"}
    net = (await api.http.post("/v2.0/networks", json={"network": {}}, headers=h)).json()["network"]
    sub = (await api.http.post("/v2.0/subnets", json={"subnet": {"network_id": net["id"], "cidr": "10.0.0.0/24",
                                                                 "ip_version": 4}}, headers=h)).json()["subnet"]
    sg = (await api.http.post("/v2.0/security-groups", json={"security_group": {}}, headers=h)).json()[
        "security_group"]
    await api.http.put(f"/v2.0/networks/{net['id']}", json={"network": {"router:external": True}}, headers=h)
    port = (await api.http.post("/v2.0/ports", json={"port": {"network_id": net["id"]}}, headers=h)).json()["port"]
    ids = {"network_id": net["id"], "subnet_id": sub["id"], "security_group_id": sg["id"], "object_id": net["id"],
           "floating_network_id": net["id"]}

    def fill(value: Any) -> Any:
        text = json.dumps(value).replace("SUB", sub["id"]).replace('"SG"', json.dumps(sg["id"]))
        return json.loads(text.replace("NET", net["id"]).replace("PORT", port["id"]))

    codes: collections.Counter = collections.Counter()
    for _ in range(600):
        coll = random.choice(list(FIELDS))
        body: dict[str, Any] = {}
        for field in random.sample(FIELDS[coll], k=min(len(FIELDS[coll]), random.randint(1, 3))):
            body[field] = random.choice(GOOD.get(field, VALUES)) if random.random() < 0.7 else random.choice(VALUES)
        for field, value in ids.items():
            if field in FIELDS[coll] and field not in body and random.random() < 0.8:
                body[field] = value
        token = random.choice(["admin", "demo", "alt"])
        r = await api.http.post(f"/v2.0/{coll}", json={MEMBER[coll]: fill(body)}, headers={"X-Auth-Token": token})
        codes[r.status_code] += 1
        assert r.status_code < 500, (coll, body, r.text)
        if r.status_code == 201:
            item = r.json()[MEMBER[coll]]
            field = random.choice(FIELDS[coll])
            update = {field: fill(random.choice(GOOD.get(field, VALUES)))}
            r = await api.http.put(f"/v2.0/{coll}/{item['id']}", json={MEMBER[coll]: update},
                                   headers={"X-Auth-Token": token})
            assert r.status_code < 500, (coll, update, r.text)
    assert codes[201] > 30 and codes[400] > 100  # both paths were exercised
