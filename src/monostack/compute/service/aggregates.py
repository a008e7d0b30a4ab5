"""Host aggregates and the availability zones they define.

An aggregate is a named set of compute hosts with metadata; the
`availability_zone` key makes it a zone.  A host belongs to at most one zone
(Nova refuses changes that would put it in two, or move the zone of a host
that runs servers); hosts in no zone are in [compute] default_availability_zone.
The scheduler reads `zone_of_host` and `aggregates_of_host`.
"""

from __future__ import annotations

import asyncio
import logging
import uuid as uuidlib
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from monostack.common import errors
from monostack.compute import models
from monostack.compute.service import utcnow

if TYPE_CHECKING:
    from monostack.compute.service import ComputeService

LOG = logging.getLogger(__name__)
AZ_KEY = "availability_zone"
COMPUTE_BINARY = "nova-compute"


def to_dict(row: models.Aggregate) -> dict[str, Any]:
    metadata = {item.key: item.value for item in row.metadata_items}
    return {"id": row.id, "uuid": row.uuid, "name": row.name, "availability_zone": metadata.get(AZ_KEY),
            "hosts": sorted(h.host for h in row.hosts), "metadata": metadata,
            "created_at": row.created_at, "updated_at": row.updated_at}


def _not_found(aggregate_id: int | str) -> errors.NotFound:
    return errors.NotFound(f"Aggregate {aggregate_id} could not be found.")


