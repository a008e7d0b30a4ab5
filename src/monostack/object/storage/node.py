"""A storage node: the account, container and object servers of this host's devices, and the
background daemons that keep their data whole (replicator, auditor, updaters).

A node knows only the rings and its own devices: it serves the devices of the rings whose IP
address is one of this host's (`[object] node_ips`, else any address it can bind), on the ports
the rings give them, so the same code serves one all-in-one or one host of many.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import pathlib
import random
import socket
from typing import Any, Awaitable, Callable, Iterator

import uvicorn

from monostack.common.zerocopy import ZeroCopy
from monostack.object.proxy.backend import BackendPool
from monostack.object.ring import hashing
from monostack.object.ring.defaults import RING_TYPES, ensure_hash_path, ring_path
from monostack.object.ring.ring import Ring, RingError
from monostack.object.storage.account_server import AccountServer
from monostack.object.storage.container_server import ContainerServer
from monostack.object.storage.diskfile import DiskFileManager
from monostack.object.storage.object_server import ObjectServer
from monostack.object.storage.reporting import AccountReporter

LOG = logging.getLogger(__name__)


class _Server(uvicorn.Server):
    """A server inside the cloud's event loop: the cloud handles the signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _option(conf: Any, name: str, default: Any) -> Any:
    """An [object] option another part of Object Storage may have registered."""
    try:
        return conf.get("object", name)
    except AttributeError:
        return default


_LOCAL: dict[str, bool] = {}


def is_local_ip(ip: str) -> bool:
    """An address of this host: one we can bind."""
    _cache = _LOCAL
    if ip not in _cache:
        family = socket.AF_INET6 if ":" in ip else socket.AF_INET
        try:
            with socket.socket(family, socket.SOCK_STREAM) as probe:
                probe.bind((ip, 0))
            _cache[ip] = True
        except OSError:
            _cache[ip] = False
    return _cache[ip]


