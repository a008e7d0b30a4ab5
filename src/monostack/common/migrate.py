"""Alembic migrations, one history per service.

Each service keeps its revisions in `<service>/migrations/versions/` and its
own version table (`alembic_version_<service>`), so services can share one
database in the all-in-one or each have their own when split across hosts.
A service's `migrations/env.py` is a single call to `run_env`.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic import command, context as alembic_context
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from monostack.common.db import Database

LOG = logging.getLogger(__name__)


def _alembic_config(service: str, connection: sa.Connection | None = None) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", f"monostack.{service}:migrations")
    cfg.attributes["service"] = service
    cfg.attributes["connection"] = connection
    return cfg


def version_table(service: str) -> str:
    return f"alembic_version_{service}"


def current(db: Database, service: str) -> str | None:
    with db.write_engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"version_table": version_table(service)})
        return ctx.get_current_revision()


def head(service: str) -> str | None:
    return ScriptDirectory.from_config(_alembic_config(service)).get_current_head()


def upgrade(db: Database, service: str, revision: str = "head") -> None:
    """Bring the service's tables to `revision`; a no-op when already there."""
    if revision == "head" and current(db, service) == head(service):
        return
    LOG.info("migrating %s database to %s", service, revision)
    with db.write_engine.begin() as conn:
        command.upgrade(_alembic_config(service, conn), revision)


def run_env(target_metadata: sa.MetaData) -> None:
    """Body of every service's migrations/env.py."""
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
