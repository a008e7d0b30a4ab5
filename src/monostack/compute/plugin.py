"""The Compute service plugged into the cloud (see monostack.services).

One process holds the API, the conductor (with the scheduler) and, unless
[compute] run_agent is off, the compute agent of this host.  They talk the
way they would across hosts: the API and conductor cast to the agent over
the bus, everyone reaches Placement and the Image service over HTTP with the
service's own token.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import TYPE_CHECKING, Any

from monostack.services import CatalogEntry, ServicePlugin

if TYPE_CHECKING:
    from monostack.cloud import Cloud
    from monostack.compute.agent import ComputeAgent
    from monostack.compute.service import ComputeService

LOG = logging.getLogger(__name__)

class ComputePlugin(ServicePlugin):
    name = "compute"
    catalog = (CatalogEntry(type="compute", name="nova", path="/compute", description="Compute Service",
                            url_suffix="/v2.1"),)

    def __init__(self) -> None:
        self.service: "ComputeService | None" = None
        self.agent: "ComputeAgent | None" = None
        self.auth: Any = None
        self._heartbeat: asyncio.Task | None = None

    def prepare(self, cloud: "Cloud") -> None:
        from monostack.common.migrate import upgrade
        from monostack.compute.service import ComputeService

        db = cloud.database("compute")
        upgrade(db, "compute")
        self.service = ComputeService(cloud.conf, db, bus=cloud.bus, loop=cloud.loop)
        self.service.flavors.ensure_defaults()

    def app(self, cloud: "Cloud") -> Any:
        from monostack.compute import api

        assert self.service is not None
        self._wire(cloud)
        _app, asgi = api.build(self.service, cloud.validator, max_body_size=cloud.conf.default.max_request_body_size,
                               identity_uri=cloud.auth_url)
        metadata_app = self._metadata_app(cloud)
        if metadata_app is not None:
            _app.mount("/metadata", metadata_app)
        return asgi

    def _wire(self, cloud: "Cloud") -> None:
        """The clients and the conductor (before the API serves: handlers use them)."""
        import pathlib

        from monostack.common.service_auth import ServiceAuth
        from monostack.compute.conductor import Conductor
        from monostack.compute.image_api import ImageAPI
        from monostack.compute.network_api import NetworkAPI
        from monostack.compute.scheduler.manager import Scheduler
        from monostack.placement.client import PlacementClient

        svc = self.service
        assert svc is not None
        conf = cloud.conf
        self.auth = ServiceAuth(cloud.auth_url, username="admin", password=cloud.passwords["admin"],
                                project_name="admin", region=conf.default.region)
        state_dir = pathlib.Path(conf.compute.state_dir)

        async def token() -> str:
            return await self.auth.token()

        svc.placement = PlacementClient(f"{cloud.public_url}/placement", token)
        svc.images = ImageAPI(self.auth, state_dir / "_base")
        choice = conf.compute.network_api
        if choice == "neutron" or (choice == "auto" and "network" in conf.default.services):
            from monostack.compute.neutron_api import NeutronNetworkAPI
            svc.network = NeutronNetworkAPI(self.auth)
        else:
            svc.network = NetworkAPI()
        from monostack.compute.volume_api import VolumeAPI
        svc.volumes = VolumeAPI(self.auth)
        svc.scheduler = Scheduler(svc, svc.placement)
        svc.conductor = Conductor(svc, svc.scheduler, svc.placement, cloud.bus)

    def _metadata_app(self, cloud: "Cloud") -> Any:
        try:
            from monostack.compute.metadata_source import MetadataSource
            from monostack.compute.metadata.api import build_app
        except ImportError:
            return None
        assert self.service is not None
        return build_app(MetadataSource(self.service), shared_secret=cloud.conf.compute.metadata_proxy_shared_secret)

    async def start(self, cloud: "Cloud") -> None:
        import pathlib

        from monostack.compute.agent import ComputeAgent

        svc = self.service
        assert svc is not None
        await cloud.bus.serve("conductor", svc.conductor)
        conf = cloud.conf
        host = conf.default.host or socket.gethostname()
        self._heartbeat = asyncio.create_task(self._control_plane_heartbeat(host, conf.compute.heartbeat_interval))
        if conf.compute.run_agent:
            from monostack.compute import drivers
            driver = drivers.load(conf.compute.driver, pathlib.Path(conf.compute.state_dir), conf)
            metadata = None
            try:
                from monostack.compute.metadata_source import ConfigDriveBuilder
                metadata = ConfigDriveBuilder(svc)
            except ImportError:
                pass
            self.agent = ComputeAgent(svc, driver, host=host, placement=svc.placement, images=svc.images,
                                      network=svc.network, bus=cloud.bus, metadata=metadata)
            await self.agent.start()
            svc.console_driver = driver
        await svc.conductor.recover()

    async def _control_plane_heartbeat(self, host: str, interval: float) -> None:
        """The conductor and the scheduler of this process show in os-services like Nova's."""
        assert self.service is not None
        while True:
            for binary, topic in (("nova-conductor", "conductor"), ("nova-scheduler", "scheduler")):
                try:
                    await asyncio.to_thread(self.service.hosts.report, host, binary, topic)
                except Exception:  # a missed heartbeat is retried at the next beat
                    LOG.exception("could not report %s", binary)
            await asyncio.sleep(interval)

    async def stop(self, cloud: "Cloud") -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
        if self.agent is not None:
            await self.agent.stop()
        if self.auth is not None:
            await self.auth.close()
