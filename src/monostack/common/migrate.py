"""Alembic migrations, one history per service.

Each service keeps its revisions in `<service>/migrations/versions/` and its
own version table (`alembic_version_<service>`), so services can share one
database in the all-in-one or each have their own when split across hosts.
A service's `migrations/env.py` is a single call to `run_env`.
"""

from __future__ import annotations

import importlib.resources
import logging
import re
from typing import TYPE_CHECKING

import sqlalchemy as sa

from monostack.common.db import Database

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

LOG = logging.getLogger(__name__)


def _alembic_config(service: str, connection: sa.Connection | None = None) -> "AlembicConfig":
    from alembic.config import Config as AlembicConfig
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", f"monostack.{service}:migrations")
    cfg.attributes["service"] = service
    cfg.attributes["connection"] = connection
    return cfg


def version_table(service: str) -> str:
    return f"alembic_version_{service}"


def current(db: Database, service: str) -> str | None:
    table = version_table(service)
    with db.write_engine.connect() as conn:
        if not sa.inspect(conn).has_table(table):
            return None
        return conn.execute(sa.text(f"SELECT version_num FROM {table}")).scalar()


_REVISION_RE = re.compile(r"^(revision|down_revision)\s*=\s*['\"]?([\w]+)['\"]?", re.MULTILINE)


def head(service: str) -> str | None:
    """The newest revision, read from the revision files themselves: importing
    Alembic costs a quarter of a second, paid only when there is work to do."""
    revisions, parents = set(), set()
    versions = importlib.resources.files(f"monostack.{service}") / "migrations" / "versions"
    for entry in versions.iterdir():
        if entry.name.endswith(".py") and not entry.name.startswith("_"):
            fields = dict(_REVISION_RE.findall(entry.read_text()))
            if "revision" in fields:
                revisions.add(fields["revision"])
                if fields.get("down_revision") not in (None, "None"):
                    parents.add(fields["down_revision"])
    heads = revisions - parents
    if len(heads) > 1:
        raise RuntimeError(f"{service} has several migration heads: {sorted(heads)}")
    return heads.pop() if heads else None


def upgrade(db: Database, service: str, revision: str = "head") -> None:
    """Bring the service's tables to `revision`; a no-op when already there."""
    if revision == "head" and current(db, service) == head(service):
        return
    from alembic import command
    LOG.info("migrating %s database to %s", service, revision)
    with db.write_engine.begin() as conn:
        command.upgrade(_alembic_config(service, conn), revision)


def run_env(target_metadata: sa.MetaData) -> None:
    """Body of every service's migrations/env.py."""
    from alembic import context as alembic_context
    cfg = alembic_context.config
    service = cfg.attributes["service"]
    connection = cfg.attributes.get("connection")
    opts = dict(target_metadata=target_metadata, version_table=version_table(service),
                render_as_batch=True, compare_type=True)
    if connection is None:  # offline (alembic revision --autogenerate from a dev shell)
        url = cfg.get_main_option("sqlalchemy.url") or "sqlite://"
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            alembic_context.configure(connection=conn, **opts)
            with alembic_context.begin_transaction():
                alembic_context.run_migrations()
        return
    alembic_context.configure(connection=connection, **opts)
    with alembic_context.begin_transaction():
        alembic_context.run_migrations()
