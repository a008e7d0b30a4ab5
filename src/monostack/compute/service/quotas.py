"""Quotas: how much a project (and optionally one user in it) may use.

A limit is found in this order: the user's own row, the project's row, the
"default" quota class, the [quota] option; -1 is unlimited.  Usage is
counted from the rows themselves (servers, server groups, key pairs) inside
the transaction that adds to them, under a per-project lock (`lock`), so two
concurrent requests cannot both take the last unit.  The resources and their names are Nova's, including the
nova-network ones it still shows (always unlimited, never used).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from monostack.common import errors
from monostack.compute import models, states

if TYPE_CHECKING:
    from monostack.compute.service import ComputeService

# Nova's quota resources (sorted, as it lists them) and the [quota] option holding each default.
RESOURCES: dict[str, str | None] = {
    "cores": "cores",
    "fixed_ips": None,
    "floating_ips": None,
    "injected_file_content_bytes": "injected_file_content_bytes",
    "injected_file_path_bytes": "injected_file_path_length",
    "injected_files": "injected_files",
    "instances": "instances",
    "key_pairs": "key_pairs",
    "metadata_items": "metadata_items",
    "ram": "ram",
    "security_group_rules": None,
    "security_groups": None,
    "server_group_members": "server_group_members",
    "server_groups": "server_groups",
}
SERVER_RESOURCES = ("instances", "cores", "ram")
# Counted resources Nova never shows usage for (they are per user or per group).
_NOT_COUNTED_IN_SETS = ("key_pairs", "server_group_members")
DEFAULT_CLASS = "default"
LOCK_RESOURCE = "_lock"


def _over(limit: int, value: int) -> bool:
    return limit >= 0 and value > limit


class QuotaManager:
    def __init__(self, svc: "ComputeService"):
        self.svc = svc

    # -- limits ------------------------------------------------------------------------
    def config_defaults(self) -> dict[str, int]:
        conf = self.svc.conf.quota
        return {name: (int(getattr(conf, option)) if option else -1) for name, option in RESOURCES.items()}

    def class_limits(self, class_name: str, session: Any = None) -> dict[str, int]:
        """A quota class: its rows over the configured defaults."""
        def read(s: Any) -> dict[str, int]:
            rows = s.scalars(sa.select(models.QuotaClass).where(models.QuotaClass.class_name == class_name)).all()
            values = self.config_defaults()
            values.update({row.resource: row.hard_limit for row in rows if row.resource in RESOURCES})
            return values
        if session is not None:
            return read(session)
        with self.svc.db.reader() as s:
            return read(s)

    def defaults(self, session: Any = None) -> dict[str, int]:
        return self.class_limits(DEFAULT_CLASS, session)

    def _rows(self, session: Any, project_id: str, user_id: str | None) -> dict[str, int]:
        query = sa.select(models.Quota).where(models.Quota.project_id == project_id)
        query = query.where(models.Quota.user_id == user_id if user_id else models.Quota.user_id.is_(None))
        return {row.resource: row.hard_limit for row in session.scalars(query).all()}

    def limits(self, session: Any, project_id: str, user_id: str | None = None) -> dict[str, int]:
        """Every resource's limit for the project, or for one user in it."""
        values = self.defaults(session)
        values.update(self._rows(session, project_id, None))
        if user_id:
            values.update(self._rows(session, project_id, user_id))
        return values

    def limit(self, project_id: str, resource: str, user_id: str | None = None) -> int:
        with self.svc.db.reader() as session:
            return self.limits(session, project_id, user_id)[resource]

    # -- usage -------------------------------------------------------------------------
    def server_usage(self, session: Any, project_id: str, user_id: str | None = None) -> dict[str, int]:
        """instances, cores and ram of the live servers (soft-deleted ones free their quota, as in Nova)."""
        query = sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(models.Instance.vcpus), 0),
                          sa.func.coalesce(sa.func.sum(models.Instance.memory_mb), 0)).where(
            models.Instance.project_id == project_id, models.Instance.deleted.is_(False),
            sa.or_(models.Instance.vm_state.is_(None), models.Instance.vm_state != states.SOFT_DELETED))
        if user_id:
            query = query.where(models.Instance.user_id == user_id)
        count, cores, ram = session.execute(query).one()
        return {"instances": int(count), "cores": int(cores), "ram": int(ram)}

    def server_group_count(self, session: Any, project_id: str, user_id: str | None = None) -> int:
        query = sa.select(sa.func.count()).select_from(models.ServerGroup).where(
            models.ServerGroup.project_id == project_id)
        if user_id:
            query = query.where(models.ServerGroup.user_id == user_id)
        return int(session.scalar(query) or 0)

    def usage(self, session: Any, project_id: str, user_id: str | None = None) -> dict[str, int]:
        """What os-quota-sets detail and limits show as in_use."""
        used = {name: 0 for name in RESOURCES}
        used.update(self.server_usage(session, project_id, user_id))
        used["server_groups"] = self.server_group_count(session, project_id, user_id)
        return used

    def details(self, project_id: str, user_id: str | None = None) -> dict[str, dict[str, int]]:
        with self.svc.db.reader() as session:
            limits = self.limits(session, project_id, user_id)
            used = self.usage(session, project_id, user_id)
        return {name: {"limit": limits[name], "in_use": used[name], "reserved": 0} for name in RESOURCES}

    # -- checks ------------------------------------------------------------------------
    def lock(self, session: Any, project_id: str | None) -> None:
        """Serialise the project's quota checks until the caller's transaction ends.

        SQLite writers are serial already; on PostgreSQL and MariaDB (read
        committed) two transactions could otherwise both count the same free
        unit.  The lock is a row of the project's own (resource "_lock", user "",
        never read as a limit), made on first use and then locked FOR UPDATE."""
        if not project_id or session.get_bind().dialect.name == "sqlite":
            return
        lock_row = sa.select(models.Quota).where(models.Quota.project_id == project_id, models.Quota.user_id == "",
                                                 models.Quota.resource == LOCK_RESOURCE)
        if session.scalar(lock_row) is None:
            try:
                with session.begin_nested():
                    session.add(models.Quota(project_id=project_id, user_id="", resource=LOCK_RESOURCE,
                                             hard_limit=0))
            except sa_exc.IntegrityError:
                pass  # made by a concurrent check: lock it below
        session.execute(lock_row.with_for_update())

    def check_servers(self, session: Any, project_id: str, user_id: str, *, instances: int, cores: int,
                      ram: int) -> None:
        """403 (Nova's TooManyInstances text) unless `instances` more servers of that size fit (a resize
        checks its growth with instances=0; resources that do not grow are not checked).

        Runs in the caller's write transaction, so the servers it admits are
        written before anyone else counts."""
        wanted = {"instances": instances, "cores": cores, "ram": ram}
        self.lock(session, project_id)
        scopes: list[tuple[dict[str, int], dict[str, int]]] = [
            (self.limits(session, project_id), self.server_usage(session, project_id))]
        user_rows = self._rows(session, project_id, user_id)
        if any(name in user_rows for name in SERVER_RESOURCES):
            scopes.append((self.limits(session, project_id, user_id), self.server_usage(session, project_id, user_id)))
        for limits, used in scopes:
            overs = sorted(name for name in SERVER_RESOURCES
                           if wanted[name] > 0 and _over(limits[name], used[name] + wanted[name]))
            if overs:
                raise errors.Forbidden(
                    f"Quota exceeded for {', '.join(overs)}: Requested {', '.join(str(wanted[n]) for n in overs)}, "
                    f"but already used {', '.join(str(used[n]) for n in overs)} of "
                    f"{', '.join(str(limits[n]) for n in overs)} {', '.join(overs)}")

    def headroom(self, session: Any, project_id: str, user_id: str, *, vcpus: int, ram: int) -> int:
        """How many more servers of this size fit (a large number when unlimited)."""
        best = 2 ** 31
        scopes = [(self.limits(session, project_id), self.server_usage(session, project_id))]
        user_rows = self._rows(session, project_id, user_id)
        if any(name in user_rows for name in SERVER_RESOURCES):
            scopes.append((self.limits(session, project_id, user_id), self.server_usage(session, project_id, user_id)))
        for limits, used in scopes:
            for name, size in (("instances", 1), ("cores", vcpus), ("ram", ram)):
                if limits[name] >= 0 and size > 0:
                    best = min(best, max(0, (limits[name] - used[name]) // size))
        return best

    def check_metadata(self, count: int, project_id: str | None = None) -> None:
        """403 when a server would have more metadata items than allowed."""
        allowed = self.limit(project_id, "metadata_items") if project_id else self.defaults()["metadata_items"]
        if _over(allowed, count):
            raise errors.Forbidden(f"Maximum number of metadata items exceeds {allowed}")

    def check_key_pairs(self, session: Any, project_id: str | None, user_id: str) -> None:
        """403 when the user has as many key pairs as allowed (in the caller's transaction)."""
        self.lock(session, project_id)
        limits = self.limits(session, project_id, user_id) if project_id else self.defaults(session)
        if _over(limits["key_pairs"], self.svc.keypairs.count(session, user_id) + 1):
            raise errors.Forbidden("Quota exceeded, too many key pairs.")

    def check_server_groups(self, session: Any, project_id: str, user_id: str) -> None:
        self.lock(session, project_id)
        project = self.limits(session, project_id)
        if _over(project["server_groups"], self.server_group_count(session, project_id) + 1):
            raise errors.Forbidden("Quota exceeded, too many server groups.")
        if "server_groups" in self._rows(session, project_id, user_id):
            user = self.limits(session, project_id, user_id)
            if _over(user["server_groups"], self.server_group_count(session, project_id, user_id) + 1):
                raise errors.Forbidden("Quota exceeded, too many server groups.")

    def check_group_members(self, session: Any, project_id: str, user_id: str, members: int) -> None:
        """403 when a server group would hold more of the user's servers than allowed."""
        self.lock(session, project_id)
        if _over(self.limits(session, project_id, user_id)["server_group_members"], members):
            raise errors.Forbidden("Quota exceeded, too many servers in group")

    # -- os-quota-sets -----------------------------------------------------------------
    def settable(self, session: Any, project_id: str, user_id: str | None) -> dict[str, tuple[int, int]]:
        """(minimum, maximum) each limit may be set to (Nova's get_settable_quotas); -1: no maximum."""
        project = self.limits(session, project_id)
        user_limits = session.scalars(sa.select(models.Quota).where(
            models.Quota.project_id == project_id, models.Quota.user_id.is_not(None))).all()
        granted: dict[str, int] = {}
        for row in user_limits:
            if row.hard_limit > 0:
                granted[row.resource] = granted.get(row.resource, 0) + row.hard_limit
        result: dict[str, tuple[int, int]] = {}
        if user_id:
            mine = self._rows(session, project_id, user_id)
            used = self.usage(session, project_id, user_id)
            for name in RESOURCES:
                if project[name] < 0:
                    maximum = -1
                else:
                    maximum = project[name] - granted.get(name, 0) + max(mine.get(name, 0), 0)
                result[name] = (used[name], maximum)
        else:
            used = self.usage(session, project_id)
            for name in RESOURCES:
                result[name] = (max(used[name], granted.get(name, 0)), -1)
        return result

    def update(self, project_id: str, values: dict[str, int], *, user_id: str | None = None,
               force: bool = False) -> dict[str, int]:
        """Set limits (checked against usage unless forced: 400 Nova's text); returns the new limits."""
        with self.svc.db.writer() as session:
            if not force:
                ranges = self.settable(session, project_id, user_id)
                for name, value in values.items():
                    minimum, maximum = ranges[name]
                    if value != -1 and value < minimum:
                        raise errors.BadRequest(f"Quota limit {value} for {name} must be greater than or equal to "
                                                f"already used and reserved {minimum}.")
                    if maximum != -1 and (value == -1 or value > maximum):
                        raise errors.BadRequest(f"Quota limit {value} for {name} must be less than or equal to "
                                                f"{maximum}.")
            existing = {row.resource: row for row in session.scalars(sa.select(models.Quota).where(
                models.Quota.project_id == project_id,
                models.Quota.user_id == user_id if user_id else models.Quota.user_id.is_(None))).all()}
            for name, value in values.items():
                if name in existing:
                    existing[name].hard_limit = value
                else:
                    session.add(models.Quota(project_id=project_id, user_id=user_id, resource=name, hard_limit=value))
            session.flush()
            return self.limits(session, project_id, user_id)

    def delete(self, project_id: str, user_id: str | None = None) -> None:
        """Back to the defaults: the project's rows and all its users' (or one user's rows)."""
        with self.svc.db.writer() as session:
            query = sa.delete(models.Quota).where(models.Quota.project_id == project_id)
            if user_id:
                query = query.where(models.Quota.user_id == user_id)
            session.execute(query)

    def update_class(self, class_name: str, values: dict[str, int]) -> dict[str, int]:
        with self.svc.db.writer() as session:
            existing = {row.resource: row for row in session.scalars(sa.select(models.QuotaClass).where(
                models.QuotaClass.class_name == class_name)).all()}
            for name, value in values.items():
                if name in existing:
                    existing[name].hard_limit = value
                else:
                    session.add(models.QuotaClass(class_name=class_name, resource=name, hard_limit=value))
            session.flush()
            return self.class_limits(class_name, session)
