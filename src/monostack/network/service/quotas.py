"""Quotas per project: limits (defaults from [network] quota_*), usage, overrides."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import orm

from monostack.network import exceptions as nexc
from monostack.network import models
from monostack.network.service.base import QUOTA_RESOURCES, Events, ServiceBase


class QuotasMixin(ServiceBase):
    def get_quota(self, project_id: str) -> dict[str, Any]:
        with self.db.reader() as session:
            return dict(self.quota_limits(session, project_id))

    def quota_details(self, project_id: str) -> dict[str, Any]:
        with self.db.reader() as session:
            limits = self.quota_limits(session, project_id)
            return {name: {"limit": limit, "used": self.quota_used(session, project_id, name), "reserved": 0}
                    for name, limit in limits.items()}

    def list_quotas(self) -> list[dict[str, Any]]:
        """Projects with quotas of their own (Neutron lists only those)."""
        with self.db.reader() as session:
            projects = sorted(set(session.scalars(sa.select(models.Quota.project_id))))
            return [{**self.quota_limits(session, p), "project_id": p, "tenant_id": p} for p in projects]

    def update_quota(self, project_id: str, values: dict[str, Any]) -> dict[str, Any]:
        def work(session: orm.Session, _events: Events) -> dict[str, Any]:
            for name, value in values.items():
                if name not in QUOTA_RESOURCES:
                    raise nexc.errors.BadRequest(f"Unrecognized attribute(s) '{name}'", error_type="HTTPBadRequest")
                try:
                    limit = int(value)
                except (TypeError, ValueError):
                    raise nexc.errors.BadRequest(f"Invalid input for {name}. Reason: '{value}' is not an "
                                                 "integer.", error_type="HTTPBadRequest") from None
                if limit < -1:
                    raise nexc.errors.BadRequest(f"Invalid input for {name}. Reason: '{limit}' is smaller than "
                                                 "the minimum value -1.", error_type="HTTPBadRequest")
                row = session.get(models.Quota, (project_id, name))
                if row is None:
                    session.add(models.Quota(project_id=project_id, resource=name, limit=limit))
                else:
                    row.limit = limit
            session.flush()
            return dict(self.quota_limits(session, project_id))

        return self.write(work)

    def delete_quota(self, project_id: str) -> None:
        def work(session: orm.Session, _events: Events) -> None:
            session.execute(sa.delete(models.Quota).where(models.Quota.project_id == project_id))

        self.write(work)
