"""Regions, services, endpoints, and the service catalog put in tokens.

The catalog is built once per generation (any identity change) and, for each
project, with `$(project_id)s`-style placeholders filled in; endpoints whose URL
needs a project are left out of tokens without one, as Keystone does.
"""

from __future__ import annotations

import re
import threading
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import orm

from monostack.common import errors
from monostack.identity import models
from monostack.identity.service import new_id
from monostack.identity.service.util import apply_filters, extra_fields, flatten_extra, is_truthy

if TYPE_CHECKING:
    from monostack.identity.service import IdentityService

INTERFACES = ("public", "internal", "admin")
SERVICE_FIELDS = {"id", "type", "enabled"}
ENDPOINT_FIELDS = {"id", "interface", "service_id", "url", "region_id", "region", "enabled", "legacy_endpoint_id"}
REGION_FIELDS = {"id", "description", "parent_region_id"}
_PLACEHOLDER = re.compile(r"[$%]\((\w+)\)s")


def service_dict(row: models.Service) -> dict[str, Any]:
    data = {"id": row.id, "type": row.type, "enabled": row.enabled}
    return flatten_extra(data, row.extra)


def endpoint_dict(row: models.Endpoint) -> dict[str, Any]:
    data = {"id": row.id, "interface": row.interface, "service_id": row.service_id, "url": row.url,
            "region_id": row.region_id, "region": row.region_id, "enabled": row.enabled}
    return flatten_extra(data, row.extra)


def region_dict(row: models.Region) -> dict[str, Any]:
    data = {"id": row.id, "description": row.description or "", "parent_region_id": row.parent_region_id}
    return flatten_extra(data, row.extra)


def substitute(url: str, values: dict[str, str | None]) -> str | None:
    """Fill $(name)s / %(name)s placeholders; None when a needed value is missing."""
    missing = False

    def repl(match: re.Match[str]) -> str:
        nonlocal missing
        value = values.get(match.group(1))
        if value is None:
            missing = True
            return ""
        return value

    result = _PLACEHOLDER.sub(repl, url)
    return None if missing else result


