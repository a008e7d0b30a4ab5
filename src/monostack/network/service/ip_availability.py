"""Network IP availability: addresses in the allocation pools and how many are taken."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from monostack.network import exceptions as nexc
from monostack.network import models
from monostack.network.service import ipam
from monostack.network.service.base import ServiceBase


class IPAvailabilityMixin(ServiceBase):
    def _availability(self, session: Any, net: models.Network) -> dict[str, Any]:
        subnets = []
        total = used = 0
        for subnet in session.scalars(sa.select(models.Subnet).where(models.Subnet.network_id == net.id)
                                      .order_by(models.Subnet.created_at)):
            size = ipam.pool_size(subnet.allocation_pools)
            taken = session.scalar(sa.select(sa.func.count()).select_from(models.IPAllocation).where(
                models.IPAllocation.subnet_id == subnet.id)) or 0
            subnets.append({"subnet_id": subnet.id, "subnet_name": subnet.name, "cidr": subnet.cidr,
                            "ip_version": subnet.ip_version, "total_ips": size, "used_ips": taken})
            total += size
            used += taken
        return {"network_id": net.id, "network_name": net.name, "project_id": net.project_id,
                "tenant_id": net.project_id, "total_ips": total, "used_ips": used,
                "subnet_ip_availability": subnets}

    def list_ip_availability(self) -> list[dict[str, Any]]:
        with self.db.reader() as session:
            rows = session.scalars(sa.select(models.Network).order_by(models.Network.created_at))
            return [self._availability(session, net) for net in rows]

    def get_ip_availability(self, network_id: str) -> dict[str, Any]:
        with self.db.reader() as session:
            net = session.get(models.Network, network_id)
            if net is None:
                raise nexc.NetworkNotFound(network_id)
            return self._availability(session, net)
