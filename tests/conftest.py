"""Shared fixtures.

MONOSTACK_TEST_DB picks the database every fixture uses: sqlite (default),
postgresql or mysql (the local servers; a fresh database per test session,
dropped at the end).  `cloud` starts a real `monostack up` in a subprocess on
a free port; `identity` is the service layer alone, no HTTP.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time
import uuid
from typing import Any, Iterator

import httpx
import pytest
import sqlalchemy as sa
import yaml

REPO = pathlib.Path(__file__).resolve().parent.parent
MONOSTACK = [sys.executable, "-m", "monostack.cli"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _server_url(backend: str, name: str = "") -> str:
    if backend == "postgresql":
        return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    if backend == "mysql":
        return f"mysql+pymysql://root@127.0.0.1:3306/{name}?charset=utf8mb4"
    raise ValueError(backend)


def _drop(backend: str, name: str) -> None:
    if backend == "postgresql":
        engine = sa.create_engine(_server_url(backend, "postgres"), isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    else:
        engine = sa.create_engine(_server_url(backend, ""))
        with engine.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS `{name}`")
    engine.dispose()


@pytest.fixture(scope="session")
def db_backend() -> str:
    return os.environ.get("MONOSTACK_TEST_DB", "sqlite")


@pytest.fixture(scope="session")
def make_db_url(db_backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A factory of empty databases on the selected backend, dropped at the end of the session."""
    created: list[str] = []
    tmp = tmp_path_factory.mktemp("db")

    def make() -> str:
        if db_backend == "sqlite":
            return f"sqlite:///{tmp}/db-{uuid.uuid4().hex[:8]}.sqlite"
        name = f"monostack_test_{uuid.uuid4().hex[:12]}"
        created.append(name)
        return _server_url(db_backend, name)

    yield make
    for name in created:
        _drop(db_backend, name)


def migrated_db_url(make_db_url: Any, service: str) -> str:
    """A new database on the selected backend with `service`'s tables at their newest migration."""
    from monostack.common.db import Database, ensure_database
    from monostack.common.migrate import upgrade

    url = make_db_url()
    ensure_database(url)
    db = Database(url)
    upgrade(db, service)
    db.dispose()
    return url


@pytest.fixture(scope="session")
def identity_store(make_db_url: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any]]:
    """One migrated identity database (and key repository) for the session: tests
    make uniquely named objects, so they can share it, and PostgreSQL/MariaDB
    schema creation is paid once."""
    from monostack.common.db import Database, ensure_database
    from monostack.common.migrate import upgrade

    url = make_db_url()
    ensure_database(url)
    db = Database(url)
    upgrade(db, "identity")
    yield url, tmp_path_factory.mktemp("identity-data")
    db.dispose()


@pytest.fixture
def identity(identity_store: tuple[Any, Any]) -> Iterator[Any]:
    """The Identity service layer (no HTTP), bootstrapped, with its own configuration."""
    from monostack.common.config import Config
    from monostack.common.db import Database
    from monostack.identity.bootstrap import Bootstrap, load_passwords
    from monostack.identity.service import IdentityService

    url, data_dir = identity_store
    # Cost 4 keeps the service-layer tests fast; the end-to-end tests use the real cost.
    conf = Config(data_dir, overrides={"database": {"connection": url}, "identity": {"password_hash_rounds": 4}})
    db = Database(url)
    svc = IdentityService(conf, db)
    svc.passwords = load_passwords(conf.data_dir / "credentials.yaml")
    Bootstrap(svc, svc.passwords).run("http://127.0.0.1:5000", "RegionOne", [])
    yield svc
    db.dispose()


@dataclasses.dataclass
class RunningCloud:
    data_dir: pathlib.Path
    url: str
    process: subprocess.Popen

    @property
    def clouds_yaml(self) -> pathlib.Path:
        return self.data_dir / "clouds.yaml"

    @property
    def auth_url(self) -> str:
        return f"{self.url}/identity"

    def cloud(self, name: str = "monostack-admin") -> dict[str, Any]:
        return yaml.safe_load(self.clouds_yaml.read_text())["clouds"][name]

    def token(self, name: str = "monostack-admin") -> str:
        auth = self.cloud(name)["auth"]
        scope: Any = {"system": {"all": True}} if auth.get("system_scope") else {
            "project": {"name": auth["project_name"], "domain": {"id": "default"}}}
        body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": auth["username"], "domain": {"id": "default"}, "password": auth["password"]}}},
            "scope": scope}}
        response = httpx.post(f"{self.auth_url}/v3/auth/tokens", json=body, timeout=30)
        response.raise_for_status()
        return response.headers["x-subject-token"]

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["OS_CLIENT_CONFIG_FILE"] = str(self.clouds_yaml)
        for key in list(env):
            if key.startswith("OS_") and key != "OS_CLIENT_CONFIG_FILE":
                del env[key]
        return env


