"""Fixtures of the Block Storage tests (see harness.py)."""

from tests.volume.harness import make_volume_svc, vol, vapi, volume_db_url  # noqa: F401
