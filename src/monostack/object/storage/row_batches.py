"""Row updates of one database written to its pending file together.

Every object write or delete sends its container a row update, and each of them, alone, cost a
worker thread's turn, an open, a lock, a write and a close of the pending file: under a burst of
writes to one container (the usual case) those turns dominated the container server's time, and
the threads queued for the pending file's lock while a merge held it.  Here the updates that
arrive for one database while a batch of them is being written form the next batch: one worker
thread turn and one write for all of them.  Each request is still answered only once its row is in
the pending file, as before (a write that fails fails every request of its batch).
"""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable

# Writes a batch on a worker thread: (key, items) -> None, or raises for all of them.
Writer = Callable[[str, list[Any]], Awaitable[None]]


class _Batch:
    __slots__ = ("items", "waiters")

    def __init__(self) -> None:
        self.items: list[Any] = []
        self.waiters: list[asyncio.Future] = []


class RowBatches:
    def __init__(self, write: Writer, spawn: Callable[[Any], asyncio.Task]):
        self.write = write
        self.spawn = spawn  # background task that outlives the request (the server's)
        self._open: dict[str, _Batch] = {}  # collecting, per database
        self._writing: set[str] = set()  # databases whose writer task runs

    async def put(self, key: str, item: Any) -> None:
        """Queue `item` for database `key`; return once its batch is written."""
        batch = self._open.get(key)
        if batch is None:
            batch = self._open[key] = _Batch()
        waiter = asyncio.get_running_loop().create_future()
        waiter.add_done_callback(_retrieve)
        batch.items.append(item)
        batch.waiters.append(waiter)
        if key not in self._writing:
            self._writing.add(key)
            self.spawn(self._drain(key))
        await asyncio.shield(waiter)  # a caller that gives up does not take its row out of the batch

    async def _drain(self, key: str) -> None:
        try:
            while (batch := self._open.pop(key, None)) is not None:
                try:
                    await self.write(key, batch.items)
                except asyncio.CancelledError:
                    for waiter in batch.waiters:
                        waiter.cancel()
                    raise
                except Exception as exc:
                    for waiter in batch.waiters:
                        if not waiter.done():
                            waiter.set_exception(exc)
                else:
                    for waiter in batch.waiters:
                        if not waiter.done():
                            waiter.set_result(None)
        finally:
            self._writing.discard(key)
            left = self._open.pop(key, None)  # (only when cancelled midway)
            for waiter in left.waiters if left is not None else ():
                waiter.cancel()


def _retrieve(waiter: asyncio.Future) -> None:
    """The outcome of a batch whose caller stopped waiting is not an unretrieved error."""
    if not waiter.cancelled():
        waiter.exception()
