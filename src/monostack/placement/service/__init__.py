"""The Placement service layer: blocking functions over the database (the API runs them in
worker threads).  One object per concern, composed here."""

from __future__ import annotations

import logging

from monostack.common.config import Config
from monostack.common.context import RequestContext
from monostack.common.db import Database
from monostack.common.policy import Policy
from monostack.placement import options  # noqa: F401  (registers the [placement] options)
from monostack.placement import policies
from monostack.placement.service.allocations import Allocations, ConsumerWrite
from monostack.placement.service.candidates import CandidateRequest, Candidates, RequestGroup
from monostack.placement.service.inventories import Inventories
from monostack.placement.service.names import Names
from monostack.placement.service.providers import Providers
from monostack.placement.service.reshaper import Reshaper

LOG = logging.getLogger(__name__)

__all__ = ["PlacementService", "ConsumerWrite", "CandidateRequest", "RequestGroup"]


class PlacementService:
    def __init__(self, conf: Config, db: Database, *, policy: Policy | None = None):
        self.conf = conf
        self.db = db
        self.policy = policy or Policy(policies.RULES, policy_file=conf.policy.file,
                                       enforce_scope=conf.policy.enforce_scope,
                                       enforce_new_defaults=conf.policy.enforce_new_defaults)
        self.names = Names(db)
        self.providers = Providers(db, self.names)
        self.inventories = Inventories(db, self.names)
        self.allocations = Allocations(db, self.names)
        self.candidates = Candidates(db, self.names)
        self.reshaper = Reshaper(db, self.names, self.inventories, self.allocations)

    def prepare(self) -> None:
        """Start-up (blocking): standard classes and traits, and the usage sums checked."""
        self.names.sync_standard()
        fixed = self.allocations.resync_usage()
        if fixed:
            LOG.warning("repaired the usage of %d inventories", fixed)

    def authorize(self, ctx: RequestContext, rule: str, target: dict | None = None) -> None:
        self.policy.authorize(ctx, rule, target or {"project_id": ctx.project_id, "user_id": ctx.user_id})