class AggregateManager:
    def __init__(self, svc: "ComputeService"):
        self.svc = svc

    @property
    def default_zone(self) -> str:
        return self.svc.conf.compute.default_availability_zone

    # -- what the scheduler and the servers API read -----------------------------------------
    def _zones_by_host(self, session: Any) -> dict[str, set[str]]:
        query = (sa.select(models.AggregateHost.host, models.AggregateMetadata.value)
                 .join(models.AggregateMetadata,
                       models.AggregateMetadata.aggregate_id == models.AggregateHost.aggregate_id)
                 .where(models.AggregateMetadata.key == AZ_KEY))
        zones: dict[str, set[str]] = {}
        for host, zone in session.execute(query).all():
            zones.setdefault(host, set()).add(zone)
        return zones

    def zone_of_host(self, host: str) -> str:
        """The zone of a host: its zone aggregates' (joined by ',' in the unlikely case of several)."""
        with self.svc.db.reader() as session:
            zones = self._zones_by_host(session).get(host)
        return ",".join(sorted(zones)) if zones else self.default_zone

    def zones_of_hosts(self) -> dict[str, str]:
        """Every compute host's zone."""
        with self.svc.db.reader() as session:
            zones = self._zones_by_host(session)
            hosts = session.scalars(sa.select(models.Service.host).where(models.Service.binary == COMPUTE_BINARY))
            return {host: ",".join(sorted(zones[host])) if host in zones else self.default_zone for host in hosts}

    def hosts_in_zone(self, zone: str) -> set[str]:
        """The compute hosts of a zone (for the default zone: those in no zone aggregate)."""
        with self.svc.db.reader() as session:
            zones = self._zones_by_host(session)
            hosts = set(session.scalars(sa.select(models.Service.host).where(models.Service.binary == COMPUTE_BINARY)))
        named = {host for host, host_zones in zones.items() if zone in host_zones}
        if zone == self.default_zone:
            named |= {host for host in hosts if host not in zones}
        return named

    def aggregates_of_host(self, host: str) -> list[dict[str, Any]]:
        with self.svc.db.reader() as session:
            rows = session.scalars(sa.select(models.Aggregate).join(models.AggregateHost)
                                   .where(models.AggregateHost.host == host).order_by(models.Aggregate.id)).all()
            return [to_dict(row) for row in rows]

    def aggregates_by_host(self) -> dict[str, list[dict[str, Any]]]:
        """Every host's aggregates, in one read (what the scheduler joins its candidates with)."""
        by_host: dict[str, list[dict[str, Any]]] = {}
        for aggregate in self.list():
            for host in aggregate["hosts"]:
                by_host.setdefault(host, []).append(aggregate)
        return by_host

    # -- os-aggregates -----------------------------------------------------------------
    def list(self) -> list[dict[str, Any]]:
        with self.svc.db.reader() as session:
            return [to_dict(row) for row in session.scalars(sa.select(models.Aggregate).order_by(models.Aggregate.id))]

    def _row(self, session: Any, aggregate_id: int) -> models.Aggregate:
        row = session.get(models.Aggregate, aggregate_id)
        if row is None:
            raise _not_found(aggregate_id)
        return row

    def get(self, aggregate_id: int) -> dict[str, Any]:
        with self.svc.db.reader() as session:
            return to_dict(self._row(session, aggregate_id))

    def create(self, name: str, availability_zone: str | None = None) -> dict[str, Any]:
        try:
            with self.svc.db.writer() as session:
                if session.scalar(sa.select(models.Aggregate.id).where(models.Aggregate.name == name)) is not None:
                    raise errors.Conflict(f"Aggregate {name} already exists.")
                row = models.Aggregate(uuid=str(uuidlib.uuid4()), name=name, created_at=utcnow())
                if availability_zone:
                    row.metadata_items.append(models.AggregateMetadata(key=AZ_KEY, value=availability_zone))
                session.add(row)
                session.flush()
                result = to_dict(row)
        except sa_exc.IntegrityError:
            raise errors.Conflict(f"Aggregate {name} already exists.") from None
        self.svc.notify("aggregate.create.end", {"aggregate_id": result["id"], "name": name})
        return result

    def update(self, aggregate_id: int, *, name: str | None = None, availability_zone: Any = ...) -> dict[str, Any]:
        """Rename and/or change the zone (None removes it), with Nova's zone checks."""
        try:
            with self.svc.db.writer() as session:
                row = self._row(session, aggregate_id)
                if name is not None and name != row.name:
                    if session.scalar(sa.select(models.Aggregate.id).where(models.Aggregate.name == name)) is not None:
                        raise errors.Conflict(f"Aggregate {name} already exists.")
                    row.name = name
                if availability_zone is not ...:
                    self._set_metadata(session, row, {AZ_KEY: availability_zone}, "Cannot update aggregate")
                row.updated_at = utcnow()
                session.flush()
                return to_dict(row)
        except sa_exc.IntegrityError:
            raise errors.Conflict(f"Aggregate {name} already exists.") from None

    def set_metadata(self, aggregate_id: int, metadata: dict[str, str | None]) -> dict[str, Any]:
        """Add, change or (value None) remove metadata keys."""
        with self.svc.db.writer() as session:
            row = self._row(session, aggregate_id)
            self._set_metadata(session, row, metadata, "Cannot update metadata of aggregate")
            row.updated_at = utcnow()
            session.flush()
            return to_dict(row)

    def delete(self, aggregate_id: int) -> None:
        with self.svc.db.writer() as session:
            row = self._row(session, aggregate_id)
            if row.hosts:
                raise errors.BadRequest(f"Cannot remove host from aggregate {aggregate_id}. "
                                        f"Reason: Host aggregate is not empty.")
            session.delete(row)
        self.svc.notify("aggregate.delete.end", {"aggregate_id": aggregate_id})

    def add_host(self, aggregate_id: int, host: str) -> dict[str, Any]:
        with self.svc.db.writer() as session:
            self._compute_host(session, host)
            row = self._row(session, aggregate_id)
            if any(h.host == host for h in row.hosts):
                raise errors.Conflict(f"Aggregate {aggregate_id} already has host {host}.")
            prefix = f"Cannot add host to aggregate {aggregate_id}. Reason:"
            zone = {m.key: m.value for m in row.metadata_items}.get(AZ_KEY)
            if zone:
                others = self._zones_by_host(session).get(host, set()) - {zone}
                if others:
                    raise errors.Conflict(f"{prefix} One or more hosts already in availability zone(s) "
                                          f"{sorted(others)}.")
                current = self._zones_by_host(session).get(host)
                old_zone = sorted(current)[0] if current else None
                servers = self._servers_on(session, [host])
                if servers and old_zone != zone:
                    raise errors.Conflict(
                        f"{prefix} The host cannot be added to the aggregate as the availability zone of the host "
                        f"would change from '{old_zone}' to '{zone}' but the host already has {servers} "
                        f"instance(s). Changing the AZ of an existing instance is not supported by this action. "
                        f"Move the instances away from this host then try again. If you need to move the "
                        f"instances between AZs then you can use shelve_offload and unshelve to achieve this.")
            row.hosts.append(models.AggregateHost(host=host))
            row.updated_at = utcnow()
            session.flush()
            result = to_dict(row)
        self.svc.notify("aggregate.addhost.end", {"aggregate_id": aggregate_id, "host_name": host})
        return result

    def remove_host(self, aggregate_id: int, host: str) -> dict[str, Any]:
        with self.svc.db.writer() as session:
            row = session.get(models.Aggregate, aggregate_id)
            match = [h for h in row.hosts if h.host == host] if row is not None else []
            if row is None or not match or not self._has_compute_service(session, host):
                raise errors.NotFound(f"Cannot remove host {host} in aggregate {aggregate_id}")
            zone = {m.key: m.value for m in row.metadata_items}.get(AZ_KEY)
            servers = self._servers_on(session, [host])
            if zone and servers:
                others = self._zones_of_host_except(session, host, row.id)
                new_zone = others[0] if others else None
                if zone != new_zone:
                    raise errors.Conflict(
                        f"Cannot remove host from aggregate {aggregate_id}. Reason: The host cannot be removed from "
                        f"the aggregate as the availability zone of the host would change from '{zone}' to "
                        f"'{new_zone}' but the host already has {servers} instance(s). Changing the AZ of an "
                        f"existing instance is not supported by this action. Move the instances away from this "
                        f"host then try again. If you need to move the instances between AZs then you can use "
                        f"shelve_offload and unshelve to achieve this.")
            row.hosts.remove(match[0])
            row.updated_at = utcnow()
            session.flush()
            result = to_dict(row)
        self.svc.notify("aggregate.removehost.end", {"aggregate_id": aggregate_id, "host_name": host})
        return result

    # -- Placement ---------------------------------------------------------------------
    async def sync_placement(self, host: str, removed: str | None = None) -> None:
        """Mirror the host's aggregates onto its compute nodes' resource providers (Placement's
        member_of).  As in Nova a failure is logged, not raised: the aggregate change stands."""
        placement = getattr(self.svc, "placement", None)
        if placement is None:
            return
        nodes, member_of = await asyncio.to_thread(self._placement_view, host)
        for node in nodes:
            try:
                current = set((await placement.get_aggregates(node))["aggregates"])
                await placement.set_aggregates(node, (current - {removed}) | member_of)
            except Exception as err:  # noqa: BLE001 - Placement trouble must not undo the aggregate change
                LOG.warning("could not mirror the aggregates of %s onto provider %s: %s", host, node, err)

    def _placement_view(self, host: str) -> tuple[list[str], set[str]]:
        with self.svc.db.reader() as session:
            nodes = list(session.scalars(sa.select(models.ComputeNode.uuid).where(models.ComputeNode.host == host)))
            member_of = set(session.scalars(sa.select(models.Aggregate.uuid).join(models.AggregateHost)
                                            .where(models.AggregateHost.host == host)))
        return nodes, member_of

    def remove_host_everywhere(self, session: Any, host: str) -> None:
        """A deleted compute service leaves all its aggregates (os-services DELETE)."""
        session.execute(sa.delete(models.AggregateHost).where(models.AggregateHost.host == host))

    # -- rules -------------------------------------------------------------------------
    def _compute_host(self, session: Any, host: str) -> None:
        if not self._has_compute_service(session, host):
            raise errors.NotFound(f"Compute host {host} could not be found.")

    def _has_compute_service(self, session: Any, host: str) -> bool:
        return session.scalar(sa.select(models.Service.id).where(
            models.Service.host == host, models.Service.binary == COMPUTE_BINARY)) is not None

    def _servers_on(self, session: Any, hosts: list[str]) -> int:
        if not hosts:
            return 0
        return int(session.scalar(sa.select(sa.func.count()).select_from(models.Instance).where(
            models.Instance.host.in_(hosts), models.Instance.deleted.is_(False))) or 0)

    def _zones_of_host_except(self, session: Any, host: str, aggregate_id: int) -> list[str]:
        query = (sa.select(models.AggregateMetadata.value)
                 .join(models.AggregateHost, models.AggregateHost.aggregate_id == models.AggregateMetadata.aggregate_id)
                 .where(models.AggregateHost.host == host, models.AggregateMetadata.key == AZ_KEY,
                        models.AggregateMetadata.aggregate_id != aggregate_id))
        return sorted(set(session.scalars(query).all()))

    def _set_metadata(self, session: Any, row: models.Aggregate, updates: dict[str, str | None], action: str) -> None:
        """Apply metadata changes; a zone change must not put a host in two zones, nor move the zone of
        hosts that run servers (Nova's is_safe_to_update_az)."""
        prefix = f"{action} {row.id}. Reason:"
        if AZ_KEY in updates:
            zone = updates[AZ_KEY]
            if not zone:  # Nova refuses both "" and null: a zone is never removed this way
                raise errors.BadRequest(f"{prefix} Aggregate {row.name} does not support empty named "
                                        f"availability zone.")
            else:
                hosts = [h.host for h in row.hosts]
                conflicting = sorted({z for host in hosts for z in self._zones_of_host_except(session, host, row.id)
                                      if z != zone})
                if conflicting:
                    raise errors.BadRequest(f"{prefix} One or more hosts already in availability zone(s) "
                                            f"{conflicting}.")
            current = {m.key: m.value for m in row.metadata_items}.get(AZ_KEY)
            if current != zone and self._servers_on(session, [h.host for h in row.hosts]):
                raise errors.BadRequest(f"{prefix} One or more hosts contain instances in this zone.")
        items = {m.key: m for m in row.metadata_items}
        for key, value in updates.items():
            if value is None:
                if key in items:
                    row.metadata_items.remove(items.pop(key))
            elif key in items:
                items[key].value = value
            else:
                items[key] = models.AggregateMetadata(key=key, value=value)
                row.metadata_items.append(items[key])
