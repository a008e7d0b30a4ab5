"""Floating IPs: an address of an external network (a port owned by network:floatingip),
associated with a fixed address of a port that a router connects to that external network."""

from __future__ import annotations

import ipaddress
from typing import Any

import sqlalchemy as sa
from sqlalchemy import orm

from monostack.common.context import RequestContext
from monostack.network import exceptions as nexc
from monostack.network import models, states
from monostack.network.service.base import Events, ServiceBase, bump, new_id, owner, std_dict, std_new
from monostack.network.service.ports import FLOATINGIP, ROUTER_INTERFACE


class FloatingIPsMixin(ServiceBase):
    def _fip_dict(self, session: orm.Session, row: models.FloatingIP) -> dict[str, Any]:
        details = None
        if row.port_id:
            port = session.get(models.Port, row.port_id)
            if port is not None:
                details = {"name": port.name, "network_id": port.network_id, "mac_address": port.mac_address,
                           "admin_state_up": port.admin_state_up, "status": port.status, "device_id": port.device_id,
                           "device_owner": port.device_owner}
        return {"id": row.id, **owner(row), "floating_network_id": row.floating_network_id,
                "floating_ip_address": row.floating_ip_address, "port_id": row.port_id,
                "fixed_ip_address": row.fixed_ip_address, "router_id": row.router_id, "status": row.status,
                "port_details": details, "port_forwardings": [], "qos_policy_id": None,
                "dns_name": row.dns_name, "dns_domain": row.dns_domain, **std_dict(row)}

    def _get_fip_row(self, session: orm.Session, ctx: RequestContext | None, fip_id: str) -> models.FloatingIP:
        row = session.get(models.FloatingIP, fip_id)
        if row is None or (ctx is not None and not ctx.is_admin and row.project_id != ctx.project_id):
            raise nexc.FloatingIPNotFound(fip_id)
        return row

    def list_floatingips(self, ctx: RequestContext) -> list[dict[str, Any]]:
        with self.db.reader() as session:
            query = sa.select(models.FloatingIP).order_by(models.FloatingIP.created_at, models.FloatingIP.id)
            if not ctx.is_admin:
                query = query.where(models.FloatingIP.project_id == ctx.project_id)
            return [self._fip_dict(session, row) for row in session.scalars(query)]

    def get_floatingip(self, ctx: RequestContext | None, fip_id: str) -> dict[str, Any]:
        with self.db.reader() as session:
            return self._fip_dict(session, self._get_fip_row(session, ctx, fip_id))

    def create_floatingip(self, ctx: RequestContext, body: dict[str, Any]) -> dict[str, Any]:
        def work(session: orm.Session, events: Events) -> dict[str, Any]:
            project = body.get("project_id") or ctx.project_id or ""
            net_id = body["floating_network_id"]
            net = session.get(models.Network, net_id)
            if net is None:
                raise nexc.NetworkNotFound(net_id)
            if not net.external:
                raise nexc.BadRequest("floatingip", f"Network {net_id} is not a valid external network")
            self.check_quota(session, project, "floatingip")
            fip_id = new_id()
            port = self._new_port_row(session, net, {"project_id": "", "device_owner": FLOATINGIP,
                                                     "device_id": fip_id, "port_security_enabled": False})
            session.add(port)
            session.flush()
            fixed: list[dict[str, Any]] | None = None
            if body.get("floating_ip_address") or body.get("subnet_id"):
                entry: dict[str, Any] = {}
                if body.get("subnet_id"):
                    entry["subnet_id"] = body["subnet_id"]
                if body.get("floating_ip_address"):
                    entry["ip_address"] = body["floating_ip_address"]
                fixed = [entry]
            else:
                v4 = [s.id for s in self._network_subnets(session, net_id) if s.ip_version == 4]
                if not v4:
                    raise nexc.BadRequest("floatingip", f"Network {net_id} does not contain any IPv4 subnet")
                fixed = None
            self._allocate(session, port, net, fixed)
            session.flush()
            session.refresh(port)
            v4_addresses = [a for a in port.fixed_ips if ipaddress.ip_address(a.ip_address).version == 4]
            if not v4_addresses:
                raise nexc.BadRequest("floatingip", f"Network {net_id} does not contain any IPv4 subnet")
            address = v4_addresses[0].ip_address
            for extra in port.fixed_ips:
                if extra is not v4_addresses[0]:
                    session.delete(extra)
            row = models.FloatingIP(id=fip_id, project_id=project, floating_network_id=net_id,
                                    floating_ip_address=address, floating_port_id=port.id, status=states.FIP_DOWN,
                                    dns_name=body.get("dns_name") or "", dns_domain=body.get("dns_domain") or "",
                                    **std_new(body.get("description")))
            session.add(row)
            session.flush()
            if body.get("port_id"):
                self._associate(session, ctx, row, body["port_id"], body.get("fixed_ip_address"))
            session.flush()
            result = self._fip_dict(session, row)
            events.append(("floatingip.create.end", {"floatingip": result}))
            return result

        return self.write(work)

    def _associate(self, session: orm.Session, ctx: RequestContext, row: models.FloatingIP, port_id: str,
                   fixed_ip: str | None) -> None:
        port = self._get_port_row(session, ctx, port_id)
        if not ctx.is_admin and port.project_id != row.project_id:
            raise nexc.PortNotFound(port_id)
        v4 = [a for a in port.fixed_ips if ipaddress.ip_address(a.ip_address).version == 4]
        if fixed_ip is not None:
            chosen = next((a for a in v4 if a.ip_address == fixed_ip), None)
            if chosen is None:
                raise nexc.BadRequest("floatingip", f"Port {port_id} does not have fixed ip {fixed_ip}")
        else:
            if not v4:
                raise nexc.BadRequest("floatingip", f"No IPv4 addresses found on internal port {port_id}")
            if len(v4) > 1:
                raise nexc.BadRequest("floatingip", f"Port {port_id} has multiple fixed IPv4 addresses.  Must "
                                      "provide a specific IPv4 address when assigning a floating IP")
            chosen = v4[0]
        taken = session.scalars(sa.select(models.FloatingIP).where(
            models.FloatingIP.port_id == port_id, models.FloatingIP.fixed_ip_address == chosen.ip_address,
            models.FloatingIP.floating_network_id == row.floating_network_id,
            models.FloatingIP.id != row.id)).first()
        if taken is not None:
            raise nexc.FloatingIPPortAlreadyAssociated(
                f"Cannot associate floating IP {row.floating_ip_address} ({row.id}) with port {port_id} using fixed "
                f"IP {chosen.ip_address}, as that fixed IP already has a floating IP on external network "
                f"{row.floating_network_id}.")
        router_id = self._router_for(session, chosen.subnet_id, row.floating_network_id)
        if router_id is None:
            raise nexc.ExternalGatewayForFloatingIPNotFound(
                f"External network {row.floating_network_id} is not reachable from subnet {chosen.subnet_id}.  "
                f"Therefore, cannot associate Port {port_id} with a Floating IP.")
        row.port_id, row.fixed_ip_address, row.router_id = port_id, chosen.ip_address, router_id

    def _router_for(self, session: orm.Session, subnet_id: str, external_net: str) -> str | None:
        """A router with an interface on the subnet and its gateway on the external network."""
        candidates = session.scalars(sa.select(models.Port.device_id).join(models.IPAllocation).where(
            models.IPAllocation.subnet_id == subnet_id, models.Port.device_owner == ROUTER_INTERFACE))
        for router_id in candidates:
            router = session.get(models.Router, router_id)
            if router is not None and router.gw_network_id == external_net:
                return router.id
        return None

    def update_floatingip(self, ctx: RequestContext, fip_id: str, body: dict[str, Any],
                          revision: int | None = None) -> dict[str, Any]:
        def work(session: orm.Session, events: Events) -> dict[str, Any]:
            row = self._get_fip_row(session, ctx, fip_id)
            self._check_revision(row, revision)
            if "description" in body:
                row.description = body["description"] or ""
            if "port_id" in body:
                if body["port_id"]:
                    self._associate(session, ctx, row, body["port_id"], body.get("fixed_ip_address"))
                else:
                    row.port_id = row.fixed_ip_address = row.router_id = None
                    row.status = states.FIP_DOWN
            bump(row)
            session.flush()
            result = self._fip_dict(session, row)
            events.append(("floatingip.update.end", {"floatingip": result}))
            return result

        return self.write(work)

    def delete_floatingip(self, ctx: RequestContext, fip_id: str) -> None:
        def work(session: orm.Session, events: Events) -> None:
            row = self._get_fip_row(session, ctx, fip_id)
            payload = self._fip_dict(session, row)
            port = session.get(models.Port, row.floating_port_id)
            session.delete(row)
            if port is not None:
                self._delete_port_row(session, port, events)
            events.append(("floatingip.delete.end", {"floatingip_id": fip_id, "floatingip": payload}))

        self.write(work)

    def set_floatingip_status(self, fip_id: str, status: str) -> None:
        """The L3 agent reports a floating IP wired (ACTIVE) or not (DOWN)."""
        def work(session: orm.Session, events: Events) -> None:
            row = session.get(models.FloatingIP, fip_id)
            if row is None or row.status == status:
                return
            row.status = status
            bump(row)
            events.append(("floatingip.update.end", {"floatingip": self._fip_dict(session, row)}))

        self.write(work)
