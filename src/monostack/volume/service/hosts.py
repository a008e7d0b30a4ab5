"""Backend services: heartbeats with capacity, os-services, availability zones,
and the scheduler's choice of a backend for a new volume."""

from __future__ import annotations

import dataclasses
import datetime
from typing import Any

import sqlalchemy as sa

from monostack.common import errors
from monostack.volume import models
from monostack.volume.service.common import utcnow

VOLUME_BINARY = "cinder-volume"
SCHEDULER_BINARY = "cinder-scheduler"
BACKUP_BINARY = "cinder-backup"


class NoValidBackend(errors.BadRequest):
    pass


class Hosts:
    def __init__(self, svc: Any):
        self.svc = svc

    def report(self, host: str, binary: str, zone: str, capacity: dict[str, Any] | None = None) -> None:
        """A heartbeat (and, for a backend, its capacity)."""
        with self.svc.db.writer() as session:
            row = session.query(models.Service).filter_by(host=host, binary=binary).one_or_none()
            if row is None:
                row = models.Service(host=host, binary=binary, topic=binary.replace("cinder-", "cinder-"),
                                     availability_zone=zone, disabled=False, created_at=utcnow())
                session.add(row)
            row.availability_zone = zone
            row.updated_at = utcnow()
            if capacity is not None:
                row.capacity = capacity

    def is_up(self, row: models.Service) -> bool:
        if row.updated_at is None:
            return False
        return utcnow() - row.updated_at < datetime.timedelta(seconds=self.svc.conf.volume.service_down_time)

    def list(self, host: str | None = None, binary: str | None = None) -> list[models.Service]:
        with self.svc.db.reader() as session:
            query = session.query(models.Service).order_by(models.Service.id)
            if host:  # "node1" matches its backends "node1@file" too, as Cinder's filter does
                query = query.filter(sa.or_(models.Service.host == host, models.Service.host.like(f"{host}@%")))
            if binary:
                query = query.filter_by(binary=binary)
            return query.all()

    def set_enabled(self, host: str, binary: str, enabled: bool, reason: str | None = None) -> models.Service:
        with self.svc.db.writer() as session:
            row = session.query(models.Service).filter_by(host=host, binary=binary).one_or_none()
            if row is None:
                raise errors.NotFound(f"Service {binary} on host {host} could not be found.")
            row.disabled = not enabled
            row.disabled_reason = None if enabled else reason
            return row

    def set_frozen(self, host: str, frozen: bool) -> None:
        with self.svc.db.writer() as session:
            row = session.query(models.Service).filter_by(host=host, binary=VOLUME_BINARY).one_or_none()
            if row is not None:
                row.frozen = frozen

    def zones(self) -> list[tuple[str, bool]]:
        with self.svc.db.reader() as session:
            rows = session.query(models.Service).filter_by(binary=VOLUME_BINARY).all()
        zones: dict[str, bool] = {}
        for row in rows:
            zones[row.availability_zone] = zones.get(row.availability_zone, False) or (
                self.is_up(row) and not row.disabled)
        if not zones:
            zones[self.svc.conf.volume.storage_availability_zone] = False
        return sorted(zones.items())

    # -- the scheduler ---------------------------------------------------------------------
    def schedule(self, session: Any, size: int, zone: str | None, extra_specs: dict[str, str]) -> "Candidate":
        """The backend for a new volume: up and enabled, in the zone, of the type's
        volume_backend_name, with room for `size` GiB (free space, or provisioned space
        under the over-subscription ratio on thin backends), the most free space first."""
        rows = session.query(models.Service).filter_by(binary=VOLUME_BINARY).all()
        wanted_backend = extra_specs.get("volume_backend_name")
        provisioned = dict(session.query(models.Volume.host, sa.func.coalesce(sa.func.sum(models.Volume.size), 0))
                           .group_by(models.Volume.host))
        candidates = []
        for row in rows:
            if row.disabled or not self.is_up(row) or not row.capacity:
                continue
            if zone and row.availability_zone != zone:
                continue
            cap = row.capacity
            if wanted_backend and cap.get("volume_backend_name") != wanted_backend:
                continue
            if not satisfies(cap, extra_specs):
                continue
            total, free = float(cap.get("total_gb", 0)), float(cap.get("free_gb", 0))
            reserved = total * self.svc.conf.volume.reserved_percentage / 100.0
            used = float(sum(int(v) for h, v in provisioned.items() if h and h.partition("#")[0] == row.host))
            if cap.get("thin_provisioning", True):
                ratio = float(cap.get("max_over_subscription_ratio") or self.svc.conf.volume.max_over_subscription_ratio)
                fits = used + size <= (total - reserved) * ratio and free - reserved > 0
            else:
                fits = free - reserved >= size
            if fits:
                candidates.append(Candidate(row.host, row.availability_zone, cap.get("volume_backend_name", ""),
                                            free - reserved))
        if not candidates:
            raise NoValidBackend("No valid backend was found.")
        # Ties go to the first backend by name, whatever order the database returns rows in.
        return min(candidates, key=lambda c: (-c.free_gb, c.host))


@dataclasses.dataclass
class Candidate:
    backend: str  # host@backend
    zone: str
    pool: str
    free_gb: float

    @property
    def host(self) -> str:
        return f"{self.backend}#{self.pool or self.backend.partition('@')[2]}"


def _matches(capability: Any, requirement: str) -> bool:
    """Cinder's extra spec operators (<is>, <in>, <or>, s==, ==, >=, <=) against one capability."""
    words = requirement.split()
    if not words:
        return str(capability) == requirement
    op = words[0]
    if op == "<is>":
        return str(capability).lower() == " ".join(words[1:]).lower()
    if op == "<in>":
        return " ".join(words[1:]) in str(capability)
    if op == "<or>":
        return str(capability) in [w for w in words[1:] if w != "<or>"]
    if op in ("s==", "s!="):
        return (str(capability) == " ".join(words[1:])) == (op == "s==")
    if op in ("==", "!=", ">=", "<="):
        try:
            have, want = float(capability), float(words[1])
        except (TypeError, ValueError, IndexError):
            return False
        return {"==": have == want, "!=": have != want, ">=": have >= want, "<=": have <= want}[op]
    return str(capability) == requirement


def satisfies(capabilities: dict[str, Any], extra_specs: dict[str, str]) -> bool:
    """Cinder's CapabilitiesFilter: unscoped (or capabilities:) extra specs must be met by the backend."""
    for key, requirement in extra_specs.items():
        scope, _, name = key.rpartition(":")
        if scope and scope != "capabilities":
            continue  # RESKEY:, qos:, hw: ... are not about the backend
        if name not in capabilities or not _matches(capabilities[name], str(requirement)):
            return False
    return True
