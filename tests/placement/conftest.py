"""Fixtures of the Placement tests: the service on a migrated database emptied before each test,
its API in process (httpx over ASGI, tokens checked by a test double), and a cloud running
Identity and Placement for the end-to-end tests."""

from __future__ import annotations

from typing import Any, AsyncIterator, Iterator

import httpx
import pytest
import sqlalchemy as sa

from monostack.common import errors
from monostack.common.context import RequestContext
from tests.conftest import RunningCloud, own_cloud, migrated_db_url

ENV = {"MONOSTACK_DEFAULT__SERVICES": "identity,placement"}
LATEST = {"OpenStack-API-Version": "placement latest"}


class TokenTable:
    """Test double of the token validator: a fixed table of tokens and the roles they carry."""

    TOKENS = {"admin-token": ["admin", "member", "reader"], "service-token": ["service"],
              "member-token": ["member", "reader"]}

    async def authenticate(self, token: str, ctx: RequestContext) -> None:
        roles = self.TOKENS.get(token)
        if roles is None:
            raise errors.Unauthorized("The request you have made requires authentication.")
        ctx.user_id, ctx.project_id, ctx.roles = f"user-{token}", "project-1", list(roles)


@pytest.fixture(scope="session")
def placement_db_url(make_db_url: Any) -> Iterator[str]:
    yield migrated_db_url(make_db_url, "placement")


def _empty(db: Any) -> None:
    """Everything but the standard resource classes and traits."""
    from monostack.placement import models

    with db.writer() as session:
        for table in ("placement_allocations", "placement_consumers", "placement_inventories",
                      "placement_provider_traits", "placement_provider_aggregates"):
            session.execute(sa.text(f"DELETE FROM {table}"))
        session.execute(sa.update(models.ResourceProvider).values(parent_provider_id=None))
        session.execute(sa.delete(models.ResourceProvider))
        session.execute(sa.delete(models.ResourceClass).where(models.ResourceClass.id >= models.CUSTOM_ID_START))
        session.execute(sa.delete(models.Trait).where(models.Trait.name.like("CUSTOM\\_%", escape="\\")))


@pytest.fixture
def placement_service(placement_db_url: str, tmp_path: Any) -> Iterator[Any]:
    from monostack.common.config import Config
    from monostack.common.db import Database
    from monostack.placement.service import PlacementService

    db = Database(placement_db_url)
    _empty(db)
    svc = PlacementService(Config(tmp_path, overrides={"database": {"connection": placement_db_url}}), db)
    svc.prepare()
    yield svc
    db.dispose()


@pytest.fixture
def placement_app(placement_service: Any) -> Any:
    from monostack.placement import api

    _app, asgi = api.build(placement_service, TokenTable(), max_body_size=114688)
    return asgi


@pytest.fixture
async def client(placement_app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The API as the cloud admin, at the newest microversion."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=placement_app), base_url="http://placement",
                                 headers={"X-Auth-Token": "admin-token", **LATEST}) as http:
        yield http


@pytest.fixture(scope="session")
def placement_cloud(tmp_path_factory: pytest.TempPathFactory, db_backend: str) -> Iterator[RunningCloud]:
    yield from own_cloud(tmp_path_factory, db_backend, "placement-cloud", ENV)
