"""The Image service plugged into the cloud (see monostack.services)."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from monostack.services import CatalogEntry, ServicePlugin

LOG = logging.getLogger(__name__)

if TYPE_CHECKING:
    from monostack.cloud import Cloud
    from monostack.image.service import ImageService


class ImagePlugin(ServicePlugin):
    name = "image"
    catalog = (CatalogEntry(type="image", name="glance", path="/image", description="Image Service"),)

    def __init__(self) -> None:
        self.service: "ImageService | None" = None
        self._guest_task: asyncio.Task | None = None
        self._recover_task: asyncio.Task | None = None

    def prepare(self, cloud: "Cloud") -> None:
        """Migrations, the stores, and the repair of uploads and imports a crash interrupted."""
        from monostack.common.migrate import upgrade
        from monostack.image.service import ImageService
        from monostack.image.store import load_stores, parse_backends

        db = cloud.database("image")
        upgrade(db, "image")
        if any(kind == "swift" for _, kind in parse_backends(cloud.conf)):
            self._grant_swift_project(cloud)
        stores = load_stores(cloud.conf, identity_url=cloud.auth_url, password=cloud.passwords.get("admin", ""))
        self.service = ImageService(cloud.conf, db, stores=stores, bus=cloud.bus, loop=cloud.loop)
        self.service.recover()

    @staticmethod
    def _grant_swift_project(cloud: "Cloud") -> None:
        """The swift store keeps images in the service project's account: with the default
        credentials (this cloud's admin), give admin the admin role on that project, as
        devstack gives glance its role on "service"."""
        identity = cloud.identity
        conf = cloud.conf.image
        if identity is None or conf.swift_store_auth_address or conf.swift_store_key:
            return  # other credentials: their operator grants the role
        users = identity.users.list_users({"name": conf.swift_store_user, "domain_id": "default"})
        with identity.db.reader() as session:
            try:
                project_id = identity.resources.project_by_name(session, conf.swift_store_project, "default").id
            except Exception:
                project_id = None
            role = identity.assignments.role_by_name(session, "admin")
            role_id = role.id if role is not None else None
        if not users or project_id is None or role_id is None:
            LOG.warning("swift store: user %s or project %s not found; grant the user a role on the project",
                        conf.swift_store_user, conf.swift_store_project)
            return
        identity.assignments.grant("user", users[0]["id"], "project", project_id, role_id)

    def app(self, cloud: "Cloud") -> Any:
        from monostack.image import api

        assert self.service is not None
        _app, asgi = api.build(self.service, cloud.validator, max_body_size=cloud.conf.default.max_request_body_size,
                               identity_uri=cloud.auth_url)
        return asgi

    async def start(self, cloud: "Cloud") -> None:
        assert self.service is not None
        if any(not store.local for store in self.service.backends.values()):
            self._recover_task = asyncio.create_task(self._recover_remote())
        if cloud.conf.image.guest_images:
            self._guest_task = asyncio.create_task(self._register_guest_images(cloud))

    async def _register_guest_images(self, cloud: "Cloud") -> None:
        from monostack.image import guest_images

        assert self.service is not None and cloud.identity is not None
        try:
            owner = await asyncio.to_thread(cloud.identity.resources.admin_project_id)
            await asyncio.to_thread(guest_images.register, self.service,
                                    guest_images.cache_dir(cloud.conf.image.guest_cache_dir), owner)
        except Exception:  # no guest image is no reason to stop the cloud
            LOG.exception("could not build or register the guest images")

    async def _recover_remote(self) -> None:
        """Segments an interrupted write left in Object Storage, removed once it answers."""
        assert self.service is not None
        for delay in (2, 5, 10, 30, 60):
            await asyncio.sleep(delay)
            try:
                removed = await asyncio.to_thread(self.service.recover_remote)
            except Exception as exc:  # not up yet: try again later
                LOG.info("could not clean the remote image stores yet: %s", exc)
                continue
            if removed:
                LOG.warning("removed %d segments of interrupted image writes", removed)
            return

    async def stop(self, cloud: "Cloud") -> None:
        for task in (self._guest_task, self._recover_task):
            if task is not None and not task.done():
                task.cancel()
        if self.service is not None:
            self.service.close()
