"""An in-process Compute service for the API and service tests: a migrated database
(emptied after each test), a ComputeService on it, and the Compute API app behind
httpx's ASGI transport with a fake token validator (tokens name test users)."""

from __future__ import annotations

import datetime
import uuid
from typing import Any, Iterator

import httpx
import pytest

from tests.conftest import migrated_db_url
from tests.http_verbs import Verbs
import sqlalchemy as sa

from monostack.common import errors
from monostack.common.context import RequestContext

ADMIN_PROJECT = "a0000000000000000000000000000001"
DEMO_PROJECT = "d0000000000000000000000000000002"
ALT_PROJECT = "e0000000000000000000000000000003"

# token -> (user id, project id, roles)
USERS = {
    "admin": ("admin-user", ADMIN_PROJECT, ["admin", "member", "reader"]),
    "demo": ("demo-user", DEMO_PROJECT, ["member", "reader"]),
    "demo2": ("demo-user-2", DEMO_PROJECT, ["member", "reader"]),
    "reader": ("reader-user", DEMO_PROJECT, ["reader"]),
    "alt": ("alt-user", ALT_PROJECT, ["member", "reader"]),
}


class FakeValidator:
    """A test double of Identity's token validation: the token is a key of USERS."""

    async def authenticate(self, token: str, ctx: RequestContext) -> None:
        if token not in USERS:
            raise errors.Unauthorized("The request you have made requires authentication.")
        ctx.user_id, ctx.project_id, roles = USERS[token]
        ctx.roles = list(roles)
        ctx.auth_token = token


@pytest.fixture(scope="session")
def compute_db_url(make_db_url: Any) -> Iterator[str]:
    yield migrated_db_url(make_db_url, "compute")


@pytest.fixture
def make_compute_svc(compute_db_url: str, tmp_path: Any) -> Iterator[Any]:
    """ComputeServices on the session's database with option overrides ({"compute": {...}, "quota": {...}});
    the database is emptied when the test ends."""
    from monostack.common.config import Config
    from monostack.common.db import Database
    from monostack.compute import models
    from monostack.compute.service import ComputeService

    made: list[Any] = []

    def make(**sections: dict[str, Any]) -> Any:
        conf = Config(tmp_path, overrides={"database": {"connection": compute_db_url}, **sections})
        svc = ComputeService(conf, Database(compute_db_url))
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
def compute_svc(make_compute_svc: Any) -> Any:
    """A ComputeService with the default options."""
    return make_compute_svc()


class Client(Verbs):
    """httpx against the in-process app: `client.as_("demo").get(...)`, microversion per call or default."""

    def __init__(self, http: httpx.AsyncClient, token: str = "admin", version: str = "2.1"):
        self.http, self.token, self.version = http, token, version

    def as_(self, token: str, version: str | None = None) -> "Client":
        return Client(self.http, token, version or self.version)

    def at(self, version: str) -> "Client":
        return Client(self.http, self.token, version)

    async def request(self, method: str, path: str, *, version: str | None = None, **kwargs: Any) -> httpx.Response:
        headers = {"X-Auth-Token": self.token, "OpenStack-API-Version": f"compute {version or self.version}",
                   **kwargs.pop("headers", {})}
        return await self.http.request(method, f"/v2.1{path}", headers=headers, **kwargs)


@pytest.fixture
async def compute_api(compute_svc: Any) -> Any:
    from monostack.compute.api import build

    _app, asgi = build(compute_svc, FakeValidator(), max_body_size=1024 * 1024)
    transport = httpx.ASGITransport(app=asgi)
    async with httpx.AsyncClient(transport=transport, base_url="http://compute.test") as http:
        yield Client(http)


# -- rows the lead's code normally writes ------------------------------------------------------
def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


def add_service(svc: Any, host: str, binary: str = "nova-compute", *, up: bool = True, **fields: Any) -> Any:
    from monostack.compute import models

    now = utcnow()
    with svc.db.writer() as session:
        row = models.Service(uuid=str(uuid.uuid4()), host=host, binary=binary, topic="compute",
                             disabled=False, forced_down=False, report_count=1,
                             last_seen_up=now if up else now - datetime.timedelta(hours=1),
                             created_at=now, updated_at=now)
        for key, value in fields.items():
            setattr(row, key, value)
        session.add(row)
        session.flush()
        return row


def add_node(svc: Any, host: str, **fields: Any) -> Any:
    from monostack.compute import models

    now = utcnow()
    values = dict(uuid=str(uuid.uuid4()), host=host, hypervisor_hostname=f"{host}.example.org",
                  hypervisor_type="QEMU", hypervisor_version=8002000, host_ip="192.0.2.10", vcpus=8,
                  memory_mb=16384, local_gb=100, vcpus_used=0, memory_mb_used=512, local_gb_used=0, running_vms=0,
                  cpu_info={"arch": "x86_64", "model": "host"}, created_at=now, updated_at=now)
    values.update(fields)
    with svc.db.writer() as session:
        row = models.ComputeNode(**values)
        session.add(row)
        session.flush()
        return row


def server_row(*, project_id: str = DEMO_PROJECT, user_id: str = "demo-user", vcpus: int = 1, ram: int = 128,
               disk: int = 1, vm_state: str = "active", host: str | None = "compute1", **fields: Any) -> Any:
    """A server row as the servers API would make it (not added to any session)."""
    from monostack.compute import models

    now = utcnow()
    flavor = {"id": "42", "name": "m1.nano", "vcpus": vcpus, "ram": ram, "disk": disk, "ephemeral": 0, "swap": 0,
              "rxtx_factor": 1.0, "is_public": True, "disabled": False, "description": None, "extra_specs": {}}
    values = dict(uuid=str(uuid.uuid4()), project_id=project_id, user_id=user_id, display_name="vm",
                  hostname="vm", host=host, node=f"{host}.example.org" if host else None, flavor=flavor,
                  vcpus=vcpus, memory_mb=ram, root_gb=disk, ephemeral_gb=0, vm_state=vm_state,
                  task_state=None, power_state=1, locked=False, launched_at=now, created_at=now, updated_at=now,
                  requested_networks=[], deleted=False)
    values.update(fields)
    return models.Instance(**values)


def add_server(svc: Any, **fields: Any) -> Any:
    with svc.db.writer() as session:
        row = server_row(**fields)
        session.add(row)
        session.flush()
        return row


def count_rows(svc: Any, model: Any) -> int:
    with svc.db.reader() as session:
        return int(session.scalar(sa.select(sa.func.count()).select_from(model)) or 0)
