"""Quotas: limits per project (defaults from the options and the 'default' quota
class, overrides per project) and usage counted from the rows themselves, so a
crash can never leave a usage counter out of step.  Checks run inside the write
transaction that inserts the row they guard."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import orm

from monostack.common import errors
from monostack.volume import models

BASE = ("volumes", "snapshots", "gigabytes", "backups", "backup_gigabytes", "groups", "per_volume_gigabytes")
PER_TYPE = ("volumes", "snapshots", "gigabytes")
OPTION = {"volumes": "quota_volumes", "snapshots": "quota_snapshots", "gigabytes": "quota_gigabytes",
          "backups": "quota_backups", "backup_gigabytes": "quota_backup_gigabytes", "groups": "quota_groups",
          "per_volume_gigabytes": "per_volume_size_limit"}


class OverQuota(errors.OverLimit):
    pass


# A quotas row per project that concurrent writers lock on MariaDB (never a limit: not a resource name).
LOCK_ROW = "_lock"


class Quotas:
    def __init__(self, svc: Any):
        self.svc = svc

    # -- limits -------------------------------------------------------------------------
    def resources(self, session: orm.Session) -> list[str]:
        names = list(BASE)
        for (type_name,) in session.query(models.VolumeType.name).order_by(models.VolumeType.name):
            names += [f"{base}_{type_name}" for base in PER_TYPE]
        return names

    def defaults(self, session: orm.Session, class_name: str = "default") -> dict[str, int]:
        conf = self.svc.conf.volume
        limits = {name: (getattr(conf, OPTION[name]) if name in OPTION else -1) for name in self.resources(session)}
        for row in session.query(models.QuotaClass).filter_by(class_name="default"):
            if row.resource in limits:
                limits[row.resource] = row.hard_limit
        if class_name != "default":
            for row in session.query(models.QuotaClass).filter_by(class_name=class_name):
                if row.resource in limits:
                    limits[row.resource] = row.hard_limit
        return limits

    def limits(self, session: orm.Session, project_id: str) -> dict[str, int]:
        limits = self.defaults(session)
        for row in session.query(models.Quota).filter_by(project_id=project_id):
            if row.resource in limits:
                limits[row.resource] = row.hard_limit
        return limits

    # -- usage --------------------------------------------------------------------------
    def usage(self, session: orm.Session, project_id: str) -> dict[str, int]:
        used = {name: 0 for name in self.resources(session)}
        type_names = dict(session.query(models.VolumeType.id, models.VolumeType.name))
        rows = session.query(models.Volume.volume_type_id, sa.func.count(), sa.func.coalesce(
            sa.func.sum(models.Volume.size), 0)).filter_by(project_id=project_id).group_by(
            models.Volume.volume_type_id)
        for type_id, count, size in rows:
            used["volumes"] += count
            used["gigabytes"] += int(size)
            name = type_names.get(type_id)
            if name is not None:
                used[f"volumes_{name}"] += count
                used[f"gigabytes_{name}"] += int(size)
        snaps = session.query(models.Volume.volume_type_id, sa.func.count(), sa.func.coalesce(
            sa.func.sum(models.Snapshot.volume_size), 0)).join(
            models.Volume, models.Volume.id == models.Snapshot.volume_id, isouter=True).filter(
            models.Snapshot.project_id == project_id).group_by(models.Volume.volume_type_id)
        for type_id, count, size in snaps:
            used["snapshots"] += count
            used["gigabytes"] += int(size)
            name = type_names.get(type_id)
            if name is not None:
                used[f"snapshots_{name}"] += count
                used[f"gigabytes_{name}"] += int(size)
        count, size = session.query(sa.func.count(), sa.func.coalesce(sa.func.sum(models.Backup.size), 0)).filter(
            models.Backup.project_id == project_id).one()
        used["backups"], used["backup_gigabytes"] = count, int(size)
        return used

    # -- checks -------------------------------------------------------------------------
    def lock(self, session: orm.Session, project_id: str) -> None:
        """Serialise the project's quota checks until this transaction ends, so that two
        concurrent creates cannot both pass a check the sum of them breaks.  SQLite writers
        are serialised already; PostgreSQL takes an advisory transaction lock; MariaDB locks
        the project's LOCK_ROW (made, in a transaction of its own, the first time)."""
        dialect = session.get_bind().dialect.name
        if dialect == "postgresql":
            session.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext(:key))"),
                            {"key": f"volume-quota:{project_id}"})
        elif dialect == "mysql":
            if session.get(models.Quota, (project_id, LOCK_ROW)) is None:
                try:
                    with self.svc.db.writer() as other:
                        other.add(models.Quota(project_id=project_id, resource=LOCK_ROW, hard_limit=0))
                except sa.exc.IntegrityError:
                    pass  # another writer made it first
            session.query(models.Quota).filter_by(project_id=project_id, resource=LOCK_ROW).with_for_update().one()

    def check_volume(self, session: orm.Session, project_id: str, size: int, type_name: str | None,
                     count: int = 1) -> None:
        """Cinder's checks and texts for a new (or incoming) volume of `size` GiB."""
        self.lock(session, project_id)
        limits = self.limits(session, project_id)
        per_volume = limits.get("per_volume_gigabytes", -1)
        if per_volume >= 0 and size > per_volume:
            raise OverQuota(f"VolumeSizeExceedsLimit: Requested volume size {size}G is larger than maximum "
                            f"allowed limit {per_volume}G.")
        used = self.usage(session, project_id)
        for name in ("gigabytes", f"gigabytes_{type_name}"):
            limit = limits.get(name, -1)
            if limit >= 0 and used.get(name, 0) + size > limit:
                raise OverQuota(f"VolumeSizeExceedsAvailableQuota: Requested volume or snapshot exceeds allowed "
                                f"{name} quota. Requested {size}G, quota is {limit}G and {used.get(name, 0)}G "
                                f"has been consumed.")
        for name in ("volumes", f"volumes_{type_name}"):
            limit = limits.get(name, -1)
            if limit >= 0 and used.get(name, 0) + count > limit:
                raise OverQuota(f"VolumeLimitExceeded: Maximum number of volumes allowed ({limit}) exceeded for "
                                f"quota '{name}'.")

    def check_snapshot(self, session: orm.Session, project_id: str, size: int, type_name: str | None) -> None:
        self.lock(session, project_id)
        limits = self.limits(session, project_id)
        used = self.usage(session, project_id)
        for name in ("gigabytes", f"gigabytes_{type_name}"):
            limit = limits.get(name, -1)
            if limit >= 0 and used.get(name, 0) + size > limit:
                raise OverQuota(f"VolumeSizeExceedsAvailableQuota: Requested volume or snapshot exceeds allowed "
                                f"{name} quota. Requested {size}G, quota is {limit}G and {used.get(name, 0)}G "
                                f"has been consumed.")
        for name in ("snapshots", f"snapshots_{type_name}"):
            limit = limits.get(name, -1)
            if limit >= 0 and used.get(name, 0) + 1 > limit:
                raise OverQuota(f"SnapshotLimitExceeded: Maximum number of snapshots allowed ({limit}) exceeded")

    def check_backup(self, session: orm.Session, project_id: str, size: int) -> None:
        self.lock(session, project_id)
        limits = self.limits(session, project_id)
        used = self.usage(session, project_id)
        limit = limits["backup_gigabytes"]
        if limit >= 0 and used["backup_gigabytes"] + size > limit:
            raise OverQuota(f"VolumeBackupSizeExceedsAvailableQuota: Requested backup exceeds allowed Backup "
                            f"gigabytes quota. Requested {size}G, quota is {limit}G and "
                            f"{used['backup_gigabytes']}G has been consumed.")
        limit = limits["backups"]
        if limit >= 0 and used["backups"] + 1 > limit:
            raise OverQuota(f"BackupLimitExceeded: Maximum number of backups allowed ({limit}) exceeded")

    def check_extend(self, session: orm.Session, project_id: str, delta: int, type_name: str | None,
                     new_size: int) -> None:
        self.lock(session, project_id)
        limits = self.limits(session, project_id)
        per_volume = limits.get("per_volume_gigabytes", -1)
        if per_volume >= 0 and new_size > per_volume:
            raise OverQuota(f"VolumeSizeExceedsLimit: Requested volume size {new_size}G is larger than maximum "
                            f"allowed limit {per_volume}G.")
        used = self.usage(session, project_id)
        for name in ("gigabytes", f"gigabytes_{type_name}"):
            limit = limits.get(name, -1)
            if limit >= 0 and used.get(name, 0) + delta > limit:
                raise OverQuota(f"VolumeSizeExceedsAvailableQuota: Requested volume or snapshot exceeds allowed "
                                f"{name} quota. Requested {delta}G, quota is {limit}G and {used.get(name, 0)}G "
                                f"has been consumed.")

    # -- the quota-sets API ------------------------------------------------------------------
    def show(self, project_id: str, *, usage: bool = False, defaults: bool = False) -> dict[str, Any]:
        with self.svc.db.reader() as session:
            limits = self.defaults(session) if defaults else self.limits(session, project_id)
            if not usage:
                return limits
            used = self.usage(session, project_id)
            return {name: {"limit": limit, "in_use": used.get(name, 0), "reserved": 0, "allocated": 0}
                    for name, limit in limits.items()}

    def update(self, project_id: str, values: dict[str, Any], *, skip_validation: bool = True) -> dict[str, int]:
        with self.svc.db.writer() as session:
            known = set(self.resources(session))
            parsed: dict[str, int] = {}
            for name, value in values.items():
                if name not in known:
                    raise errors.BadRequest(f"Invalid input received: Bad key(s) in quota set: {name}")
                try:
                    number = int(value)
                    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                        raise ValueError
                except (TypeError, ValueError):
                    raise errors.BadRequest(f"Invalid input received: Quota '{name}' value must be an integer "
                                            f"(got {value!r}).") from None
                if number < -1:
                    raise errors.BadRequest(f"Invalid input received: Quota limit {number} for {name} must be "
                                            f"greater than or equal to -1.")
                parsed[name] = number
            if not skip_validation:
                used = self.usage(session, project_id)
                for name, number in parsed.items():
                    if number != -1 and name != "per_volume_gigabytes" and used.get(name, 0) > number:
                        raise errors.BadRequest(f"Invalid input received: Quota limit must be greater than "
                                                f"current usage {used[name]} for {name}.")
            for name, number in parsed.items():
                row = session.get(models.Quota, (project_id, name))
                if row is None:
                    session.add(models.Quota(project_id=project_id, resource=name, hard_limit=number))
                else:
                    row.hard_limit = number
            session.flush()
            return self.limits(session, project_id)

    def reset(self, project_id: str) -> None:
        with self.svc.db.writer() as session:
            session.query(models.Quota).filter_by(project_id=project_id).delete()

    def show_class(self, class_name: str) -> dict[str, int]:
        with self.svc.db.reader() as session:
            return self.defaults(session, class_name)

    def update_class(self, class_name: str, values: dict[str, Any]) -> dict[str, int]:
        with self.svc.db.writer() as session:
            known = set(self.resources(session))
            for name, value in values.items():
                if name not in known:
                    continue  # Cinder ignores unknown keys in quota classes
                try:
                    number = int(value)
                except (TypeError, ValueError):
                    raise errors.BadRequest(f"Invalid input received: Quota '{name}' value must be an "
                                            f"integer.") from None
                if number < -1:
                    raise errors.BadRequest(f"Invalid input received: Quota limit {number} for {name} must be "
                                            f"greater than or equal to -1.")
                row = session.get(models.QuotaClass, (class_name, name))
                if row is None:
                    session.add(models.QuotaClass(class_name=class_name, resource=name, hard_limit=number))
                else:
                    row.hard_limit = number
            session.flush()
            return self.defaults(session, class_name)
