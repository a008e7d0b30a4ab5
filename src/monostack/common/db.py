"""Database access: SQLAlchemy 2 engines and sessions for SQLite, PostgreSQL and MariaDB.

SQLite is the all-in-one default and needs care to never fail with "database
is locked" under concurrent requests: the file runs in WAL mode, readers use
deferred transactions (they never block writers), and writers take the lock up
front with BEGIN IMMEDIATE -- a deferred transaction that reads, then writes,
cannot wait for the lock and fails at once -- and are serialised inside the
process so they queue on a cheap mutex instead of SQLite's sleeping busy handler.

Service code never touches engines: it asks for `db.reader()` or `db.writer()`.
These are blocking calls; API handlers run them in worker threads.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import pathlib
import threading
import time
from typing import Any, Callable, Iterator, TypeVar

import sqlalchemy as sa
from sqlalchemy import event, exc, orm
from sqlalchemy.engine import make_url

LOG = logging.getLogger(__name__)
T = TypeVar("T")

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def declarative_base() -> type[orm.DeclarativeBase]:
    """A fresh declarative base for one service's tables."""

    class Base(orm.DeclarativeBase):
        metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)

    return Base


class Database:
    def __init__(self, url: str, *, pool_size: int = 10, busy_timeout: int = 30):
        self.url = make_url(url)
        self.backend = self.url.get_backend_name()
        self.is_sqlite = self.backend == "sqlite"
        if self.is_sqlite:
            self._write_lock: threading.Lock | None = threading.Lock()
            database = self.url.database
            if database and database != ":memory:":
                pathlib.Path(database).parent.mkdir(parents=True, exist_ok=True)
            self.read_engine = self._sqlite_engine(busy_timeout, immediate=False)
            self.write_engine = self._sqlite_engine(busy_timeout, immediate=True)
        else:
            self._write_lock = None
            kwargs: dict[str, Any] = {"pool_size": pool_size, "max_overflow": pool_size * 2,
                                      "pool_pre_ping": True, "pool_recycle": 3600}
            if self.backend == "mysql":
                kwargs["isolation_level"] = "READ COMMITTED"
            self.read_engine = self.write_engine = sa.create_engine(self.url, **kwargs)
        self._reader = orm.sessionmaker(self.read_engine, expire_on_commit=False)
        self._writer = orm.sessionmaker(self.write_engine, expire_on_commit=False)

    def _sqlite_engine(self, busy_timeout: int, *, immediate: bool) -> sa.Engine:
        engine = sa.create_engine(self.url, connect_args={"check_same_thread": False, "timeout": busy_timeout},
                                  pool_size=8 if not immediate else 2, max_overflow=32)

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn, _record):
            dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={busy_timeout * 1000}")
            cursor.close()

        begin = "BEGIN IMMEDIATE" if immediate else "BEGIN"

        @event.listens_for(engine, "begin")
        def _on_begin(conn):
            conn.exec_driver_sql(begin)

        return engine

    @contextlib.contextmanager
    def reader(self) -> Iterator[orm.Session]:
        # Closing (not rolling back) ends the transaction without expiring
        # the loaded objects, so callers may read them after the block.
        with self._reader() as session:
            yield session

    @contextlib.contextmanager
    def writer(self) -> Iterator[orm.Session]:
        """A write transaction: committed on success, rolled back on error."""
        lock = self._write_lock or contextlib.nullcontext()
        with lock:
            with self._writer() as session:
                with session.begin():
                    yield session

    def dispose(self) -> None:
        self.read_engine.dispose()
        if self.write_engine is not self.read_engine:
            self.write_engine.dispose()


def retry_on_deadlock(fn: Callable[..., T], attempts: int = 5) -> Callable[..., T]:
    """Retry a whole write transaction when the database reports a deadlock or
    serialisation failure (PostgreSQL/MariaDB under concurrent writers)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        for attempt in range(attempts):
            try:
                return fn(*args, **kwargs)
            except exc.OperationalError as err:
                text = str(err.orig).lower() if err.orig else str(err).lower()
                transient = ("deadlock" in text or "could not serialize" in text or "lock wait timeout" in text
                             or "database is locked" in text)
                if not transient or attempt == attempts - 1:
                    raise
                LOG.warning("transient database error, retrying (%d): %s", attempt + 1, text)
                time.sleep(0.01 * (2 ** attempt))
        raise AssertionError("unreachable")

    return wrapper


def ensure_database(url: str) -> None:
    """Create the PostgreSQL or MariaDB database named in the URL if it is missing."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite" or not parsed.database:
        return
    name = parsed.database
    if backend == "postgresql":
        engine = sa.create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            exists = conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).scalar()
            if not exists:
                conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    elif backend == "mysql":
        engine = sa.create_engine(parsed.set(database=""))
        with engine.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4")
    engine.dispose()
