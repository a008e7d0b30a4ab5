"""Ports: fixed IPs from IPAM, MAC addresses, security groups, address pairs,
port security, and the binding to a host (Linux bridge VIFs) with the port's
DOWN/BUILD/ACTIVE lifecycle as the data-plane agent reports it."""

from __future__ import annotations

import ipaddress
import random
from typing import Any

import sqlalchemy as sa
from sqlalchemy import orm

from monostack.common.context import RequestContext
from monostack.network import exceptions as nexc
from monostack.network import models, states
from monostack.network.service import ipam
from monostack.network.service.base import Events, LostRace, ServiceBase, bump, retrying, new_id, owner, std_dict, std_new

ROUTER_INTERFACE = "network:router_interface"
ROUTER_GATEWAY = "network:router_gateway"
FLOATINGIP = "network:floatingip"
DHCP = "network:dhcp"
# Owners whose ports only their API (routers, floating IPs) may delete.
PROTECTED_OWNERS = (ROUTER_INTERFACE, ROUTER_GATEWAY, FLOATINGIP, "network:router_interface_distributed",
                    "network:ha_router_replicated_interface")
VNIC_TYPES = ("normal", "direct", "macvtap", "baremetal", "direct-physical", "virtio-forwarder", "smart-nic",
              "vdpa", "accelerator-direct", "accelerator-direct-physical", "remote-managed")
VIF_TYPE_BRIDGE = "bridge"
VIF_UNBOUND = "unbound"
VIF_BINDING_FAILED = "binding_failed"


def bridge_name(network_id: str) -> str:
    return f"brq{network_id[:11]}"


def tap_name(port_id: str) -> str:
    return f"tap{port_id[:11]}"


