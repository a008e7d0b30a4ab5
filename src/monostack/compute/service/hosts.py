"""Compute services (agents, scheduler, conductor) and compute nodes.

An agent reports every [compute] heartbeat_interval seconds (`report`); a
service is up while its last report is younger than service_down_time and it
is not forced down.  A compute node is what a host offers: its row here for
os-hypervisors, and the Placement resource provider with the same uuid for
scheduling.
"""

from __future__ import annotations

import datetime
import uuid
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from monostack.compute import models
from monostack.compute.service import utcnow

if TYPE_CHECKING:
    from monostack.compute.service import ComputeService

# Compute node uuids are derived from the hypervisor hostname, so an agent
# that lost its state directory still reports the same resource provider.
_NODE_NAMESPACE = uuid.UUID("5f8a3f56-1b7e-4d0e-9a52-0c3f7c6a2b10")


def node_uuid(hypervisor_hostname: str) -> str:
    return str(uuid.uuid5(_NODE_NAMESPACE, hypervisor_hostname))


class HostManager:
    def __init__(self, svc: "ComputeService"):
        self.svc = svc

    def is_up(self, row: models.Service) -> bool:
        if row.forced_down or row.last_seen_up is None:
            return False
        age = utcnow() - row.last_seen_up
        return age <= datetime.timedelta(seconds=self.svc.conf.compute.service_down_time)

    def report(self, host: str, binary: str, topic: str | None = None) -> None:
        """A heartbeat: creates the service row on first report."""
        now = utcnow()
        with self.svc.db.writer() as session:
            row = session.scalar(sa.select(models.Service).where(models.Service.host == host,
                                                                 models.Service.binary == binary))
            if row is None:
                row = models.Service(uuid=str(uuid.uuid4()), host=host, binary=binary, topic=topic,
                                     created_at=now, report_count=0, disabled=False, forced_down=False)
                session.add(row)
            row.last_seen_up = now
            row.updated_at = now
            row.report_count = (row.report_count or 0) + 1

    def service(self, host: str, binary: str = "nova-compute") -> models.Service | None:
        with self.svc.db.reader() as session:
            return session.scalar(sa.select(models.Service).where(models.Service.host == host,
                                                                  models.Service.binary == binary))

    def compute_services(self) -> dict[str, models.Service]:
        with self.svc.db.reader() as session:
            rows = session.scalars(sa.select(models.Service).where(models.Service.binary == "nova-compute")).all()
        return {row.host: row for row in rows}

    def update_node(self, host: str, resources: dict[str, Any]) -> str:
        """Record what `host` offers (drivers.base.HostResources as a dict); returns the node uuid."""
        conf = self.svc.conf.compute
        now = utcnow()
        name = resources["hostname"]
        with self.svc.db.writer() as session:
            row = session.scalar(sa.select(models.ComputeNode).where(
                models.ComputeNode.hypervisor_hostname == name))
            if row is None:
                row = models.ComputeNode(uuid=node_uuid(name), host=host, hypervisor_hostname=name, created_at=now)
                session.add(row)
            row.host = host
            row.vcpus = resources["vcpus"]
            row.memory_mb = resources["memory_mb"]
            row.local_gb = resources["disk_gb"]
            row.hypervisor_type = resources.get("hypervisor_type", "QEMU")
            row.hypervisor_version = resources.get("hypervisor_version", 0)
            row.cpu_info = resources.get("cpu_info") or {}
            row.host_ip = resources.get("host_ip")
            row.cpu_allocation_ratio = conf.cpu_allocation_ratio
            row.ram_allocation_ratio = conf.ram_allocation_ratio
            row.disk_allocation_ratio = conf.disk_allocation_ratio
            self._count_usage(session, row)
            row.updated_at = now
            return row.uuid

    def _count_usage(self, session: Any, row: models.ComputeNode) -> None:
        used = session.execute(sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(models.Instance.vcpus), 0),
                                         sa.func.coalesce(sa.func.sum(models.Instance.memory_mb), 0),
                                         sa.func.coalesce(sa.func.sum(models.Instance.root_gb
                                                                      + models.Instance.ephemeral_gb), 0))
                               .where(models.Instance.node == row.hypervisor_hostname,
                                      models.Instance.deleted.is_(False))).one()
        row.running_vms, row.vcpus_used, row.memory_mb_used, row.local_gb_used = (int(v) for v in used)
        row.memory_mb_used += self.svc.conf.compute.reserved_host_memory_mb

    def refresh_usage(self, hypervisor_hostname: str) -> None:
        with self.svc.db.writer() as session:
            row = session.scalar(sa.select(models.ComputeNode).where(
                models.ComputeNode.hypervisor_hostname == hypervisor_hostname))
            if row is not None:
                self._count_usage(session, row)

    def nodes(self) -> list[models.ComputeNode]:
        with self.svc.db.reader() as session:
            return list(session.scalars(sa.select(models.ComputeNode).order_by(models.ComputeNode.id)).all())

    def node_by_uuid(self, node_id: str) -> models.ComputeNode | None:
        with self.svc.db.reader() as session:
            return session.scalar(sa.select(models.ComputeNode).where(models.ComputeNode.uuid == node_id))

    def node_by_name(self, hypervisor_hostname: str | None) -> models.ComputeNode | None:
        with self.svc.db.reader() as session:
            return session.scalar(sa.select(models.ComputeNode).where(
                models.ComputeNode.hypervisor_hostname == hypervisor_hostname))
