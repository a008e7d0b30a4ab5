"""Routes of the credentials area (see identity/service/credentials.py)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/v3", tags=["credentials"])
