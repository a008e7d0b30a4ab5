"""Networks: provider segments, MTU, sharing and external access through RBAC, visibility."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import orm

from monostack.common.context import RequestContext
from monostack.network import exceptions as nexc
from monostack.network import models, states
from monostack.network.service.base import Events, ServiceBase, bump, new_id, owner, std_dict, std_new

SHARED, EXTERNAL = "access_as_shared", "access_as_external"
# Ports the service removes with their network (Neutron's "auto-delete" owners).
AUTO_DELETE_OWNERS = ("network:dhcp",)


class NetworksMixin(ServiceBase):
    # -- segments -------------------------------------------------------------------------------
    def _vlan_ranges(self) -> dict[str, list[tuple[int, int]]]:
        ranges: dict[str, list[tuple[int, int]]] = {}
        for entry in self.conf.network.network_vlan_ranges:
            parts = entry.split(":")
            ranges.setdefault(parts[0], [])
            if len(parts) == 3:
                ranges[parts[0]].append((int(parts[1]), int(parts[2])))
        return ranges

    def _vni_ranges(self) -> list[tuple[int, int]]:
        result = []
        for entry in self.conf.network.vni_ranges:
            first, _, last = entry.partition(":")
            result.append((int(first), int(last or first)))
        return result

    def _mtu(self, network_type: str) -> int:
        physical = self.conf.network.global_physnet_mtu
        return physical - self.conf.network.vxlan_overhead if network_type == "vxlan" else physical

    def _take_segment(self, session: orm.Session, network_id: str, network_type: str,
                      physnet: str | None, seg_id: int | None) -> tuple[str | None, int | None]:
        """Reserve the segment (a row whose primary key a concurrent request cannot also insert)."""
        if network_type == "local":
            return None, None
        if network_type == "flat":
            allowed = self.conf.network.flat_networks
            if not physnet:
                raise nexc.InvalidInput("physical_network required for flat provider network")
            if "*" not in allowed and physnet not in allowed:
                raise nexc.InvalidInput(f"physical_network '{physnet}' unknown for flat provider network")
            if seg_id is not None:
                raise nexc.InvalidInput("segmentation_id specified for flat provider network")
            if session.get(models.SegmentAllocation, ("flat", physnet, 0)):
                raise nexc.FlatNetworkInUse(physnet)
            session.add(models.SegmentAllocation(network_type="flat", physical_network=physnet, segmentation_id=0,
                                                 network_id=network_id))
            return physnet, None
        if network_type == "vlan":
            ranges = self._vlan_ranges()
            if physnet is None:
                if seg_id is not None:
                    raise nexc.InvalidInput("physical_network required for VLAN provider network")
                physnet = next((name for name, r in ranges.items() if r), None)
                if physnet is None:
                    raise nexc.NoNetworkAvailable()
            elif physnet not in ranges:
                raise nexc.InvalidInput(f"physical_network '{physnet}' unknown for VLAN provider network")
            if seg_id is not None:
                if not 1 <= seg_id <= 4094:
                    raise nexc.InvalidInput("segmentation_id out of range (1 through 4094)")
                if session.get(models.SegmentAllocation, ("vlan", physnet, seg_id)):
                    raise nexc.VlanIdInUse(seg_id, physnet)
            else:
                seg_id = self._free_id(session, "vlan", physnet, ranges[physnet])
            session.add(models.SegmentAllocation(network_type="vlan", physical_network=physnet,
                                                 segmentation_id=seg_id, network_id=network_id))
            return physnet, seg_id
        if network_type == "vxlan":
            if physnet:
                raise nexc.InvalidInput("provider:physical_network specified for vxlan network")
            if seg_id is not None:
                if not 1 <= seg_id <= 2 ** 24 - 1:
                    raise nexc.InvalidInput(f"segmentation_id out of range (1 through {2 ** 24 - 1})")
                if session.get(models.SegmentAllocation, ("vxlan", "", seg_id)):
                    raise nexc.TunnelIdInUse(seg_id)
            else:
                seg_id = self._free_id(session, "vxlan", "", self._vni_ranges())
            session.add(models.SegmentAllocation(network_type="vxlan", physical_network="", segmentation_id=seg_id,
                                                 network_id=network_id))
            return None, seg_id
        raise nexc.InvalidInput(f"network_type value '{network_type}' not supported")

    @staticmethod
    def _free_id(session: orm.Session, network_type: str, physnet: str, ranges: list[tuple[int, int]]) -> int:
        used = set(session.scalars(sa.select(models.SegmentAllocation.segmentation_id).where(
            models.SegmentAllocation.network_type == network_type,
            models.SegmentAllocation.physical_network == physnet)))
        for first, last in ranges:
            for value in range(first, last + 1):
                if value not in used:
                    return value
        raise nexc.NoNetworkAvailable()

    def network_owner(self, network_id: str) -> str | None:
        """The project owning a network (never changes: cached; policy targets need it per item)."""
        cache = self.__dict__.setdefault("_owners", {})
        if network_id not in cache:
            with self.db.reader() as session:
                owner_id = session.scalar(sa.select(models.Network.project_id).where(models.Network.id == network_id))
            if owner_id is None:
                return None
            cache[network_id] = owner_id
        return cache[network_id]

    # -- visibility -----------------------------------------------------------------------------
    def _rbac_grants(self, session: orm.Session, object_type: str = "network") -> dict[str, list[tuple[str, str]]]:
        grants: dict[str, list[tuple[str, str]]] = {}
        for row in session.scalars(sa.select(models.RBACPolicy).where(models.RBACPolicy.object_type == object_type)):
            grants.setdefault(row.object_id, []).append((row.action, row.target_project))
        return grants

    @staticmethod
    def _shared_for(grants: list[tuple[str, str]], project: str | None) -> bool:
        return any(action == SHARED and target in ("*", project) for action, target in grants)

    @staticmethod
    def _external_for(grants: list[tuple[str, str]], project: str | None) -> bool:
        return any(action == EXTERNAL and target in ("*", project) for action, target in grants)

    def _network_visible(self, ctx: RequestContext, net: models.Network, grants: list[tuple[str, str]]) -> bool:
        return (ctx.is_admin or net.project_id == ctx.project_id or self._shared_for(grants, ctx.project_id)
                or self._external_for(grants, ctx.project_id))

    def _get_network_row(self, session: orm.Session, ctx: RequestContext | None, network_id: str) -> models.Network:
        net = session.get(models.Network, network_id)
        if net is None:
            raise nexc.NetworkNotFound(network_id)
        if ctx is not None and not self._network_visible(ctx, net, self._rbac_grants(session).get(net.id, [])):
            raise nexc.NetworkNotFound(network_id)
        return net

    def _network_dict(self, ctx: RequestContext | None, net: models.Network, grants: list[tuple[str, str]],
                      subnet_ids: list[str], azs: list[str]) -> dict[str, Any]:
        # Neutron's "shared" is per caller: shared with everyone, or with the caller's project.
        shared = self._shared_for(grants, ctx.project_id if ctx else "*")
        return {
            "id": net.id, "name": net.name, **owner(net), "status": net.status, "admin_state_up": net.admin_state_up,
            "shared": shared, "subnets": subnet_ids, "mtu": net.mtu, "router:external": net.external,
            "is_default": net.is_default, "port_security_enabled": net.port_security_enabled,
            "provider:network_type": net.network_type, "provider:physical_network": net.physical_network,
            "provider:segmentation_id": net.segmentation_id,
            "availability_zone_hints": list(net.availability_zone_hints or []), "availability_zones": azs,
            "ipv4_address_scope": None, "ipv6_address_scope": None, "l2_adjacency": True,
            "dns_domain": net.dns_domain, **std_dict(net),
        }

    def _network_dicts(self, session: orm.Session, ctx: RequestContext | None,
                       rows: list[models.Network]) -> list[dict[str, Any]]:
        grants = self._rbac_grants(session)
        subnets: dict[str, list[str]] = {}
        for sid, nid in session.execute(sa.select(models.Subnet.id, models.Subnet.network_id)
                                        .order_by(models.Subnet.created_at, models.Subnet.id)):
            subnets.setdefault(nid, []).append(sid)
        azs = self._agent_zones(session, "DHCP agent")
        return [self._network_dict(ctx, row, grants.get(row.id, []), subnets.get(row.id, []),
                                   self._zones_for(azs, row.availability_zone_hints)) for row in rows]

    @staticmethod
    def _zones_for(zones: list[str], hints: list[str] | None) -> list[str]:
        return sorted(z for z in zones if not hints or z in hints)

    # -- API ------------------------------------------------------------------------------------
    def list_networks(self, ctx: RequestContext) -> list[dict[str, Any]]:
        with self.db.reader() as session:
            grants = self._rbac_grants(session)
            rows = [row for row in session.scalars(sa.select(models.Network).order_by(models.Network.created_at,
                                                                                       models.Network.id))
                    if self._network_visible(ctx, row, grants.get(row.id, []))]
            return self._network_dicts(session, ctx, rows)

    def get_network(self, ctx: RequestContext | None, network_id: str) -> dict[str, Any]:
        with self.db.reader() as session:
            return self._network_dicts(session, ctx, [self._get_network_row(session, ctx, network_id)])[0]

    def create_network(self, ctx: RequestContext, body: dict[str, Any]) -> dict[str, Any]:
        def work(session: orm.Session, events: Events) -> dict[str, Any]:
            project = body.get("project_id") or ctx.project_id or ""
            self.check_quota(session, project, "network")
            net_id = new_id()
            network_type = body.get("provider:network_type")
            physnet = body.get("provider:physical_network")
            seg_id = body.get("provider:segmentation_id")
            if network_type is None:
                if physnet is not None or seg_id is not None:
                    raise nexc.InvalidInput("network_type required")
                network_type = self.conf.network.tenant_network_types[0]
            self._validate_zones(session, body.get("availability_zone_hints") or [], "DHCP agent")
            physnet, seg_id = self._take_segment(session, net_id, network_type, physnet, seg_id)
            mtu = self._mtu(network_type)
            if body.get("mtu") is not None:
                if body["mtu"] > mtu:
                    raise nexc.InvalidInput(f"Requested MTU is too big, maximum is {mtu}")
                mtu = body["mtu"]
            std = std_new(body.get("description", ""))
            row = models.Network(
                id=net_id, project_id=project, name=body.get("name", ""), status=states.NETWORK_ACTIVE,
                admin_state_up=body.get("admin_state_up", True), mtu=mtu, external=bool(body.get("router:external")),
                is_default=bool(body.get("is_default", False)),
                port_security_enabled=body.get("port_security_enabled", True), network_type=network_type,
                physical_network=physnet, segmentation_id=seg_id,
                availability_zone_hints=list(body.get("availability_zone_hints") or []),
                dns_domain=body.get("dns_domain") or "", **std)
            session.add(row)
            session.flush()
            if body.get("shared"):
                self._add_rbac(session, project, net_id, SHARED, "*")
            if body.get("router:external"):
                self._add_rbac(session, project, net_id, EXTERNAL, "*")
            if body.get("is_default") and body.get("router:external"):
                self._one_default_external(session, net_id)
            result = self._network_dicts(session, ctx, [row])[0]
            events.append(("network.create.end", {"network": result}))
            return result

        return self.write(work)

    def _one_default_external(self, session: orm.Session, network_id: str) -> None:
        others = session.scalars(sa.select(models.Network).where(models.Network.is_default.is_(True),
                                                                 models.Network.id != network_id)).all()
        if others:
            raise nexc.errors.Conflict(f"Unable to update network {network_id}: a default external network "
                                       f"({others[0].id}) already exists.")

    def _add_rbac(self, session: orm.Session, project: str, object_id: str, action: str, target: str,
                  object_type: str = "network") -> models.RBACPolicy:
        existing = session.scalars(sa.select(models.RBACPolicy).where(
            models.RBACPolicy.object_type == object_type, models.RBACPolicy.object_id == object_id,
            models.RBACPolicy.action == action, models.RBACPolicy.target_project == target)).first()
        if existing is not None:
            return existing
        row = models.RBACPolicy(id=new_id(), project_id=project, object_type=object_type, object_id=object_id,
                                action=action, target_project=target)
        session.add(row)
        session.flush()
        return row

    def update_network(self, ctx: RequestContext, network_id: str, body: dict[str, Any],
                       revision: int | None = None) -> dict[str, Any]:
        def work(session: orm.Session, events: Events) -> dict[str, Any]:
            row = self._get_network_row(session, ctx, network_id)
            self._check_revision(row, revision)
            for key in ("provider:network_type", "provider:physical_network", "provider:segmentation_id"):
                if key in body and body[key] != {"provider:network_type": row.network_type,
                                                  "provider:physical_network": row.physical_network,
                                                  "provider:segmentation_id": row.segmentation_id}[key]:
                    raise nexc.InvalidInput("Plugin does not support updating provider attributes")
            for key in ("name", "admin_state_up", "port_security_enabled", "description", "dns_domain"):
                if key in body:
                    setattr(row, key, body[key] if body[key] is not None else "")
            if "mtu" in body and body["mtu"] is not None:
                if body["mtu"] > self._mtu(row.network_type):
                    raise nexc.InvalidInput(f"Requested MTU is too big, maximum is {self._mtu(row.network_type)}")
                row.mtu = body["mtu"]
            if "shared" in body:
                self._set_wildcard(session, row, SHARED, bool(body["shared"]))
            if "router:external" in body:
                self._set_wildcard(session, row, EXTERNAL, bool(body["router:external"]))
                row.external = bool(body["router:external"])
                if not row.external:
                    row.is_default = False
            if "is_default" in body:
                if body["is_default"] and not row.external:
                    raise nexc.InvalidInput("Unable to set is_default on a network that is not external")
                row.is_default = bool(body["is_default"])
                if row.is_default:
                    self._one_default_external(session, row.id)
            bump(row)
            session.flush()
            result = self._network_dicts(session, ctx, [row])[0]
            events.append(("network.update.end", {"network": result}))
            return result

        return self.write(work)

    @staticmethod
    def _check_revision(row: Any, revision: int | None) -> None:
        if revision is not None and row.revision_number != revision:
            raise nexc.RevisionNumberConstraintFailed(
                f"Constrained to {revision}, but current revision is {row.revision_number}")

    def _set_wildcard(self, session: orm.Session, row: models.Network, action: str, on: bool) -> None:
        query = sa.select(models.RBACPolicy).where(
            models.RBACPolicy.object_type == "network", models.RBACPolicy.object_id == row.id,
            models.RBACPolicy.action == action, models.RBACPolicy.target_project == "*")
        existing = session.scalars(query).first()
        if on and existing is None:
            self._add_rbac(session, row.project_id, row.id, action, "*")
        elif not on and existing is not None:
            if action == SHARED:
                self._check_unshare(session, row, "*")
            else:
                self._check_unexternal(session, row)
            session.delete(existing)

    def _foreign_ports(self, session: orm.Session, net: models.Network, target: str) -> list[models.Port]:
        """Ports of other projects on the network that a grant to `target` lets them have."""
        ports = session.scalars(sa.select(models.Port).where(models.Port.network_id == net.id,
                                                             models.Port.project_id != net.project_id,
                                                             models.Port.project_id != "")).all()
        if target == "*":
            granted = {t for a, t in self._rbac_grants(session).get(net.id, []) if a == SHARED and t != "*"}
            return [p for p in ports if p.project_id not in granted]
        return [p for p in ports if p.project_id == target]

    def _check_unshare(self, session: orm.Session, net: models.Network, target: str) -> None:
        if self._foreign_ports(session, net, target):
            raise nexc.errors.Conflict(f"Unable to reconfigure sharing settings for network {net.id}. "
                                       "Multiple tenants are using it.", error_type="InvalidSharedSetting")

    def _check_unexternal(self, session: orm.Session, net: models.Network) -> None:
        gateways = session.scalars(sa.select(models.Router).where(models.Router.gw_network_id == net.id)).first()
        fips = session.scalars(sa.select(models.FloatingIP).where(
            models.FloatingIP.floating_network_id == net.id)).first()
        if gateways is not None or fips is not None:
            raise nexc.errors.Conflict(f"Unable to complete operation on network {net.id}. There are one or more "
                                       "ports still in use on the network.", error_type="NetworkInUse")

    def delete_network(self, ctx: RequestContext, network_id: str) -> None:
        def work(session: orm.Session, events: Events) -> None:
            row = self._get_network_row(session, ctx, network_id)
            ports = session.scalars(sa.select(models.Port).where(models.Port.network_id == network_id)).all()
            # Unassociated floating IPs go with their external network, as in Neutron.
            fips = {f.floating_port_id: f for f in session.scalars(sa.select(models.FloatingIP).where(
                models.FloatingIP.floating_network_id == network_id))}
            for port in ports:
                fip = fips.get(port.id)
                if port.device_owner in AUTO_DELETE_OWNERS or (fip is not None and fip.port_id is None):
                    continue
                raise nexc.NetworkInUse(network_id)
            for fip in fips.values():
                events.append(("floatingip.delete.end", {"floatingip_id": fip.id}))
                session.delete(fip)
            for port in ports:
                events.append(("port.delete.end", {"port_id": port.id, "port": self._port_dict(session, port)}))
                session.delete(port)
            session.flush()
            for subnet in session.scalars(sa.select(models.Subnet).where(models.Subnet.network_id == network_id)):
                events.append(("subnet.delete.end", {"subnet_id": subnet.id, "network_id": network_id}))
                session.delete(subnet)
            session.execute(sa.delete(models.RBACPolicy).where(models.RBACPolicy.object_type == "network",
                                                               models.RBACPolicy.object_id == network_id))
            session.execute(sa.delete(models.SegmentAllocation).where(
                models.SegmentAllocation.network_id == network_id))
            session.flush()
            session.delete(row)
            events.append(("network.delete.end", {"network_id": network_id, "network": {
                "id": network_id, **owner(row)}}))

        self.write(work)
