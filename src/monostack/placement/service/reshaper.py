"""The reshaper (microversion 1.30): move inventory and the allocations against it between
providers in one transaction, e.g. when a host's VGPUs move from the root provider to child
providers.  New inventories are written first, then the allocations are replaced, and only then
are the inventories that went away removed (which must have nothing allocated by then)."""

from __future__ import annotations

from typing import Any

from monostack.common.db import Database, retry_on_deadlock
from monostack.placement.service.allocations import Allocations, ConsumerWrite
from monostack.placement.service.inventories import Inventories
from monostack.placement.service.names import Names


class Reshaper:
    def __init__(self, db: Database, names: Names, inventories: Inventories, allocations: Allocations):
        self.db = db
        self.names = names
        self.inventories = inventories
        self.allocations = allocations

    def reshape(self, inventories: dict[str, dict[str, Any]], writes: list[ConsumerWrite], *, set_type: bool) -> None:
        """`inventories`: {provider uuid: {"resource_provider_generation", "inventories"}}, each
        provider's complete new inventories; `writes`: the consumers' new allocations."""
        class_names = {rc for write in writes for resources in write.allocations.values() for rc in resources}
        class_ids = self.names.class_ids(class_names, "Unable to allocate inventory: ")
        retry_on_deadlock(self._reshape)(inventories, writes, class_ids, set_type)

    def _reshape(self, inventories: dict[str, dict[str, Any]], writes: list[ConsumerWrite],
                 class_ids: dict[str, int], set_type: bool) -> None:
        with self.db.writer() as session:
            planned = []
            for uuid in sorted(inventories):
                entry = inventories[uuid]
                planned.append(self.inventories.prepare_replace(session, uuid, entry["resource_provider_generation"],
                                                                entry["inventories"]))
            for provider, rc_ids, wanted in planned:
                self.inventories.upsert(session, provider, rc_ids, wanted)
            self.allocations.replace_in(session, writes, class_ids, check_generation=True, set_type=set_type)
            for provider, _rc_ids, wanted in planned:
                self.inventories.remove_others(session, provider, wanted)
