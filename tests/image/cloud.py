"""A cloud running the Image service, for the HTTP and CLI tests of the image service.

Until Image is in `[DEFAULT] services` by default, the session `cloud` fixture does not
run it: these tests start their own (same database backend)."""

from __future__ import annotations

import uuid
from typing import Iterator

import pytest

from tests.conftest import RunningCloud, _drop, _server_url, start_cloud, stop_cloud

ENV = {"MONOSTACK_DEFAULT__SERVICES": "identity,image"}


def image_cloud(tmp_path_factory: pytest.TempPathFactory, db_backend: str,
                extra_env: dict[str, str] | None = None) -> Iterator[RunningCloud]:
    name = url = None
    if db_backend != "sqlite":
        name = f"monostack_test_{uuid.uuid4().hex[:12]}"
        url = _server_url(db_backend, name)
    running = start_cloud(tmp_path_factory.mktemp("image-cloud"), url, extra_env={**ENV, **(extra_env or {})})
    try:
        yield running
    finally:
        stop_cloud(running)
        if name:
            _drop(db_backend, name)
