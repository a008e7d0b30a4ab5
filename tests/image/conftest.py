"""Fixtures of the Image tests: the service layer on a fresh database and store, and a
started cloud running Image."""

from __future__ import annotations

import pathlib
from typing import Any, Iterator

import pytest

from tests.conftest import RunningCloud, migrated_db_url
from tests.image.cloud import image_cloud


@pytest.fixture(scope="session")
def image_db_url(make_db_url: Any) -> Iterator[str]:
    yield migrated_db_url(make_db_url, "image")


@pytest.fixture
def make_image_service(image_db_url: str, tmp_path: pathlib.Path) -> Iterator[Any]:
    """A factory of Image service layers (no HTTP) on the session's database, each with its own
    store directory and option overrides."""
    from monostack.common.config import Config
    from monostack.common.db import Database
    from monostack.image.service import ImageService

    made: list[Any] = []

    def make(**image_options: Any) -> Any:
        conf = Config(tmp_path, overrides={"database": {"connection": image_db_url},
                                           "image": {"fsync": False, **image_options}})
        svc = ImageService(conf, Database(image_db_url))
        made.append(svc)
        return svc

    yield make
    for svc in made:
        svc.close()
        svc.db.dispose()


@pytest.fixture
def image_service(make_image_service: Any) -> Any:
    return make_image_service()


@pytest.fixture(scope="session")
def image_cloud_session(tmp_path_factory: pytest.TempPathFactory, db_backend: str) -> Iterator[RunningCloud]:
    yield from image_cloud(tmp_path_factory, db_backend)
