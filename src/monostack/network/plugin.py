"""The Networking service plugged into the cloud (see monostack.services).

This process holds the Neutron API and its service layer; the data-plane
agent (monostack.network.dataplane) subscribes to the service's notifications
and asks `NetworkService.host_state(host)` for the picture it converges to.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from typing import TYPE_CHECKING, Any

from monostack.services import CatalogEntry, ServicePlugin

if TYPE_CHECKING:
    from monostack.cloud import Cloud
    from monostack.network.service import NetworkService

LOG = logging.getLogger(__name__)


class NetworkPlugin(ServicePlugin):
    name = "network"
    catalog = (CatalogEntry(type="network", name="neutron", path="/networking", description="Networking Service"),)

    def __init__(self) -> None:
        self.service: "NetworkService | None" = None
        self.agent: Any = None
        self.auth: Any = None

    def prepare(self, cloud: "Cloud") -> None:
        """Migrations, then the repair of what a crash left mid-way (ports in BUILD)."""
        from monostack.common.migrate import upgrade
        from monostack.network.service import NetworkService

        db = cloud.database("network")
        upgrade(db, "network")
        host = cloud.conf.default.host or socket.gethostname()
        self.service = NetworkService(cloud.conf, db, bus=cloud.bus, loop=cloud.loop, host=host)
        self.service.recover()
        if cloud.conf.network.bootstrap:
            self._bootstrap(cloud)

    def _bootstrap(self, cloud: "Cloud") -> None:
        from monostack.network import bootstrap

        assert self.service is not None and cloud.identity is not None
        resources = cloud.identity.resources
        admin_project = resources.admin_project_id()
        if admin_project is None:
            return
        try:
            with cloud.identity.db.reader() as session:
                demo_project = resources.project_by_name(session, "demo", "default").id
        except Exception:  # no demo project: only the public network
            demo_project = None
        bootstrap.run(self.service, admin_project, demo_project)

    def app(self, cloud: "Cloud") -> Any:
        from monostack.network import api

        assert self.service is not None
        _app, asgi = api.build(self.service, cloud.validator, max_body_size=cloud.conf.default.max_request_body_size,
                               identity_uri=cloud.auth_url)
        return asgi

    async def start(self, cloud: "Cloud") -> None:
        """Serve the agents' endpoint on the bus, tell Compute about its ports, run this host's agent."""
        from monostack.common.service_auth import ServiceAuth
        from monostack.network import agent
        from monostack.network.nova_notifier import NovaNotifier
        from monostack.network.rpc import TOPIC, AgentEndpoint

        assert self.service is not None
        endpoint = AgentEndpoint(self.service)
        await cloud.bus.serve(TOPIC, endpoint)
        self.auth = ServiceAuth(cloud.auth_url, username="admin", password=cloud.passwords["admin"],
                                project_name="admin", region=cloud.conf.default.region)
        notifier = NovaNotifier(self.auth, asyncio.get_running_loop())
        self.service.on_vif_plugged = notifier.vif_plugged
        self.service.on_vif_unplugged = notifier.vif_unplugged
        for event_type in ("port.delete.end", "floatingip.*"):
            await cloud.bus.subscribe(notifier.notification, event_types=event_type, pool="nova-notifier")
        if cloud.conf.network.run_agent:
            if os.geteuid() != 0:
                LOG.error("the Networking agent needs root: no bridges, DHCP or routers on this host")
                return
            self.agent = agent.build(endpoint, cloud.bus, cloud.conf, self.service.host,
                                     cloud.public_url)
            await self.agent.start()

    async def stop(self, cloud: "Cloud") -> None:
        """The agent stops (its bridges, namespaces and rules stay and keep working)."""
        if self.agent is not None:
            await self.agent.stop()
        if self.auth is not None:
            await self.auth.close()
