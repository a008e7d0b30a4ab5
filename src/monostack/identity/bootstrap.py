"""Bootstrap: the default domain, the personas' roles, the admin/demo/alt_demo
users and projects, and the catalog entries of the services this cloud runs.

Every step is "ensure": it creates what is missing and leaves what exists, so
it runs on every start and finishes a bootstrap a crash interrupted.  The
passwords are generated once and kept (0600) in DIR/credentials.yaml, written
before any user is created.
"""

from __future__ import annotations

import logging
import os
import pathlib
import secrets
from typing import Any

import sqlalchemy as sa
import yaml

from monostack.identity import models
from monostack.identity.service import IdentityService
from monostack.services import CatalogEntry

LOG = logging.getLogger(__name__)

DEFAULT_DOMAIN = "default"
ROLES = ["admin", "member", "reader", "manager", "service"]
IMPLIES = [("admin", "manager"), ("manager", "member"), ("member", "reader")]
# (user, project, role on the project)
MANAGED = "monostack_managed"  # marks the catalog services bootstrap made
PEOPLE = [("admin", "admin", "admin"), ("demo", "demo", "member"), ("alt_demo", "alt_demo", "member")]
EXTRA_PROJECTS = ["service"]


def load_passwords(path: pathlib.Path) -> dict[str, str]:
    """Generated once per install and kept beside the data."""
    if path.exists():
        data = yaml.safe_load(path.read_text()) or {}
        passwords = data.get("passwords", {})
    else:
        passwords = {}
    missing = [user for user, _, _ in PEOPLE if user not in passwords]
    if missing:
        for user in missing:
            passwords[user] = secrets.token_urlsafe(18)
        write_private(path, yaml.safe_dump({"passwords": passwords}))
    return passwords


