"""The Identity service layer: plain (blocking) functions over the database,
grouped by area, each area a manager on one `IdentityService`.

API handlers parse and authorise, then call these in a worker thread.  Every
write commits, then calls `changed()`: that bumps the cache generation (the
token validation caches are dropped) and emits the Keystone notification
(`identity.<resource>.<operation>`) on the bus.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from typing import TYPE_CHECKING, Any

from monostack.common.config import Config
from monostack.common.db import Database
from monostack.common.notify import notify_soon
from monostack.common.policy import Policy
from monostack.identity import options  # noqa: F401  (registers the [identity] options)
from monostack.identity.fernet import KeyRepository

if TYPE_CHECKING:
    from monostack.common.bus import Bus

LOG = logging.getLogger(__name__)


def new_id() -> str:
    return uuid.uuid4().hex


class IdentityService:
    def __init__(self, conf: Config, db: Database, *, bus: "Bus | None" = None, policy: Policy | None = None,
                 loop: asyncio.AbstractEventLoop | None = None):
        from monostack.identity import policies
        from monostack.identity.service.app_creds import ApplicationCredentialManager
        from monostack.identity.service.assignments import AssignmentManager
        from monostack.identity.service.catalog import CatalogManager
        from monostack.identity.service.credentials import CredentialManager
        from monostack.identity.service.extras import ExtrasManager
        from monostack.identity.service.resources import ResourceManager
        from monostack.identity.service.revocation import RevocationManager
        from monostack.identity.service.tokens import TokenManager
        from monostack.identity.service.trusts import TrustManager
        from monostack.identity.service.users import UserManager

        self.conf = conf
        self.db = db
        self.bus = bus
        self.loop = loop
        self.policy = policy or Policy(policies.RULES, policy_file=conf.policy.file,
                                       enforce_scope=conf.policy.enforce_scope,
                                       enforce_new_defaults=conf.policy.enforce_new_defaults)
        self.token_keys = KeyRepository(conf.identity.fernet_key_repository, conf.identity.max_active_keys)
        self.credential_keys = KeyRepository(conf.identity.credential_key_repository, 3)
        self.generation = 0
        self._gen_lock = threading.Lock()

        self.resources = ResourceManager(self)
        self.users = UserManager(self)
        self.assignments = AssignmentManager(self)
        self.catalog = CatalogManager(self)
        self.revocation = RevocationManager(self)
        self.tokens = TokenManager(self)
        self.credentials = CredentialManager(self)
        self.app_creds = ApplicationCredentialManager(self)
        self.trusts = TrustManager(self)
        self.extras = ExtrasManager(self)

    def setup_keys(self) -> None:
        self.token_keys.setup()
        self.credential_keys.setup()

    # -- after every committed write ----------------------------------------
    def changed(self, resource: str | None = None, operation: str | None = None,
                resource_id: str | None = None) -> None:
        with self._gen_lock:
            self.generation += 1
        if resource and operation:
            self.notify(f"identity.{resource}.{operation}", {"resource_info": resource_id})

    async def follow_other_processes(self) -> None:
        """In a split deployment several processes serve Identity: each drops its
        caches when any of them announces a change (no pool: every process hears
        every notification; its own ones cost one extra cache miss)."""
        if self.bus is None:
            return

        def on_change(_notification: dict[str, Any]) -> None:
            with self._gen_lock:
                self.generation += 1

        await self.bus.subscribe(on_change, event_types="identity.*")

    def notify(self, event_type: str, payload: dict[str, Any]) -> None:
        notify_soon(self.bus, self.loop, event_type, payload, publisher_id="identity")
