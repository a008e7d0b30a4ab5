"""What a data-plane agent needs to converge one host, as plain dicts with Neutron's field names.

`host_state(host)` is the whole picture the agent rebuilds bridges, dnsmasq,
router namespaces and firewall rules from (at start-up and after a missed
event): the networks with a port on the host (with their segments, MTU,
subnets), those ports with their security group rules and the addresses of the
remote groups' members, the DHCP ports, and the routers with their interfaces,
gateway and floating IPs.  Every host that runs the DHCP and L3 agents
(`network_node=True`, the all-in-one's one host) gets every DHCP port and
router, and the guest ports other hosts have on those networks (their DHCP
entries, and the instances its metadata proxies answer for); `vxlan_peers` are
the tunnel addresses the Linux bridge agents of the other hosts reported, the
flood entries of every VXLAN network here (Neutron without l2population).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from monostack.network import models
from monostack.network.service.base import ServiceBase
from monostack.network.service.ports import DHCP, FLOATINGIP, ROUTER_GATEWAY, ROUTER_INTERFACE, bridge_name, tap_name
from monostack.network.service.security_groups import rule_dict
from monostack.network.service.subnets import subnet_dict


class HostStateMixin(ServiceBase):
    def host_state(self, host: str, *, network_node: bool = True) -> dict[str, Any]:
        with self.db.reader() as session:
            all_ports = list(session.scalars(sa.select(models.Port)))
            bound = [p for p in all_ports if p.host_id == host and p.device_owner not in (
                DHCP, ROUTER_INTERFACE, ROUTER_GATEWAY, FLOATINGIP)]
            dhcp = [p for p in all_ports if p.device_owner == DHCP] if network_node else []
            routers = list(session.scalars(sa.select(models.Router))) if network_node else []
            router_ports = [p for p in all_ports if p.device_owner in (ROUTER_INTERFACE, ROUTER_GATEWAY)
                            and any(p.device_id == r.id for r in routers)]
            network_ids = {p.network_id for p in bound + dhcp + router_ports}
            served = {p.network_id for p in dhcp}
            elsewhere = [p for p in all_ports if p.host_id and p.host_id != host and p.network_id in served
                         and (p.device_owner or "").startswith("compute:")]
            networks = [session.get(models.Network, nid) for nid in sorted(network_ids)]
            subnets_by_net: dict[str, list[dict[str, Any]]] = {}
            for subnet in session.scalars(sa.select(models.Subnet).where(models.Subnet.network_id.in_(network_ids))):
                subnets_by_net.setdefault(subnet.network_id, []).append(subnet_dict(subnet))

            group_ids = {g for p in bound for g in (p.security_groups or [])}
            groups = {g.id: g for g in session.scalars(sa.select(models.SecurityGroup).where(
                models.SecurityGroup.id.in_(group_ids)))} if group_ids else {}
            remote_ids = {r.remote_group_id for g in groups.values() for r in g.rules if r.remote_group_id}
            members: dict[str, list[str]] = {gid: [] for gid in remote_ids}
            for port in all_ports:
                for gid in port.security_groups or []:
                    if gid in members:
                        members[gid] += [a.ip_address for a in port.fixed_ips]
                        members[gid] += [p["ip_address"] for p in port.allowed_address_pairs or []]

            def port_entry(port: models.Port) -> dict[str, Any]:
                entry = self._port_dict(session, port)
                entry["tap_name"] = tap_name(port.id)
                entry["bridge_name"] = bridge_name(port.network_id)
                entry["security_group_rules"] = [rule_dict(r) for g in port.security_groups or []
                                                 if g in groups for r in groups[g].rules]
                return entry

            fips = list(session.scalars(sa.select(models.FloatingIP).where(models.FloatingIP.router_id.is_not(None))))
            router_entries = []
            for router in routers:
                interfaces = [self._port_dict(session, p) for p in router_ports
                              if p.device_id == router.id and p.device_owner == ROUTER_INTERFACE]
                gateway = next((self._port_dict(session, p) for p in router_ports
                                if p.id == router.gw_port_id), None)
                router_entries.append({
                    **self._router_dicts(session, [router])[0], "interfaces": interfaces, "gw_port": gateway,
                    "floatingips": [self._fip_dict(session, f) for f in fips if f.router_id == router.id]})
            return {
                "host": host,
                "networks": [{**self._network_dicts(session, None, [net])[0], "subnets": subnets_by_net.get(net.id, []),
                              "bridge_name": bridge_name(net.id),
                              "segments": [{"provider:network_type": net.network_type,
                                            "provider:physical_network": net.physical_network,
                                            "provider:segmentation_id": net.segmentation_id}]}
                             for net in networks if net is not None],
                "ports": [port_entry(p) for p in bound] + [self._port_dict(session, p) for p in elsewhere],
                "dhcp_ports": [self._port_dict(session, p) for p in dhcp],
                "routers": router_entries,
                "security_group_members": members,
                "vxlan_peers": self._tunnel_peers(session, host),
            }

    @staticmethod
    def _tunnel_peers(session: Any, host: str) -> list[str]:
        """The VXLAN tunnel addresses of the other hosts' Linux bridge agents.  An agent that stopped
        reporting stays a peer (its guests keep their network while it is away); a deleted one goes."""
        rows = session.scalars(sa.select(models.Agent).where(models.Agent.agent_type == "Linux bridge agent",
                                                             models.Agent.host != host))
        return sorted({ip for row in rows if (ip := (row.configurations or {}).get("tunneling_ip"))})
