"""Emitting a notification from service code without waiting for it.

Service functions run in worker threads (or, rarely, on the event loop); the
bus is async.  `notify_soon` schedules the notification on the cloud's loop
from either place and returns at once; a failure is logged, never raised into
the request that caused it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from monostack.common import context as context_mod

if TYPE_CHECKING:
    from monostack.common.bus import Bus

LOG = logging.getLogger(__name__)


def notify_soon(bus: "Bus | None", loop: asyncio.AbstractEventLoop | None, event_type: str,
                payload: dict[str, Any], *, publisher_id: str) -> None:
    if bus is None or loop is None or loop.is_closed():
        return
    ctx = context_mod.current()
    coro = bus.notify(event_type, payload, ctx.to_dict() if ctx else None, publisher_id=publisher_id)
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        loop.create_task(coro).add_done_callback(_log_failure)
    else:
        asyncio.run_coroutine_threadsafe(coro, loop).add_done_callback(_log_failure)


def _log_failure(future: Any) -> None:
    if future.cancelled():
        return
    exc = future.exception()
    if exc is not None:
        LOG.warning("could not send notification: %s", exc)
