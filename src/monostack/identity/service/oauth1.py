"""OS-OAUTH1 consumers (CRUD only; the request/access token flows are not served).

The consumer secret is generated here and returned once, by create; only a
bcrypt hash is kept, like application credential secrets.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import orm

from monostack.common import errors
from monostack.identity import models, passwords
from monostack.identity.service import checks, new_id
from monostack.identity.service.util import extra_fields, flatten_extra

if TYPE_CHECKING:
    from monostack.identity.service import IdentityService

CONSUMER_FIELDS = {"id", "description", "secret"}


def consumer_dict(row: models.OAuth1Consumer) -> dict[str, Any]:
    return flatten_extra({"id": row.id, "description": row.description}, row.extra)


class OAuth1Manager:
    def __init__(self, svc: "IdentityService"):
        self.svc = svc

    @staticmethod
    def _consumer(session: orm.Session, consumer_id: str) -> models.OAuth1Consumer:
        row = session.get(models.OAuth1Consumer, consumer_id)
        if row is None:
            raise errors.NotFound(f"Could not find consumer: {consumer_id}.")
        return row

    def create_consumer(self, ref: dict[str, Any]) -> dict[str, Any]:
        description = checks.string(ref, "description", nullable=True)
        consumer_id = new_id()
        secret = secrets.token_hex(16)
        secret_hash = passwords.hash_password(secret, self.svc.conf.identity.password_hash_rounds)
        with self.svc.db.writer() as session:
            row = models.OAuth1Consumer(id=consumer_id, description=description, secret_hash=secret_hash,
                                        extra=extra_fields(ref, CONSUMER_FIELDS))
            session.add(row)
            session.flush()
            result = consumer_dict(row)
        self.svc.changed("OS-OAUTH1:consumer", "created", consumer_id)
        return {**result, "secret": secret}

    def get_consumer(self, consumer_id: str) -> dict[str, Any]:
        with self.svc.db.reader() as session:
            return consumer_dict(self._consumer(session, consumer_id))

    def list_consumers(self) -> list[dict[str, Any]]:
        with self.svc.db.reader() as session:
            rows = session.scalars(sa.select(models.OAuth1Consumer).order_by(models.OAuth1Consumer.id))
            return [consumer_dict(r) for r in rows]

    def update_consumer(self, consumer_id: str, ref: dict[str, Any]) -> dict[str, Any]:
        checks.not_empty(ref, "consumer")
        if "secret" in ref:
            raise errors.ValidationError("Invalid input for consumer: the secret of a consumer cannot be updated.")
        checks.matching_id(ref, consumer_id)
        description = checks.string(ref, "description", nullable=True)
        with self.svc.db.writer() as session:
            row = self._consumer(session, consumer_id)
            if "description" in ref:
                row.description = description
            extra = extra_fields(ref, CONSUMER_FIELDS)
            if extra:
                row.extra = {**(row.extra or {}), **extra}
            session.flush()
            result = consumer_dict(row)
        self.svc.changed("OS-OAUTH1:consumer", "updated", consumer_id)
        return result

    def delete_consumer(self, consumer_id: str) -> None:
        with self.svc.db.writer() as session:
            # No OAuth1 tokens are issued, so there is nothing to revoke.  (A revocation event
            # carrying only consumer_id would match every token: RevocationManager ignores it.)
            session.delete(self._consumer(session, consumer_id))
        self.svc.changed("OS-OAUTH1:consumer", "deleted", consumer_id)

    def check_secret(self, consumer_id: str, secret: str) -> bool:
        with self.svc.db.reader() as session:
            row = session.get(models.OAuth1Consumer, consumer_id)
            return row is not None and passwords.check_password(secret, row.secret_hash)
