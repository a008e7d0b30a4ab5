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

    def prepare(self, cloud: "Cloud") -> None:
        """Migrations, the store, and the repair of uploads and imports a crash interrupted."""
        from monostack.common.migrate import upgrade
        from monostack.image.service import ImageService

        db = cloud.database("image")
        upgrade(db, "image")
        self.service = ImageService(cloud.conf, db, bus=cloud.bus, loop=cloud.loop)
        self.service.recover()

    def app(self, cloud: "Cloud") -> Any:
        from monostack.image import api

        assert self.service is not None
        _app, asgi = api.build(self.service, cloud.validator, max_body_size=cloud.conf.default.max_request_body_size,
                               identity_uri=cloud.auth_url)
        return asgi

    async def start(self, cloud: "Cloud") -> None:
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

    async def stop(self, cloud: "Cloud") -> None:
        if self._guest_task is not None and not self._guest_task.done():
            self._guest_task.cancel()
        if self.service is not None:
            self.service.close()