class CatalogManager:
    def __init__(self, svc: "IdentityService"):
        self.svc = svc
        self._lock = threading.Lock()
        self._generation = -1
        self._raw: list[dict[str, Any]] = []
        self._per_project: dict[str | None, list[dict[str, Any]]] = {}

    # -- the token catalog ----------------------------------------------------------
    def _load_raw(self) -> list[dict[str, Any]]:
        with self.svc.db.reader() as session:
            services = session.scalars(sa.select(models.Service).where(models.Service.enabled.is_(True))).all()
            endpoints = session.scalars(sa.select(models.Endpoint).where(models.Endpoint.enabled.is_(True))).all()
            by_service: dict[str, list[models.Endpoint]] = {}
            for endpoint in endpoints:
                by_service.setdefault(endpoint.service_id, []).append(endpoint)
            raw = []
            for service in services:
                raw.append({"id": service.id, "type": service.type, "name": (service.extra or {}).get("name", ""),
                            "endpoints": [{"id": e.id, "interface": e.interface, "region_id": e.region_id,
                                           "url": e.url, "region": e.region_id}
                                          for e in by_service.get(service.id, [])]})
            return raw

    def for_token(self, *, user_id: str, project_id: str | None, domain_id: str | None = None
                  ) -> list[dict[str, Any]]:
        generation = self.svc.generation
        if generation != self._generation:
            with self._lock:
                if generation != self._generation:
                    self._raw = self._load_raw()
                    self._per_project = {}
                    self._generation = generation
        cached = self._per_project.get(project_id)
        if cached is not None:
            return cached
        values = {"project_id": project_id, "tenant_id": project_id}
        allowed = self.svc.extras.endpoints_for_project(project_id) if project_id else None
        catalog = []
        for service in self._raw:
            endpoints = []
            for endpoint in service["endpoints"]:
                if allowed is not None and endpoint["id"] not in allowed:
                    continue
                url = substitute(endpoint["url"], values)
                if url is not None:
                    endpoints.append({**endpoint, "url": url})
            catalog.append({**service, "endpoints": endpoints})
        self._per_project[project_id] = catalog
        return catalog

    # -- regions -------------------------------------------------------------------
    def create_region(self, ref: dict[str, Any], region_id: str | None = None) -> dict[str, Any]:
        region_id = region_id or ref.get("id") or new_id()
        if not isinstance(region_id, str) or len(region_id) > 255:
            raise errors.ValidationError("Invalid input for field 'id'.")
        with self.svc.db.writer() as session:
            if session.get(models.Region, region_id) is not None:
                raise errors.Conflict(f"Conflict occurred attempting to store region - Duplicate ID, {region_id}.")
            parent = ref.get("parent_region_id")
            if parent:
                if session.get(models.Region, parent) is None:
                    raise errors.NotFound(f"Could not find region: {parent}.")
            row = models.Region(id=region_id, description=ref.get("description") or "", parent_region_id=parent,
                                extra=extra_fields(ref, REGION_FIELDS))
            session.add(row)
            session.flush()
            result = region_dict(row)
        self.svc.changed("region", "created", region_id)
        return result

    def get_region(self, region_id: str) -> dict[str, Any]:
        with self.svc.db.reader() as session:
            row = session.get(models.Region, region_id)
            if row is None:
                raise errors.NotFound(f"Could not find region: {region_id}.")
            return region_dict(row)

    def list_regions(self, filters: dict[str, Any]) -> list[dict[str, Any]]:
        with self.svc.db.reader() as session:
            regions = [region_dict(r) for r in session.scalars(sa.select(models.Region).order_by(models.Region.id))]
        return apply_filters(regions, filters, ("parent_region_id", "id"))

    def update_region(self, region_id: str, ref: dict[str, Any]) -> dict[str, Any]:
        with self.svc.db.writer() as session:
            row = session.get(models.Region, region_id)
            if row is None:
                raise errors.NotFound(f"Could not find region: {region_id}.")
            if "parent_region_id" in ref:
                parent = ref["parent_region_id"]
                if parent:
                    if session.get(models.Region, parent) is None:
                        raise errors.NotFound(f"Could not find region: {parent}.")
                    # No cycles: walk up from the new parent.
                    cursor: str | None = parent
                    while cursor:
                        if cursor == region_id:
                            raise errors.ValidationError("The parent region would create a cycle.")
                        cursor = session.get(models.Region, cursor).parent_region_id  # type: ignore[union-attr]
                row.parent_region_id = parent
            if "description" in ref:
                row.description = ref["description"] or ""
            extra = extra_fields(ref, REGION_FIELDS)
            if extra:
                row.extra = {**(row.extra or {}), **extra}
            session.flush()
            result = region_dict(row)
        self.svc.changed("region", "updated", region_id)
        return result

    def delete_region(self, region_id: str) -> None:
        with self.svc.db.writer() as session:
            row = session.get(models.Region, region_id)
            if row is None:
                raise errors.NotFound(f"Could not find region: {region_id}.")
            if session.scalar(sa.select(models.Region.id).where(models.Region.parent_region_id == region_id)):
                raise errors.Forbidden("Unable to delete region: it has child regions.")
            if session.scalar(sa.select(models.Endpoint.id).where(models.Endpoint.region_id == region_id)):
                raise errors.Forbidden("Unable to delete region: it has endpoints.")
            self.svc.extras.delete_for_region(session, region_id)
            session.delete(row)
        self.svc.changed("region", "deleted", region_id)

    # -- services ----------------------------------------------------------------
    def get_service_row(self, session: orm.Session, service_id: str) -> models.Service:
        row = session.get(models.Service, service_id)
        if row is None:
            raise errors.NotFound(f"Could not find service: {service_id}.")
        return row

    def create_service(self, ref: dict[str, Any]) -> dict[str, Any]:
        service_type = ref.get("type")
        if not isinstance(service_type, str) or not service_type or len(service_type) > 255:
            raise errors.ValidationError("Invalid input for field 'type': 'type' is a required property")
        service_id = new_id()
        with self.svc.db.writer() as session:
            row = models.Service(id=service_id, type=service_type,
                                 enabled=is_truthy(ref.get("enabled", True), "enabled"),
                                 extra=extra_fields(ref, SERVICE_FIELDS))
            session.add(row)
            session.flush()
            result = service_dict(row)
        self.svc.changed("service", "created", service_id)
        return result

    def get_service(self, service_id: str) -> dict[str, Any]:
        with self.svc.db.reader() as session:
            return service_dict(self.get_service_row(session, service_id))

    def list_services(self, filters: dict[str, Any]) -> list[dict[str, Any]]:
        with self.svc.db.reader() as session:
            services = [service_dict(r) for r in session.scalars(sa.select(models.Service))]
        return apply_filters(services, filters, ("type", "name", "id", "enabled"))

    def update_service(self, service_id: str, ref: dict[str, Any]) -> dict[str, Any]:
        with self.svc.db.writer() as session:
            row = self.get_service_row(session, service_id)
            if "type" in ref:
                if not isinstance(ref["type"], str) or not ref["type"]:
                    raise errors.ValidationError("Invalid input for field 'type'.")
                row.type = ref["type"]
            if "enabled" in ref:
                row.enabled = is_truthy(ref["enabled"], "enabled")
            extra = extra_fields(ref, SERVICE_FIELDS)
            if extra:
                row.extra = {**(row.extra or {}), **extra}
            session.flush()
            result = service_dict(row)
        self.svc.changed("service", "updated", service_id)
        return result

    def delete_service(self, service_id: str) -> None:
        with self.svc.db.writer() as session:
            row = self.get_service_row(session, service_id)
            for endpoint_id in session.scalars(sa.select(models.Endpoint.id).where(
                    models.Endpoint.service_id == service_id)).all():
                self.svc.extras.delete_for_endpoint(session, endpoint_id)
            session.execute(sa.delete(models.Endpoint).where(models.Endpoint.service_id == service_id))
            self.svc.extras.delete_for_service(session, service_id)
            session.delete(row)
        self.svc.changed("service", "deleted", service_id)

    # -- endpoints --------------------------------------------------------------
    def _validate_endpoint(self, session: orm.Session, ref: dict[str, Any], *, partial: bool) -> None:
        if not partial or "interface" in ref:
            if ref.get("interface") not in INTERFACES:
                raise errors.ValidationError("Invalid input for field 'interface': must be public, internal or admin.")
        if not partial or "url" in ref:
            url = ref.get("url")
            if not isinstance(url, str) or not url or len(url) > 1024:
                raise errors.ValidationError("Invalid input for field 'url': 'url' is a required property")
        if not partial or "service_id" in ref:
            if not isinstance(ref.get("service_id"), str):
                raise errors.ValidationError("Invalid input for field 'service_id': 'service_id' is a required "
                                             "property")
            if session.get(models.Service, ref["service_id"]) is None:
                raise errors.ValidationError(f"Could not find service: {ref['service_id']}.")
        region_id = ref.get("region_id")
        if region_id and session.get(models.Region, region_id) is None:
            raise errors.ValidationError(f"Could not find region: {region_id}.")
        legacy = ref.get("region")
        if not region_id and legacy and session.get(models.Region, legacy) is None:
            # Keystone creates a region named only by the legacy `region` field.
            session.add(models.Region(id=legacy, description="", extra={}))
            session.flush()

    def create_endpoint(self, ref: dict[str, Any]) -> dict[str, Any]:
        endpoint_id = new_id()
        with self.svc.db.writer() as session:
            self._validate_endpoint(session, ref, partial=False)
            row = models.Endpoint(id=endpoint_id, interface=ref["interface"], service_id=ref["service_id"],
                                  url=ref["url"], region_id=ref.get("region_id") or ref.get("region"),
                                  enabled=is_truthy(ref.get("enabled", True), "enabled"),
                                  extra=extra_fields(ref, ENDPOINT_FIELDS))
            session.add(row)
            session.flush()
            result = endpoint_dict(row)
        self.svc.changed("endpoint", "created", endpoint_id)
        return result

    def get_endpoint(self, endpoint_id: str) -> dict[str, Any]:
        with self.svc.db.reader() as session:
            row = session.get(models.Endpoint, endpoint_id)
            if row is None:
                raise errors.NotFound(f"Could not find endpoint: {endpoint_id}.")
            return endpoint_dict(row)

    def list_endpoints(self, filters: dict[str, Any]) -> list[dict[str, Any]]:
        with self.svc.db.reader() as session:
            endpoints = [endpoint_dict(r) for r in session.scalars(sa.select(models.Endpoint))]
        return apply_filters(endpoints, filters, ("interface", "service_id", "region_id", "enabled", "id"))

    def update_endpoint(self, endpoint_id: str, ref: dict[str, Any]) -> dict[str, Any]:
        with self.svc.db.writer() as session:
            row = session.get(models.Endpoint, endpoint_id)
            if row is None:
                raise errors.NotFound(f"Could not find endpoint: {endpoint_id}.")
            self._validate_endpoint(session, ref, partial=True)
            for attr in ("interface", "service_id", "url"):
                if attr in ref:
                    setattr(row, attr, ref[attr])
            if "region_id" in ref or "region" in ref:
                row.region_id = ref.get("region_id") or ref.get("region")
            if "enabled" in ref:
                row.enabled = is_truthy(ref["enabled"], "enabled")
            extra = extra_fields(ref, ENDPOINT_FIELDS)
            if extra:
                row.extra = {**(row.extra or {}), **extra}
            session.flush()
            result = endpoint_dict(row)
        self.svc.changed("endpoint", "updated", endpoint_id)
        return result

    def delete_endpoint(self, endpoint_id: str) -> None:
        with self.svc.db.writer() as session:
            row = session.get(models.Endpoint, endpoint_id)
            if row is None:
                raise errors.NotFound(f"Could not find endpoint: {endpoint_id}.")
            self.svc.extras.delete_for_endpoint(session, endpoint_id)
            session.delete(row)
        self.svc.changed("endpoint", "deleted", endpoint_id)
