"""Placement allocations across a resize (or cold migration), as Nova keeps them.

While a resize waits for confirmation the old flavor's resources stay claimed
by the migration (its uuid as the consumer) and the new flavor's by the
server, so a revert always has room to go back:
  begin   : server's allocation -> migration consumer; claim the new flavor for the server
  confirm : drop the migration consumer's allocation
  revert  : drop the server's; migration consumer's allocation -> server
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from monostack.common import errors
from monostack.compute.scheduler.manager import resources_of

if TYPE_CHECKING:
    from monostack.compute.service import ComputeService


async def begin(placement: Any, svc: "ComputeService", row: Any, new_flavor: dict[str, Any],
                migration_uuid: str) -> None:
    node = await asyncio.to_thread(svc.hosts.node_by_name, row.node)
    if node is None:
        raise errors.Conflict(f"Instance {row.uuid} has no compute node to resize on.")
    await placement.move_allocations(row.uuid, migration_uuid)
    request = {"allocations": {node.uuid: {"resources": resources_of(new_flavor, not row.image_ref)}}}
    if not await placement.claim(row.uuid, request, row.project_id, row.user_id):
        await placement.move_allocations(migration_uuid, row.uuid)
        raise errors.BadRequest("No valid host was found. There are not enough resources on the host "
                                "for the new flavor.")


async def confirm(placement: Any, migration_uuid: str | None) -> None:
    if migration_uuid:
        await placement.delete_allocations(migration_uuid)


async def revert(placement: Any, instance_uuid: str, migration_uuid: str | None) -> None:
    if migration_uuid:
        await placement.delete_allocations(instance_uuid)
        await placement.move_allocations(migration_uuid, instance_uuid)
