"""Token revocation events.

Fernet tokens are not stored, so revoking one means recording an event that
matches it: token delete (audit id), user disabled or password changed (user),
project or domain disabled/deleted, role or assignment removed.  A token is
revoked when it was issued no later than the event and every field the event
sets matches the token.

Validation checks the events from memory; the list is re-read from the
database only after something changed (the service's generation moved on).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import orm

from monostack.identity import models
from monostack.identity.service.util import utcnow

if TYPE_CHECKING:
    from monostack.identity.service import IdentityService

_FIELDS = ("user_id", "project_id", "domain_id", "role_id", "trust_id", "consumer_id", "access_token_id",
           "audit_id", "audit_chain_id")


@dataclasses.dataclass(frozen=True)
class Event:
    issued_before: dt.datetime
    user_id: str | None = None
    project_id: str | None = None
    domain_id: str | None = None
    role_id: str | None = None
    trust_id: str | None = None
    consumer_id: str | None = None
    access_token_id: str | None = None
    audit_id: str | None = None
    audit_chain_id: str | None = None


@dataclasses.dataclass
class TokenFacts:
    """What revocation matches a token against."""

    issued_at: dt.datetime
    user_id: str
    user_domain_id: str | None
    project_id: str | None
    scope_domain_id: str | None  # the project's domain, or the domain of a domain-scoped token
    role_ids: set[str]
    trust_id: str | None
    audit_id: str
    audit_chain_id: str
    trustor_id: str | None = None
    trustee_id: str | None = None


class RevocationManager:
    def __init__(self, svc: "IdentityService"):
        self.svc = svc
        self._lock = threading.Lock()
        self._events: list[Event] = []
        self._loaded_generation = -1

    def add(self, session: orm.Session, *, issued_before: dt.datetime | None = None, **fields: Any) -> None:
        """Record an event inside the caller's write transaction."""
        now = utcnow()
        session.add(models.RevocationEvent(issued_before=issued_before or now, revoked_at=now,
                                           **{k: v for k, v in fields.items() if v is not None}))
        # Events older than any token that could still validate are useless.
        horizon = now - dt.timedelta(seconds=self.svc.conf.identity.token_expiration
                                     + self.svc.conf.identity.allow_expired_window)
        session.execute(sa.delete(models.RevocationEvent).where(models.RevocationEvent.revoked_at < horizon))

    def _current_events(self) -> list[Event]:
        generation = self.svc.generation
        if generation == self._loaded_generation:
            return self._events
        with self._lock:
            if generation != self._loaded_generation:
                with self.svc.db.reader() as session:
                    rows = session.scalars(sa.select(models.RevocationEvent)).all()
                    self._events = [Event(issued_before=r.issued_before, **{f: getattr(r, f) for f in _FIELDS})
                                    for r in rows]
                self._loaded_generation = generation
        return self._events

    def is_revoked(self, facts: TokenFacts) -> bool:
        for event in self._current_events():
            if facts.issued_at > event.issued_before:
                continue
            if event.user_id and event.user_id not in (facts.user_id, facts.trustor_id, facts.trustee_id):
                continue
            if event.project_id and event.project_id != facts.project_id:
                continue
            if event.domain_id and event.domain_id not in (facts.user_domain_id, facts.scope_domain_id):
                continue
            if event.role_id and event.role_id not in facts.role_ids:
                continue
            if event.trust_id and event.trust_id != facts.trust_id:
                continue
            # No token is OAuth1-based here: such events match nothing.
            if event.consumer_id or event.access_token_id:
                continue
            if event.audit_id and event.audit_id != facts.audit_id:
                continue
            if event.audit_chain_id and event.audit_chain_id != facts.audit_chain_id:
                continue
            return True
        return False

    def list_events(self, since: dt.datetime | None = None) -> list[dict[str, Any]]:
        from monostack.identity.token_format import isotime
        result = []
        for event in self._current_events():
            if since and event.issued_before < since:
                continue
            entry = {f: getattr(event, f) for f in _FIELDS if getattr(event, f)}
            entry["issued_before"] = isotime(event.issued_before)
            result.append(entry)
        return result
