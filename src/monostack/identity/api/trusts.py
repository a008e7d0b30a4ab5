"""Routes of the trusts area (see identity/service/trusts.py)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/v3", tags=["trusts"])
