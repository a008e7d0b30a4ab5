"""RBAC policies: share a network with one project or all (access_as_shared), or make
it usable as an external network by them (access_as_external)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import orm

from monostack.common.context import RequestContext
from monostack.network import exceptions as nexc
from monostack.network import models
from monostack.network.service.base import Events, ServiceBase, owner
from monostack.network.service.networks import EXTERNAL, SHARED

OBJECT_TYPES = ("network",)
ACTIONS = (SHARED, EXTERNAL)


def rbac_dict(row: models.RBACPolicy) -> dict[str, Any]:
    return {"id": row.id, **owner(row), "object_type": row.object_type, "object_id": row.object_id,
            "action": row.action, "target_tenant": row.target_project, "target_project": row.target_project}


class RBACMixin(ServiceBase):
    def _rbac_visible(self, ctx: RequestContext, row: models.RBACPolicy) -> bool:
        return ctx.is_admin or row.project_id == ctx.project_id

    def list_rbac_policies(self, ctx: RequestContext) -> list[dict[str, Any]]:
        with self.db.reader() as session:
            rows = session.scalars(sa.select(models.RBACPolicy).order_by(models.RBACPolicy.id))
            return [rbac_dict(r) for r in rows if self._rbac_visible(ctx, r)]

    def _get_rbac_row(self, session: orm.Session, ctx: RequestContext | None, rbac_id: str) -> models.RBACPolicy:
        row = session.get(models.RBACPolicy, rbac_id)
        if row is None or (ctx is not None and not self._rbac_visible(ctx, row)):
            raise nexc.RbacPolicyNotFound(rbac_id)
        return row

    def get_rbac_policy(self, ctx: RequestContext | None, rbac_id: str) -> dict[str, Any]:
        with self.db.reader() as session:
            return rbac_dict(self._get_rbac_row(session, ctx, rbac_id))

    def create_rbac_policy(self, ctx: RequestContext, body: dict[str, Any]) -> dict[str, Any]:
        def work(session: orm.Session, events: Events) -> dict[str, Any]:
            if body["object_type"] not in OBJECT_TYPES:
                raise nexc.InvalidInput(f"Invalid object_type {body['object_type']}")
            if body["action"] not in ACTIONS:
                raise nexc.InvalidInput(f"Invalid action {body['action']} for object type {body['object_type']}")
            net = session.get(models.Network, body["object_id"])
            if net is None or (not ctx.is_admin and net.project_id != ctx.project_id):
                raise nexc.errors.NotFound(f"Network {body['object_id']} could not be found.",
                                           error_type="NetworkNotFound")
            project = body.get("project_id") or ctx.project_id or net.project_id
            self.check_quota(session, project, "rbac_policy")
            existing = session.scalars(sa.select(models.RBACPolicy).where(
                models.RBACPolicy.object_type == "network", models.RBACPolicy.object_id == net.id,
                models.RBACPolicy.action == body["action"],
                models.RBACPolicy.target_project == body["target_tenant"])).first()
            if existing is not None:
                raise nexc.DuplicateRbacPolicy()
            row = self._add_rbac(session, project, net.id, body["action"], body["target_tenant"])
            if body["action"] == EXTERNAL and not net.external:
                net.external = True
            result = rbac_dict(row)
            events.append(("rbac_policy.create.end", {"rbac_policy": result}))
            events.append(("network.update.end", {"network": {"id": net.id}}))
            return result

        return self.write(work)

    def update_rbac_policy(self, ctx: RequestContext, rbac_id: str, body: dict[str, Any]) -> dict[str, Any]:
        def work(session: orm.Session, events: Events) -> dict[str, Any]:
            row = self._get_rbac_row(session, ctx, rbac_id)
            target = body.get("target_tenant")
            if target is not None and target != row.target_project:
                net = session.get(models.Network, row.object_id)
                if row.action == SHARED and net is not None:
                    self._check_unshare(session, net, row.target_project)
                row.target_project = target
            session.flush()
            return rbac_dict(row)

        return self.write(work)

    def delete_rbac_policy(self, ctx: RequestContext, rbac_id: str) -> None:
        def work(session: orm.Session, events: Events) -> None:
            row = self._get_rbac_row(session, ctx, rbac_id)
            net = session.get(models.Network, row.object_id)
            if net is not None and row.action == SHARED:
                if self._foreign_ports(session, net, row.target_project):
                    raise nexc.RbacPolicyInUse(f"RBAC policy on object {net.id} cannot be removed because other "
                                               "objects depend on it.")
            session.delete(row)
            session.flush()
            if net is not None and row.action == EXTERNAL:
                remaining = session.scalars(sa.select(models.RBACPolicy).where(
                    models.RBACPolicy.object_id == net.id, models.RBACPolicy.action == EXTERNAL)).first()
                if remaining is None:
                    self._check_unexternal(session, net)
                    net.external = False
            events.append(("rbac_policy.delete.end", {"rbac_policy_id": rbac_id}))

        self.write(work)
