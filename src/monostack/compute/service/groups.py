"""Server groups: sets of servers the scheduler keeps together (affinity) or
apart (anti-affinity), hard or soft, with an optional max_server_per_host rule.

Servers join a group when they are created (in the create transaction, with
the server_group_members quota) and leave it when they are deleted.
"""

from __future__ import annotations

import uuid as uuidlib
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from monostack.common import errors
from monostack.common.context import RequestContext
from monostack.compute import models
from monostack.compute.service import utcnow

if TYPE_CHECKING:
    from monostack.compute.service import ComputeService

POLICIES = ("affinity", "anti-affinity", "soft-affinity", "soft-anti-affinity")


def _not_found(group_uuid: str) -> errors.NotFound:
    return errors.NotFound(f"Instance group {group_uuid} could not be found.")


class ServerGroupManager:
    def __init__(self, svc: "ComputeService"):
        self.svc = svc

    def _live_members(self, session: Any, rows: list[models.ServerGroup]) -> dict[int, list[tuple[str, str | None]]]:
        """Per group: (server uuid, host) of its members that are not deleted, in joining order."""
        ids = [row.id for row in rows]
        result: dict[int, list[tuple[str, str | None]]] = {i: [] for i in ids}
        if not ids:
            return result
        query = (sa.select(models.ServerGroupMember.group_id, models.Instance.uuid, models.Instance.host)
                 .join(models.Instance, models.Instance.uuid == models.ServerGroupMember.instance_uuid)
                 .where(models.ServerGroupMember.group_id.in_(ids), models.Instance.deleted.is_(False))
                 .order_by(models.Instance.id))
        for group_id, server, host in session.execute(query).all():
            result[group_id].append((server, host))
        return result

    def _to_dict(self, row: models.ServerGroup, members: list[tuple[str, str | None]]) -> dict[str, Any]:
        return {"id": row.uuid, "name": row.name, "policy": row.policy, "policies": [row.policy],
                "rules": dict(row.rules or {}), "members": [m for m, _ in members],
                "hosts": sorted({h for _, h in members if h}), "project_id": row.project_id,
                "user_id": row.user_id}

    def get(self, group_uuid: str, ctx: RequestContext | None = None) -> dict[str, Any]:
        """The group ({"id", "name", "policy", "policies", "rules", "members", "hosts", "project_id",
        "user_id"}); 404 when missing, or (with ctx) another project's and the caller not an admin."""
        with self.svc.db.reader() as session:
            row = session.scalar(sa.select(models.ServerGroup).where(models.ServerGroup.uuid == group_uuid))
            if row is None or (ctx is not None and not ctx.is_admin and row.project_id != ctx.project_id):
                raise _not_found(group_uuid)
            return self._to_dict(row, self._live_members(session, [row])[row.id])

    def group_of(self, instance_uuid: str) -> dict[str, Any] | None:
        with self.svc.db.reader() as session:
            row = session.scalar(sa.select(models.ServerGroup).join(models.ServerGroupMember).where(
                models.ServerGroupMember.instance_uuid == instance_uuid))
            if row is None:
                return None
            return self._to_dict(row, self._live_members(session, [row])[row.id])

    def list(self, project_id: str | None) -> list[dict[str, Any]]:
        """The project's groups (all projects' when None), oldest first."""
        query = sa.select(models.ServerGroup).order_by(models.ServerGroup.id)
        if project_id is not None:
            query = query.where(models.ServerGroup.project_id == project_id)
        with self.svc.db.reader() as session:
            rows = list(session.scalars(query).all())
            members = self._live_members(session, rows)
            return [self._to_dict(row, members[row.id]) for row in rows]

    def create(self, ctx: RequestContext, name: str, policy: str,
               rules: dict[str, Any] | None = None) -> dict[str, Any]:
        if policy not in POLICIES:
            raise errors.BadRequest(f"Invalid server group policy {policy}")
        if rules and policy != "anti-affinity":
            raise errors.BadRequest("Only anti-affinity policy supports rules.")
        with self.svc.db.writer() as session:
            self.svc.quotas.check_server_groups(session, ctx.project_id, ctx.user_id)
            row = models.ServerGroup(uuid=str(uuidlib.uuid4()), name=name, project_id=ctx.project_id,
                                     user_id=ctx.user_id, policy=policy, rules=dict(rules or {}), created_at=utcnow())
            session.add(row)
            session.flush()
            result = self._to_dict(row, [])
        self.svc.notify("servergroup.create", {"server_group_id": result["id"], "name": name, "policy": policy})
        return result

    def delete(self, group_uuid: str) -> None:
        with self.svc.db.writer() as session:
            row = session.scalar(sa.select(models.ServerGroup).where(models.ServerGroup.uuid == group_uuid))
            if row is None:
                raise _not_found(group_uuid)
            session.delete(row)
        self.svc.notify("servergroup.delete", {"server_group_id": group_uuid})

    def add_member(self, session: Any, group_uuid: str, instance_uuid: str, ctx: RequestContext) -> None:
        """Put a server being created into the group, in the creator's transaction (404 unknown group,
        403 over the server_group_members quota, counted over the user's servers in the group)."""
        row = session.scalar(sa.select(models.ServerGroup).where(models.ServerGroup.uuid == group_uuid))
        if row is None:
            raise _not_found(group_uuid)
        session.flush()  # the new server row must be visible to the count
        mine = session.scalar(
            sa.select(sa.func.count()).select_from(models.ServerGroupMember)
            .join(models.Instance, models.Instance.uuid == models.ServerGroupMember.instance_uuid)
            .where(models.ServerGroupMember.group_id == row.id, models.Instance.deleted.is_(False),
                   models.Instance.user_id == ctx.user_id)) or 0
        self.svc.quotas.check_group_members(session, ctx.project_id or row.project_id, ctx.user_id, int(mine) + 1)
        session.add(models.ServerGroupMember(group_id=row.id, instance_uuid=instance_uuid))

    def remove_member(self, session: Any, instance_uuid: str) -> None:
        session.execute(sa.delete(models.ServerGroupMember).where(
            models.ServerGroupMember.instance_uuid == instance_uuid))
