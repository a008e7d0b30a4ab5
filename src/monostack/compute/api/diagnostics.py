"""/servers/{id}/diagnostics (admin): what the hypervisor sees of the guest.
From 2.48 Nova's standard form (the driver's answer); before, a flat dict of
counters as the libvirt driver gave it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from monostack.common.auth import authenticated
from monostack.common.context import RequestContext
from monostack.common.http import JSONResponse, run_blocking
from monostack.compute import states
from monostack.compute.api.common import at_least, authorize, svc

router = APIRouter()


def _legacy(diag: dict[str, Any]) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for index, cpu in enumerate(diag.get("cpu_details") or []):
        flat[f"cpu{index}_time"] = cpu.get("time")
    for index, nic in enumerate(diag.get("nic_details") or []):
        flat[f"vnet{index}_rx"] = nic.get("rx_octets")
        flat[f"vnet{index}_tx"] = nic.get("tx_octets")
    for index, disk in enumerate(diag.get("disk_details") or []):
        flat[f"vd{chr(ord('a') + index)}_read"] = disk.get("read_bytes")
        flat[f"vd{chr(ord('a') + index)}_write"] = disk.get("write_bytes")
    memory = diag.get("memory_details") or {}
    flat["memory"] = memory.get("maximum")
    flat["memory-actual"] = memory.get("used")
    return flat


@router.get("/v2.1/servers/{server_id}/diagnostics")
async def diagnostics(server_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    service = svc(request)
    row = await run_blocking(service.servers.get, ctx, server_id)
    authorize(request, ctx, "os_compute_api:os-server-diagnostics", {"project_id": row.project_id})
    states.check("get_console_output", row.uuid, row.vm_state, row.task_state)
    diag = await service.conductor.call_agent(row, "diagnostics", instance_uuid=row.uuid)
    return JSONResponse(diag if at_least(request, "2.48") else _legacy(diag))
