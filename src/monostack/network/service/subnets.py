"""Subnets: CIDR, gateway, allocation pools, DNS and routes, IPv6 modes, subnet pools,
and the network's DHCP port that takes an address on every subnet with DHCP on."""

from __future__ import annotations

import ipaddress
from typing import Any

import sqlalchemy as sa
from sqlalchemy import orm

from monostack.common.context import RequestContext
from monostack.network import exceptions as nexc
from monostack.network import models
from monostack.network.service import ipam
from monostack.network.service.base import Events, ServiceBase, bump, new_id, owner, std_dict, std_new

IPV6_MODES = ("slaac", "dhcpv6-stateful", "dhcpv6-stateless")
ROUTER_OWNERS = ("network:router_interface", "network:router_interface_distributed", "network:ha_router_replicated_interface",
                 "network:router_gateway")
MAX_DNS = 5
MAX_ROUTES = 20


def subnet_dict(row: models.Subnet) -> dict[str, Any]:
    return {
        "id": row.id, "name": row.name, **owner(row), "network_id": row.network_id, "ip_version": row.ip_version,
        "cidr": row.cidr, "gateway_ip": row.gateway_ip, "enable_dhcp": row.enable_dhcp,
        "ipv6_ra_mode": row.ipv6_ra_mode, "ipv6_address_mode": row.ipv6_address_mode,
        "subnetpool_id": row.subnetpool_id, "allocation_pools": [dict(p) for p in row.allocation_pools or []],
        "dns_nameservers": list(row.dns_nameservers or []),
        "host_routes": [dict(r) for r in row.host_routes or []], "service_types": list(row.service_types or []),
        "segment_id": None, "dns_publish_fixed_ip": row.dns_publish_fixed_ip, **std_dict(row),
    }


