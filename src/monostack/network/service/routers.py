"""Routers: the external gateway (with SNAT), interfaces on subnets, extra routes."""

from __future__ import annotations

import ipaddress
from typing import Any

import sqlalchemy as sa
from sqlalchemy import orm

from monostack.common.context import RequestContext
from monostack.network import exceptions as nexc
from monostack.network import models, states
from monostack.network.service import ipam
from monostack.network.service.base import Events, ServiceBase, bump, new_id, owner, std_dict, std_new
from monostack.network.service.ports import ROUTER_GATEWAY, ROUTER_INTERFACE


class RoutersMixin(ServiceBase):
    def _router_dict(self, session: orm.Session, row: models.Router, zones: list[str]) -> dict[str, Any]:
        gateway = None
        if row.gw_network_id:
            fixed = []
            if row.gw_port_id:
                port = session.get(models.Port, row.gw_port_id)
                if port is not None:
                    fixed = [{"subnet_id": a.subnet_id, "ip_address": a.ip_address} for a in port.fixed_ips]
            gateway = {"network_id": row.gw_network_id, "enable_snat": row.enable_snat,
                       "external_fixed_ips": fixed}
        return {"id": row.id, "name": row.name, **owner(row), "status": row.status,
                "admin_state_up": row.admin_state_up, "external_gateway_info": gateway,
                "routes": [dict(r) for r in row.routes or []], "distributed": False, "ha": False,
                "availability_zone_hints": list(row.availability_zone_hints or []),
                "availability_zones": self._zones_for(zones, row.availability_zone_hints), "flavor_id": None,
                **std_dict(row)}

    def _router_dicts(self, session: orm.Session, rows: list[models.Router]) -> list[dict[str, Any]]:
        zones = self._agent_zones(session, "L3 agent")
        return [self._router_dict(session, row, zones) for row in rows]

    def _get_router_row(self, session: orm.Session, ctx: RequestContext | None, router_id: str) -> models.Router:
        row = session.get(models.Router, router_id)
        if row is None or (ctx is not None and not ctx.is_admin and row.project_id != ctx.project_id):
            raise nexc.RouterNotFound(router_id)
        return row

    def list_routers(self, ctx: RequestContext) -> list[dict[str, Any]]:
        with self.db.reader() as session:
            query = sa.select(models.Router).order_by(models.Router.created_at, models.Router.id)
            if not ctx.is_admin:
                query = query.where(models.Router.project_id == ctx.project_id)
            return self._router_dicts(session, list(session.scalars(query)))

    def get_router(self, ctx: RequestContext | None, router_id: str) -> dict[str, Any]:
        with self.db.reader() as session:
            return self._router_dicts(session, [self._get_router_row(session, ctx, router_id)])[0]

    def create_router(self, ctx: RequestContext, body: dict[str, Any]) -> dict[str, Any]:
        def work(session: orm.Session, events: Events) -> dict[str, Any]:
            project = body.get("project_id") or ctx.project_id or ""
            self.check_quota(session, project, "router")
            self._validate_zones(session, body.get("availability_zone_hints") or [], "L3 agent")
            row = models.Router(id=new_id(), project_id=project, name=body.get("name") or "",
                                status=states.ROUTER_ACTIVE, admin_state_up=body.get("admin_state_up", True),
                                enable_snat=True, routes=[],
                                availability_zone_hints=list(body.get("availability_zone_hints") or []),
                                **std_new(body.get("description")))
            session.add(row)
            session.flush()
            if body.get("external_gateway_info"):
                self._set_gateway(session, ctx, row, body["external_gateway_info"], events)
            result = self._router_dicts(session, [row])[0]
            events.append(("router.create.end", {"router": result}))
            return result

        return self.write(work)

    def _set_gateway(self, session: orm.Session, ctx: RequestContext, row: models.Router,
                     info: dict[str, Any] | None, events: Events) -> None:
        if not info or not info.get("network_id"):
            self._clear_gateway(session, row, events)
            return
        net_id = info["network_id"]
        net = session.get(models.Network, net_id)
        if net is None:
            raise nexc.NetworkNotFound(net_id)
        if not net.external:
            raise nexc.BadRequest("router", f"Network {net_id} is not an external network")
        if not ctx.is_admin and not self._external_for(self._rbac_grants(session).get(net.id, []), ctx.project_id) \
                and net.project_id != ctx.project_id:
            raise nexc.NetworkNotFound(net_id)
        enable_snat = info.get("enable_snat", True)
        fixed = info.get("external_fixed_ips")
        if row.gw_network_id == net_id and row.gw_port_id and fixed is None:
            row.enable_snat = enable_snat
            return
        if row.gw_network_id == net_id and row.gw_port_id:
            port = session.get(models.Port, row.gw_port_id)
            self._reallocate(session, port, net, fixed)
            row.enable_snat = enable_snat
            bump(port)
            return
        self._clear_gateway(session, row, events)
        port = self._new_port_row(session, net, {"project_id": "", "device_owner": ROUTER_GATEWAY,
                                                 "device_id": row.id, "port_security_enabled": False})
        session.add(port)
        session.flush()
        self._allocate(session, port, net, fixed or None)
        row.gw_port_id, row.gw_network_id, row.enable_snat = port.id, net_id, enable_snat
        session.flush()
        session.refresh(port)
        events.append(("port.create.end", {"port": self._port_dict(session, port)}))

    def _clear_gateway(self, session: orm.Session, row: models.Router, events: Events) -> None:
        if not row.gw_network_id:
            return
        if session.scalars(sa.select(models.FloatingIP).where(models.FloatingIP.router_id == row.id)).first():
            raise nexc.errors.Conflict(f"Gateway cannot be updated for router {row.id}, since a gateway to external "
                                       f"network {row.gw_network_id} is required by one or more floating IPs.",
                                       error_type="RouterExternalGatewayInUseByFloatingIp")
        if row.gw_port_id:
            port = session.get(models.Port, row.gw_port_id)
            if port is not None:
                self._delete_port_row(session, port, events)
        row.gw_port_id = row.gw_network_id = None
        row.enable_snat = True

    def update_router(self, ctx: RequestContext, router_id: str, body: dict[str, Any],
                      revision: int | None = None) -> dict[str, Any]:
        def work(session: orm.Session, events: Events) -> dict[str, Any]:
            row = self._get_router_row(session, ctx, router_id)
            self._check_revision(row, revision)
            for key in ("name", "description"):
                if key in body:
                    setattr(row, key, body[key] or "")
            if "admin_state_up" in body:
                row.admin_state_up = body["admin_state_up"]
            if "external_gateway_info" in body:
                self._set_gateway(session, ctx, row, body["external_gateway_info"], events)
            if "routes" in body:
                row.routes = self._validated_routes(session, row, body["routes"] or [])
            bump(row)
            session.flush()
            result = self._router_dicts(session, [row])[0]
            events.append(("router.update.end", {"router": result}))
            return result

        return self.write(work)

    def _router_subnets(self, session: orm.Session, router_id: str) -> list[models.Subnet]:
        ids = session.scalars(sa.select(models.IPAllocation.subnet_id).join(models.Port).where(
            models.Port.device_id == router_id, models.Port.device_owner.in_((ROUTER_INTERFACE, ROUTER_GATEWAY))))
        return [s for s in (session.get(models.Subnet, sid) for sid in set(ids)) if s is not None]

    def _validated_routes(self, session: orm.Session, row: models.Router, routes: list[dict[str, str]]) -> list:
        subnets = self._router_subnets(session, row.id)
        result, seen = [], set()
        for route in routes:
            destination = str(ipam.network(route["destination"]))
            nexthop = str(ipaddress.ip_address(route["nexthop"]))
            if not any(ipam.in_subnet(nexthop, s.cidr) for s in subnets):
                raise nexc.errors.BadRequest(f"Invalid format for routes: {route}, the nexthop is not connected "
                                             "with router", error_type="InvalidRoutes")
            if any(a.ip_address == nexthop for s in subnets for a in session.scalars(
                    sa.select(models.IPAllocation).join(models.Port).where(
                        models.IPAllocation.subnet_id == s.id, models.Port.device_id == row.id))):
                raise nexc.errors.BadRequest(f"Invalid format for routes: {route}, the nexthop is used by router",
                                             error_type="InvalidRoutes")
            if (destination, nexthop) not in seen:
                seen.add((destination, nexthop))
                result.append({"destination": destination, "nexthop": nexthop})
        return result

    def add_extraroutes(self, ctx: RequestContext, router_id: str, routes: list[dict[str, str]]) -> dict[str, Any]:
        return self._change_routes(ctx, router_id, routes, add=True)

    def remove_extraroutes(self, ctx: RequestContext, router_id: str, routes: list[dict[str, str]]) -> dict[str, Any]:
        return self._change_routes(ctx, router_id, routes, add=False)

    def _change_routes(self, ctx: RequestContext, router_id: str, routes: list[dict[str, str]],
                       add: bool) -> dict[str, Any]:
        def work(session: orm.Session, events: Events) -> dict[str, Any]:
            row = self._get_router_row(session, ctx, router_id)
            current = [dict(r) for r in row.routes or []]
            if add:
                wanted = current + list(routes)
            else:
                removing = {(str(ipam.network(r["destination"])), str(ipaddress.ip_address(r["nexthop"])))
                            for r in routes}
                wanted = [r for r in current if (r["destination"], r["nexthop"]) not in removing]
            row.routes = self._validated_routes(session, row, wanted)
            bump(row)
            session.flush()
            result = self._router_dicts(session, [row])[0]
            events.append(("router.update.end", {"router": result}))
            return result

        return self.write(work)

    def delete_router(self, ctx: RequestContext, router_id: str) -> None:
        def work(session: orm.Session, events: Events) -> None:
            row = self._get_router_row(session, ctx, router_id)
            interfaces = session.scalars(sa.select(models.Port).where(models.Port.device_id == router_id,
                                                                      models.Port.device_owner == ROUTER_INTERFACE)
                                         ).first()
            if interfaces is not None:
                raise nexc.RouterInUse(router_id)
            self._clear_gateway(session, row, events)
            session.delete(row)
            events.append(("router.delete.end", {"router_id": router_id}))

        self.write(work)

    # -- interfaces -----------------------------------------------------------------------------
    def add_router_interface(self, ctx: RequestContext, router_id: str, body: dict[str, Any]) -> dict[str, Any]:
        def work(session: orm.Session, events: Events) -> dict[str, Any]:
            row = self._get_router_row(session, ctx, router_id)
            port_id, subnet_id = body.get("port_id"), body.get("subnet_id")
            if bool(port_id) == bool(subnet_id):
                raise nexc.BadRequest("router", "Either subnet_id or port_id must be specified" if not port_id
                                      else "Cannot specify both subnet-id and port-id")
            existing = self._router_subnets(session, router_id)
            if port_id:
                port = self._get_port_row(session, ctx, port_id)
                if port.device_id or port.device_owner:
                    raise nexc.errors.Conflict(f"Unable to complete operation on port {port_id} for network "
                                               f"{port.network_id}. Port already has an attached device "
                                               f"{port.device_id}.", error_type="PortInUse")
                if not port.fixed_ips:
                    raise nexc.BadRequest("router", "Router port must have at least one fixed IP")
                subnets = [session.get(models.Subnet, a.subnet_id) for a in port.fixed_ips]
                self._check_interface_subnets(session, row, subnets, existing)
                port.device_id, port.device_owner = router_id, ROUTER_INTERFACE
                bump(port)
                events.append(("port.update.end", {"port": self._port_dict(session, port)}))
            else:
                subnet = self._get_subnet_row(session, ctx, subnet_id)
                if not subnet.gateway_ip:
                    raise nexc.BadRequest("router", "Subnet for router interface must have a gateway IP")
                self._check_interface_subnets(session, row, [subnet], existing)
                net = session.get(models.Network, subnet.network_id)
                port = self._new_port_row(session, net, {"project_id": row.project_id,
                                                         "device_owner": ROUTER_INTERFACE, "device_id": router_id,
                                                         "port_security_enabled": False})
                session.add(port)
                session.flush()
                self._allocate(session, port, net, [{"subnet_id": subnet.id, "ip_address": subnet.gateway_ip}])
                session.flush()
                session.refresh(port)
                events.append(("port.create.end", {"port": self._port_dict(session, port)}))
            bump(row)
            session.flush()
            info = self._interface_info(session, row, port)
            events.append(("router.interface.create", {"router_interface": info}))
            return info

        return self.write(work)

    def _check_interface_subnets(self, session: orm.Session, row: models.Router, subnets: list[models.Subnet],
                                 existing: list[models.Subnet]) -> None:
        for subnet in subnets:
            for other in existing:
                if other.id == subnet.id:
                    raise nexc.BadRequest("router", f"Router already has a port on subnet {subnet.id}")
                if ipam.network(other.cidr).overlaps(ipam.network(subnet.cidr)) and other.ip_version == \
                        subnet.ip_version:
                    raise nexc.BadRequest("router", f"Cidr {subnet.cidr} of subnet {subnet.id} overlaps with cidr "
                                          f"{other.cidr} of subnet {other.id}")

    def _interface_info(self, session: orm.Session, row: models.Router, port: models.Port) -> dict[str, Any]:
        subnet_ids = [a.subnet_id for a in port.fixed_ips]
        return {"id": row.id, **owner(row), "port_id": port.id, "network_id": port.network_id,
                "subnet_id": subnet_ids[0] if subnet_ids else None, "subnet_ids": subnet_ids}

    def remove_router_interface(self, ctx: RequestContext, router_id: str, body: dict[str, Any]) -> dict[str, Any]:
        def work(session: orm.Session, events: Events) -> dict[str, Any]:
            row = self._get_router_row(session, ctx, router_id)
            port_id, subnet_id = body.get("port_id"), body.get("subnet_id")
            if not port_id and not subnet_id:
                raise nexc.BadRequest("router", "Either subnet_id or port_id must be specified")
            ports = session.scalars(sa.select(models.Port).where(models.Port.device_id == router_id,
                                                                 models.Port.device_owner == ROUTER_INTERFACE)).all()
            if port_id:
                port = next((p for p in ports if p.id == port_id), None)
                if port is None:
                    raise nexc.RouterInterfaceNotFound(f"Router {router_id} does not have an interface with id "
                                                       f"{port_id}")
                if subnet_id and subnet_id not in [a.subnet_id for a in port.fixed_ips]:
                    raise nexc.errors.Conflict(f"Subnet {subnet_id} is not part of port {port_id}",
                                               error_type="SubnetMismatchForPort")
            else:
                port = next((p for p in ports if any(a.subnet_id == subnet_id for a in p.fixed_ips)), None)
                if port is None:
                    self._get_subnet_row(session, ctx, subnet_id)
                    raise nexc.RouterInterfaceNotFoundForSubnet(f"Router {router_id} has no interface on subnet "
                                                                f"{subnet_id}")
            removed = [a.subnet_id for a in port.fixed_ips] if port_id else [subnet_id]
            self._check_fips_using(session, row, port, removed)
            info = self._interface_info(session, row, port)
            if port_id or len(port.fixed_ips) == 1:
                self._delete_port_row(session, port, events)
            else:
                for alloc in list(port.fixed_ips):
                    if alloc.subnet_id == subnet_id:
                        session.delete(alloc)
                info = dict(info, subnet_id=subnet_id, subnet_ids=[subnet_id])
                bump(port)
            bump(row)
            session.flush()
            events.append(("router.interface.delete", {"router_interface": info}))
            return info

        return self.write(work)

    def _check_fips_using(self, session: orm.Session, row: models.Router, port: models.Port,
                          subnet_ids: list[str]) -> None:
        for fip in session.scalars(sa.select(models.FloatingIP).where(models.FloatingIP.router_id == row.id)):
            fixed_port = session.get(models.Port, fip.port_id) if fip.port_id else None
            if fixed_port is None:
                continue
            if any(a.subnet_id in subnet_ids and a.ip_address == fip.fixed_ip_address for a in fixed_port.fixed_ips):
                raise nexc.RouterInterfaceInUseByFloatingIP(
                    f"Router interface for subnet {subnet_ids[0]} on router {row.id} cannot be deleted, as it is "
                    "required by one or more floating IPs.")
