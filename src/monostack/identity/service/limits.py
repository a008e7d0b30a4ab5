"""Unified limits: registered (default) limits and project/domain limits.

A registered limit is unique per (service, region, resource); a limit
overrides one for a project or a domain and needs the registered limit to
exist.  A registered limit that limits refer to cannot be changed or deleted
(Keystone's RegisteredLimitError, 403).  The enforcement model is "flat":
no hierarchy checks.  Nova, Glance, ... read these through oslo.limit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import orm

from monostack.common import errors
from monostack.identity import models
from monostack.identity.service import checks, new_id
from monostack.identity.service.util import apply_filters

if TYPE_CHECKING:
    from monostack.identity.service import IdentityService

MODEL = {"name": "flat",
         "description": "Limit enforcement and validation does not take project hierarchy into consideration."}
REGISTERED_FIELDS = ("service_id", "region_id", "resource_name", "default_limit", "description")
LIMIT_FIELDS = ("service_id", "region_id", "resource_name", "resource_limit", "description", "project_id",
                "domain_id")


def registered_dict(row: models.RegisteredLimit) -> dict[str, Any]:
    return {"id": row.id, "service_id": row.service_id, "region_id": row.region_id,
            "resource_name": row.resource_name, "default_limit": row.default_limit, "description": row.description}


def limit_dict(row: models.Limit) -> dict[str, Any]:
    return {"id": row.id, "project_id": row.project_id, "domain_id": row.domain_id, "service_id": row.service_id,
            "region_id": row.region_id, "resource_name": row.resource_name,
            "resource_limit": row.resource_limit, "description": row.description}


def _null_safe(column: Any, value: Any) -> Any:
    return column.is_(None) if value is None else column == value


def _entries(body: Any, key: str) -> list[dict[str, Any]]:
    if not isinstance(body, list) or not body or not all(isinstance(e, dict) for e in body):
        raise errors.ValidationError(f"Invalid input for field '{key}': a non-empty list of objects is required.")
    return body


def _check_common(ref: dict[str, Any], *, partial: bool) -> None:
    checks.string(ref, "service_id", required=not partial, min_length=1, max_length=64)
    checks.string(ref, "region_id", nullable=True, min_length=1, max_length=255)
    checks.string(ref, "resource_name", required=not partial, min_length=1, max_length=255)
    checks.string(ref, "description", nullable=True)


class LimitManager:
    def __init__(self, svc: "IdentityService"):
        self.svc = svc

    # -- shared checks ------------------------------------------------------------
    @staticmethod
    def _references(session: orm.Session, ref: dict[str, Any], target: str) -> None:
        """The service, region, project or domain named must exist (else 400, as Keystone)."""
        if ref.get("service_id") is not None and session.get(models.Service, ref["service_id"]) is None:
            raise errors.ValidationError(f"Invalid input for field 'service_id' in {target}: no such service.")
        if ref.get("region_id") is not None and session.get(models.Region, ref["region_id"]) is None:
            raise errors.ValidationError(f"Invalid input for field 'region_id' in {target}: no such region.")
        if ref.get("project_id") is not None:
            project = session.get(models.Project, ref["project_id"])
            if project is None:
                raise errors.ValidationError(f"Invalid input for field 'project_id' in {target}: no such project.")
            if project.is_domain:  # a domain given as a project: a domain limit
                ref["domain_id"] = ref.pop("project_id")
        if ref.get("domain_id") is not None:
            domain = session.get(models.Project, ref["domain_id"])
            if domain is None or not domain.is_domain:
                raise errors.ValidationError(f"Invalid input for field 'domain_id' in {target}: no such domain.")

    @staticmethod
    def _registered_for(session: orm.Session, service_id: str, region_id: str | None,
                        resource_name: str) -> models.RegisteredLimit | None:
        return session.scalar(sa.select(models.RegisteredLimit).where(
            models.RegisteredLimit.service_id == service_id,
            _null_safe(models.RegisteredLimit.region_id, region_id),
            models.RegisteredLimit.resource_name == resource_name))

    @staticmethod
    def _limits_of(session: orm.Session, row: models.RegisteredLimit) -> bool:
        return session.scalar(sa.select(models.Limit.id).where(
            models.Limit.service_id == row.service_id, _null_safe(models.Limit.region_id, row.region_id),
            models.Limit.resource_name == row.resource_name).limit(1)) is not None

    # -- registered limits ----------------------------------------------------------
    def _registered(self, session: orm.Session, registered_limit_id: str) -> models.RegisteredLimit:
        row = session.get(models.RegisteredLimit, registered_limit_id)
        if row is None:
            raise errors.NotFound(f"Could not find registered limit for {registered_limit_id}.")
        return row

    def create_registered_limits(self, body: Any) -> list[dict[str, Any]]:
        entries = _entries(body, "registered_limits")
        for ref in entries:
            checks.only(ref, REGISTERED_FIELDS, "registered_limit")
            _check_common(ref, partial=False)
            checks.integer(ref, "default_limit", required=True)
        created = []
        with self.svc.db.writer() as session:
            for ref in entries:
                self._references(session, ref, "registered_limit")
                if self._registered_for(session, ref["service_id"], ref.get("region_id"), ref["resource_name"]):
                    raise errors.Conflict("Conflict occurred attempting to store registered_limit - Duplicate entry.")
                row = models.RegisteredLimit(id=new_id(), service_id=ref["service_id"], region_id=ref.get("region_id"),
                                             resource_name=ref["resource_name"], default_limit=ref["default_limit"],
                                             description=ref.get("description"))
                session.add(row)
                session.flush()
                created.append(registered_dict(row))
        for entry in created:
            self.svc.changed("registered_limit", "created", entry["id"])
        return created

    def get_registered_limit(self, registered_limit_id: str) -> dict[str, Any]:
        with self.svc.db.reader() as session:
            return registered_dict(self._registered(session, registered_limit_id))

    def list_registered_limits(self, filters: dict[str, Any]) -> list[dict[str, Any]]:
        with self.svc.db.reader() as session:
            rows = session.scalars(sa.select(models.RegisteredLimit).order_by(models.RegisteredLimit.id)).all()
            result = [registered_dict(r) for r in rows]
        return apply_filters(result, filters, ("service_id", "region_id", "resource_name"))

    def update_registered_limit(self, registered_limit_id: str, ref: dict[str, Any]) -> dict[str, Any]:
        checks.only(ref, REGISTERED_FIELDS + ("id",), "registered_limit")
        checks.matching_id(ref, registered_limit_id)
        _check_common(ref, partial=True)
        checks.integer(ref, "default_limit")
        with self.svc.db.writer() as session:
            row = self._registered(session, registered_limit_id)
            self._references(session, ref, "registered_limit")
            if self._limits_of(session, row):
                raise errors.Forbidden(f"Unable to update or delete registered limit {registered_limit_id} because "
                                       f"there are project limits associated with it.")
            service_id = ref.get("service_id", row.service_id)
            region_id = ref["region_id"] if "region_id" in ref else row.region_id
            resource_name = ref.get("resource_name", row.resource_name)
            clash = self._registered_for(session, service_id, region_id, resource_name)
            if clash is not None and clash.id != row.id:
                raise errors.Conflict("Conflict occurred attempting to store registered_limit - Duplicate entry.")
            row.service_id, row.region_id, row.resource_name = service_id, region_id, resource_name
            if "default_limit" in ref:
                row.default_limit = ref["default_limit"]
            if "description" in ref:
                row.description = ref["description"]
            session.flush()
            result = registered_dict(row)
        self.svc.changed("registered_limit", "updated", registered_limit_id)
        return result

    def delete_registered_limit(self, registered_limit_id: str) -> None:
        with self.svc.db.writer() as session:
            row = self._registered(session, registered_limit_id)
            if self._limits_of(session, row):
                raise errors.Forbidden(f"Unable to update or delete registered limit {registered_limit_id} because "
                                       f"there are project limits associated with it.")
            session.delete(row)
        self.svc.changed("registered_limit", "deleted", registered_limit_id)

    # -- limits --------------------------------------------------------------------
    def _limit(self, session: orm.Session, limit_id: str) -> models.Limit:
        row = session.get(models.Limit, limit_id)
        if row is None:
            raise errors.NotFound(f"Could not find limit for {limit_id}.")
        return row

    def create_limits(self, body: Any) -> list[dict[str, Any]]:
        entries = [dict(e) for e in _entries(body, "limits")]
        for ref in entries:
            checks.only(ref, LIMIT_FIELDS, "limit")
            _check_common(ref, partial=False)
            checks.integer(ref, "resource_limit", required=True)
            checks.string(ref, "project_id", nullable=True, max_length=64)
            checks.string(ref, "domain_id", nullable=True, max_length=64)
            if (ref.get("project_id") is None) == (ref.get("domain_id") is None):
                raise errors.ValidationError("Invalid input for limit: exactly one of project_id and domain_id "
                                             "is required.")
        created = []
        with self.svc.db.writer() as session:
            for ref in entries:
                self._references(session, ref, "limit")
                if self._registered_for(session, ref["service_id"], ref.get("region_id"),
                                        ref["resource_name"]) is None:
                    raise errors.Forbidden("Unable to create a limit that has no corresponding registered limit.")
                owner = (models.Limit.project_id == ref["project_id"] if ref.get("project_id")
                         else models.Limit.domain_id == ref["domain_id"])
                if session.scalar(sa.select(models.Limit.id).where(
                        owner, models.Limit.service_id == ref["service_id"],
                        _null_safe(models.Limit.region_id, ref.get("region_id")),
                        models.Limit.resource_name == ref["resource_name"])):
                    raise errors.Conflict("Conflict occurred attempting to store limit - Duplicate entry.")
                row = models.Limit(id=new_id(), project_id=ref.get("project_id"), domain_id=ref.get("domain_id"),
                                   service_id=ref["service_id"], region_id=ref.get("region_id"),
                                   resource_name=ref["resource_name"], resource_limit=ref["resource_limit"],
                                   description=ref.get("description"))
                session.add(row)
                session.flush()
                created.append(limit_dict(row))
        for entry in created:
            self.svc.changed("limit", "created", entry["id"])
        return created

    def get_limit(self, limit_id: str) -> dict[str, Any]:
        with self.svc.db.reader() as session:
            return limit_dict(self._limit(session, limit_id))

    def list_limits(self, filters: dict[str, Any], *, project_ids: set[str] | None = None,
                    domain_id: str | None = None) -> list[dict[str, Any]]:
        """All limits matching the filters; `project_ids`/`domain_id` narrow them to what a
        non-admin caller may see (its project, or its domain and the domain's projects)."""
        with self.svc.db.reader() as session:
            rows = session.scalars(sa.select(models.Limit).order_by(models.Limit.id)).all()
            result = [limit_dict(r) for r in rows]
        if project_ids is not None or domain_id is not None:
            result = [r for r in result if (r["project_id"] and r["project_id"] in (project_ids or set()))
                      or (domain_id and r["domain_id"] == domain_id)]
        return apply_filters(result, filters, ("service_id", "region_id", "resource_name", "project_id", "domain_id"))

    def projects_in_domain(self, domain_id: str) -> set[str]:
        with self.svc.db.reader() as session:
            return set(session.scalars(sa.select(models.Project.id).where(
                models.Project.domain_id == domain_id, models.Project.is_domain.is_(False))))

    def update_limit(self, limit_id: str, ref: dict[str, Any]) -> dict[str, Any]:
        checks.only(ref, ("resource_limit", "description", "id"), "limit")
        checks.matching_id(ref, limit_id)
        checks.integer(ref, "resource_limit")
        checks.string(ref, "description", nullable=True)
        with self.svc.db.writer() as session:
            row = self._limit(session, limit_id)
            if "resource_limit" in ref:
                row.resource_limit = ref["resource_limit"]
            if "description" in ref:
                row.description = ref["description"]
            session.flush()
            result = limit_dict(row)
        self.svc.changed("limit", "updated", limit_id)
        return result

    def delete_limit(self, limit_id: str) -> None:
        with self.svc.db.writer() as session:
            session.delete(self._limit(session, limit_id))
        self.svc.changed("limit", "deleted", limit_id)

    def model(self) -> dict[str, str]:
        return dict(MODEL)

    # -- cleanup hooks (called inside the deleting transaction) ------------------
    @staticmethod
    def delete_for_project(session: orm.Session, project_id: str) -> None:
        session.execute(sa.delete(models.Limit).where(
            sa.or_(models.Limit.project_id == project_id, models.Limit.domain_id == project_id)))
