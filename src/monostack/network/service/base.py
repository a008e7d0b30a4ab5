"""What every part of the Networking service layer shares: time and standard
attributes, the write transaction with retries, events, quotas."""

from __future__ import annotations

import datetime
import logging
import random
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any, Callable, TypeVar

import sqlalchemy as sa
from sqlalchemy import exc, orm

from monostack.common import notify
from monostack.common.context import RequestContext
from monostack.network import exceptions as nexc
from monostack.network import models

if TYPE_CHECKING:
    from monostack.common.bus import Bus
    from monostack.common.config import Config
    from monostack.common.db import Database

LOG = logging.getLogger(__name__)
T = TypeVar("T")
# The attempt `write` is on in this thread: a retry after losing a race picks among several free values.
_ATTEMPT = threading.local()


class LostRace(Exception):
    """A value picked in this transaction was taken by a concurrent one: run the transaction again."""


def retrying() -> bool:
    return getattr(_ATTEMPT, "value", 0) > 0

# Events a transaction produced: (event_type, payload), sent once it committed.
Events = list[tuple[str, dict[str, Any]]]

QUOTA_RESOURCES = ("network", "subnet", "port", "router", "floatingip", "security_group", "security_group_rule",
                   "rbac_policy", "subnetpool")
QUOTA_MODELS: dict[str, Any] = {
    "network": models.Network, "subnet": models.Subnet, "port": models.Port, "router": models.Router,
    "floatingip": models.FloatingIP, "security_group": models.SecurityGroup,
    "security_group_rule": models.SecurityGroupRule, "rbac_policy": models.RBACPolicy,
    "subnetpool": models.SubnetPool,
}


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


def iso(value: datetime.datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def new_id() -> str:
    return str(uuid.uuid4())


def std_new(description: str = "") -> dict[str, Any]:
    now = utcnow()
    return {"description": description or "", "created_at": now, "updated_at": now, "revision_number": 0,
            "tags": []}


def std_dict(row: Any) -> dict[str, Any]:
    return {"description": row.description, "created_at": iso(row.created_at), "updated_at": iso(row.updated_at),
            "revision_number": row.revision_number, "tags": list(getattr(row, "tags", None) or [])}


def bump(row: Any) -> None:
    """A change to the resource: a new updated_at and revision_number, as Neutron's standard attributes."""
    row.updated_at = utcnow()
    row.revision_number = (row.revision_number or 0) + 1


def owner(row: dict[str, Any] | Any) -> dict[str, Any]:
    project = row["project_id"] if isinstance(row, dict) else row.project_id
    return {"project_id": project, "tenant_id": project}


class ServiceBase:
    """State and helpers the resource mixins of `NetworkService` build on."""

    conf: "Config"
    db: "Database"
    bus: "Bus | None"
    loop: Any

    def __init__(self, conf: "Config", db: "Database", *, bus: "Bus | None" = None, loop: Any = None,
                 host: str = "") -> None:
        from monostack.common.policy import Policy
        from monostack.network import options  # noqa: F401  (registers [network])
        from monostack.network.policies import RULES

        self.conf = conf
        self.db = db
        self.bus = bus
        self.loop = loop
        self.host = host
        self.policy = Policy(RULES, policy_file=str(conf.policy.file),
                             enforce_scope=conf.policy.enforce_scope,
                             enforce_new_defaults=conf.policy.enforce_new_defaults)
        # Called with (port dict) when a compute port turns ACTIVE: the integration step sends
        # Nova's os-server-external-events "network-vif-plugged" from here.
        self.on_vif_plugged: Callable[[dict[str, Any]], None] | None = None
        self.on_vif_unplugged: Callable[[dict[str, Any]], None] | None = None

    # -- transactions ---------------------------------------------------------------------------
    def write(self, fn: Callable[[orm.Session, Events], T], attempts: int = 30) -> T:
        """Run `fn(session, events)` in one write transaction; send its events once committed.

        A unique constraint a concurrent request won (the same IP address, MAC
        or segmentation id), a deadlock or a serialisation failure restarts the
        whole transaction: `fn` checks again and either picks another value or
        raises the proper 409."""
        for attempt in range(attempts):
            events: Events = []
            _ATTEMPT.value = attempt
            try:
                with self.db.writer() as session:
                    result = fn(session, events)
            except (exc.IntegrityError, LostRace) as err:
                if attempt == attempts - 1:
                    LOG.warning("lost a race %d times in a row: %s", attempts, err)
                    raise nexc.errors.Conflict("Conflict with a concurrent request; try again.") from None
                self._backoff(attempt)
                continue
            except exc.OperationalError as err:
                text = str(err.orig).lower()
                transient = any(word in text for word in ("deadlock", "could not serialize", "lock wait timeout",
                                                          "database is locked"))
                if not transient or attempt == attempts - 1:
                    raise
                self._backoff(attempt)
                continue
            for event_type, payload in events:
                self.emit(event_type, payload)
            return result
        raise AssertionError("unreachable")

    @staticmethod
    def _backoff(attempt: int) -> None:
        time.sleep(random.uniform(0, 0.002 * (attempt + 1)))

    def emit(self, event_type: str, payload: dict[str, Any]) -> None:
        notify.notify_soon(self.bus, self.loop, event_type, payload, publisher_id=f"network.{self.host or 'api'}")

    # -- quotas ---------------------------------------------------------------------------------
    def quota_defaults(self) -> dict[str, int]:
        return {name: int(self.conf.get("network", f"quota_{name}")) for name in QUOTA_RESOURCES}

    def quota_limits(self, session: orm.Session, project_id: str) -> dict[str, int]:
        limits = self.quota_defaults()
        for row in session.scalars(sa.select(models.Quota).where(models.Quota.project_id == project_id)):
            if row.resource in limits:
                limits[row.resource] = row.limit
        return limits

    def quota_used(self, session: orm.Session, project_id: str, resource: str) -> int:
        model = QUOTA_MODELS[resource]
        query = sa.select(sa.func.count()).select_from(model).where(model.project_id == project_id)
        return session.scalar(query) or 0

    def check_quota(self, session: orm.Session, project_id: str, resource: str, adding: int = 1) -> None:
        if not project_id:
            return
        limit = self.quota_limits(session, project_id)[resource]
        if limit < 0:
            return
        if self.quota_used(session, project_id, resource) + adding > limit:
            raise nexc.OverQuota([resource])

    # -- helpers --------------------------------------------------------------------------------
    @staticmethod
    def context_project(ctx: RequestContext) -> str:
        return ctx.project_id or ""
