"""Domains and projects (one table: a domain is a project with is_domain)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import orm

from monostack.common import errors
from monostack.identity import models
from monostack.identity.service import new_id
from monostack.identity.service.util import apply_filters, extra_fields, flatten_extra, is_truthy, query_bool

if TYPE_CHECKING:
    from monostack.identity.service import IdentityService

DEFAULT_DOMAIN_ID = "default"
_TAG_RE = re.compile(r"^[^,/]{1,255}$")
MAX_TAGS = 80
PROJECT_FIELDS = {"id", "name", "domain_id", "parent_id", "is_domain", "enabled", "description", "tags", "options"}


def domain_dict(row: models.Project) -> dict[str, Any]:
    data = {"id": row.id, "name": row.name, "enabled": row.enabled, "description": row.description or "",
            "tags": sorted(t.name for t in row.tags), "options": row.options or {}}
    return flatten_extra(data, row.extra)


def project_dict(row: models.Project) -> dict[str, Any]:
    data = {"id": row.id, "name": row.name, "domain_id": row.domain_id if not row.is_domain else None,
            "parent_id": row.parent_id if not row.is_domain else None, "is_domain": row.is_domain,
            "enabled": row.enabled, "description": row.description or "",
            "tags": sorted(t.name for t in row.tags), "options": row.options or {}}
    return flatten_extra(data, row.extra)


def validate_tags(tags: Any) -> list[str]:
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise errors.ValidationError("Invalid input for field 'tags': tags must be a list of strings.")
    if len(tags) > MAX_TAGS:
        raise errors.ValidationError(f"Invalid input for field 'tags': a project can have at most {MAX_TAGS} tags.")
    for tag in tags:
        if not _TAG_RE.match(tag) or len(tag) > 255:
            raise errors.ValidationError(f"Invalid input for field 'tags': invalid tag {tag!r} (no ',' or '/').")
    return list(dict.fromkeys(tags))


class ResourceManager:
    def __init__(self, svc: "IdentityService"):
        self.svc = svc

    # -- lookups (also used by other managers inside their own sessions) -----
    def _get(self, session: orm.Session, project_id: str, *, domain: bool | None = None) -> models.Project:
        row = session.get(models.Project, project_id)
        if row is None or (domain is not None and row.is_domain != domain):
            kind = "domain" if domain else "project"
            raise errors.NotFound(f"Could not find {kind}: {project_id}.")
        return row

    def get_domain_row(self, session: orm.Session, domain_id: str) -> models.Project:
        return self._get(session, domain_id, domain=True)

    def get_project_row(self, session: orm.Session, project_id: str) -> models.Project:
        return self._get(session, project_id, domain=False)

    def domain_by_name(self, session: orm.Session, name: str) -> models.Project:
        row = session.scalar(sa.select(models.Project).where(
            models.Project.is_domain.is_(True), models.Project.name == name))
        if row is None:
            raise errors.NotFound(f"Could not find domain: {name}.")
        return row

    def project_by_name(self, session: orm.Session, name: str, domain_id: str) -> models.Project:
        row = session.scalar(sa.select(models.Project).where(
            models.Project.is_domain.is_(False), models.Project.name == name, models.Project.domain_id == domain_id))
        if row is None:
            raise errors.NotFound(f"Could not find project: {name}.")
        return row

    def parents(self, session: orm.Session, row: models.Project) -> list[models.Project]:
        """Ancestors of a project, nearest first (domains excluded)."""
        chain = []
        seen = {row.id}
        parent_id = row.parent_id
        while parent_id and parent_id not in seen:
            parent = session.get(models.Project, parent_id)
            if parent is None or parent.is_domain:
                break
            chain.append(parent)
            seen.add(parent.id)
            parent_id = parent.parent_id
        return chain

    def subtree(self, session: orm.Session, row: models.Project) -> list[models.Project]:
        found: list[models.Project] = []
        frontier = [row.id]
        while frontier:
            children = session.scalars(sa.select(models.Project).where(
                models.Project.parent_id.in_(frontier), models.Project.is_domain.is_(False))).all()
            found.extend(children)
            frontier = [c.id for c in children]
        return found

    def admin_project_id(self) -> str | None:
        """The bootstrap admin project (owner of what the cloud itself registers)."""
        with self.svc.db.reader() as session:
            return session.scalar(sa.select(models.Project.id).where(
                models.Project.name == "admin", models.Project.domain_id == DEFAULT_DOMAIN_ID))

    # -- domains -----------------------------------------------------------
    def create_domain(self, ref: dict[str, Any]) -> dict[str, Any]:
        name = ref.get("name")
        if not isinstance(name, str) or not name.strip() or len(name) > 64:
            raise errors.ValidationError("Invalid input for field 'name': a domain needs a name of 1-64 characters.")
        domain_id = ref.get("id") or ref.get("explicit_domain_id") or new_id()
        with self.svc.db.writer() as session:
            clash = session.scalar(sa.select(models.Project.id).where(
                models.Project.is_domain.is_(True), models.Project.name == name))
            if clash or session.get(models.Project, domain_id):
                raise errors.Conflict(f"Conflict occurred attempting to store domain - Duplicate entry found with name {name}.")
            row = models.Project(id=domain_id, name=name, domain_id=models.ROOT_DOMAIN, parent_id=None,
                                 is_domain=True, enabled=is_truthy(ref.get("enabled", True), "enabled"),
                                 description=ref.get("description"), options=ref.get("options") or {},
                                 extra=extra_fields(ref, PROJECT_FIELDS | {"explicit_domain_id"}))
            row.tags = [models.ProjectTag(name=t) for t in validate_tags(ref.get("tags", []))]
            session.add(row)
            session.flush()
            result = domain_dict(row)
        self.svc.changed("domain", "created", domain_id)
        return result

    def get_domain(self, domain_id: str) -> dict[str, Any]:
        with self.svc.db.reader() as session:
            return domain_dict(self.get_domain_row(session, domain_id))

    def list_domains(self, filters: dict[str, Any]) -> list[dict[str, Any]]:
        with self.svc.db.reader() as session:
            rows = session.scalars(sa.select(models.Project).where(models.Project.is_domain.is_(True))
                                   .order_by(models.Project.name)).all()
            return apply_filters([domain_dict(r) for r in rows], filters, ("name", "enabled", "id"))

    def update_domain(self, domain_id: str, ref: dict[str, Any]) -> dict[str, Any]:
        if "id" in ref and ref["id"] != domain_id:
            raise errors.ValidationError("Cannot change the id of a domain.")
        with self.svc.db.writer() as session:
            row = self.get_domain_row(session, domain_id)
            if "name" in ref and ref["name"] != row.name:
                name = ref["name"]
                if not isinstance(name, str) or not name.strip() or len(name) > 64:
                    raise errors.ValidationError("Invalid input for field 'name'.")
                clash = session.scalar(sa.select(models.Project.id).where(
                    models.Project.is_domain.is_(True), models.Project.name == name))
                if clash:
                    raise errors.Conflict(f"Conflict occurred attempting to store domain - Duplicate entry found with name {name}.")
                row.name = name
            disabled = _apply_update(row, ref)
            session.flush()
            result = domain_dict(row)
            if disabled:
                self.svc.revocation.add(session, domain_id=domain_id)
        self.svc.changed("domain", "updated", domain_id)
        return result

    def delete_domain(self, domain_id: str) -> None:
        with self.svc.db.writer() as session:
            row = self.get_domain_row(session, domain_id)
            if row.enabled:
                raise errors.Forbidden("Cannot delete a domain that is enabled, please disable it first.")
            # Everything that lives in the domain goes with it.
            projects = session.scalars(sa.select(models.Project).where(
                models.Project.domain_id == domain_id, models.Project.is_domain.is_(False))).all()
            for project in projects:
                self.svc.assignments.delete_for_target(session, project.id)
                self._delete_dependents(session, project.id)
                session.delete(project)
            self.svc.users.delete_for_domain(session, domain_id)
            self.svc.assignments.delete_for_domain(session, domain_id)
            self.svc.extras.delete_for_domain(session, domain_id)
            session.delete(row)
            self.svc.revocation.add(session, domain_id=domain_id)
        self.svc.changed("domain", "deleted", domain_id)

    # -- projects ------------------------------------------------------------
    def create_project(self, ref: dict[str, Any], *, default_domain_id: str = DEFAULT_DOMAIN_ID) -> dict[str, Any]:
        if is_truthy(ref.get("is_domain", False), "is_domain"):
            domain = self.create_domain({k: v for k, v in ref.items() if k not in ("is_domain", "domain_id",
                                                                                    "parent_id")})
            domain_row = self.get_domain(domain["id"])
            return {**domain_row, "is_domain": True, "domain_id": None, "parent_id": None}
        name = ref.get("name")
        if not isinstance(name, str) or not name.strip() or len(name) > 64:
            raise errors.ValidationError("Invalid input for field 'name': a project needs a name of 1-64 characters.")
        project_id = new_id()
        with self.svc.db.writer() as session:
            parent_id = ref.get("parent_id")
            domain_id = ref.get("domain_id")
            if parent_id:
                parent = session.get(models.Project, parent_id)
                if parent is None:
                    raise errors.NotFound(f"Could not find project: {parent_id}.")
                parent_domain = parent.id if parent.is_domain else parent.domain_id
                if domain_id and domain_id != parent_domain:
                    raise errors.ValidationError("Cannot create a project in a different domain than its parent.")
                domain_id = parent_domain
            domain_id = domain_id or default_domain_id
            domain = session.get(models.Project, domain_id)
            if domain is None or not domain.is_domain:
                raise errors.NotFound(f"Could not find domain: {domain_id}.")
            if parent_id is None:
                parent_id = domain_id
            clash = session.scalar(sa.select(models.Project.id).where(
                models.Project.domain_id == domain_id, models.Project.name == name))
            if clash:
                raise errors.Conflict(f"Conflict occurred attempting to store project - it is not permitted to have "
                                      f"two projects with either the same name or same id in the same domain: "
                                      f"name is {name}, project id {project_id}.")
            row = models.Project(id=project_id, name=name, domain_id=domain_id, parent_id=parent_id,
                                 is_domain=False, enabled=is_truthy(ref.get("enabled", True), "enabled"),
                                 description=ref.get("description"), options=ref.get("options") or {},
                                 extra=extra_fields(ref, PROJECT_FIELDS))
            row.tags = [models.ProjectTag(name=t) for t in validate_tags(ref.get("tags", []))]
            session.add(row)
            session.flush()
            result = project_dict(row)
        self.svc.changed("project", "created", project_id)
        return result

    def get_project(self, project_id: str) -> dict[str, Any]:
        with self.svc.db.reader() as session:
            return project_dict(self.get_project_row(session, project_id))

    def get_project_any(self, project_id: str) -> dict[str, Any]:
        """A project or a domain acting as a project (Keystone's is_domain projects)."""
        with self.svc.db.reader() as session:
            row = self._get(session, project_id)
            return project_dict(row)

    def project_parents(self, project_id: str) -> list[dict[str, Any]]:
        with self.svc.db.reader() as session:
            return [project_dict(p) for p in self.parents(session, self.get_project_row(session, project_id))]

    def project_subtree(self, project_id: str) -> list[dict[str, Any]]:
        with self.svc.db.reader() as session:
            return [project_dict(p) for p in self.subtree(session, self.get_project_row(session, project_id))]

    def list_projects(self, filters: dict[str, Any]) -> list[dict[str, Any]]:
        with self.svc.db.reader() as session:
            query = sa.select(models.Project)
            is_domain = filters.get("is_domain")
            if is_domain is not None and query_bool(is_domain):
                query = query.where(models.Project.is_domain.is_(True))
            else:
                query = query.where(models.Project.is_domain.is_(False))
            if filters.get("domain_id"):
                query = query.where(models.Project.domain_id == filters["domain_id"])
            if filters.get("parent_id"):
                query = query.where(models.Project.parent_id == filters["parent_id"])
            rows = session.scalars(query.order_by(models.Project.name)).all()
            result = [project_dict(r) for r in rows]
        result = apply_filters(result, filters, ("name", "enabled", "id"))
        return filter_tags(result, filters)

    def update_project(self, project_id: str, ref: dict[str, Any]) -> dict[str, Any]:
        current = self.get_project_any(project_id)
        for immutable in ("domain_id", "is_domain", "parent_id", "id"):
            if immutable in ref and ref[immutable] != current.get(immutable):
                raise errors.ValidationError(f"Update of `{immutable}` is not allowed.")
        if current["is_domain"]:
            self.update_domain(project_id, {k: v for k, v in ref.items()
                                            if k not in ("domain_id", "is_domain", "parent_id")})
            return self.get_project_any(project_id)
        with self.svc.db.writer() as session:
            row = self.get_project_row(session, project_id)
            if "name" in ref and ref["name"] != row.name:
                name = ref["name"]
                if not isinstance(name, str) or not name.strip() or len(name) > 64:
                    raise errors.ValidationError("Invalid input for field 'name'.")
                clash = session.scalar(sa.select(models.Project.id).where(
                    models.Project.domain_id == row.domain_id, models.Project.name == name))
                if clash:
                    raise errors.Conflict(f"Conflict occurred attempting to store project - Duplicate entry found with name {name}.")
                row.name = name
            disabled = _apply_update(row, ref)
            session.flush()
            result = project_dict(row)
            if disabled:
                self.svc.revocation.add(session, project_id=project_id)
        self.svc.changed("project", "updated", project_id)
        return result

    def delete_project(self, project_id: str, *, cascade: bool = False) -> None:
        if self.get_project_any(project_id)["is_domain"]:
            return self.delete_domain(project_id)
        with self.svc.db.writer() as session:
            row = self.get_project_row(session, project_id)
            children = self.subtree(session, row)
            if children and not cascade:
                raise errors.Forbidden(f"Cannot delete the project {project_id} since it is not a leaf in the "
                                       f"hierarchy. Use the cascade option if you want to delete a whole subtree.")
            for child in reversed(children):
                self.svc.assignments.delete_for_target(session, child.id)
                self._delete_dependents(session, child.id)
                session.delete(child)
                self.svc.revocation.add(session, project_id=child.id)
            self.svc.assignments.delete_for_target(session, project_id)
            self._delete_dependents(session, project_id)
            session.delete(row)
            self.svc.revocation.add(session, project_id=project_id)
        self.svc.changed("project", "deleted", project_id)

    def _delete_dependents(self, session: orm.Session, project_id: str) -> None:
        """What lives in a project goes with it (assignments are removed by the callers)."""
        self.svc.extras.delete_for_project(session, project_id)
        self.svc.app_creds.delete_for_project(session, project_id)
        self.svc.credentials.delete_for_project(session, project_id)
        self.svc.trusts.delete_for_project(session, project_id)

    # -- project tags ------------------------------------------------------
    def list_tags(self, project_id: str) -> list[str]:
        return self.get_project_any(project_id)["tags"]

    def replace_tags(self, project_id: str, tags: list[str]) -> list[str]:
        tags = validate_tags(tags)
        with self.svc.db.writer() as session:
            row = self._get(session, project_id)
            row.tags = [models.ProjectTag(name=t) for t in tags]
        self.svc.changed("project", "updated", project_id)
        return sorted(tags)

    def add_tag(self, project_id: str, tag: str) -> None:
        validate_tags([tag])
        with self.svc.db.writer() as session:
            row = self._get(session, project_id)
            if tag not in {t.name for t in row.tags}:
                if len(row.tags) >= MAX_TAGS:
                    raise errors.ValidationError(f"A project can have at most {MAX_TAGS} tags.")
                row.tags.append(models.ProjectTag(name=tag))
        self.svc.changed("project", "updated", project_id)

    def has_tag(self, project_id: str, tag: str) -> None:
        if tag not in self.get_project_any(project_id)["tags"]:
            raise errors.NotFound(f"Tag {tag} not found for project {project_id}.")

    def delete_tag(self, project_id: str, tag: str) -> None:
        with self.svc.db.writer() as session:
            row = self._get(session, project_id)
            kept = [t for t in row.tags if t.name != tag]
            if len(kept) == len(row.tags):
                raise errors.NotFound(f"Tag {tag} not found for project {project_id}.")
            row.tags = kept
        self.svc.changed("project", "updated", project_id)


def _apply_update(row: models.Project, ref: dict[str, Any]) -> bool:
    """The attributes domains and projects update alike; True when this disables the row."""
    disabled = False
    if "enabled" in ref:
        enabled = is_truthy(ref["enabled"], "enabled")
        disabled = row.enabled and not enabled
        row.enabled = enabled
    if "description" in ref:
        row.description = ref["description"]
    if "tags" in ref:
        row.tags = [models.ProjectTag(name=t) for t in validate_tags(ref["tags"])]
    if "options" in ref:
        row.options = {k: v for k, v in {**(row.options or {}), **(ref["options"] or {})}.items() if v is not None}
    extra = extra_fields(ref, PROJECT_FIELDS)
    if extra:
        row.extra = {**(row.extra or {}), **extra}
    return disabled


def filter_tags(projects: list[dict[str, Any]], filters: dict[str, Any]) -> list[dict[str, Any]]:
    def split(name: str) -> list[str] | None:
        value = filters.get(name)
        return [t for t in value.split(",") if t] if value else None

    tags, tags_any, not_tags, not_tags_any = split("tags"), split("tags-any"), split("not-tags"), split("not-tags-any")
    result = []
    for project in projects:
        have = set(project["tags"])
        if tags and not set(tags) <= have:
            continue
        if tags_any and not set(tags_any) & have:
            continue
        if not_tags and set(not_tags) <= have:
            continue
        if not_tags_any and set(not_tags_any) & have:
            continue
        result.append(project)
    return result