class PortsMixin(ServiceBase):
    # -- reading --------------------------------------------------------------------------------
    def _port_dict(self, session: orm.Session, row: models.Port) -> dict[str, Any]:
        return {
            "id": row.id, "name": row.name, "network_id": row.network_id, **owner(row),
            "mac_address": row.mac_address, "admin_state_up": row.admin_state_up, "status": row.status,
            "device_id": row.device_id, "device_owner": row.device_owner,
            "fixed_ips": [{"subnet_id": a.subnet_id, "ip_address": a.ip_address} for a in row.fixed_ips],
            "allowed_address_pairs": [dict(p) for p in row.allowed_address_pairs or []],
            "security_groups": list(row.security_groups or []),
            "port_security_enabled": row.port_security_enabled,
            "binding:host_id": row.host_id, "binding:vif_type": row.vif_type,
            "binding:vif_details": dict(row.vif_details or {}), "binding:vnic_type": row.vnic_type,
            "binding:profile": dict(row.profile or {}), "ip_allocation": "immediate",
            **std_dict(row),
        }

    def _port_visible(self, ctx: RequestContext, row: models.Port, net_owners: dict[str, str]) -> bool:
        return ctx.is_admin or row.project_id == ctx.project_id or net_owners.get(row.network_id) == ctx.project_id

    def _get_port_row(self, session: orm.Session, ctx: RequestContext | None, port_id: str) -> models.Port:
        row = session.get(models.Port, port_id)
        if row is None:
            raise nexc.PortNotFound(port_id)
        if ctx is not None:
            owners = {row.network_id: session.scalar(sa.select(models.Network.project_id).where(
                models.Network.id == row.network_id)) or ""}
            if not self._port_visible(ctx, row, owners):
                raise nexc.PortNotFound(port_id)
        return row

    def list_ports(self, ctx: RequestContext) -> list[dict[str, Any]]:
        with self.db.reader() as session:
            owners = dict(session.execute(sa.select(models.Network.id, models.Network.project_id)).all())
            self.__dict__.setdefault("_owners", {}).update(owners)
            query = sa.select(models.Port).order_by(models.Port.created_at, models.Port.id)
            if not ctx.is_admin:
                mine = [nid for nid, project in owners.items() if project == ctx.project_id]
                query = query.where(sa.or_(models.Port.project_id == ctx.project_id,
                                           models.Port.network_id.in_(mine)))
            return [self._port_dict(session, row) for row in session.scalars(query)]

    def get_port(self, ctx: RequestContext | None, port_id: str) -> dict[str, Any]:
        with self.db.reader() as session:
            return self._port_dict(session, self._get_port_row(session, ctx, port_id))

    # -- allocation -----------------------------------------------------------------------------
    def _new_mac(self) -> str:
        prefix = self.conf.network.base_mac.split(":")[:3]
        return ":".join(prefix + [f"{random.randint(0, 255):02x}" for _ in range(3)])

    def _new_port_row(self, session: orm.Session, net: models.Network, body: dict[str, Any]) -> models.Port:
        mac = body.get("mac_address")
        if mac:
            if session.scalars(sa.select(models.Port.id).where(models.Port.network_id == net.id,
                                                               models.Port.mac_address == mac)).first():
                raise nexc.MacAddressInUse(net.id, mac)
        else:
            taken = set(session.scalars(sa.select(models.Port.mac_address).where(models.Port.network_id == net.id)))
            mac = self._new_mac()
            while mac in taken:
                mac = self._new_mac()
        return models.Port(
            id=new_id(), project_id=body.get("project_id") or "", network_id=net.id, name=body.get("name") or "",
            mac_address=mac, admin_state_up=body.get("admin_state_up", True), status=states.DOWN,
            device_id=body.get("device_id") or "", device_owner=body.get("device_owner") or "",
            port_security_enabled=body.get("port_security_enabled", net.port_security_enabled),
            security_groups=[], allowed_address_pairs=[], vif_type=VIF_UNBOUND, vif_details={},
            vnic_type="normal", profile={}, host_id="", **std_new(body.get("description")))

    def _network_subnets(self, session: orm.Session, network_id: str) -> list[models.Subnet]:
        return list(session.scalars(sa.select(models.Subnet).where(models.Subnet.network_id == network_id)
                                    .order_by(models.Subnet.created_at, models.Subnet.id)))

    def _allocate(self, session: orm.Session, port: models.Port, net: models.Network,
                  requested: list[dict[str, Any]] | None, seq_start: int = 0) -> None:
        """Give the port its fixed IPs: the requested ones, or (none requested) one address of an IPv4
        subnet, one of a stateful IPv6 subnet, and its SLAAC address on every auto-address subnet."""
        subnets = self._network_subnets(session, net.id)
        by_id = {s.id: s for s in subnets}
        spread = retrying()
        chosen: list[tuple[models.Subnet, str]] = []
        asked: set[str] = set()  # addresses the request named (the others were picked here)
        router_port = port.device_owner in (ROUTER_INTERFACE, ROUTER_GATEWAY)
        if requested is None:
            for version in (4, 6):
                candidates = [s for s in subnets if s.ip_version == version and not ipam.is_auto_address(s)]
                if not candidates:
                    continue
                for subnet in candidates:
                    address = ipam.pick_address(session, subnet, spread=spread)
                    if address is not None:
                        chosen.append((subnet, address))
                        break
                else:
                    raise nexc.IpAddressGenerationFailure(net.id)
            if not router_port:
                chosen += [(s, ipam.eui64(s.cidr, port.mac_address)) for s in subnets if ipam.is_auto_address(s)]
        else:
            for item in requested:
                subnet_id, address = item.get("subnet_id"), item.get("ip_address")
                if subnet_id is not None:
                    subnet = by_id.get(subnet_id)
                    if subnet is None:
                        if session.get(models.Subnet, subnet_id) is None:
                            raise nexc.SubnetNotFound(subnet_id)
                        raise nexc.InvalidInput(f"Failed to create port on network {net.id}, because fixed_ips "
                                                f"included invalid subnet {subnet_id}")
                    if address is not None and not ipam.in_subnet(address, subnet.cidr):
                        raise nexc.InvalidIpForSubnet(f"IP address {address} is not a valid IP for the specified "
                                                      "subnet.")
                elif address is not None:
                    subnet = next((s for s in subnets if ipam.in_subnet(address, s.cidr)), None)
                    if subnet is None:
                        raise nexc.InvalidIpForNetwork(f"IP address {address} is not a valid IP for any of the "
                                                       "subnets on the specified network.")
                else:
                    raise nexc.InvalidInput("fixed_ips entry needs a subnet_id or an ip_address")
                if address is None:
                    if ipam.is_auto_address(subnet) and not router_port:
                        address = ipam.eui64(subnet.cidr, port.mac_address)
                    else:
                        address = ipam.pick_address(session, subnet, spread=spread)
                        if address is None:
                            raise nexc.IpAddressGenerationFailure(net.id)
                else:
                    address = str(ipaddress.ip_address(address))
                    asked.add(address)
                    net_obj = ipam.network(subnet.cidr)
                    if net_obj.version == 4 and net_obj.prefixlen < 31 and address in (
                            str(net_obj.network_address), str(net_obj.broadcast_address)):
                        raise nexc.InvalidIpForSubnet(f"IP address {address} is not a valid IP for the specified "
                                                      "subnet.")
                if any(a == address for _, a in chosen):
                    raise nexc.InvalidInput(f"Duplicate IP address '{address}'")
                chosen.append((subnet, address))
        if len(chosen) > self.conf.network.max_fixed_ips_per_port:
            raise nexc.InvalidInput("Exceeded maximum amount of fixed ips per port.")
        for seq, (subnet, address) in enumerate(chosen, start=seq_start):
            taken = session.scalars(sa.select(models.IPAllocation).where(
                models.IPAllocation.network_id == net.id, models.IPAllocation.ip_address == address)).first()
            if taken is not None:
                if address not in asked:
                    raise LostRace(f"{address} on {net.id}")
                raise nexc.IpAddressInUse(net.id, address)
            session.add(models.IPAllocation(port_id=port.id, subnet_id=subnet.id, network_id=net.id,
                                            ip_address=address, seq=seq))
        # The unique constraint decides races here: a concurrent winner makes this flush fail and
        # `write` run the whole request again.
        session.flush()

    # -- security groups and address pairs ------------------------------------------------------
    def _port_groups(self, session: orm.Session, ctx: RequestContext, project: str, groups: list[str] | None,
                     port_security: bool, device_owner: str) -> list[str]:
        if groups is None:
            if not port_security or device_owner.startswith("network:"):
                return []
            return [self._ensure_default_group(session, project).id]
        for group_id in groups:
            row = session.get(models.SecurityGroup, group_id)
            if row is None or (not ctx.is_admin and row.project_id not in (project, ctx.project_id)):
                raise nexc.SecurityGroupNotFound(group_id)
        if groups and not port_security:
            raise nexc.errors.Conflict("Port security must be enabled and port must have an IP address in order "
                                       "to use security groups.",
                                       error_type="PortSecurityAndIPRequiredForSecurityGroups")
        return list(dict.fromkeys(groups))

    @staticmethod
    def _address_pairs(pairs: list[dict[str, Any]] | None, mac: str, port_security: bool) -> list[dict[str, str]]:
        if not pairs:
            return []
        if not port_security:
            raise nexc.errors.Conflict("Port Security must be enabled in order to have allowed address pairs on a "
                                       "port.", error_type="AddressPairAndPortSecurityRequired")
        result, seen = [], set()
        for pair in pairs:
            entry = {"ip_address": pair["ip_address"], "mac_address": pair.get("mac_address") or mac}
            key = (entry["ip_address"], entry["mac_address"])
            if key in seen:
                raise nexc.errors.BadRequest("Request contains duplicate address pair: mac_address "
                                             f"{entry['mac_address']} ip_address {entry['ip_address']}.",
                                             error_type="DuplicateAddressPairInRequest")
            seen.add(key)
            result.append(entry)
        return result

    # -- binding --------------------------------------------------------------------------------
    def _bind(self, row: models.Port, host: str | None, vnic_type: str | None, profile: dict | None) -> None:
        if vnic_type is not None:
            row.vnic_type = vnic_type
        if profile is not None:
            row.profile = profile
        if host is None:
            return
        if host == "":
            row.host_id, row.vif_type, row.vif_details = "", VIF_UNBOUND, {}
            row.status = states.PORT.next(row.status, "unbind")
            return
        row.host_id = host
        if row.vnic_type != "normal":
            # The Linux bridge mechanism binds only normal (virtio/tap) ports.
            row.vif_type, row.vif_details = VIF_BINDING_FAILED, {}
            row.status = states.PORT.next(row.status, "bind_failed") if states.PORT.allows(
                row.status, "bind_failed") else row.status
            return
        row.vif_type = VIF_TYPE_BRIDGE
        row.vif_details = {"port_filter": True, "connectivity": "l2", "bridge_name": bridge_name(row.network_id)}
        row.status = states.PORT.next(row.status, "bind")

    # -- API ------------------------------------------------------------------------------------
    def create_port(self, ctx: RequestContext, body: dict[str, Any]) -> dict[str, Any]:
        def work(session: orm.Session, events: Events) -> dict[str, Any]:
            result = self._create_port(session, ctx, body, events)
            events.append(("port.create.end", {"port": result}))
            return result

        return self.write(work)

    def _create_port(self, session: orm.Session, ctx: RequestContext, body: dict[str, Any],
                     events: Events) -> dict[str, Any]:
        net = self._get_network_row(session, ctx, body["network_id"])
        project = body.get("project_id") if "project_id" in body else (ctx.project_id or "")
        body = dict(body, project_id=project)
        self.check_quota(session, project, "port")
        row = self._new_port_row(session, net, body)
        row.security_groups = self._port_groups(session, ctx, project, body.get("security_groups"),
                                                row.port_security_enabled, row.device_owner)
        row.allowed_address_pairs = self._address_pairs(body.get("allowed_address_pairs"), row.mac_address,
                                                        row.port_security_enabled)
        session.add(row)
        session.flush()
        self._allocate(session, row, net, body.get("fixed_ips"))
        self._bind(row, body.get("binding:host_id"), body.get("binding:vnic_type"), body.get("binding:profile"))
        session.flush()
        session.refresh(row)
        return self._port_dict(session, row)

    def update_port(self, ctx: RequestContext, port_id: str, body: dict[str, Any],
                    revision: int | None = None) -> dict[str, Any]:
        def work(session: orm.Session, events: Events) -> dict[str, Any]:
            row = self._get_port_row(session, ctx, port_id)
            self._check_revision(row, revision)
            before = self._port_dict(session, row)
            net = session.get(models.Network, row.network_id)
            for key in ("name", "description", "device_id", "device_owner"):
                if key in body:
                    setattr(row, key, body[key] or "")
            if "admin_state_up" in body:
                row.admin_state_up = body["admin_state_up"]
            if body.get("mac_address") and body["mac_address"] != row.mac_address:
                if row.host_id and row.vif_type not in (VIF_UNBOUND, VIF_BINDING_FAILED):
                    raise nexc.errors.Conflict(f"Unable to complete operation on port {row.id}, port is already "
                                               f"bound, port type: {row.vif_type}, old_mac {row.mac_address}, "
                                               f"new_mac {body['mac_address']}.", error_type="PortBound")
                if session.scalars(sa.select(models.Port.id).where(models.Port.network_id == row.network_id,
                                                                   models.Port.mac_address == body["mac_address"])
                                   ).first():
                    raise nexc.MacAddressInUse(row.network_id, body["mac_address"])
                row.mac_address = body["mac_address"]
            if "port_security_enabled" in body:
                row.port_security_enabled = body["port_security_enabled"]
                if not row.port_security_enabled and "security_groups" not in body and row.security_groups:
                    raise nexc.errors.Conflict("Port has security group associated. Cannot disable port security "
                                               "or IP address until security group is removed",
                                               error_type="PortSecurityPortHasSecurityGroup")
                if not row.port_security_enabled and row.allowed_address_pairs and \
                        "allowed_address_pairs" not in body:
                    raise nexc.errors.Conflict("Address pairs must be removed before disabling port security",
                                               error_type="AddressPairAndPortSecurityRequired")
            if "security_groups" in body:
                groups = body["security_groups"] or []
                row.security_groups = self._port_groups(session, ctx, row.project_id, groups,
                                                        row.port_security_enabled, row.device_owner)
            if "allowed_address_pairs" in body:
                row.allowed_address_pairs = self._address_pairs(body["allowed_address_pairs"], row.mac_address,
                                                                row.port_security_enabled)
            if "fixed_ips" in body:
                self._reallocate(session, row, net, body["fixed_ips"] or [])
            if any(k in body for k in ("binding:host_id", "binding:vnic_type", "binding:profile")):
                host = body.get("binding:host_id")
                if host is not None and host == row.host_id:
                    host = None
                self._bind(row, host, body.get("binding:vnic_type"), body.get("binding:profile"))
            bump(row)
            session.flush()
            session.refresh(row)
            result = self._port_dict(session, row)
            events.append(("port.update.end", {"port": result, "original_port": before}))
            return result

        return self.write(work)

    def _reallocate(self, session: orm.Session, row: models.Port, net: models.Network,
                    requested: list[dict[str, Any]]) -> None:
        """New fixed IPs: keep the addresses asked for again, free the others, allocate the new ones."""
        keep, new = [], []
        current = {(a.subnet_id, a.ip_address): a for a in row.fixed_ips}
        for item in requested:
            match = None
            for (subnet_id, address), alloc in current.items():
                if item.get("ip_address") == address and item.get("subnet_id") in (None, subnet_id):
                    match = alloc
                    break
                if item.get("ip_address") is None and item.get("subnet_id") == subnet_id and alloc not in keep:
                    match = alloc
                    break
            if match is not None and match not in keep:
                keep.append(match)
            else:
                new.append(item)
        for alloc in list(row.fixed_ips):
            if alloc not in keep:
                session.delete(alloc)
        session.flush()
        for seq, alloc in enumerate(keep):
            alloc.seq = seq
        if new:
            self._allocate(session, row, net, new, seq_start=len(keep))

    def delete_port(self, ctx: RequestContext | None, port_id: str, *, internal: bool = False) -> None:
        def work(session: orm.Session, events: Events) -> None:
            row = self._get_port_row(session, ctx, port_id)
            if not internal and row.device_owner in PROTECTED_OWNERS:
                raise nexc.errors.Conflict(f"Port {port_id} cannot be deleted directly via the port API: has device "
                                           f"owner {row.device_owner}.", error_type="ServicePortInUse")
            self._delete_port_row(session, row, events)

        self.write(work)

    def _delete_port_row(self, session: orm.Session, row: models.Port, events: Events) -> None:
        for fip in session.scalars(sa.select(models.FloatingIP).where(models.FloatingIP.port_id == row.id)):
            fip.port_id = fip.fixed_ip_address = fip.router_id = None
            fip.status = states.FIP_DOWN
            bump(fip)
            events.append(("floatingip.update.end", {"floatingip": self._fip_dict(session, fip)}))
        payload = self._port_dict(session, row)
        session.delete(row)
        session.flush()
        events.append(("port.delete.end", {"port_id": row.id, "port": payload}))

    # -- the agent's reports --------------------------------------------------------------------
    def set_port_status(self, port_id: str, event: str, host: str | None = None) -> dict[str, Any] | None:
        """The data-plane agent reports a device (`wire`, `device_up`, `device_down`).  A compute port that
        turns ACTIVE fires `on_vif_plugged` (the seam for Nova's network-vif-plugged event)."""
        def work(session: orm.Session, events: Events) -> dict[str, Any] | None:
            row = session.get(models.Port, port_id)
            if row is None:
                return None
            if host and row.host_id and host != row.host_id and event == "device_up":
                return None  # a stale report from the host the port left
            new = states.PORT.next(row.status, event)
            if new == row.status:
                return self._port_dict(session, row)
            row.status = new
            bump(row)
            session.flush()
            result = self._port_dict(session, row)
            events.append(("port.update.end", {"port": result}))
            return result

        before = self.get_port(None, port_id)["status"] if self._port_exists(port_id) else None
        result = self.write(work)
        if result is not None and result["device_owner"].startswith("compute:") and before != result["status"]:
            if result["status"] == states.ACTIVE and self.on_vif_plugged is not None:
                self.on_vif_plugged(result)
            elif result["status"] == states.DOWN and self.on_vif_unplugged is not None:
                self.on_vif_unplugged(result)
        return result

    def _port_exists(self, port_id: str) -> bool:
        with self.db.reader() as session:
            return session.get(models.Port, port_id) is not None

    def recover(self) -> None:
        """After a restart nothing stays in BUILD: the agent reports those ports up again once rewired."""
        with self.db.writer() as session:
            for row in session.scalars(sa.select(models.Port).where(models.Port.status.in_(states.STUCK))):
                row.status = states.PORT.next(row.status, "recover")
