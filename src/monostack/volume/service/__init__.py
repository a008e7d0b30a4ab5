"""The Block Storage service layer: the use cases behind the API.

`VolumeService` holds the database, policy and configuration and one object per
family of use cases (volumes, snapshots, backups, types, QoS, quotas,
transfers, attachments, hosts).  Their methods are blocking (they run in worker
threads): they check, decide and record in the database.  Work on a backend
(qemu-img, files, backups) is cast to that backend's `VolumeManager` with
`cast()` and runs on the event loop; calls whose answer the API needs
(initialize_connection) are awaited with `call()`.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import TYPE_CHECKING, Any

from monostack.common import errors
from monostack.common.config import Config
from monostack.common.db import Database
from monostack.common.policy import Policy
from monostack.volume import options  # noqa: F401  (registers [volume])
from monostack.volume import policies

if TYPE_CHECKING:
    from monostack.volume.manager import VolumeManager

LOG = logging.getLogger(__name__)


class VolumeService:
    def __init__(self, conf: Config, db: Database, *, bus: Any = None, loop: asyncio.AbstractEventLoop | None = None,
                 policy_file: str | None = None):
        from monostack.volume.service.attachments import Attachments
        from monostack.volume.service.backups import Backups
        from monostack.volume.service.groups import Groups, GroupTypes
        from monostack.volume.service.hosts import Hosts
        from monostack.volume.service.messages import Messages
        from monostack.volume.service.qos import Qos
        from monostack.volume.service.quotas import Quotas
        from monostack.volume.service.snapshots import Snapshots
        from monostack.volume.service.transfers import Transfers
        from monostack.volume.service.types import Types
        from monostack.volume.service.volumes import Volumes

        self.conf = conf
        self.db = db
        self.bus = bus
        self.loop = loop
        self.policy = Policy(policies.RULES, policy_file=policy_file or str(conf.data_dir / "volume-policy.yaml"))
        self.types = Types(self)
        self.qos = Qos(self)
        self.quotas = Quotas(self)
        self.hosts = Hosts(self)
        self.messages = Messages(self)
        self.volumes = Volumes(self)
        self.snapshots = Snapshots(self)
        self.backups = Backups(self)
        self.transfers = Transfers(self)
        self.attachments = Attachments(self)
        self.group_types = GroupTypes(self)
        self.groups = Groups(self)
        # Backend managers of this process by backend ("host@backend"); other hosts would be reached over the bus.
        self.managers: dict[str, "VolumeManager"] = {}
        # The Image service client (monostack.compute.image_api.ImageAPI shape) and the Compute seam.
        self.images: Any = None
        self.compute: Any = None
        self._tasks: set[asyncio.Task] = set()

    # -- reaching backends -----------------------------------------------------------------
    def manager_for(self, host: str | None) -> "VolumeManager":
        backend = (host or "").partition("#")[0]
        manager = self.managers.get(backend)
        if manager is None:
            raise errors.ServiceUnavailable(f"The volume backend {backend or '(none)'} is not running.")
        return manager

    def cast(self, host: str | None, method: str, *args: Any, **kwargs: Any) -> None:
        """Start work on a volume's backend without waiting for it (Cinder's RPC cast).
        Must be called on the event loop thread (API handlers are)."""
        manager = self.manager_for(host)
        task = asyncio.get_running_loop().create_task(getattr(manager, method)(*args, **kwargs))
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            LOG.error("volume backend work failed", exc_info=task.exception())

    async def call(self, host: str | None, method: str, *args: Any, **kwargs: Any) -> Any:
        return await getattr(self.manager_for(host), method)(*args, **kwargs)

    async def drain(self) -> None:
        """Wait for the work cast so far (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def ensure_defaults(self) -> None:
        self.types.ensure_default()

    def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()


def new_id() -> str:
    return str(uuid.uuid4())
