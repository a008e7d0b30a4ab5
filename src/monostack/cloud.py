"""The all-in-one cloud: every service of this host in one process, one event loop.

Start-up, in order: logging, databases and migrations, the message bus,
Identity (keys, bootstrap), each service's API mounted under its path on one
HTTP listener, then -- once every service answers -- DIR/clouds.yaml and
DIR/admin-openrc.sh, written atomically and last, so tools can wait for the
file.  Ctrl-C (SIGINT) or SIGTERM stops the listener, lets requests in flight
finish, stops the bus and closes the databases.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import gc
import logging
import pathlib
import signal
import socket
import threading
import time
from typing import Any, Iterator

import uvicorn
import yaml
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from monostack import __version__
from monostack.common import log
from monostack.common.bus import bus_from_conf
from monostack.common.config import Config
from monostack.common.db import Database, ensure_database
from monostack.common.http import ApiMiddleware
from monostack.common.migrate import upgrade
from monostack.common.zerocopy import ZeroCopy
from monostack.identity import api as identity_api
from monostack.identity.bootstrap import Bootstrap, clouds_yaml, load_passwords, openrc, write_private
from monostack.identity.service import IdentityService
from monostack.identity.validator import LocalValidator
from monostack.services import CatalogEntry, ServicePlugin
from monostack.services import START_ORDER
from monostack.services import load as load_service

LOG = logging.getLogger(__name__)

IDENTITY = CatalogEntry(type="identity", name="keystone", path="/identity", description="Identity Service")


class _Server(uvicorn.Server):
    """uvicorn re-raises SIGINT/SIGTERM once it has stopped serving, which would
    kill the process before the cloud's own shutdown (bus, databases, and later
    guests and agents) runs: here a signal only asks for a graceful stop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        originals = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in originals.items():
                signal.signal(sig, handler)


async def _answers(host: str, port: int, path: str) -> bool:
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 2)
        writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        status = await asyncio.wait_for(reader.readline(), 2)
        writer.close()
        return status.split()[1:2] == [b"200"]
    except (OSError, asyncio.TimeoutError, IndexError):
        return False


def parse_bind(bind: str) -> tuple[str, int]:
    """'HOST:PORT', '[V6]:PORT', 'HOST' (port 5000) or ':PORT'."""
    host, port = bind, 5000
    if bind.startswith("["):
        host, _, rest = bind[1:].partition("]")
        if rest.startswith(":"):
            port = int(rest[1:])
    elif bind.count(":") == 1:
        host, port_s = bind.split(":")
        port = int(port_s)
    return host or "127.0.0.1", port


def _start_rank(name: str) -> int:
    return START_ORDER.index(name) if name in START_ORDER else len(START_ORDER)


