"""Routes of the app_creds area (see identity/service/app_creds.py)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/v3", tags=["app_creds"])
