"""Credentials (/v3/credentials) and EC2 credentials (/v3/users/{id}/credentials/OS-EC2).

Blobs are encrypted with the credential Fernet keys."""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy import orm

from monostack.identity import models

if TYPE_CHECKING:
    from monostack.identity.service import IdentityService


class CredentialManager:
    def __init__(self, svc: "IdentityService"):
        self.svc = svc

    def delete_for_user(self, session: orm.Session, user_id: str) -> None:
        session.execute(sa.delete(models.Credential).where(models.Credential.user_id == user_id))
