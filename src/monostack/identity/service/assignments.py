"""Roles, implied roles, role assignments, and the effective roles a token gets.

Effective roles of a user on a project: roles assigned to the user or to any
of the user's groups on the project, plus roles assigned with `inherited`
(OS-INHERIT) on the project's domain or on any ancestor project, then expanded
through implied roles (admin implies member implies reader).  Domain-specific
roles are never put in a token; only the global roles they imply are.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable

import sqlalchemy as sa
from sqlalchemy import orm

from monostack.common import errors
from monostack.identity import models
from monostack.identity.service import new_id
from monostack.identity.service.util import apply_filters, extra_fields, flatten_extra, query_bool

if TYPE_CHECKING:
    from monostack.identity.service import IdentityService

ROLE_FIELDS = {"id", "name", "domain_id", "description", "options"}
ROLE_OPTIONS = {"immutable"}


def role_dict(row: models.Role) -> dict[str, Any]:
    data = {"id": row.id, "name": row.name,
            "domain_id": None if row.domain_id == models.GLOBAL_ROLE_DOMAIN else row.domain_id,
            "description": row.description, "options": row.options or {}}
    return flatten_extra(data, row.extra)


def _flag(query: dict[str, Any], name: str) -> bool:
    """Keystone's boolean query flags: present with no value means true."""
    if name not in query:
        return False
    value = query[name]
    return value in ("", None) or query_bool(value)


def _type(actor: str, target: str) -> str:
    return {"user": "User", "group": "Group"}[actor] + {"project": "Project", "domain": "Domain",
                                                         "system": "System"}[target]