class SubnetsMixin(ServiceBase):
    def _subnet_visible(self, session: orm.Session, ctx: RequestContext, row: models.Subnet,
                        grants: dict[str, list[tuple[str, str]]], owners: dict[str, str]) -> bool:
        if ctx.is_admin or row.project_id == ctx.project_id:
            return True
        net_grants = grants.get(row.network_id, [])
        return owners.get(row.network_id) == ctx.project_id or self._shared_for(net_grants, ctx.project_id)

    def _get_subnet_row(self, session: orm.Session, ctx: RequestContext | None, subnet_id: str) -> models.Subnet:
        row = session.get(models.Subnet, subnet_id)
        if row is None:
            raise nexc.SubnetNotFound(subnet_id)
        if ctx is not None:
            owners = {row.network_id: session.scalar(sa.select(models.Network.project_id).where(
                models.Network.id == row.network_id)) or ""}
            if not self._subnet_visible(session, ctx, row, self._rbac_grants(session), owners):
                raise nexc.SubnetNotFound(subnet_id)
        return row

    def list_subnets(self, ctx: RequestContext) -> list[dict[str, Any]]:
        with self.db.reader() as session:
            grants = self._rbac_grants(session)
            owners = dict(session.execute(sa.select(models.Network.id, models.Network.project_id)).all())
            self.__dict__.setdefault("_owners", {}).update(owners)
            rows = session.scalars(sa.select(models.Subnet).order_by(models.Subnet.created_at, models.Subnet.id))
            return [subnet_dict(r) for r in rows if self._subnet_visible(session, ctx, r, grants, owners)]

    def get_subnet(self, ctx: RequestContext | None, subnet_id: str) -> dict[str, Any]:
        with self.db.reader() as session:
            return subnet_dict(self._get_subnet_row(session, ctx, subnet_id))

    # -- validation -----------------------------------------------------------------------------
    @staticmethod
    def _check_gateway(net: ipam.IPNetwork, gateway: str | None) -> None:
        if gateway is None:
            return
        gw = ipaddress.ip_address(gateway)
        if gw.version != net.version:
            raise nexc.InvalidInput("Gateway IP version inconsistent with allocation pool version")
        if gw.version == 6 and gw.is_link_local:
            return
        if gw not in net or (net.version == 4 and net.prefixlen < 31 and gw in (net.network_address,
                                                                                net.broadcast_address)):
            raise nexc.InvalidInput("Gateway is not valid on subnet")
        if net.version == 6 and gw == net.network_address and net.prefixlen < 127:
            raise nexc.InvalidInput("Gateway is not valid on subnet")

    @staticmethod
    def _check_dns_and_routes(body: dict[str, Any], version: int) -> None:
        dns = body.get("dns_nameservers")
        if dns:
            if len(dns) > MAX_DNS:
                raise nexc.errors.BadRequest("Quota exceeded for resources: ['dns_nameservers'].",
                                             error_type="DNSNameServersExhausted")
            if len(set(dns)) != len(dns):
                raise nexc.InvalidInput(f"Duplicate nameserver in {dns}")
        routes = body.get("host_routes")
        if routes:
            if len(routes) > MAX_ROUTES:
                raise nexc.errors.BadRequest("Unable to complete operation for subnet. The number of host routes "
                                             f"exceeds the limit {MAX_ROUTES}.", error_type="HostRoutesExhausted")
            for route in routes:
                if ipam.network(route["destination"]).version != version or \
                        ipaddress.ip_address(route["nexthop"]).version != version:
                    raise nexc.InvalidInput(f"Host route {route} does not match the IP version of the subnet")

    @staticmethod
    def _check_ipv6_modes(version: int, ra: str | None, addr: str | None, cidr: str, enable_dhcp: bool) -> None:
        if version == 4:
            if ra or addr:
                raise nexc.InvalidInput("ipv6_ra_mode or ipv6_address_mode cannot be set when ip_version is 4")
            return
        if ra and addr and ra != addr:
            raise nexc.InvalidInput(f"ipv6_ra_mode set to '{ra}' with ipv6_address_mode set to '{addr}' is not "
                                    "valid. If both attributes are set, they must be the same value")
        if (ra or addr) and not enable_dhcp:
            raise nexc.InvalidInput("ipv6_ra_mode or ipv6_address_mode cannot be set when enable_dhcp is set to "
                                    "False")
        if (addr or ra) in ("slaac", "dhcpv6-stateless") and ipam.network(cidr).prefixlen != 64:
            raise nexc.InvalidInput("Invalid CIDR %s for IPv6 address mode. OpenStack uses the EUI-64 address "
                                    "format, which requires the prefix to be /64" % cidr)

    def _check_overlap(self, session: orm.Session, network_id: str, cidr: str, exclude: str | None = None) -> None:
        new = ipam.network(cidr)
        for other in session.scalars(sa.select(models.Subnet).where(models.Subnet.network_id == network_id)):
            if other.id != exclude and ipam.network(other.cidr).version == new.version and \
                    ipam.network(other.cidr).overlaps(new):
                raise nexc.InvalidInput(f"Requested subnet with cidr: {cidr} for network: {network_id} overlaps "
                                        "with another subnet")

    # -- create / update / delete ---------------------------------------------------------------
    def create_subnet(self, ctx: RequestContext, body: dict[str, Any]) -> dict[str, Any]:
        def work(session: orm.Session, events: Events) -> dict[str, Any]:
            net = self._get_network_row(session, ctx, body["network_id"])
            project = body.get("project_id") or ctx.project_id or net.project_id
            self.check_quota(session, project, "subnet")
            version = body.get("ip_version")
            cidr = body.get("cidr")
            pool = None
            pool_id = body.get("subnetpool_id")
            if pool_id is None and body.get("use_default_subnetpool"):
                pool = self._default_pool(session, version or 4)
                if pool is None:
                    raise nexc.BadRequest("subnets", f"No default subnetpool found for IPv{version or 4}")
            elif pool_id is not None:
                pool = self._get_pool_row(session, ctx, pool_id)
            if pool is not None:
                if version is not None and version != pool.ip_version:
                    raise nexc.InvalidInput("ip_version does not match the subnet pool's")
                version = pool.ip_version
                cidr = self._allocate_from_pool(session, pool, cidr, body.get("prefixlen"), project)
            elif cidr is None:
                raise nexc.BadRequest("subnets", "a subnetpool must be specified in the absence of a cidr")
            elif body.get("prefixlen") is not None:
                raise nexc.BadRequest("subnets", "Cannot specify both cidr and prefixlen")
            net_obj = ipam.network(cidr)
            if version is None:
                raise nexc.HTTPBadRequest("Invalid input for ip_version. Reason: 'None' is not an integer.")
            if net_obj.version != version:
                raise nexc.InvalidInput("Cidr %s does not match the IP version %s" % (cidr, version))
            self._check_overlap(session, net.id, cidr)
            enable_dhcp = body.get("enable_dhcp", True)
            ra, addr = body.get("ipv6_ra_mode"), body.get("ipv6_address_mode")
            self._check_ipv6_modes(version, ra, addr, cidr, enable_dhcp)
            if "gateway_ip" in body:
                gateway = body["gateway_ip"]
            else:
                gateway = str(net_obj.network_address + 1) if net_obj.num_addresses > 2 else None
            self._check_gateway(net_obj, gateway)
            self._check_dns_and_routes(body, version)
            pools = body.get("allocation_pools")
            if pools:
                ipam.validate_pools(cidr, pools, gateway)
                pools = [{"start": str(ipaddress.ip_address(p["start"])), "end": str(ipaddress.ip_address(p["end"]))}
                         for p in pools]
            else:
                pools = ipam.default_pools(cidr, gateway)
            row = models.Subnet(
                id=new_id(), project_id=project, network_id=net.id, name=body.get("name") or "", ip_version=version,
                cidr=str(net_obj), gateway_ip=gateway, enable_dhcp=enable_dhcp, ipv6_ra_mode=ra,
                ipv6_address_mode=addr, subnetpool_id=pool.id if pool else None, allocation_pools=pools,
                dns_nameservers=list(body.get("dns_nameservers") or []),
                host_routes=[{"destination": str(ipam.network(r["destination"])), "nexthop": r["nexthop"]}
                             for r in body.get("host_routes") or []],
                service_types=list(body.get("service_types") or []),
                dns_publish_fixed_ip=bool(body.get("dns_publish_fixed_ip", False)), **std_new(body.get("description")))
            session.add(row)
            session.flush()
            bump(net)
            if ipam.is_auto_address(row):
                self._add_auto_addresses(session, row, events)
            if row.enable_dhcp:
                self._ensure_dhcp(session, net, row, events)
            result = subnet_dict(row)
            events.append(("subnet.create.end", {"subnet": result}))
            return result

        return self.write(work)

    def update_subnet(self, ctx: RequestContext, subnet_id: str, body: dict[str, Any],
                      revision: int | None = None) -> dict[str, Any]:
        def work(session: orm.Session, events: Events) -> dict[str, Any]:
            row = self._get_subnet_row(session, ctx, subnet_id)
            self._check_revision(row, revision)
            net_obj = ipam.network(row.cidr)
            for key in ("name", "description"):
                if key in body:
                    setattr(row, key, body[key] or "")
            self._check_dns_and_routes(body, row.ip_version)
            if "dns_nameservers" in body:
                row.dns_nameservers = list(body["dns_nameservers"] or [])
            if "host_routes" in body:
                row.host_routes = [{"destination": str(ipam.network(r["destination"])), "nexthop": r["nexthop"]}
                                   for r in body["host_routes"] or []]
            gateway = body["gateway_ip"] if "gateway_ip" in body else row.gateway_ip
            if "gateway_ip" in body and gateway is not None:
                self._check_gateway(net_obj, gateway)
                if gateway != row.gateway_ip:
                    router_port = self._router_port_on_subnet(session, row.id)
                    if router_port is not None:
                        raise nexc.errors.Conflict(f"Gateway {row.gateway_ip} in use by a router interface on "
                                                   f"subnet {row.id}", error_type="GatewayIpInUse")
            pools = body.get("allocation_pools") if body.get("allocation_pools") is not None else row.allocation_pools
            if "allocation_pools" in body or "gateway_ip" in body:
                if "allocation_pools" in body and body["allocation_pools"] is not None:
                    ipam.validate_pools(row.cidr, pools, gateway)
                    pools = [{"start": str(ipaddress.ip_address(p["start"])),
                              "end": str(ipaddress.ip_address(p["end"]))} for p in pools]
                elif gateway is not None and ipam.in_pools(gateway, pools):
                    raise nexc.GatewayConflictWithAllocationPools(
                        f"Gateway ip {gateway} conflicts with allocation pool {pools}.")
                row.allocation_pools = pools
                row.gateway_ip = gateway
            if "enable_dhcp" in body and body["enable_dhcp"] != row.enable_dhcp:
                self._check_ipv6_modes(row.ip_version, row.ipv6_ra_mode, row.ipv6_address_mode, row.cidr,
                                       body["enable_dhcp"])
                row.enable_dhcp = body["enable_dhcp"]
                net = session.get(models.Network, row.network_id)
                if row.enable_dhcp:
                    self._ensure_dhcp(session, net, row, events)
                else:
                    self._drop_dhcp_address(session, row, events)
            bump(row)
            session.flush()
            result = subnet_dict(row)
            events.append(("subnet.update.end", {"subnet": result}))
            return result

        return self.write(work)

    def _router_port_on_subnet(self, session: orm.Session, subnet_id: str) -> models.Port | None:
        return session.scalars(sa.select(models.Port).join(models.IPAllocation).where(
            models.IPAllocation.subnet_id == subnet_id,
            models.Port.device_owner.in_(ROUTER_OWNERS))).first()

    def delete_subnet(self, ctx: RequestContext, subnet_id: str) -> None:
        def work(session: orm.Session, events: Events) -> None:
            row = self._get_subnet_row(session, ctx, subnet_id)
            allocations = session.scalars(sa.select(models.IPAllocation).where(
                models.IPAllocation.subnet_id == subnet_id)).all()
            auto = ipam.is_auto_address(row)
            for alloc in allocations:
                port = session.get(models.Port, alloc.port_id)
                if port is None:
                    continue
                if port.device_owner in ROUTER_OWNERS:
                    raise nexc.SubnetInUse(subnet_id, "One or more ports have an IP allocation from this subnet.")
                if port.device_owner != "network:dhcp" and not auto:
                    raise nexc.SubnetInUse(subnet_id)
            for alloc in allocations:
                port = session.get(models.Port, alloc.port_id)
                session.delete(alloc)
                if port is not None:
                    bump(port)
            session.flush()
            for alloc in allocations:
                port = session.get(models.Port, alloc.port_id)
                if port is not None and port.device_owner == "network:dhcp":
                    session.refresh(port)
                    if not port.fixed_ips:
                        events.append(("port.delete.end", {"port_id": port.id, "port": self._port_dict(session, port)}))
                        session.delete(port)
                    else:
                        events.append(("port.update.end", {"port": self._port_dict(session, port)}))
            net = session.get(models.Network, row.network_id)
            if net is not None:
                bump(net)
            session.delete(row)
            events.append(("subnet.delete.end", {"subnet_id": subnet_id, "network_id": row.network_id,
                                                 "subnet": subnet_dict(row)}))

        self.write(work)

    # -- the DHCP port, SLAAC addresses ---------------------------------------------------------
    def _dhcp_port(self, session: orm.Session, network_id: str) -> models.Port | None:
        return session.scalars(sa.select(models.Port).where(models.Port.network_id == network_id,
                                                            models.Port.device_owner == "network:dhcp")).first()

    def _ensure_dhcp(self, session: orm.Session, net: models.Network, subnet: models.Subnet, events: Events) -> None:
        """The network's DHCP port (one per network, as the DHCP agent makes it) gets an address on the subnet."""
        port = self._dhcp_port(session, net.id)
        if port is None:
            port = self._new_port_row(session, net, {
                "project_id": net.project_id, "device_owner": "network:dhcp",
                "device_id": f"dhcp-{net.id}", "name": "", "port_security_enabled": False})
            port.security_groups = []
            session.add(port)
            session.flush()
            created = True
        else:
            created = False
        if any(a.subnet_id == subnet.id for a in port.fixed_ips):
            return
        self._allocate(session, port, net, [{"subnet_id": subnet.id}], seq_start=len(port.fixed_ips))
        session.flush()
        session.refresh(port)
        events.append(("port.create.end" if created else "port.update.end", {"port": self._port_dict(session, port)}))

    def _drop_dhcp_address(self, session: orm.Session, subnet: models.Subnet, events: Events) -> None:
        port = self._dhcp_port(session, subnet.network_id)
        if port is None:
            return
        for alloc in list(port.fixed_ips):
            if alloc.subnet_id == subnet.id:
                session.delete(alloc)
        session.flush()
        session.refresh(port)
        if not port.fixed_ips:
            events.append(("port.delete.end", {"port_id": port.id, "port": self._port_dict(session, port)}))
            session.delete(port)
        else:
            events.append(("port.update.end", {"port": self._port_dict(session, port)}))

    def _add_auto_addresses(self, session: orm.Session, subnet: models.Subnet, events: Events) -> None:
        """A new SLAAC subnet gives an address to the ports already on the network (not to routers')."""
        ports = session.scalars(sa.select(models.Port).where(models.Port.network_id == subnet.network_id)).all()
        for port in ports:
            if port.device_owner in ROUTER_OWNERS or port.device_owner == "network:dhcp":
                continue
            session.add(models.IPAllocation(port_id=port.id, subnet_id=subnet.id, network_id=subnet.network_id,
                                            ip_address=ipam.eui64(subnet.cidr, port.mac_address),
                                            seq=len(port.fixed_ips)))
            bump(port)
