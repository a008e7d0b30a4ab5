"""aio-pika's RobustConnection with exponential reconnect backoff.

RobustConnection already re-opens the connection and restores channels,
exchanges, queues, bindings and consumers, but it waits a fixed
`reconnect_interval` between attempts.  It reads that attribute before every
pause, so we make it a property that returns how long the broker has been
unreachable so far (at least the configured interval, at most MAX_INTERVAL):
pausing for the time already waited doubles the total wait on every attempt
(1, 1, 2, 4, 8, 16, 30, 30 ... s) without touching aio-pika's private
reconnect loop.  The clock starts at construction, so the same backoff applies
when the broker is already down at start (use ``fail_fast=False``).
"""

from __future__ import annotations

import asyncio
from typing import Any

import aio_pika


class BackoffConnection(aio_pika.RobustConnection):
    MAX_INTERVAL = 30.0

    def __init__(self, url: Any, **kwargs: Any):
        self._down_since: float | None = None
        super().__init__(url, **kwargs)
        self._down_since = self.loop.time()

    @property  # type: ignore[override]
    def reconnect_interval(self) -> float:
        if self._down_since is None:
            return self._min_interval
        waited = self.loop.time() - self._down_since
        return min(max(waited, self._min_interval), self.MAX_INTERVAL)

    @reconnect_interval.setter
    def reconnect_interval(self, value: float) -> None:
        self._min_interval = float(value)

    async def _on_connection_close(self, closing: asyncio.Future) -> None:
        if self._down_since is None:
            self._down_since = self.loop.time()
        await super()._on_connection_close(closing)

    async def _on_connected(self) -> None:
        await super()._on_connected()
        self._down_since = None
