"""Routes of the extras area (see identity/service/extras.py)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/v3", tags=["extras"])
