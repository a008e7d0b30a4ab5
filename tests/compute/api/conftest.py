"""Fixtures of the in-process Compute API tests (see harness.py)."""

from tests.compute.api.harness import compute_api, compute_db_url, compute_svc, make_compute_svc  # noqa: F401
