"""The interface between the Block Storage service and the host that holds volumes.

The volume service (service layer, one per backend host) decides; a driver only
touches the host.  Every method is async and must not block the event loop
(qemu-img and file work go through monostack.common.processes.run or worker
threads).  A driver is idempotent where a crash could make the service call it
again: creating what exists with the same size, or deleting what is gone,
succeeds.

Connections follow Cinder's os-brick shape: `initialize_connection` returns
{"driver_volume_type": "file", "data": {"device_path": <path>, "format": "qcow2"|"raw", ...}},
which Compute turns into a compute.drivers.base.Disk and hot-plugs over QMP.

`shareable=True` (the volume is multiattach: its type has multiattach="<is> True") asks for
a volume several guests may write at once: the driver keeps it in a format that allows it
(the file driver: raw) and its connection data says "multiattach": true, so Compute opens it
shared (QEMU share-rw=on) instead of locking it for one guest.
"""

from __future__ import annotations

import dataclasses
import pathlib
from typing import Any


@dataclasses.dataclass
class Capacity:
    """What a backend reports with its heartbeat (Cinder's get_volume_stats)."""

    backend: str  # host@backend, e.g. "node1@file"
    total_gb: float
    free_gb: float
    provisioned_gb: float = 0.0
    max_over_subscription_ratio: float = 1.0
    thin_provisioning: bool = True
    volume_backend_name: str = ""
    storage_protocol: str = "file"
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)


class VolumeDriverError(Exception):
    """The host could not do it; the service records the message on the volume."""


class VolumeDriver:
    def __init__(self, conf: Any, state_dir: pathlib.Path, backend: str = "file"):
        self.conf = conf
        self.state_dir = state_dir
        self.backend = backend

    # -- the host ----------------------------------------------------------------
    async def init_host(self) -> None:
        """Create directories; remove temporary files a crash left behind."""

    async def capacity(self) -> Capacity:
        raise NotImplementedError

    async def list_volumes(self) -> set[str]:
        """Ids of the volumes that exist on this backend (restart reconciliation)."""
        raise NotImplementedError

    # -- volumes -----------------------------------------------------------------
    async def create_volume(self, volume_id: str, size_gb: int, *, shareable: bool = False) -> None:
        """An empty volume of size_gb GiB."""
        raise NotImplementedError

    async def create_volume_from_image(self, volume_id: str, size_gb: int, image_path: pathlib.Path,
                                       image_format: str, *, shareable: bool = False) -> None:
        """The image's contents (converted from image_format), grown to size_gb."""
        raise NotImplementedError

    async def create_volume_from_snapshot(self, volume_id: str, size_gb: int, snapshot_id: str,
                                          source_volume_id: str, *, shareable: bool = False) -> None:
        raise NotImplementedError

    async def reimage_volume(self, volume_id: str, image_path: pathlib.Path, image_format: str) -> None:
        """The volume's contents replaced by the image's (os-reimage): same size, format and path; its
        snapshots keep theirs.  No guest may have the volume open."""
        raise NotImplementedError

    async def create_cloned_volume(self, volume_id: str, size_gb: int, source_volume_id: str, *,
                                   source: pathlib.Path | None = None, shareable: bool = False) -> None:
        """source: a standalone qcow2 point-in-time copy of the source volume to clone instead of the
        volume itself (one a guest writes to; Compute made the copy, see snapshot_target)."""
        raise NotImplementedError

    async def extend_volume(self, volume_id: str, new_size_gb: int) -> None:
        """Offline grow; online extends go through Compute (QMP block_resize)."""
        raise NotImplementedError

    async def delete_volume(self, volume_id: str) -> None:
        raise NotImplementedError

    async def copy_volume_to_image(self, volume_id: str, target: pathlib.Path, disk_format: str, *,
                                   source: pathlib.Path | None = None) -> None:
        """A standalone image file (os-volume_upload_image) at target, in disk_format (qcow2/raw);
        source as for create_cloned_volume."""
        raise NotImplementedError

    def volume_path(self, volume_id: str) -> pathlib.Path:
        raise NotImplementedError

    # -- snapshots ---------------------------------------------------------------
    async def create_snapshot(self, snapshot_id: str, volume_id: str) -> None:
        """A point-in-time snapshot of a volume no guest is writing to.  In-use volumes are
        snapshotted by Compute through QMP (Nova's os-assisted-volume-snapshots), then
        recorded here with `snapshot_created_by_guest`."""
        raise NotImplementedError

    async def delete_snapshot(self, snapshot_id: str, volume_id: str) -> None:
        raise NotImplementedError

    # -- added with the drivers (additive; nothing above changed) ---------------------------
    def snapshot_target(self, snapshot_id: str) -> pathlib.Path:
        """Where Compute writes the point-in-time copy of an in-use volume
        (compute Driver.snapshot_disk(uuid, volume_id, target, fmt="qcow2")): a temporary name
        on this backend, which `snapshot_created_by_guest` then makes the snapshot."""
        raise NotImplementedError

    async def snapshot_created_by_guest(self, snapshot_id: str, volume_id: str) -> None:
        """Compute has written snapshot_target(snapshot_id): make it the snapshot (atomically).
        Idempotent; VolumeDriverError when there is nothing at the target."""
        raise NotImplementedError

    async def list_snapshots(self) -> set[str]:
        """Ids of the (not deleted) snapshots on this backend (restart reconciliation)."""
        raise NotImplementedError

    async def volume_size(self, volume_id: str) -> int:
        """The volume's size in bytes as the guest sees it (after an online extend through Compute)."""
        raise NotImplementedError

    # -- attachments -------------------------------------------------------------
    async def initialize_connection(self, volume_id: str, connector: dict[str, Any], *,
                                    shareable: bool = False) -> dict[str, Any]:
        raise NotImplementedError

    async def terminate_connection(self, volume_id: str, connector: dict[str, Any] | None) -> None:
        """Nothing to undo for files on this host; a network backend would unexport here."""
