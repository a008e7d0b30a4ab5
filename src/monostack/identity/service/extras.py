"""Endpoint filtering (OS-EP-FILTER), endpoint policies, /v3/policies, limits,
domain configuration and federation objects."""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa

from monostack.identity import models

if TYPE_CHECKING:
    from monostack.identity.service import IdentityService


class ExtrasManager:
    def __init__(self, svc: "IdentityService"):
        self.svc = svc

    def endpoints_for_project(self, project_id: str) -> set[str] | None:
        """Endpoint ids a project's catalog is limited to, or None when it is not filtered."""
        with self.svc.db.reader() as session:
            ids = set(session.scalars(sa.select(models.ProjectEndpoint.endpoint_id).where(
                models.ProjectEndpoint.project_id == project_id)))
        return ids or None
