"""A cloud of their own for the HTTP and CLI tests of the image service (they list
and count images, and change quotas through the environment)."""

from __future__ import annotations

from typing import Iterator

import pytest

from tests.conftest import RunningCloud, own_cloud

ENV = {"MONOSTACK_DEFAULT__SERVICES": "identity,image"}


def image_cloud(tmp_path_factory: pytest.TempPathFactory, db_backend: str,
                extra_env: dict[str, str] | None = None) -> Iterator[RunningCloud]:
    yield from own_cloud(tmp_path_factory, db_backend, "image-cloud", {**ENV, **(extra_env or {})})
