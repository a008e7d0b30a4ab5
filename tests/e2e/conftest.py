"""Fixtures of the end-to-end tests.

`private_cloud` is a cloud of the test module's own (same database backend as
the session cloud), for the tests that write random data: fuzzers create
random projects, domains, regions... and may leave a cloud in a state that
would disturb the other test files sharing the session `cloud`.
"""

from __future__ import annotations

from typing import Iterator

import httpx
import pytest

from tests.conftest import RunningCloud, own_cloud


def _start_private(tmp_path_factory: pytest.TempPathFactory, db_backend: str) -> Iterator[RunningCloud]:
    yield from own_cloud(tmp_path_factory, db_backend, "private-cloud")


@pytest.fixture(scope="module")
def private_cloud(tmp_path_factory: pytest.TempPathFactory, db_backend: str) -> Iterator[RunningCloud]:
    yield from _start_private(tmp_path_factory, db_backend)


@pytest.fixture
def fresh_cloud(tmp_path_factory: pytest.TempPathFactory, db_backend: str) -> Iterator[RunningCloud]:
    """A cloud for one test alone."""
    yield from _start_private(tmp_path_factory, db_backend)


def admin_client(cloud: RunningCloud) -> httpx.Client:
    return httpx.Client(base_url=f"{cloud.auth_url}/v3", headers={"X-Auth-Token": cloud.token("monostack-admin")},
                        timeout=30)


@pytest.fixture(scope="module")
def private_api(private_cloud: RunningCloud) -> Iterator[httpx.Client]:
    with admin_client(private_cloud) as client:
        yield client