class Cloud:
    def __init__(self, conf: Config):
        self.conf = conf
        self.host, self.port = parse_bind(conf.default.bind)
        url_host = f"[{self.host}]" if ":" in self.host else self.host
        if self.host in ("0.0.0.0", "::"):
            url_host = socket.gethostname()
        self.public_url = (conf.default.public_url or f"http://{url_host}:{self.port}").rstrip("/")
        self.auth_url = f"{self.public_url}{IDENTITY.path}"
        self.databases: dict[str, Database] = {}
        self.bus: Any = None
        self.identity: IdentityService | None = None
        self.validator: LocalValidator | None = None
        self.server: _Server | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        # Every configured service but Identity, which is built in.
        self.plugins: list[ServicePlugin] = [load_service(name) for name in sorted(
            (n for n in conf.default.services if n != "identity"), key=_start_rank)]

    def database(self, service: str) -> Database:
        url = self.conf.database_url(service)
        if url not in self.databases:
            ensure_database(url)
            self.databases[url] = Database(url, pool_size=self.conf.database.pool_size,
                                           busy_timeout=self.conf.database.busy_timeout)
        return self.databases[url]

    # -- the pieces, in start-up order ------------------------------------------------
    def prepare_identity(self, loop: asyncio.AbstractEventLoop | None) -> IdentityService:
        """Blocking: migrations, keys and bootstrap."""
        db = self.database("identity")
        upgrade(db, "identity")
        self.identity = IdentityService(self.conf, db, bus=self.bus, loop=loop)
        self.validator = LocalValidator(self.identity)
        passwords = load_passwords(self.conf.data_dir / "credentials.yaml")
        Bootstrap(self.identity, passwords).run(self.public_url, self.conf.default.region, self.catalog_entries())
        self.passwords = passwords
        return self.identity

    def prepare(self, loop: asyncio.AbstractEventLoop) -> None:
        """Blocking: Identity first (others authenticate through it), then each service."""
        self.loop = loop
        self.prepare_identity(loop)
        for plugin in self.plugins:
            plugin.prepare(self)

    def catalog_entries(self) -> list[CatalogEntry]:
        return [IDENTITY] + [entry for plugin in self.plugins for entry in plugin.catalog]

    def asgi_app(self) -> Starlette:
        assert self.identity is not None
        identity_app, identity_asgi = identity_api.build(self.identity, self.validator,
                                                         max_body_size=self.conf.default.max_request_body_size)
        identity_app.state.identity_uri = self.auth_url
        ApiMiddleware.www_authenticate = f'Keystone uri="{self.auth_url}"'.encode()

        async def root(_request: Any) -> JSONResponse:
            return JSONResponse({"name": "monostack", "version": __version__,
                                 "services": {e.type: f"{self.public_url}{e.path}" for e in self.catalog_entries()}})

        routes = [Route("/", root), Mount(IDENTITY.path, app=identity_asgi)]
        for plugin in self.plugins:
            service_app = plugin.app(self)
            routes += [Mount(entry.path, app=service_app) for entry in plugin.catalog]
        return Starlette(routes=routes)

    async def answers(self, entry: CatalogEntry) -> bool:
        """The service's healthcheck answers 200 (a raw request: no HTTP client to import)."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        return await _answers(host, self.port, f"{entry.path}/healthcheck")

    async def wait_until_answering(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        for entry in self.catalog_entries():
            while not await self.answers(entry):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{entry.type} did not answer within {timeout} s")
                await asyncio.sleep(0.02)

    def write_client_files(self) -> None:
        region = self.conf.default.region
        write_private(self.conf.data_dir / "admin-openrc.sh", openrc(self.auth_url, region, self.passwords))
        write_private(self.conf.data_dir / "clouds.yaml",
                      yaml.safe_dump(clouds_yaml(self.auth_url, region, self.passwords), sort_keys=False))

    # -- run ---------------------------------------------------------------------------
    async def serve(self) -> None:
        started = time.monotonic()
        loop = asyncio.get_running_loop()
        workers = self.conf.default.api_workers or 64
        loop.set_default_executor(concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="monostack"))
        self.conf.data_dir.mkdir(parents=True, exist_ok=True)
        # A stale clouds.yaml must not tell waiting tools we are up.
        (self.conf.data_dir / "clouds.yaml").unlink(missing_ok=True)
        self.bus = bus_from_conf(self.conf)
        await self.bus.start()
        try:
            await loop.run_in_executor(None, self.prepare, loop)
            config = uvicorn.Config(ZeroCopy(self.asgi_app()), host=self.host, port=self.port, log_config=None,
                                    access_log=False, lifespan="off", timeout_graceful_shutdown=10,
                                    server_header=False)
            self.server = _Server(config)
            serving = asyncio.create_task(self.server.serve())
            while not self.server.started:
                if serving.done():
                    serving.result()  # raises the bind error
                    return
                await asyncio.sleep(0.01)
            await self.wait_until_answering()
            await self.identity.follow_other_processes()
            for plugin in self.plugins:
                await plugin.start(self)
            await loop.run_in_executor(None, self.write_client_files)
            # What start-up made lives as long as the process: frozen, it is out of the garbage
            # collector's full passes, each of which walked it with every request stalled (0.15 to
            # 0.3 s on a 2-vCPU machine, one server build in five in the boot benchmark).
            gc.freeze()
            LOG.info("monostack %s ready in %.2f s: %s (clouds.yaml in %s)", __version__,
                     time.monotonic() - started, self.public_url, self.conf.data_dir)
            await serving
        finally:
            LOG.info("shutting down")
            for plugin in reversed(self.plugins):
                try:
                    await plugin.stop(self)
                except Exception:  # one service failing to stop must not keep the others running
                    LOG.exception("stopping %s failed", plugin.name)
            await self.bus.stop()
            for db in self.databases.values():
                db.dispose()


def run(conf: Config) -> None:
    log.setup(conf.default.log_level, conf.data_dir / "logs")
    cloud = Cloud(conf)
    try:
        import uvloop
        uvloop.run(cloud.serve())
    except ImportError:
        asyncio.run(cloud.serve())


def default_data_dir() -> pathlib.Path:
    import os
    base = os.environ.get("XDG_DATA_HOME") or str(pathlib.Path.home() / ".local" / "share")
    return pathlib.Path(base) / "monostack"