def start_cloud(data_dir: pathlib.Path, db_url: str | None = None, extra_env: dict[str, str] | None = None,
                timeout: float = 60, guest_images: bool = False) -> RunningCloud:
    port = free_port()
    # Test clouds register the guest images only when a test asks (they appear in image
    # lists), and share one build per machine.
    env = dict(os.environ, PYTHONUNBUFFERED="1", MONOSTACK_IMAGE__GUEST_IMAGES=str(guest_images).lower())
    env.setdefault("MONOSTACK_GUEST_CACHE", str(pathlib.Path.home() / ".cache" / "monostack" / "guest"))
    # Object Storage's servers listen on ports of their own (Swift's 6200-6202 by
    # default): every test cloud gets free ones, so clouds can run side by side.
    for server in ("OBJECT", "CONTAINER", "ACCOUNT"):
        env[f"MONOSTACK_OBJECT__{server}_PORT"] = str(free_port())
    # The Networking agent changes the host (bridges, namespaces, nftables) and takes every
    # such thing of ours as its own: only a test that asks for it runs one.
    env["MONOSTACK_NETWORK__RUN_AGENT"] = "false"
    env.update(extra_env or {})
    if db_url:
        env["MONOSTACK_DATABASE__CONNECTION"] = db_url
    data_dir.mkdir(parents=True, exist_ok=True)
    # `up` removes a stale clouds.yaml itself, but only once it runs: do it first.
    (data_dir / "clouds.yaml").unlink(missing_ok=True)
    log = open(data_dir / "up.log", "ab")
    process = subprocess.Popen(MONOSTACK + ["up", "--data-dir", str(data_dir), "--bind", f"127.0.0.1:{port}"],
                               stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO)
    deadline = time.monotonic() + timeout
    while not (data_dir / "clouds.yaml").exists():
        if process.poll() is not None:
            raise RuntimeError(f"monostack up exited {process.returncode}: {(data_dir / 'up.log').read_text()[-3000:]}")
        if time.monotonic() > deadline:
            process.kill()
            raise RuntimeError("monostack up did not write clouds.yaml in time")
        time.sleep(0.05)
    return RunningCloud(data_dir=data_dir, url=f"http://127.0.0.1:{port}", process=process)


def stop_cloud(cloud: RunningCloud) -> int:
    cloud.process.send_signal(signal.SIGINT)
    try:
        return cloud.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        cloud.process.kill()
        cloud.process.wait()
        raise


def own_cloud(tmp_path_factory: pytest.TempPathFactory, db_backend: str, prefix: str = "cloud",
              extra_env: dict[str, str] | None = None) -> Iterator[RunningCloud]:
    """A cloud of the caller's own, on the selected database backend (its database dropped after)."""
    name = url = None
    if db_backend != "sqlite":
        name = f"monostack_test_{uuid.uuid4().hex[:12]}"
        url = _server_url(db_backend, name)
    running = start_cloud(tmp_path_factory.mktemp(prefix), url, extra_env=extra_env)
    try:
        yield running
    finally:
        stop_cloud(running)
        if name:
            _drop(db_backend, name)


@pytest.fixture(scope="session")
def cloud(tmp_path_factory: pytest.TempPathFactory, db_backend: str) -> Iterator[RunningCloud]:
    """One cloud for the whole test session (each test makes its own resources)."""
    yield from own_cloud(tmp_path_factory, db_backend)


@pytest.fixture(scope="session")
def admin_token(cloud: RunningCloud) -> str:
    return cloud.token("monostack-admin")


@pytest.fixture
def api(cloud: RunningCloud, admin_token: str) -> Iterator[httpx.Client]:
    """An HTTP client for the identity API, as the cloud admin."""
    with httpx.Client(base_url=f"{cloud.auth_url}/v3", headers={"X-Auth-Token": admin_token},
                      timeout=30) as client:
        yield client
