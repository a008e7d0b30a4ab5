"""Block Storage plugged into the cloud (see monostack.services).

One process holds the API, the scheduler (service/hosts.py) and, unless
[volume] run_manager is off, the volume manager of this host's backend
(host@backend).  The API casts backend work to the manager; the manager reaches
the Image service (volumes from images, uploads), Compute (online extend) and the
backup store over HTTP with the service's own token.
"""

from __future__ import annotations

import logging
import pathlib
import socket
from typing import TYPE_CHECKING, Any

from monostack.services import CatalogEntry, ServicePlugin

if TYPE_CHECKING:
    from monostack.cloud import Cloud
    from monostack.volume.manager import VolumeManager
    from monostack.volume.service import VolumeService

LOG = logging.getLogger(__name__)

# Two catalog entries, one app, as DevStack registers Cinder: clients look for either type.
BLOCK_STORAGE = CatalogEntry(type="block-storage", name="cinder", path="/volume", description="Block Storage",
                             url_suffix="/v3/$(project_id)s")
VOLUMEV3 = CatalogEntry(type="volumev3", name="cinderv3", path="/volume", description="Block Storage v3",
                        url_suffix="/v3/$(project_id)s")


class VolumePlugin(ServicePlugin):
    name = "volume"
    catalog = (BLOCK_STORAGE, VOLUMEV3)

    def __init__(self) -> None:
        self.service: "VolumeService | None" = None
        self.managers: list["VolumeManager"] = []
        self.auth: Any = None
        self._asgi: Any = None

    def prepare(self, cloud: "Cloud") -> None:
        from monostack.common.migrate import upgrade
        from monostack.volume.service import VolumeService

        db = cloud.database("volume")
        upgrade(db, "volume")
        self.service = VolumeService(cloud.conf, db, bus=cloud.bus, loop=cloud.loop)
        self.service.ensure_defaults()

    def app(self, cloud: "Cloud") -> Any:
        if self._asgi is not None:  # one app for both catalog entries
            return self._asgi
        from monostack.common.service_auth import ServiceAuth
        from monostack.compute.image_api import ImageAPI
        from monostack.volume import api
        from monostack.volume.compute_api import ComputeAPI

        svc = self.service
        assert svc is not None
        self.auth = ServiceAuth(cloud.auth_url, username="admin", password=cloud.passwords["admin"],
                                project_name="admin", region=cloud.conf.default.region)
        state_dir = pathlib.Path(cloud.conf.volume.state_dir)
        # The Image service client is Compute's (an HTTP client of the Image API, no Compute state).
        svc.images = ImageAPI(self.auth, state_dir / "_images")
        svc.compute = ComputeAPI(self.auth)
        _app, self._asgi = api.build(svc, cloud.validator, max_body_size=cloud.conf.default.max_request_body_size,
                                     identity_uri=cloud.auth_url)
        return self._asgi

    async def start(self, cloud: "Cloud") -> None:
        from monostack.volume.manager import VolumeManager, load_driver

        svc = self.service
        assert svc is not None
        conf = cloud.conf.volume
        if not conf.run_manager:
            return
        host = cloud.conf.default.host or socket.gethostname()
        state_dir = pathlib.Path(conf.state_dir)
        for backend in conf.enabled_backends or [conf.backend_name]:
            driver = load_driver(conf.driver, cloud.conf, state_dir / backend, backend)
            manager = VolumeManager(svc, driver, host=host, backend_name=backend,
                                    zone=conf.storage_availability_zone,
                                    backup_store=self._backup_store(cloud, driver))
            svc.managers[manager.backend] = manager
            self.managers.append(manager)
            await manager.start()

    def _backup_store(self, cloud: "Cloud", driver: Any) -> Any:
        try:
            from monostack.volume.backup import make_engine
        except ImportError:
            LOG.warning("no backup engine: backups will fail")
            return None
        from monostack.volume.backup_adapter import EngineBackupStore

        auth = self.auth if "object" in cloud.conf.default.services else None
        engine = make_engine(cloud.conf, cloud.conf.data_dir, auth=auth)
        return EngineBackupStore(engine, getattr(driver, "volume_format", "raw"))

    async def stop(self, cloud: "Cloud") -> None:
        for manager in self.managers:
            await manager.stop()
        if self.service is not None:
            # Work in flight is cancelled: the next start's recovery finishes or rolls it back.
            self.service.close()
        if self.auth is not None:
            await self.auth.close()
