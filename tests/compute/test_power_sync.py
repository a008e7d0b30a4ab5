"""The agent's periodic power-state sync (Nova's _sync_power_states): servers whose guest stopped
on its own go SHUTOFF, and the guests of servers with a task or an action under way are not asked
at all (a QEMU monitor takes one client at a time: a build's own QMP session must not wait)."""

from __future__ import annotations

import asyncio
import types
from typing import Any

from monostack.compute import states
from monostack.compute.agent import ComputeAgent
from monostack.compute.drivers.base import GuestInfo, PowerState


class _Servers:
    def __init__(self, rows: list[Any]):
        self.rows = rows
        self.finished: list[tuple[str, dict[str, Any]]] = []

    def on_host(self, host: str) -> list[Any]:
        return self.rows

    def finish(self, uuid: str, **changes: Any) -> Any:
        self.finished.append((uuid, changes))
        return object()


class _Driver:
    """Every guest stopped; remembers which guests it was asked about."""

    def __init__(self) -> None:
        self.asked: list[set[str] | None] = []

    async def list_guests(self, only: Any = None) -> list[GuestInfo]:
        self.asked.append(None if only is None else set(only))
        return [GuestInfo(uuid=u, power_state=PowerState.SHUTDOWN) for u in (only or ())]


def _row(uuid: str, task_state: str | None = None) -> Any:
    return types.SimpleNamespace(uuid=uuid, task_state=task_state, vm_state=states.ACTIVE,
                                 power_state=int(PowerState.RUNNING))


async def test_only_idle_servers_guests_are_asked_and_synced() -> None:
    servers = _Servers([_row("idle"), _row("building", states.SPAWNING), _row("acting")])
    driver = _Driver()
    agent = ComputeAgent(types.SimpleNamespace(servers=servers), driver, host="h", placement=None, images=None,
                         network=None, bus=None)
    busy = agent._busy.setdefault("acting", asyncio.Lock())
    await busy.acquire()  # an action holds this server

    await agent.sync_power_states()

    assert driver.asked == [{"idle"}]
    assert servers.finished == [("idle", {"expected_task": None, "power_state": int(PowerState.SHUTDOWN),
                                          "vm_state": states.STOPPED})]
