"""The bus endpoint the data-plane agents call (topic `q-plugin`, as Neutron's):
the state to converge to, heartbeats, and what they wired.

`AgentEndpoint` serves it (each method runs the blocking service call in a
worker thread); the agent in the service's own process calls it directly,
an agent on another host through `PluginClient`, the same methods over the bus.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from monostack.network.service import NetworkService

TOPIC = "q-plugin"


class AgentEndpoint:
    def __init__(self, service: "NetworkService"):
        self.service = service

    async def host_state(self, host: str, network_node: bool = True) -> dict[str, Any]:
        return await asyncio.to_thread(self.service.host_state, host, network_node=network_node)

    async def report_state(self, agent_type: str, host: str, configurations: dict[str, Any] | None = None,
                           start_flag: bool = False, availability_zone: str | None = None) -> dict[str, Any]:
        return await asyncio.to_thread(self.service.report_state, agent_type, host, configurations=configurations,
                                       start_flag=start_flag, availability_zone=availability_zone)

    async def set_port_status(self, port_id: str, event: str, host: str | None = None) -> dict[str, Any] | None:
        """`event`: wire, device_up, device_down (see monostack.network.states)."""
        return await asyncio.to_thread(self.service.set_port_status, port_id, event, host)

    async def set_floatingip_status(self, floatingip_id: str, status: str) -> None:
        await asyncio.to_thread(self.service.set_floatingip_status, floatingip_id, status)


class PluginClient:
    """AgentEndpoint's methods, called over the bus (the agent of a host without the service)."""

    def __init__(self, bus: Any, timeout: float = 60.0):
        self.bus = bus
        self.timeout = timeout

    async def host_state(self, host: str, network_node: bool = True) -> dict[str, Any]:
        return await self.bus.call(TOPIC, "host_state", timeout=self.timeout, host=host, network_node=network_node)

    async def report_state(self, agent_type: str, host: str, configurations: dict[str, Any] | None = None,
                           start_flag: bool = False, availability_zone: str | None = None) -> dict[str, Any]:
        return await self.bus.call(TOPIC, "report_state", timeout=self.timeout, agent_type=agent_type, host=host,
                                   configurations=configurations, start_flag=start_flag,
                                   availability_zone=availability_zone)

    async def set_port_status(self, port_id: str, event: str, host: str | None = None) -> dict[str, Any] | None:
        return await self.bus.call(TOPIC, "set_port_status", timeout=self.timeout, port_id=port_id, event=event,
                                   host=host)

    async def set_floatingip_status(self, floatingip_id: str, status: str) -> None:
        await self.bus.call(TOPIC, "set_floatingip_status", timeout=self.timeout, floatingip_id=floatingip_id,
                            status=status)
