"""Trusts (OS-TRUST): delegation of a trustor's roles on a project to a trustee."""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy import orm

from monostack.identity import models

if TYPE_CHECKING:
    from monostack.identity.service import IdentityService


class TrustManager:
    def __init__(self, svc: "IdentityService"):
        self.svc = svc

    def delete_for_user(self, session: orm.Session, user_id: str) -> None:
        for row in session.scalars(sa.select(models.Trust).where(sa.or_(
                models.Trust.trustor_user_id == user_id, models.Trust.trustee_user_id == user_id))).all():
            session.delete(row)

    # Filled in with the OS-TRUST API.
    def lookup(self, trust_id: str) -> dict | None:
        return None

    def consume(self, trust_id: str) -> None:
        return None
