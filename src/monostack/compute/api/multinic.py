"""The addFixedIp / removeFixedIp server actions (Nova's os-multinic, gone at 2.44): one more
address from a network the server has a port on, or one address less, changed on that port in
the Networking service; the server's addresses follow at once (Nova refreshes its cache)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from monostack.common import errors
from monostack.common.context import RequestContext
from monostack.common.http import run_blocking
from monostack.compute.api import neutron_proxy
from monostack.compute.api.common import svc
from monostack.compute.api.server_actions import action

router = APIRouter()  # actions only (registered with server_actions)


async def _ports(request: Request, ctx: RequestContext, row: Any) -> list[dict[str, Any]]:
    return (await neutron_proxy.call(request, ctx, "GET", "/ports", params={"device_id": row.uuid}))["ports"]


async def _changed(request: Request, ctx: RequestContext, row: Any, action_name: str) -> Response:
    """The server's addresses as the Networking service has them now, and the action recorded."""
    service = svc(request)
    await run_blocking(service.servers.finish, row.uuid, network_info=await service.network.refresh(row))
    await run_blocking(service.actions.record, ctx, row.uuid, action_name)
    return Response(status_code=202)


@action("addFixedIp", "os-multinic:add")
async def add_fixed_ip(request: Request, ctx: RequestContext, row: Any, args: Any) -> Response:
    network_id = neutron_proxy.action_argument(request, "addFixedIp", args, "networkId")
    port = next((p for p in sorted(await _ports(request, ctx, row), key=lambda p: p["id"])
                 if p["network_id"] == network_id), None)
    if port is None:
        raise errors.BadRequest(f"Network {network_id} could not be found for instance {row.uuid}.")
    # Another address from the subnet of the port's first address, as Nova asks Neutron for one.
    subnet = port["fixed_ips"][0]["subnet_id"] if port.get("fixed_ips") else None
    wanted = [{"subnet_id": f["subnet_id"], "ip_address": f["ip_address"]} for f in port.get("fixed_ips") or []]
    wanted.append({"subnet_id": subnet} if subnet else {})
    response = await neutron_proxy.raw(request, ctx, "PUT", f"/ports/{port['id']}",
                                       json={"port": {"fixed_ips": wanted}})
    if response.status_code >= 400:
        raise errors.BadRequest(f"Unable to add a fixed IP to instance {row.uuid}: {neutron_proxy.message(response)}")
    return await _changed(request, ctx, row, "add_fixed_ip")


@action("removeFixedIp", "os-multinic:remove")
async def remove_fixed_ip(request: Request, ctx: RequestContext, row: Any, args: Any) -> Response:
    address = neutron_proxy.action_argument(request, "removeFixedIp", args, "address")
    for port in await _ports(request, ctx, row):
        kept = [f for f in port.get("fixed_ips") or [] if f["ip_address"] != address]
        if len(kept) != len(port.get("fixed_ips") or []):
            await neutron_proxy.call(request, ctx, "PUT", f"/ports/{port['id']}", json={"port": {"fixed_ips": [
                {"subnet_id": f["subnet_id"], "ip_address": f["ip_address"]} for f in kept]}})
            return await _changed(request, ctx, row, "remove_fixed_ip")
    raise errors.BadRequest(f"Fixed IP address {address} is not assigned to instance {row.uuid}.")
