"""Logging: every line carries the request id, user and project of the request
that caused it (read from the request context), to stderr and DIR/logs/."""

from __future__ import annotations

import logging
import logging.handlers
import pathlib
import sys

from monostack.common import context

FORMAT = "%(asctime)s.%(msecs)03d %(process)d %(levelname)s %(name)s [%(request_id)s %(user_id)s %(project_id)s] %(message)s"
DATEFMT = "%Y-%m-%d %H:%M:%S"


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        ctx = context.current()
        if ctx is None:
            record.request_id, record.user_id, record.project_id = "-", "-", "-"
        else:
            record.request_id = ctx.request_id
            record.user_id = ctx.user_id or "-"
            record.project_id = ctx.project_id or ctx.domain_id or ctx.system_scope or "-"
        return True


def setup(level: str = "INFO", log_dir: str | pathlib.Path | None = None, filename: str = "monostack.log") -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_monostack", False):
            root.removeHandler(handler)
            handler.close()
    formatter = logging.Formatter(FORMAT, DATEFMT)
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_dir is not None:
        path = pathlib.Path(log_dir)
        path.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.handlers.WatchedFileHandler(path / filename))
    for handler in handlers:
        handler.setFormatter(formatter)
        handler.addFilter(ContextFilter())
        handler._monostack = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(level.upper())
    # Our own access log line replaces uvicorn's.
    logging.getLogger("uvicorn.access").disabled = True
    for noisy in ("aiormq", "aio_pika", "sqlalchemy.engine", "stevedore", "oslo_policy"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
