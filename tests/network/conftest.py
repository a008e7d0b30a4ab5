"""A Networking service on a migrated database (emptied after each test), the service
layer alone and the Networking API app behind httpx's ASGI transport with a fake token
validator (tokens name test users, as in tests/compute/api/harness.py)."""

from __future__ import annotations

from typing import Any, Iterator

import httpx
import pytest

from monostack.common import errors
from monostack.common.context import RequestContext
from tests.conftest import migrated_db_url
from tests.http_verbs import Verbs

ADMIN_PROJECT = "a0000000000000000000000000000001"
DEMO_PROJECT = "d0000000000000000000000000000002"
ALT_PROJECT = "e0000000000000000000000000000003"

# token -> (user id, project id, roles)
USERS = {
    "admin": ("admin-user", ADMIN_PROJECT, ["admin", "member", "reader"]),
    "demo": ("demo-user", DEMO_PROJECT, ["member", "reader"]),
    "reader": ("reader-user", DEMO_PROJECT, ["reader"]),
    "alt": ("alt-user", ALT_PROJECT, ["member", "reader"]),
}


def context(token: str) -> RequestContext:
    user, project, roles = USERS[token]
    return RequestContext(user_id=user, project_id=project, roles=list(roles))


class FakeValidator:
    async def authenticate(self, token: str, ctx: RequestContext) -> None:
        if token not in USERS:
            raise errors.Unauthorized("The request you have made requires authentication.")
        ctx.user_id, ctx.project_id, roles = USERS[token]
        ctx.roles = list(roles)
        ctx.auth_token = token


@pytest.fixture(scope="session")
def network_db_url(make_db_url: Any) -> str:
    return migrated_db_url(make_db_url, "network")


@pytest.fixture
def make_network_svc(network_db_url: str, tmp_path: Any) -> Iterator[Any]:
    from monostack.common.config import Config
    from monostack.common.db import Database
    from monostack.network import models
    from monostack.network.service import NetworkService

    made: list[Any] = []

    def make(**sections: dict[str, Any]) -> Any:
        conf = Config(tmp_path, overrides={"database": {"connection": network_db_url}, **sections})
        svc = NetworkService(conf, Database(network_db_url), host="test-host")
        made.append(svc)
        return svc

    yield make
    if made:
        with made[0].db.writer() as session:
            for table in reversed(models.Base.metadata.sorted_tables):
                session.execute(table.delete())
    for svc in made:
        svc.db.dispose()


@pytest.fixture
def svc(make_network_svc: Any) -> Any:
    return make_network_svc()


class Client(Verbs):
    """httpx against the in-process app: `client.as_("demo").get("/networks")` (paths below /v2.0)."""

    def __init__(self, http: httpx.AsyncClient, token: str = "admin"):
        self.http, self.token = http, token

    def as_(self, token: str) -> "Client":
        return Client(self.http, token)

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"X-Auth-Token": self.token, **kwargs.pop("headers", {})}
        prefix = "" if path.startswith("/v2.0") or path == "/" else "/v2.0"
        return await self.http.request(method, f"{prefix}{path}", headers=headers, **kwargs)


@pytest.fixture
async def api(svc: Any) -> Any:
    from monostack.network.api import build

    _app, asgi = build(svc, FakeValidator(), max_body_size=1024 * 1024)
    transport = httpx.ASGITransport(app=asgi)
    async with httpx.AsyncClient(transport=transport, base_url="http://network.test") as http:
        yield Client(http)
