"""Events other services send about a server, and the agent waiting for them (Nova's
virtapi.wait_for_instance_event).

The agent says which events it expects *before* the action that causes them
(plugging a port makes the Networking service send `network-vif-plugged`), so
one that arrives early is not lost; it then waits for all of them, up to a
timeout.  An event with status "failed" fails the wait.  Events nobody waits
for are dropped: the API has already answered the sender.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, AsyncIterator


class EventFailed(Exception):
    pass


class EventTimeout(Exception):
    pass


Key = tuple[str, str, str]  # server uuid, event name, tag (a port id, a volume id)


class InstanceEvents:
    def __init__(self) -> None:
        self._waiting: dict[Key, asyncio.Future] = {}

    @contextlib.asynccontextmanager
    async def expect(self, server_uuid: str, events: list[tuple[str, str]], timeout: float
                     ) -> AsyncIterator[None]:
        """`async with events.expect(uuid, [("network-vif-plugged", port_id)], 300): <action>` returns
        once every event came (EventFailed, EventTimeout otherwise)."""
        loop = asyncio.get_running_loop()
        keys = [(server_uuid, name, tag) for name, tag in events]
        futures = [self._waiting.setdefault(key, loop.create_future()) for key in keys]
        try:
            yield
            if futures:
                done, pending = await asyncio.wait(futures, timeout=timeout)
                if pending:
                    missing = [f"{k[1]}-{k[2]}" for k, f in zip(keys, futures) if f in pending]
                    raise EventTimeout(f"Timed out waiting for {', '.join(missing)}")
                failed = [f"{k[1]}-{k[2]}" for k, f in zip(keys, futures) if f.result() == "failed"]
                if failed:
                    raise EventFailed(f"Failed event(s): {', '.join(failed)}")
        finally:
            for key in keys:
                self._waiting.pop(key, None)

    def deliver(self, server_uuid: str, name: str, tag: str | None, status: str = "completed") -> bool:
        """True when someone was waiting for it."""
        future = self._waiting.get((server_uuid, name, tag or ""))
        if future is None or future.done():
            return False
        future.set_result(status)
        return True

    def waiting(self, server_uuid: str) -> list[Any]:
        return [key for key in self._waiting if key[0] == server_uuid]
