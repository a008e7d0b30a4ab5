"""The Compute service layer: plain (blocking) functions over the database,
grouped by area, each area a manager on one `ComputeService`.

API handlers parse and authorise, then call these in a worker thread; the
conductor, scheduler and agents (async) call them the same way.  The
managers:
  servers    servers and their lifecycle records (service/servers.py)
  actions    instance actions and their events (service/instance_actions.py)
  hosts      compute services (heartbeats, enable/disable) and compute nodes (service/hosts.py)
  flavors, keypairs, quotas, groups (server groups), aggregates (with availability zones)
"""

from __future__ import annotations

import asyncio
import datetime
import logging
from typing import TYPE_CHECKING, Any

from monostack.common.config import Config
from monostack.common.db import Database
from monostack.common.notify import notify_soon
from monostack.common.policy import Policy
from monostack.compute import options  # noqa: F401  (registers the [compute] and [quota] options)

if TYPE_CHECKING:
    from monostack.common.bus import Bus

LOG = logging.getLogger(__name__)


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


class ComputeService:
    def __init__(self, conf: Config, db: Database, *, bus: "Bus | None" = None,
                 loop: asyncio.AbstractEventLoop | None = None, policy: Policy | None = None):
        from monostack.compute import policies
        from monostack.compute.service.aggregates import AggregateManager
        from monostack.compute.service.flavors import FlavorManager
        from monostack.compute.service.groups import ServerGroupManager
        from monostack.compute.service.hosts import HostManager
        from monostack.compute.service.instance_actions import InstanceActionManager
        from monostack.compute.service.keypairs import KeypairManager
        from monostack.compute.service.quotas import QuotaManager
        from monostack.compute.service.servers import ServerManager

        self.conf = conf
        self.db = db
        self.bus = bus
        self.loop = loop
        self.policy = policy or Policy(policies.RULES, policy_file=conf.policy.file,
                                       enforce_scope=conf.policy.enforce_scope,
                                       enforce_new_defaults=conf.policy.enforce_new_defaults)
        self.flavors = FlavorManager(self)
        self.keypairs = KeypairManager(self)
        self.quotas = QuotaManager(self)
        self.groups = ServerGroupManager(self)
        self.aggregates = AggregateManager(self)
        self.hosts = HostManager(self)
        self.actions = InstanceActionManager(self)
        self.servers = ServerManager(self)
        # Set by the plugin: async work the API hands over (builds, deletes, actions).
        self.conductor: Any = None
        # The clients the plugin wires in (Placement, Image, networking) and, when this
        # host's agent runs in this process, its driver (serial consoles are served from it).
        self.placement: Any = None
        self.images: Any = None
        self.network: Any = None
        self.volumes: Any = None  # compute/volume_api.VolumeAPI (Block Storage over HTTP)
        self.console_driver: Any = None

    def notify(self, event_type: str, payload: dict[str, Any]) -> None:
        """A versioned-style Nova notification (compute.instance.create.end, ...), sent soon."""
        notify_soon(self.bus, self.loop, event_type, payload, publisher_id="compute")
