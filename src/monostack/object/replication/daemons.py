"""One pass of each daemon of a storage node, as the node's background tasks run them every
interval and as `monostack object replicate|audit|update --once` (and tests) run them on demand."""

from __future__ import annotations

import logging
from typing import Any

from monostack.object.replication.auditor import Auditor
from monostack.object.replication.db_replicator import DbReplicator
from monostack.object.replication.object_replicator import ObjectReplicator
from monostack.object.replication.updater import ContainerUpdater, ObjectUpdater

LOG = logging.getLogger(__name__)


class Daemons:
    def __init__(self, node: Any):
        self.object_replicator = ObjectReplicator(node)
        self.container_replicator = DbReplicator(node, "container")
        self.account_replicator = DbReplicator(node, "account")
        self.auditor = Auditor(node)
        self.object_updater = ObjectUpdater(node)
        self.container_updater = ContainerUpdater(node)

    async def replicate_once(self) -> dict[str, Any]:
        stats = {"object": await self.object_replicator.run_once(),
                 "container": await self.container_replicator.run_once(),
                 "account": await self.account_replicator.run_once()}
        LOG.info("replication pass: %s", stats)
        return stats

    async def audit_once(self, rate_limited: bool = True) -> dict[str, Any]:
        stats = await self.auditor.run_once(rate_limited)
        LOG.info("audit pass: %s", stats)
        return stats

    async def update_once(self) -> dict[str, Any]:
        stats = {"object": await self.object_updater.run_once(),
                 "container": await self.container_updater.run_once()}
        LOG.debug("update pass: %s", stats)
        return stats
