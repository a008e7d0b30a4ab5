"""Fixtures of the Compute API tests: the in-process ones (see harness.py), and a Nova client
and a public image of the module's running cloud (`compute_cloud`, the fake driver)."""

import pytest

from tests.compute.api.harness import compute_api, compute_db_url, compute_svc, make_compute_svc  # noqa: F401
from tests.compute.conftest import Nova


@pytest.fixture(scope="module")
def nova(compute_cloud) -> Nova:
    return Nova(compute_cloud)


@pytest.fixture(scope="module")
def image_id(nova: Nova) -> str:
    return nova.image(visibility="public")
