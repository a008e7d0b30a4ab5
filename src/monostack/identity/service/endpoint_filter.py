"""OS-EP-FILTER: endpoint groups and project <-> endpoint(-group) associations.

A project with associations (direct, or through endpoint groups whose filters
match endpoints) gets only those endpoints in its token catalog; a project
with none, or whose associations match no endpoint, gets the whole catalog
(Keystone's `return_all_endpoints_if_no_filter`).  Associations left behind by
a deleted project or endpoint are ignored here and removed by the
`delete_for_*` hooks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import orm

from monostack.common import errors
from monostack.identity import models
from monostack.identity.service import checks, new_id
from monostack.identity.service.catalog import INTERFACES, endpoint_dict
from monostack.identity.service.resources import project_dict
from monostack.identity.service.util import apply_filters

if TYPE_CHECKING:
    from monostack.identity.service import IdentityService

FILTER_KEYS = ("service_id", "region_id", "interface")
GROUP_FIELDS = ("name", "description", "filters")


def group_dict(row: models.EndpointGroup) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "description": row.description, "filters": dict(row.filters or {})}


def public_endpoint(row: models.Endpoint) -> dict[str, Any]:
    """An endpoint as the OS-EP-FILTER lists show it (no legacy id)."""
    data = endpoint_dict(row)
    data.pop("legacy_endpoint_id", None)
    return data


def matches(endpoint: models.Endpoint, filters: dict[str, Any]) -> bool:
    return all(getattr(endpoint, key) == value for key, value in filters.items())


def _validate_filters(filters: Any) -> dict[str, Any]:
    if not isinstance(filters, dict):
        raise checks.invalid("filters", f"{filters!r} is not of type 'object'")
    if not filters:
        raise errors.ValidationError("filters field is required and cannot be empty")
    for key, value in filters.items():
        if key not in FILTER_KEYS:
            raise errors.ValidationError(f"Expecting to find {' or '.join(FILTER_KEYS)} in endpoint_group. The server "
                                         f"could not comply with the request since it is either malformed or "
                                         f"otherwise incorrect.")
        if key == "interface" and value not in INTERFACES:
            raise checks.invalid("filters.interface", f"{value!r} is not one of {list(INTERFACES)}")
        if key == "service_id" and not isinstance(value, str):
            raise checks.invalid("filters.service_id", f"{value!r} is not of type 'string'")
        if key == "region_id" and value is not None and not isinstance(value, str):
            raise checks.invalid("filters.region_id", f"{value!r} is not of type 'string', 'null'")
    return dict(filters)


class EndpointFilterManager:
    def __init__(self, svc: "IdentityService"):
        self.svc = svc

    # -- lookups -------------------------------------------------------------
    @staticmethod
    def _group(session: orm.Session, group_id: str) -> models.EndpointGroup:
        row = session.get(models.EndpointGroup, group_id)
        if row is None:
            raise errors.NotFound(f"Could not find Endpoint Group: {group_id}.")
        return row

    @staticmethod
    def _project(session: orm.Session, project_id: str) -> models.Project:
        """A project, or a domain acting as one (Keystone's get_project)."""
        row = session.get(models.Project, project_id)
        if row is None:
            raise errors.NotFound(f"Could not find project: {project_id}.")
        return row

    @staticmethod
    def _endpoint(session: orm.Session, endpoint_id: str) -> models.Endpoint:
        row = session.get(models.Endpoint, endpoint_id)
        if row is None:
            raise errors.NotFound(f"Could not find endpoint: {endpoint_id}.")
        return row

    def _group_endpoints(self, session: orm.Session, groups: list[models.EndpointGroup]) -> list[models.Endpoint]:
        if not groups:
            return []
        endpoints = session.scalars(sa.select(models.Endpoint).order_by(models.Endpoint.id)).all()
        return [e for e in endpoints if any(matches(e, g.filters or {}) for g in groups)]

    def _project_endpoints(self, session: orm.Session, project_id: str) -> list[models.Endpoint]:
        direct = session.scalars(sa.select(models.Endpoint).join(
            models.ProjectEndpoint, models.ProjectEndpoint.endpoint_id == models.Endpoint.id).where(
            models.ProjectEndpoint.project_id == project_id).order_by(models.Endpoint.id)).all()
        membership = models.ProjectEndpointGroup
        groups = session.scalars(sa.select(models.EndpointGroup).join(
            membership, membership.endpoint_group_id == models.EndpointGroup.id).where(
            membership.project_id == project_id)).all()
        found = {e.id: e for e in direct}
        for endpoint in self._group_endpoints(session, list(groups)):
            found.setdefault(endpoint.id, endpoint)
        return list(found.values())

    # -- the catalog filter --------------------------------------------------
    def endpoints_for_project(self, project_id: str) -> set[str] | None:
        with self.svc.db.reader() as session:
            ids = {e.id for e in self._project_endpoints(session, project_id)}
        return ids or None

    # -- endpoint groups -------------------------------------------------------
    def create_group(self, ref: dict[str, Any]) -> dict[str, Any]:
        checks.only(ref, GROUP_FIELDS, "endpoint_group")
        name = checks.string(ref, "name", required=True, min_length=1, max_length=255)
        description = checks.string(ref, "description", nullable=True)
        if not ref.get("filters"):
            raise errors.ValidationError("filters field is required and cannot be empty")
        filters = _validate_filters(ref["filters"])
        group_id = new_id()
        with self.svc.db.writer() as session:
            row = models.EndpointGroup(id=group_id, name=name, description=description, filters=filters)
            session.add(row)
            session.flush()
            result = group_dict(row)
        self.svc.changed("endpoint_group", "created", group_id)
        return result

    def get_group(self, group_id: str) -> dict[str, Any]:
        with self.svc.db.reader() as session:
            return group_dict(self._group(session, group_id))

    def list_groups(self, filters: dict[str, Any]) -> list[dict[str, Any]]:
        with self.svc.db.reader() as session:
            rows = session.scalars(sa.select(models.EndpointGroup).order_by(models.EndpointGroup.name)).all()
            groups = [group_dict(r) for r in rows]
        return apply_filters(groups, filters, ("name",))

    def update_group(self, group_id: str, ref: dict[str, Any]) -> dict[str, Any]:
        checks.only(ref, GROUP_FIELDS + ("id",), "endpoint_group")
        checks.matching_id(ref, group_id)
        checks.not_empty(ref, "endpoint_group")
        name = checks.string(ref, "name", min_length=1, max_length=255)
        description = checks.string(ref, "description", nullable=True)
        filters = _validate_filters(ref["filters"]) if "filters" in ref else None
        with self.svc.db.writer() as session:
            row = self._group(session, group_id)
            if name is not None:
                row.name = name
            if "description" in ref:
                row.description = description
            if filters is not None:
                row.filters = filters
            session.flush()
            result = group_dict(row)
        self.svc.changed("endpoint_group", "updated", group_id)
        return result

    def delete_group(self, group_id: str) -> None:
        with self.svc.db.writer() as session:
            row = self._group(session, group_id)
            session.execute(sa.delete(models.ProjectEndpointGroup).where(
                models.ProjectEndpointGroup.endpoint_group_id == group_id))
            session.delete(row)
        self.svc.changed("endpoint_group", "deleted", group_id)

    def endpoints_in_group(self, group_id: str) -> list[dict[str, Any]]:
        with self.svc.db.reader() as session:
            group = self._group(session, group_id)
            return [public_endpoint(e) for e in self._group_endpoints(session, [group])]

    def projects_for_group(self, group_id: str) -> list[dict[str, Any]]:
        with self.svc.db.reader() as session:
            self._group(session, group_id)
            rows = session.scalars(sa.select(models.Project).join(
                models.ProjectEndpointGroup, models.ProjectEndpointGroup.project_id == models.Project.id).where(
                models.ProjectEndpointGroup.endpoint_group_id == group_id).order_by(models.Project.name)).all()
            return [project_dict(r) for r in rows]

    def groups_for_project(self, project_id: str) -> list[dict[str, Any]]:
        with self.svc.db.reader() as session:
            self._project(session, project_id)
            rows = session.scalars(sa.select(models.EndpointGroup).join(
                models.ProjectEndpointGroup,
                models.ProjectEndpointGroup.endpoint_group_id == models.EndpointGroup.id).where(
                models.ProjectEndpointGroup.project_id == project_id).order_by(models.EndpointGroup.name)).all()
            return [group_dict(r) for r in rows]

    # -- endpoint group <-> project ------------------------------------------
    def add_group_to_project(self, group_id: str, project_id: str) -> None:
        with self.svc.db.writer() as session:
            self._project(session, project_id)
            self._group(session, group_id)
            if session.get(models.ProjectEndpointGroup, (group_id, project_id)) is not None:
                raise errors.Conflict("Conflict occurred attempting to store project_endpoint_group - "
                                      "Duplicate entry.")
            session.add(models.ProjectEndpointGroup(endpoint_group_id=group_id, project_id=project_id))
        self.svc.changed("project_endpoint_group", "created", f"{group_id}/{project_id}")

    def get_group_in_project(self, group_id: str, project_id: str) -> dict[str, Any]:
        with self.svc.db.reader() as session:
            self._project(session, project_id)
            self._group(session, group_id)
            if session.get(models.ProjectEndpointGroup, (group_id, project_id)) is None:
                raise errors.NotFound("Endpoint Group Project Association not found")
        return {"endpoint_group_id": group_id, "project_id": project_id}

    def remove_group_from_project(self, group_id: str, project_id: str) -> None:
        with self.svc.db.writer() as session:
            self._project(session, project_id)
            self._group(session, group_id)
            row = session.get(models.ProjectEndpointGroup, (group_id, project_id))
            if row is None:
                raise errors.NotFound("Endpoint Group Project Association not found")
            session.delete(row)
        self.svc.changed("project_endpoint_group", "deleted", f"{group_id}/{project_id}")

    # -- endpoint <-> project ----------------------------------------------------
    def add_endpoint_to_project(self, project_id: str, endpoint_id: str) -> None:
        """Idempotent: adding an existing association is not an error."""
        with self.svc.db.writer() as session:
            self._endpoint(session, endpoint_id)
            self._project(session, project_id)
            if session.get(models.ProjectEndpoint, (endpoint_id, project_id)) is None:
                session.add(models.ProjectEndpoint(endpoint_id=endpoint_id, project_id=project_id))
        self.svc.changed("project_endpoint", "created", f"{project_id}/{endpoint_id}")

    def check_endpoint_in_project(self, project_id: str, endpoint_id: str) -> None:
        with self.svc.db.reader() as session:
            self._endpoint(session, endpoint_id)
            self._project(session, project_id)
            if session.get(models.ProjectEndpoint, (endpoint_id, project_id)) is None:
                raise errors.NotFound(f"Endpoint {endpoint_id} not found in project {project_id}")

    def remove_endpoint_from_project(self, project_id: str, endpoint_id: str) -> None:
        with self.svc.db.writer() as session:
            row = session.get(models.ProjectEndpoint, (endpoint_id, project_id))
            if row is None:
                raise errors.NotFound(f"Endpoint {endpoint_id} not found in project {project_id}")
            session.delete(row)
        self.svc.changed("project_endpoint", "deleted", f"{project_id}/{endpoint_id}")

    def endpoints_for_project_list(self, project_id: str) -> list[dict[str, Any]]:
        """GET /OS-EP-FILTER/projects/{id}/endpoints: direct and endpoint-group associations."""
        with self.svc.db.reader() as session:
            self._project(session, project_id)
            return [public_endpoint(e) for e in self._project_endpoints(session, project_id)]

    def projects_for_endpoint(self, endpoint_id: str) -> list[dict[str, Any]]:
        """Projects directly associated with an endpoint (as Keystone, not through groups)."""
        with self.svc.db.reader() as session:
            self._endpoint(session, endpoint_id)
            rows = session.scalars(sa.select(models.Project).join(
                models.ProjectEndpoint, models.ProjectEndpoint.project_id == models.Project.id).where(
                models.ProjectEndpoint.endpoint_id == endpoint_id).order_by(models.Project.name)).all()
            return [project_dict(r) for r in rows]

    # -- cleanup hooks (called inside the deleting transaction) ------------------
    @staticmethod
    def delete_for_project(session: orm.Session, project_id: str) -> None:
        session.execute(sa.delete(models.ProjectEndpoint).where(models.ProjectEndpoint.project_id == project_id))
        session.execute(sa.delete(models.ProjectEndpointGroup).where(
            models.ProjectEndpointGroup.project_id == project_id))

    @staticmethod
    def delete_for_endpoint(session: orm.Session, endpoint_id: str) -> None:
        session.execute(sa.delete(models.ProjectEndpoint).where(models.ProjectEndpoint.endpoint_id == endpoint_id))