class AssignmentManager:
    def __init__(self, svc: "IdentityService"):
        self.svc = svc

    # -- roles ---------------------------------------------------------------
    def get_role_row(self, session: orm.Session, role_id: str) -> models.Role:
        row = session.get(models.Role, role_id)
        if row is None:
            raise errors.NotFound(f"Could not find role: {role_id}.")
        return row

    def role_by_name(self, session: orm.Session, name: str, domain_id: str | None = None) -> models.Role | None:
        return session.scalar(sa.select(models.Role).where(
            models.Role.name == name, models.Role.domain_id == (domain_id or models.GLOBAL_ROLE_DOMAIN)))

    def _check_immutable(self, row: models.Role) -> None:
        if (row.options or {}).get("immutable"):
            raise errors.Forbidden(f"Cannot modify or delete role {row.id}: it is immutable.")

    def _validate_options(self, options: Any) -> dict[str, Any]:
        if not isinstance(options, dict) or any(k not in ROLE_OPTIONS for k in options):
            raise errors.ValidationError("Invalid input for field 'options'.")
        for value in options.values():
            if value is not None and not isinstance(value, bool):
                raise errors.ValidationError("Invalid input for field 'options': values must be boolean.")
        return {k: v for k, v in options.items() if v is not None}

    def create_role(self, ref: dict[str, Any]) -> dict[str, Any]:
        name = ref.get("name")
        if not isinstance(name, str) or not name.strip() or len(name) > 255:
            raise errors.ValidationError("Invalid input for field 'name': a role needs a name of 1-255 characters.")
        domain_id = ref.get("domain_id")
        role_id = ref.get("id") if isinstance(ref.get("id"), str) and ref.get("id") else new_id()
        with self.svc.db.writer() as session:
            if domain_id:
                self.svc.resources.get_domain_row(session, domain_id)
            if self.role_by_name(session, name, domain_id) is not None or session.get(models.Role, role_id):
                raise errors.Conflict(f"Conflict occurred attempting to store role - Duplicate entry found with name "
                                      f"{name}.")
            row = models.Role(id=role_id, name=name, domain_id=domain_id or models.GLOBAL_ROLE_DOMAIN,
                              description=ref.get("description"),
                              options=self._validate_options(ref.get("options") or {}),
                              extra=extra_fields(ref, ROLE_FIELDS))
            session.add(row)
            session.flush()
            result = role_dict(row)
        self.svc.changed("role", "created", role_id)
        return result

    def get_role(self, role_id: str) -> dict[str, Any]:
        with self.svc.db.reader() as session:
            return role_dict(self.get_role_row(session, role_id))

    def list_roles(self, filters: dict[str, Any]) -> list[dict[str, Any]]:
        with self.svc.db.reader() as session:
            domain_id = filters.get("domain_id") or models.GLOBAL_ROLE_DOMAIN
            rows = session.scalars(sa.select(models.Role).where(models.Role.domain_id == domain_id)
                                   .order_by(models.Role.name)).all()
            roles = [role_dict(r) for r in rows]
        return apply_filters(roles, filters, ("name", "id"))

    def update_role(self, role_id: str, ref: dict[str, Any]) -> dict[str, Any]:
        with self.svc.db.writer() as session:
            row = self.get_role_row(session, role_id)
            options_only = set(ref) <= {"options"}
            if not options_only or (row.options or {}).get("immutable") and (ref.get("options") or {}).get(
                    "immutable", True) is not False:
                self._check_immutable(row)
            if "domain_id" in ref and (ref["domain_id"] or models.GLOBAL_ROLE_DOMAIN) != row.domain_id:
                raise errors.ValidationError("Cannot change the domain of a role.")
            if "name" in ref and ref["name"] != row.name:
                name = ref["name"]
                if not isinstance(name, str) or not name.strip() or len(name) > 255:
                    raise errors.ValidationError("Invalid input for field 'name'.")
                if self.role_by_name(session, name, None if row.domain_id == models.GLOBAL_ROLE_DOMAIN
                                     else row.domain_id):
                    raise errors.Conflict(f"Conflict occurred attempting to store role - Duplicate entry found with "
                                          f"name {name}.")
                row.name = name
            if "description" in ref:
                row.description = ref["description"]
            if "options" in ref:
                merged = {**(row.options or {}), **(ref["options"] or {})}
                row.options = self._validate_options({k: v for k, v in merged.items() if v is not None})
            extra = extra_fields(ref, ROLE_FIELDS)
            if extra:
                row.extra = {**(row.extra or {}), **extra}
            session.flush()
            result = role_dict(row)
        self.svc.changed("role", "updated", role_id)
        return result

    def delete_role(self, role_id: str) -> None:
        with self.svc.db.writer() as session:
            row = self.get_role_row(session, role_id)
            self._check_immutable(row)
            session.execute(sa.delete(models.Assignment).where(models.Assignment.role_id == role_id))
            session.execute(sa.delete(models.ImpliedRole).where(sa.or_(
                models.ImpliedRole.prior_role_id == role_id, models.ImpliedRole.implied_role_id == role_id)))
            session.delete(row)
            self.svc.revocation.add(session, role_id=role_id)
        self.svc.changed("role", "deleted", role_id)

    # -- implied roles -----------------------------------------------------------
    def _implied_dict(self, prior: models.Role, implied: models.Role) -> dict[str, Any]:
        return {"prior_role": {"id": prior.id, "name": prior.name},
                "implies": {"id": implied.id, "name": implied.name}}

    def create_implied(self, prior_id: str, implied_id: str) -> dict[str, Any]:
        with self.svc.db.writer() as session:
            prior = self.get_role_row(session, prior_id)
            implied = self.get_role_row(session, implied_id)
            if implied.domain_id != models.GLOBAL_ROLE_DOMAIN and prior.domain_id == models.GLOBAL_ROLE_DOMAIN:
                raise errors.Forbidden("A global role cannot imply a domain-specific role.")
            if prior_id == implied_id or prior_id in self._implied_closure(session, [implied_id]):
                raise errors.Forbidden(f"Implied role {implied_id} would create a cycle.")
            if session.get(models.ImpliedRole, (prior_id, implied_id)) is None:
                session.add(models.ImpliedRole(prior_role_id=prior_id, implied_role_id=implied_id))
            result = {"role_inference": self._implied_dict(prior, implied)}
        self.svc.changed("role", "updated", prior_id)
        return result

    def get_implied(self, prior_id: str, implied_id: str) -> dict[str, Any]:
        with self.svc.db.reader() as session:
            prior = self.get_role_row(session, prior_id)
            implied = self.get_role_row(session, implied_id)
            if session.get(models.ImpliedRole, (prior_id, implied_id)) is None:
                raise errors.NotFound(f"{prior_id} does not imply {implied_id}.")
            return {"role_inference": self._implied_dict(prior, implied)}

    def delete_implied(self, prior_id: str, implied_id: str) -> None:
        with self.svc.db.writer() as session:
            self.get_role_row(session, prior_id)
            self.get_role_row(session, implied_id)
            row = session.get(models.ImpliedRole, (prior_id, implied_id))
            if row is None:
                raise errors.NotFound(f"{prior_id} does not imply {implied_id}.")
            session.delete(row)
        self.svc.changed("role", "updated", prior_id)

    def list_implied(self, prior_id: str) -> dict[str, Any]:
        with self.svc.db.reader() as session:
            prior = self.get_role_row(session, prior_id)
            implied_ids = session.scalars(sa.select(models.ImpliedRole.implied_role_id).where(
                models.ImpliedRole.prior_role_id == prior_id)).all()
            implies = [self.get_role_row(session, i) for i in implied_ids]
            return {"role_inference": {"prior_role": {"id": prior.id, "name": prior.name},
                                       "implies": [{"id": r.id, "name": r.name} for r in implies]}}

    def list_all_implied(self) -> list[dict[str, Any]]:
        with self.svc.db.reader() as session:
            pairs = session.execute(sa.select(models.ImpliedRole.prior_role_id,
                                              models.ImpliedRole.implied_role_id)).all()
            by_prior: dict[str, list[str]] = {}
            for prior_id, implied_id in pairs:
                by_prior.setdefault(prior_id, []).append(implied_id)
            result = []
            for prior_id, implied_ids in by_prior.items():
                prior = self.get_role_row(session, prior_id)
                implies = [self.get_role_row(session, i) for i in implied_ids]
                result.append({"prior_role": {"id": prior.id, "name": prior.name},
                               "implies": [{"id": r.id, "name": r.name} for r in implies]})
            return result

    def _implied_closure(self, session: orm.Session, role_ids: Iterable[str]) -> set[str]:
        """Every role the given roles imply, transitively (not including themselves)."""
        edges = session.execute(sa.select(models.ImpliedRole.prior_role_id, models.ImpliedRole.implied_role_id)).all()
        graph: dict[str, list[str]] = {}
        for prior, implied in edges:
            graph.setdefault(prior, []).append(implied)
        found: set[str] = set()
        stack = list(role_ids)
        while stack:
            for implied in graph.get(stack.pop(), []):
                if implied not in found:
                    found.add(implied)
                    stack.append(implied)
        return found

    # -- grants ------------------------------------------------------------------
    def _check_actor(self, session: orm.Session, actor: str, actor_id: str) -> None:
        if actor == "user":
            self.svc.users.get_row(session, actor_id)
        else:
            self.svc.users.get_group_row(session, actor_id)

    def _check_target(self, session: orm.Session, target: str, target_id: str) -> None:
        if target == "project":
            self.svc.resources.get_project_row(session, target_id)
        elif target == "domain":
            self.svc.resources.get_domain_row(session, target_id)
        elif target_id != "all":
            raise errors.NotFound(f"Could not find system scope: {target_id}.")

    def grant(self, actor: str, actor_id: str, target: str, target_id: str, role_id: str, *,
              inherited: bool = False) -> None:
        with self.svc.db.writer() as session:
            self._check_actor(session, actor, actor_id)
            self._check_target(session, target, target_id)
            role = self.get_role_row(session, role_id)
            if role.domain_id != models.GLOBAL_ROLE_DOMAIN:
                target_domain = target_id if target == "domain" else (
                    self.svc.resources.get_project_row(session, target_id).domain_id if target == "project" else None)
                if target_domain != role.domain_id:
                    raise errors.Forbidden("Domain-specific roles can only be assigned within their domain.")
            key = (_type(actor, target), actor_id, target_id, role_id, inherited)
            if session.get(models.Assignment, key) is None:
                session.add(models.Assignment(type=key[0], actor_id=actor_id, target_id=target_id,
                                              role_id=role_id, inherited=inherited))
        self.svc.changed("role_assignment", "created", role_id)

    def check_grant(self, actor: str, actor_id: str, target: str, target_id: str, role_id: str, *,
                    inherited: bool = False) -> None:
        with self.svc.db.reader() as session:
            self._check_actor(session, actor, actor_id)
            self._check_target(session, target, target_id)
            self.get_role_row(session, role_id)
            if session.get(models.Assignment, (_type(actor, target), actor_id, target_id, role_id, inherited)) is None:
                raise errors.NotFound(f"Could not find role assignment with role: {role_id}, {actor}: {actor_id}, "
                                      f"{target}: {target_id}.")

    def revoke(self, actor: str, actor_id: str, target: str, target_id: str, role_id: str, *,
               inherited: bool = False) -> None:
        with self.svc.db.writer() as session:
            self._check_actor(session, actor, actor_id)
            self._check_target(session, target, target_id)
            self.get_role_row(session, role_id)
            row = session.get(models.Assignment, (_type(actor, target), actor_id, target_id, role_id, inherited))
            if row is None:
                raise errors.NotFound(f"Could not find role assignment with role: {role_id}, {actor}: {actor_id}, "
                                      f"{target}: {target_id}.")
            session.delete(row)
            if actor == "user":
                self.svc.revocation.add(session, user_id=actor_id, project_id=target_id if target == "project"
                                        else None)
                if target == "project":
                    session.flush()
                    if not self.effective_role_ids(session, actor_id, project_id=target_id):
                        self.svc.app_creds.delete_for_project(session, target_id, user_id=actor_id)
            else:
                members = session.scalars(sa.select(models.GroupMembership.user_id).where(
                    models.GroupMembership.group_id == actor_id)).all()
                for user_id in members:
                    self.svc.revocation.add(session, user_id=user_id)
        self.svc.changed("role_assignment", "deleted", role_id)

    def list_grants(self, actor: str, actor_id: str, target: str, target_id: str, *,
                    inherited: bool = False) -> list[dict[str, Any]]:
        with self.svc.db.reader() as session:
            self._check_actor(session, actor, actor_id)
            self._check_target(session, target, target_id)
            rows = session.scalars(sa.select(models.Role).join(
                models.Assignment, models.Assignment.role_id == models.Role.id).where(
                models.Assignment.type == _type(actor, target), models.Assignment.actor_id == actor_id,
                models.Assignment.target_id == target_id, models.Assignment.inherited.is_(inherited))).all()
            return [role_dict(r) for r in rows]

    # -- cleanup helpers for other managers -----------------------------------------
    def delete_for_actor(self, session: orm.Session, actor_id: str) -> None:
        session.execute(sa.delete(models.Assignment).where(models.Assignment.actor_id == actor_id))

    def delete_for_target(self, session: orm.Session, target_id: str) -> None:
        session.execute(sa.delete(models.Assignment).where(models.Assignment.target_id == target_id))

    def delete_for_domain(self, session: orm.Session, domain_id: str) -> None:
        self.delete_for_target(session, domain_id)
        for role in session.scalars(sa.select(models.Role).where(models.Role.domain_id == domain_id)).all():
            session.execute(sa.delete(models.Assignment).where(models.Assignment.role_id == role.id))
            session.execute(sa.delete(models.ImpliedRole).where(sa.or_(
                models.ImpliedRole.prior_role_id == role.id, models.ImpliedRole.implied_role_id == role.id)))
            session.delete(role)

    # -- effective roles -----------------------------------------------------------
    def _direct_rows(self, session: orm.Session, actor_ids: list[str], targets: list[tuple[str, str, bool | None]]
                     ) -> list[models.Assignment]:
        """Assignments of the actors on (type-suffix, target_id, inherited) targets."""
        if not actor_ids or not targets:
            return []
        conditions = []
        for suffix, target_id, inherited in targets:
            cond = sa.and_(models.Assignment.type.in_([f"User{suffix}", f"Group{suffix}"]),
                           models.Assignment.target_id == target_id)
            if inherited is not None:
                cond = sa.and_(cond, models.Assignment.inherited.is_(inherited))
            conditions.append(cond)
        return list(session.scalars(sa.select(models.Assignment).where(
            models.Assignment.actor_id.in_(actor_ids), sa.or_(*conditions))).all())

    def effective_role_ids(self, session: orm.Session, user_id: str, *, project_id: str | None = None,
                           domain_id: str | None = None, system: str | None = None) -> set[str]:
        actors = [user_id] + self.svc.users.group_ids_for_user(session, user_id)
        targets: list[tuple[str, str, bool | None]] = []
        if project_id:
            project = session.get(models.Project, project_id)
            if project is None:
                return set()
            # Inherited assignments apply below their target, never to the target itself.
            targets.append(("Project", project_id, False))
            for parent in self.svc.resources.parents(session, project):
                targets.append(("Project", parent.id, True))
            targets.append(("Domain", project.domain_id, True))
        elif domain_id:
            targets.append(("Domain", domain_id, False))
        elif system:
            targets.append(("System", system, None))
        role_ids = {row.role_id for row in self._direct_rows(session, actors, targets)}
        return self.expand(session, role_ids)

    def expand(self, session: orm.Session, role_ids: set[str]) -> set[str]:
        """Add implied roles; drop domain-specific roles (only what they imply counts)."""
        if not role_ids:
            return set()
        everything = role_ids | self._implied_closure(session, role_ids)
        rows = session.scalars(sa.select(models.Role).where(models.Role.id.in_(everything))).all()
        return {r.id for r in rows if r.domain_id == models.GLOBAL_ROLE_DOMAIN}

    def roles_by_ids(self, session: orm.Session, role_ids: Iterable[str]) -> list[dict[str, str]]:
        ids = list(role_ids)
        if not ids:
            return []
        rows = session.scalars(sa.select(models.Role).where(models.Role.id.in_(ids)).order_by(models.Role.name)).all()
        return [{"id": r.id, "name": r.name} for r in rows]

    def user_projects(self, user_id: str, filters: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Projects on which the user has any effective role (also via groups and inheritance)."""
        from monostack.identity.service.resources import project_dict
        with self.svc.db.reader() as session:
            self.svc.users.get_row(session, user_id)
            actors = [user_id] + self.svc.users.group_ids_for_user(session, user_id)
            rows = session.scalars(sa.select(models.Assignment).where(
                models.Assignment.actor_id.in_(actors))).all()
            project_ids: set[str] = set()
            for row in rows:
                if row.type.endswith("Project"):
                    if not row.inherited:
                        project_ids.add(row.target_id)
                    else:
                        parent = session.get(models.Project, row.target_id)
                        if parent is not None:
                            project_ids.update(p.id for p in self.svc.resources.subtree(session, parent))
                elif row.type.endswith("Domain") and row.inherited:
                    project_ids.update(session.scalars(sa.select(models.Project.id).where(
                        models.Project.domain_id == row.target_id, models.Project.is_domain.is_(False))))
            projects = session.scalars(sa.select(models.Project).where(
                models.Project.id.in_(project_ids)).order_by(models.Project.name)).all() if project_ids else []
            result = [project_dict(p) for p in projects]
        return apply_filters(result, filters or {}, ("name", "enabled", "domain_id", "id"))

    def user_domains(self, user_id: str) -> list[dict[str, Any]]:
        from monostack.identity.service.resources import domain_dict
        with self.svc.db.reader() as session:
            actors = [user_id] + self.svc.users.group_ids_for_user(session, user_id)
            domain_ids = set(session.scalars(sa.select(models.Assignment.target_id).where(
                models.Assignment.actor_id.in_(actors), models.Assignment.type.in_(["UserDomain", "GroupDomain"]),
                models.Assignment.inherited.is_(False))))
            rows = session.scalars(sa.select(models.Project).where(models.Project.id.in_(domain_ids))).all() \
                if domain_ids else []
            return [domain_dict(r) for r in rows if r.enabled]

    def user_has_system(self, user_id: str) -> bool:
        with self.svc.db.reader() as session:
            return bool(self.effective_role_ids(session, user_id, system="all"))

    # -- /v3/role_assignments ---------------------------------------------------------
    def list_role_assignments(self, query: dict[str, Any]) -> list[dict[str, Any]]:
        effective = _flag(query, "effective")
        include_names = _flag(query, "include_names")
        include_subtree = _flag(query, "include_subtree")
        user_id, group_id, role_id = query.get("user.id"), query.get("group.id"), query.get("role.id")
        project_id, domain_id = query.get("scope.project.id"), query.get("scope.domain.id")
        system = query.get("scope.system")
        inherited_to = query.get("scope.OS-INHERIT:inherited_to")
        if effective and group_id:
            raise errors.ValidationError("Combining effective and group filter will always result in an empty list.")
        if include_subtree and not project_id:
            raise errors.ValidationError("scope.project.id must be specified if include_subtree is also specified.")
        if project_id and domain_id:
            raise errors.ValidationError("Specify a domain or project, not both.")

        with self.svc.db.reader() as session:
            rows = list(session.scalars(sa.select(models.Assignment)).all())
            out: list[dict[str, Any]] = []
            if effective:
                out = self._effective_assignments(session, rows)
            else:
                for row in rows:
                    out.append(self._assignment_entry(row))
            # Filters.
            project_ids = None
            if project_id:
                project_ids = {project_id}
                if include_subtree:
                    project_row = session.get(models.Project, project_id)
                    if project_row is not None:
                        project_ids.update(p.id for p in self.svc.resources.subtree(session, project_row))

            def keep(entry: dict[str, Any]) -> bool:
                scope = entry["scope"]
                if user_id and entry.get("user", {}).get("id") != user_id:
                    return False
                if group_id and entry.get("group", {}).get("id") != group_id:
                    return False
                if role_id and entry["role"]["id"] != role_id:
                    return False
                if project_ids is not None and scope.get("project", {}).get("id") not in project_ids:
                    return False
                if domain_id and scope.get("domain", {}).get("id") != domain_id:
                    return False
                if system and "system" not in scope:
                    return False
                if inherited_to and scope.get("OS-INHERIT:inherited_to") != inherited_to:
                    return False
                return True

            out = [e for e in out if keep(e)]
            if include_names:
                self._add_names(session, out)
        # De-duplicate (effective expansion can yield the same entry twice).
        seen, unique = set(), []
        for entry in out:
            key = repr(sorted((k, repr(v)) for k, v in entry.items()))
            if key not in seen:
                seen.add(key)
                unique.append(entry)
        return unique

    def _assignment_entry(self, row: models.Assignment, *, user_id: str | None = None,
                          target_override: tuple[str, str] | None = None, via_group: str | None = None,
                          role_id: str | None = None, prior_role: str | None = None) -> dict[str, Any]:
        actor_kind = "user" if row.type.startswith("User") or user_id else "group"
        target_kind = target_override[0] if target_override else row.type[4:].lower() if row.type.startswith(
            "User") else row.type[5:].lower()
        target_id = target_override[1] if target_override else row.target_id
        entry: dict[str, Any] = {"role": {"id": role_id or row.role_id},
                                 actor_kind: {"id": user_id or row.actor_id}}
        if target_kind == "system":
            entry["scope"] = {"system": {"all": True}}
        else:
            entry["scope"] = {target_kind: {"id": target_id}}
        if row.inherited and target_override is None:
            entry["scope"]["OS-INHERIT:inherited_to"] = "projects"
        links: dict[str, str] = {}
        if via_group:
            links["membership"] = f"/v3/groups/{via_group}/users/{user_id}"
        if prior_role:
            links["prior_role"] = f"/v3/roles/{prior_role}"
        entry["links"] = links
        return entry

    def _effective_assignments(self, session: orm.Session, rows: list[models.Assignment]) -> list[dict[str, Any]]:
        members: dict[str, list[str]] = {}
        for m in session.scalars(sa.select(models.GroupMembership)).all():
            members.setdefault(m.group_id, []).append(m.user_id)
        # Domain-specific roles never show as effective, only the global roles they imply.
        domain_roles = set(session.scalars(sa.select(models.Role.id).where(
            models.Role.domain_id != models.GLOBAL_ROLE_DOMAIN)))
        out = []
        for row in rows:
            users = [(row.actor_id, None)] if row.type.startswith("User") else [
                (u, row.actor_id) for u in members.get(row.actor_id, [])]
            if row.inherited:
                if row.type.endswith("Domain"):
                    targets = list(session.scalars(sa.select(models.Project.id).where(
                        models.Project.domain_id == row.target_id, models.Project.is_domain.is_(False))))
                else:
                    parent = session.get(models.Project, row.target_id)
                    targets = [p.id for p in self.svc.resources.subtree(session, parent)] if parent else []
                target_list = [("project", t) for t in targets]
            else:
                target_list = [None]  # the assignment's own target
            implied = self._implied_closure(session, [row.role_id])
            for user, group in users:
                for target in target_list:
                    if row.role_id not in domain_roles:
                        out.append(self._assignment_entry(row, user_id=user, target_override=target,
                                                          via_group=group))
                    for implied_id in implied - domain_roles:
                        out.append(self._assignment_entry(row, user_id=user, target_override=target, via_group=group,
                                                          role_id=implied_id, prior_role=row.role_id))
        return out

    def _add_names(self, session: orm.Session, entries: list[dict[str, Any]]) -> None:
        def domain_ref(domain_id: str) -> dict[str, str]:
            domain = session.get(models.Project, domain_id)
            return {"id": domain_id, "name": domain.name if domain else ""}

        for entry in entries:
            role = session.get(models.Role, entry["role"]["id"])
            if role is not None:
                entry["role"]["name"] = role.name
                if role.domain_id != models.GLOBAL_ROLE_DOMAIN:
                    entry["role"]["domain"] = domain_ref(role.domain_id)
            if "user" in entry:
                user = session.get(models.User, entry["user"]["id"])
                if user is not None:
                    entry["user"].update(name=user.name, domain=domain_ref(user.domain_id))
            if "group" in entry:
                group = session.get(models.Group, entry["group"]["id"])
                if group is not None:
                    entry["group"].update(name=group.name, domain=domain_ref(group.domain_id))
            scope = entry["scope"]
            if "project" in scope:
                project = session.get(models.Project, scope["project"]["id"])
                if project is not None:
                    scope["project"].update(name=project.name, domain=domain_ref(project.domain_id))
            if "domain" in scope:
                scope["domain"].update(domain_ref(scope["domain"]["id"]))
