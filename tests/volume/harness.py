"""An in-process Block Storage service for the service and API tests: a migrated
database (emptied after each test), a VolumeService with one backend manager on the
fake driver (monostack.volume.drivers.fake, selected by [volume] driver), test
doubles of the Image service, Compute and the backup store, and the API app behind
httpx's ASGI transport with the Compute tests' fake token validator."""

from __future__ import annotations

import pathlib
import uuid
from typing import Any, Iterator

import httpx
import pytest

from tests.compute.api.harness import ADMIN_PROJECT, ALT_PROJECT, DEMO_PROJECT, USERS, FakeValidator  # noqa: F401
from tests.conftest import migrated_db_url
from tests.http_verbs import Verbs

HOST = "testhost"


class FakeImages:
    """The Image service as the volume service uses it (monostack.compute.image_api.ImageAPI's methods)."""

    def __init__(self, tmp: pathlib.Path):
        self.tmp = tmp
        self.images: dict[str, dict[str, Any]] = {}
        self.uploaded: dict[str, pathlib.Path] = {}
        self.deleted: list[str] = []

    def add(self, **fields: Any) -> dict[str, Any]:
        image = {"id": str(uuid.uuid4()), "name": "img", "status": "active", "size": 1024 ** 2,
                 "virtual_size": None, "disk_format": "qcow2", "container_format": "bare", "min_disk": 0,
                 "min_ram": 0, "checksum": "0" * 32, "visibility": "public", "hw_disk_bus": "virtio", **fields}
        self.images[image["id"]] = image
        return image

    async def get(self, image_id: str, token: str | None = None) -> dict[str, Any] | None:
        return self.images.get(image_id)

    async def cached(self, image: dict[str, Any]) -> pathlib.Path:
        path = self.tmp / f"image-{image['id']}"
        path.write_bytes(b"\0" * 512)
        return path

    async def create(self, token: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.add(status="queued", **{k: v for k, v in body.items() if k != "id"})

    async def upload(self, image_id: str, path: pathlib.Path) -> None:
        self.uploaded[image_id] = path
        self.images[image_id]["status"] = "active"

    async def delete(self, image_id: str) -> None:
        self.deleted.append(image_id)
        self.images.pop(image_id, None)


class FakeCompute:
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    async def volume_extended(self, server_id: str, volume_id: str) -> None:
        self.events.append((server_id, volume_id))

    async def volume_reimaged(self, server_id: str, volume_id: str, status: str) -> None:
        self.events.append((server_id, f"reimaged {volume_id} {status}"))

    async def assisted_snapshot(self, server_id: str, volume_id: str, snapshot_id: str, target: str) -> None:
        """The guest's QEMU writing a point-in-time copy of the volume at target."""
        self.events.append((server_id, f"snapshot {volume_id} {snapshot_id}"))
        pathlib.Path(target).write_bytes(b"point-in-time copy")


class FakeBackupStore:
    """The backup store interface (service/backups.py), in memory."""

    def __init__(self) -> None:
        self.backups: dict[str, dict[str, Any]] = {}
        self.restored: list[tuple[str, pathlib.Path]] = []
        self.fail: str | None = None

    async def backup(self, backup_id: str, volume_path: pathlib.Path, *, parent_id: str | None = None,
                     volume_id: str | None = None, volume_format: str | None = None) -> dict[str, Any]:
        if self.fail:
            raise RuntimeError(self.fail)
        self.backups[backup_id] = {"volume_id": volume_id, "parent_id": parent_id, "path": volume_path,
                                   "format": volume_format}
        return {"object_count": 3, "container": "volumebackups"}

    async def restore(self, backup_id: str, target_path: pathlib.Path) -> None:
        self.restored.append((backup_id, target_path))

    async def delete(self, backup_id: str) -> None:
        self.backups.pop(backup_id, None)


@pytest.fixture(scope="session")
def volume_db_url(make_db_url: Any) -> Iterator[str]:
    yield migrated_db_url(make_db_url, "volume")


@pytest.fixture
def make_volume_svc(volume_db_url: str, tmp_path: pathlib.Path) -> Iterator[Any]:
    """VolumeServices on the session's database with option overrides ({"volume": {...}}); the database is
    emptied when the test ends."""
    from monostack.common.config import Config
    from monostack.common.db import Database
    from monostack.volume import models
    from monostack.volume.service import VolumeService

    made: list[Any] = []

    def make(**sections: dict[str, Any]) -> Any:
        volume = {"driver": "fake", "backend_name": "fake", **sections.pop("volume", {})}
        conf = Config(tmp_path, overrides={"database": {"connection": volume_db_url}, "volume": volume, **sections})
        svc = VolumeService(conf, Database(volume_db_url), policy_file=str(tmp_path / "no-policy.yaml"))
        svc.ensure_defaults()
        svc.images = FakeImages(tmp_path)
        svc.compute = FakeCompute()
        made.append(svc)
        return svc

    yield make
    if made:
        with made[0].db.writer() as session:
            for table in reversed(models.Base.metadata.sorted_tables):
                session.execute(table.delete())
    for svc in made:
        svc.close()
        svc.db.dispose()


async def start_manager(svc: Any, *, backend: str = "fake", zone: str = "nova", host: str = HOST,
                        driver: Any = None, backup_store: Any = None) -> Any:
    from monostack.volume.manager import VolumeManager, load_driver

    conf = svc.conf
    if driver is None:
        driver = load_driver(conf.volume.driver, conf, pathlib.Path(conf.volume.state_dir) / backend, backend)
    manager = VolumeManager(svc, driver, host=host, backend_name=backend, zone=zone,
                            backup_store=backup_store if backup_store is not None else FakeBackupStore())
    svc.managers[manager.backend] = manager
    await manager.start(heartbeat=False)
    return manager


@pytest.fixture
async def vol(make_volume_svc: Any) -> Any:
    """A VolumeService with one running backend (fake driver) on host 'testhost'."""
    svc = make_volume_svc()
    svc.test_manager = await start_manager(svc)
    yield svc
    await svc.drain()


class Client(Verbs):
    """httpx against the in-process app: `client.as_("demo").get("/volumes")` (paths below /v3/{project})."""

    def __init__(self, http: httpx.AsyncClient, svc: Any, token: str = "admin", version: str = "3.0"):
        self.http, self.svc, self.token, self.version = http, svc, token, version

    def as_(self, token: str, version: str | None = None) -> "Client":
        return Client(self.http, self.svc, token, version or self.version)

    def at(self, version: str) -> "Client":
        return Client(self.http, self.svc, self.token, version)

    @property
    def project(self) -> str:
        return USERS[self.token][1]

    async def request(self, method: str, path: str, *, version: str | None = None, **kwargs: Any) -> httpx.Response:
        headers = {"X-Auth-Token": self.token, "OpenStack-API-Version": f"volume {version or self.version}",
                   **kwargs.pop("headers", {})}
        url = path if path.startswith("/v3") or path == "/" else f"/v3/{self.project}{path}"
        response = await self.http.request(method, url, headers=headers, **kwargs)
        await self.svc.drain()  # the backend's work the request cast, done before the test looks
        return response

    # -- shortcuts -------------------------------------------------------------------------------
    async def volume(self, size: int | None = 1, **fields: Any) -> dict[str, Any]:
        spec = {"size": size, **fields} if size is not None else fields
        response = await self.post("/volumes", json={"volume": spec})
        assert response.status_code == 202, response.text
        return (await self.get(f"/volumes/{response.json()['volume']['id']}")).json()["volume"]

    async def action(self, volume_id: str, body: dict[str, Any], **kwargs: Any) -> httpx.Response:
        return await self.post(f"/volumes/{volume_id}/action", json=body, **kwargs)


@pytest.fixture
async def vapi(vol: Any) -> Any:
    from monostack.volume.api import build

    _app, asgi = build(vol, FakeValidator(), max_body_size=1024 * 1024)
    transport = httpx.ASGITransport(app=asgi)
    async with httpx.AsyncClient(transport=transport, base_url="http://volume.test") as http:
        yield Client(http, vol)