class StorageNode:
    def __init__(self, conf: Any):
        import monostack.object.options  # noqa: F401  (registers [object])
        self.conf = conf
        opts = conf.object
        self.rings_dir = pathlib.Path(opts.rings_dir)
        self.devices_dir = str(opts.devices_dir)
        self.hash_path = ensure_hash_path(conf) if self.rings_dir.exists() else hashing.HashPath()
        self.node_ips = set(opts.node_ips)
        self._rings: dict[str, Ring] = {}
        self.workers = concurrent.futures.ThreadPoolExecutor(64, thread_name_prefix="object-storage")
        # The container and account servers' own threads: their short database updates never wait
        # behind object writes that each hold a thread through several fsyncs (under a burst of
        # PUTs every thread of a shared pool would be in one, and the container updates of those very
        # PUTs, which the object servers wait for, would queue behind the next ones).
        self.db_workers = concurrent.futures.ThreadPoolExecutor(32, thread_name_prefix="object-storage-db")
        self.pool = BackendPool(conn_timeout=opts.conn_timeout, node_timeout=opts.node_timeout,
                                user_agent="storage-node")
        # The directory fsyncs that run alongside an object write's data fsync (DiskFile.commit).
        self.fsync_workers = concurrent.futures.ThreadPoolExecutor(64, thread_name_prefix="object-storage-fsync")
        self.diskfiles = DiskFileManager(self.devices_dir, self.hash_path, reclaim_age=opts.reclaim_age,
                                         fsync_workers=self.fsync_workers,
                                         keep_cache_size=opts.keep_cache_size)
        self.object_server = ObjectServer(self.diskfiles, self.pool, small_object_size=opts.small_object_size,
                                          disk_chunk_size=opts.disk_chunk_size,
                                          container_update_timeout=opts.container_update_timeout,
                                          client_timeout=opts.client_timeout, workers=self.workers,
                                          expirer_divisor=_option(conf, "expiring_objects_container_divisor", 86400))
        self.reporter = AccountReporter(lambda: self.ring("account"), self.pool,
                                        lambda fn, *args: self.container_server.run(fn, *args))
        self.container_server = ContainerServer(self.devices_dir, self.hash_path, self.pool, self.reporter,
                                                pending_max=opts.db_pending_max,
                                                report_delay=opts.account_report_delay,
                                                client_timeout=opts.client_timeout, workers=self.db_workers)
        self.account_server = AccountServer(self.devices_dir, self.hash_path, pending_max=opts.db_pending_max,
                                            client_timeout=opts.client_timeout, workers=self.db_workers)
        self._servers: list[tuple[_Server, asyncio.Task]] = []
        self._daemons: list[asyncio.Task] = []
        self._daemon = None  # the replication package's Daemons, made on start

    # -- helpers -------------------------------------------------------------------------------------
    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await self.object_server.run(fn, *args)

    def ring(self, kind: str) -> Ring | None:
        """The ring of a type (None when it does not exist); re-read when its file changes."""
        ring = self._rings.get(kind)
        if ring is None:
            path = ring_path(self.conf, kind)
            if not path.exists():
                return None
            try:
                ring = Ring(path, self.hash_path)
            except RingError:
                LOG.exception("cannot load the %s ring", kind)
                return None
            self._rings[kind] = ring
        return ring

    def is_mine(self, dev: dict[str, Any] | None) -> bool:
        if dev is None:
            return False
        if self.node_ips:
            return dev["ip"] in self.node_ips or dev.get("replication_ip") in self.node_ips
        return is_local_ip(dev["ip"])

    def local_devices(self, kind: str) -> list[dict[str, Any]]:
        """This node's devices in a ring (mounted or not)."""
        ring = self.ring(kind)
        if ring is None:
            return []
        return [dev for dev in ring.devs if self.is_mine(dev)]  # type: ignore[misc]

    def app_for(self, kind: str) -> Any:
        return {"object": self.object_server, "container": self.container_server,
                "account": self.account_server}[kind]

    def addresses(self) -> list[tuple[str, str, int]]:
        """(ring type, ip, port) this node listens on."""
        seen: dict[tuple[str, int], str] = {}
        for kind in RING_TYPES:
            for dev in self.local_devices(kind):
                for ip, port in {(dev["ip"], dev["port"]), (dev["replication_ip"], dev["replication_port"])}:
                    if (ip, port) in seen and seen[(ip, port)] != kind:
                        raise ValueError(f"{ip}:{port} is in both the {seen[(ip, port)]} and the {kind} ring")
                    seen[(ip, port)] = kind
        return [(kind, ip, port) for (ip, port), kind in sorted(seen.items())]

    # -- lifecycle ----------------------------------------------------------------------------------------
    async def start(self, daemons: bool | None = None) -> None:
        for kind, ip, port in self.addresses():
            config = uvicorn.Config(ZeroCopy(self.app_for(kind)), host=ip, port=port, log_config=None, access_log=False,
                                    lifespan="off", http="httptools", server_header=False, date_header=False,
                                    proxy_headers=False,
                                    timeout_keep_alive=5, timeout_graceful_shutdown=5)
            server = _Server(config)
            task = asyncio.get_running_loop().create_task(server.serve())
            self._servers.append((server, task))
            while not server.started:
                if task.done():
                    task.result()  # the bind error
                    raise RuntimeError(f"the {kind} server on {ip}:{port} stopped at once")
                await asyncio.sleep(0.01)
            LOG.info("%s server listening on %s:%d", kind, ip, port)
        if daemons if daemons is not None else self.conf.object.daemons:
            from monostack.object.replication.daemons import Daemons
            self._daemon = Daemons(self)
            opts = self.conf.object
            self._daemons = [
                self._every("replicator", opts.replicator_interval, self._daemon.replicate_once),
                self._every("updater", opts.updater_interval, self._daemon.update_once),
                self._every("auditor", opts.auditor_interval, self._daemon.audit_once),
            ]

    def _every(self, name: str, interval: float, work: Callable[[], Awaitable[Any]]) -> asyncio.Task:
        async def loop() -> None:
            await asyncio.sleep(interval * random.uniform(0.1, 0.5))  # spread the start of the daemons
            while True:
                try:
                    await work()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    LOG.exception("the object %s pass failed", name)
                await asyncio.sleep(interval * random.uniform(0.9, 1.1))
        return asyncio.get_running_loop().create_task(loop(), name=f"object-{name}")

    async def stop(self) -> None:
        for task in self._daemons:
            task.cancel()
        await asyncio.gather(*self._daemons, return_exceptions=True)
        self._daemons = []
        for server, _task in self._servers:
            server.should_exit = True
        await asyncio.gather(*(task for _server, task in self._servers), return_exceptions=True)
        self._servers = []
        for app in (self.object_server, self.container_server, self.account_server):
            await app.close()
        self.pool.close()
        self.workers.shutdown(wait=True, cancel_futures=True)
        self.db_workers.shutdown(wait=True, cancel_futures=True)
        self.fsync_workers.shutdown(wait=True, cancel_futures=True)

    # -- on demand ------------------------------------------------------------------------------------------
    def daemons(self) -> Any:
        if self._daemon is None:
            from monostack.object.replication.daemons import Daemons
            self._daemon = Daemons(self)
        return self._daemon

    async def replicate_once(self) -> dict[str, Any]:
        return await self.daemons().replicate_once()

    async def audit_once(self, rate_limited: bool = False) -> dict[str, Any]:
        return await self.daemons().audit_once(rate_limited=rate_limited)

    async def update_once(self) -> dict[str, Any]:
        return await self.daemons().update_once()
