"""Application credentials and access rules."""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy import orm

from monostack.identity import models

if TYPE_CHECKING:
    from monostack.identity.service import IdentityService


class ApplicationCredentialManager:
    def __init__(self, svc: "IdentityService"):
        self.svc = svc

    def delete_for_user(self, session: orm.Session, user_id: str) -> None:
        for row in session.scalars(sa.select(models.ApplicationCredential).where(
                models.ApplicationCredential.user_id == user_id)).all():
            session.delete(row)

    # Filled in with the application credential API.
    def authenticate(self, ref: object) -> dict:
        from monostack.common import errors
        raise errors.Unauthorized("The request you have made requires authentication.")

    def lookup(self, app_cred_id: str) -> dict | None:
        return None
