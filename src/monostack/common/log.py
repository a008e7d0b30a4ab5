"""Logging: every line carries the request id, user and project of the request
that caused it (read from the request context), to stderr and DIR/logs/.

Records are only queued by the thread that logs (the event loop must not wait
on a terminal or a disk); one writer thread formats and writes them.  The
context is read when the record is queued, in the thread that knows it.
"""

from __future__ import annotations

import atexit
import logging
import logging.handlers
import pathlib
import queue
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


_listener: logging.handlers.QueueListener | None = None


def setup(level: str = "INFO", log_dir: str | pathlib.Path | None = None, filename: str = "monostack.log") -> None:
    global _listener
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_monostack", False):
            root.removeHandler(handler)
            handler.close()
    if _listener is not None:
        _listener.stop()
    formatter = logging.Formatter(FORMAT, DATEFMT)
    writers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_dir is not None:
        path = pathlib.Path(log_dir)
        path.mkdir(parents=True, exist_ok=True)
        writers.append(logging.FileHandler(path / filename))
    for writer in writers:
        writer.setFormatter(formatter)
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    front = logging.handlers.QueueHandler(records)
    front.addFilter(ContextFilter())
    front._monostack = True  # type: ignore[attr-defined]
    root.addHandler(front)
    _listener = logging.handlers.QueueListener(records, *writers, respect_handler_level=False)
    _listener.start()
    atexit.register(flush)
    root.setLevel(level.upper())
    # Our own access log line replaces uvicorn's.
    logging.getLogger("uvicorn.access").disabled = True
    for noisy in ("aiormq", "aio_pika", "sqlalchemy.engine", "stevedore", "oslo_policy"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def flush() -> None:
    """Write out every queued record (at exit, or before reading the log file)."""
    global _listener
    if _listener is not None:
        _listener.stop()
        _listener = None