def write_private(path: pathlib.Path, text: str) -> None:
    """Atomic write of a 0600 file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


class Bootstrap:
    def __init__(self, identity: IdentityService, passwords: dict[str, str]):
        self.identity = identity
        self.passwords = passwords

    def run(self, public_url: str, region: str, catalog: list[CatalogEntry]) -> None:
        self.identity.setup_keys()
        self._domain()
        roles = self._roles()
        projects = self._projects()
        for user, project, role in PEOPLE:
            user_id = self._user(user, projects[project])
            self._grant("user", user_id, "project", projects[project], roles[role])
        admin_id = self._user_id("admin")
        self._grant("user", admin_id, "system", "all", roles["admin"])
        self._grant("user", admin_id, "domain", DEFAULT_DOMAIN, roles["admin"])
        self._catalog(public_url.rstrip("/"), region, catalog)

    # -- steps ----------------------------------------------------------------
    def _domain(self) -> None:
        with self.identity.db.reader() as session:
            if session.get(models.Project, DEFAULT_DOMAIN) is not None:
                return
        self.identity.resources.create_domain({"id": DEFAULT_DOMAIN, "name": "Default",
                                               "description": "The default domain"})

    def _roles(self) -> dict[str, str]:
        ids = {}
        with self.identity.db.reader() as session:
            for name in ROLES:
                row = self.identity.assignments.role_by_name(session, name)
                if row is not None:
                    ids[name] = row.id
        for name in ROLES:
            if name not in ids:
                ids[name] = self.identity.assignments.create_role({"name": name})["id"]
        with self.identity.db.reader() as session:
            existing = set(session.execute(sa.select(models.ImpliedRole.prior_role_id,
                                                     models.ImpliedRole.implied_role_id)).all())
        for prior, implied in IMPLIES:
            if (ids[prior], ids[implied]) not in existing:
                self.identity.assignments.create_implied(ids[prior], ids[implied])
        return ids

    def _projects(self) -> dict[str, str]:
        ids = {}
        wanted = [p for _, p, _ in PEOPLE] + EXTRA_PROJECTS
        with self.identity.db.reader() as session:
            for name in wanted:
                row = session.scalar(sa.select(models.Project).where(
                    models.Project.name == name, models.Project.domain_id == DEFAULT_DOMAIN))
                if row is not None:
                    ids[name] = row.id
        for name in wanted:
            if name not in ids:
                ids[name] = self.identity.resources.create_project(
                    {"name": name, "domain_id": DEFAULT_DOMAIN,
                     "description": f"Bootstrap project for {name}"})["id"]
        return ids

    def _user_id(self, name: str) -> str | None:
        with self.identity.db.reader() as session:
            return session.scalar(sa.select(models.User.id).where(models.User.name == name,
                                                                  models.User.domain_id == DEFAULT_DOMAIN))

    def _user(self, name: str, project_id: str) -> str:
        user_id = self._user_id(name)
        if user_id is None:
            # The bootstrap passwords are the cloud's own: exempt from expiry and lockout,
            # as Keystone's bootstrap does for its admin.
            user_id = self.identity.users.create_user({
                "name": name, "domain_id": DEFAULT_DOMAIN, "password": self.passwords[name],
                "default_project_id": project_id,
                "options": {"ignore_password_expiry": True, "ignore_lockout_failure_attempts": True,
                            "ignore_change_password_upon_first_use": True}})["id"]
        return user_id

    def _grant(self, actor: str, actor_id: str, target: str, target_id: str, role_id: str) -> None:
        with self.identity.db.reader() as session:
            kind = {"project": "UserProject", "domain": "UserDomain", "system": "UserSystem"}[target]
            if session.get(models.Assignment, (kind, actor_id, target_id, role_id, False)) is not None:
                return
        self.identity.assignments.grant(actor, actor_id, target, target_id, role_id)

    def _catalog(self, public_url: str, region: str, entries: list[CatalogEntry]) -> None:
        catalog = self.identity.catalog
        if not any(r["id"] == region for r in catalog.list_regions({})):
            catalog.create_region({"id": region, "description": ""})
        services = catalog.list_services({})
        endpoints = catalog.list_endpoints({})
        running = set()
        for entry in entries:
            service = next((s for s in services if s["type"] == entry.type and s.get("name") == entry.name), None)
            if service is None:
                service = catalog.create_service({"type": entry.type, "name": entry.name,
                                                  "description": entry.description, MANAGED: True})
            elif not service["enabled"]:
                catalog.update_service(service["id"], {"enabled": True})
            running.add(service["id"])
            url = public_url + entry.path + entry.url_suffix
            for interface in ("public", "internal", "admin"):
                existing = [e for e in endpoints if e["service_id"] == service["id"]
                            and e["interface"] == interface and e["region_id"] == region]
                if not existing:
                    catalog.create_endpoint({"service_id": service["id"], "interface": interface, "url": url,
                                             "region_id": region})
                elif existing[0]["url"] != url:  # the cloud moved (another --bind): follow it
                    catalog.update_endpoint(existing[0]["id"], {"url": url})
        # A service this cloud ran before but runs no more leaves the catalog (operators' own entries stay).
        for service in services:
            if service.get(MANAGED) and service["enabled"] and service["id"] not in running:
                catalog.update_service(service["id"], {"enabled": False})


def clouds_yaml(auth_url: str, region: str, passwords: dict[str, str]) -> dict[str, Any]:
    def cloud(user: str, project: str | None, system: bool = False) -> dict[str, Any]:
        auth: dict[str, Any] = {"auth_url": auth_url, "username": user, "password": passwords[user],
                                "user_domain_id": DEFAULT_DOMAIN}
        if system:
            auth["system_scope"] = "all"
        else:
            auth.update(project_name=project, project_domain_id=DEFAULT_DOMAIN)
        return {"auth": auth, "region_name": region, "identity_api_version": 3, "interface": "public"}

    clouds = {}
    for prefix in ("monostack", "devstack"):
        clouds[f"{prefix}-admin"] = cloud("admin", "admin")
        clouds[prefix] = cloud("demo", "demo")
        clouds[f"{prefix}-alt"] = cloud("alt_demo", "alt_demo")
        clouds[f"{prefix}-system-admin"] = cloud("admin", None, system=True)
    return {"clouds": clouds}


def openrc(auth_url: str, region: str, passwords: dict[str, str]) -> str:
    return "\n".join([
        "# Source this file to use the openstack CLI as the cloud's admin.",
        f"export OS_AUTH_URL={auth_url}",
        "export OS_USERNAME=admin",
        f"export OS_PASSWORD='{passwords['admin']}'",
        "export OS_PROJECT_NAME=admin",
        f"export OS_USER_DOMAIN_ID={DEFAULT_DOMAIN}",
        f"export OS_PROJECT_DOMAIN_ID={DEFAULT_DOMAIN}",
        f"export OS_REGION_NAME={region}",
        "export OS_IDENTITY_API_VERSION=3",
        "export OS_INTERFACE=public",
        "",
    ])
