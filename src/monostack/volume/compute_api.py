"""Compute as Block Storage sees it: the seam for what Cinder asks of Nova.

Online extend: once the backend has grown an attached volume, Cinder sends Nova the
external event `volume-extended` (tag: the volume id) and Nova resizes the guest's
block device (QMP block_resize).  Reimage of a volume Nova reserved to rebuild the server
it boots: `volume-reimaged` (2.93; status completed or failed) lets the rebuild go on.
Snapshot of an in-use volume: Nova's os-assisted-volume-snapshots, whose `new_file` here is
where the guest's QEMU writes a point-in-time copy of the volume (the guest keeps writing
meanwhile).  Sent over Compute's HTTP API with the service's token."""

from __future__ import annotations

import logging
from typing import Any

LOG = logging.getLogger(__name__)


class ComputeAPI:
    def __init__(self, auth: Any):
        self.auth = auth

    async def volume_extended(self, server_id: str, volume_id: str) -> None:
        await self._event("volume-extended", server_id, volume_id, "completed", "2.51")

    async def volume_reimaged(self, server_id: str, volume_id: str, status: str) -> None:
        await self._event("volume-reimaged", server_id, volume_id, status, "2.93")

    async def _event(self, name: str, server_id: str, volume_id: str, status: str, microversion: str) -> None:
        url = await self.auth.endpoint("compute")
        response = await self.auth.client.post(
            f"{url}/os-server-external-events",
            json={"events": [{"name": name, "server_uuid": server_id, "tag": volume_id, "status": status}]},
            headers={**await self.auth.headers(), "OpenStack-API-Version": f"compute {microversion}"})
        if response.status_code not in (200, 207):
            LOG.warning("Compute refused %s for server %s volume %s: %s %s", name, server_id, volume_id,
                        response.status_code, response.text[:200])

    async def assisted_snapshot(self, server_id: str, volume_id: str, snapshot_id: str, target: str) -> None:
        url = await self.auth.endpoint("compute")
        response = await self.auth.client.post(
            f"{url}/os-assisted-volume-snapshots",
            json={"snapshot": {"volume_id": volume_id, "create_info": {
                "snapshot_id": snapshot_id, "type": "qcow2", "new_file": target}}},
            headers=await self.auth.headers(), timeout=3600)
        if response.status_code != 200:
            raise RuntimeError(f"Compute could not snapshot volume {volume_id} of server {server_id}: "
                               f"{response.status_code} {response.text[:200]}")
