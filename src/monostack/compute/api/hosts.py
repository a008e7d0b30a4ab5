"""The hosts API (/v2.1/os-hosts, up to 2.42, admin only): the enabled services
by host, what a compute host offers and what its servers use, and the host
actions no Monostack driver implements (501, as under libvirt).

Replaced by os-services and os-hypervisors from 2.43 (404 there).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Request

from monostack.common import errors
from monostack.common.auth import authenticated
from monostack.common.context import RequestContext
from monostack.common.http import JSONResponse, run_blocking
from monostack.compute import models
from monostack.compute.api import common
from monostack.compute.api import parameter_types as types
from monostack.compute.api.os_services import API_BINARIES, COMPUTE, services, zone_of

router = APIRouter()

MAX_VERSION = "2.42"
_ENABLE = ["enable", "disable", "Enable", "Disable", "ENABLE", "DISABLE"]
_UPDATE = {"type": "object", "additionalProperties": False,
           "properties": {"status": {"type": "string", "enum": _ENABLE},
                          "maintenance_mode": {"type": "string", "enum": _ENABLE}},
           "anyOf": [{"required": ["status"]}, {"required": ["maintenance_mode"]}]}


def _topic(row: models.Service) -> str:
    return row.topic or row.binary.removeprefix("nova-")


def _hosts(svc: Any, zone: str | None) -> list[dict[str, str]]:
    rows, zones = services(svc)
    hosts = []
    for row in rows:
        if row.disabled or row.binary in API_BINARIES:
            continue
        row_zone = zone_of(row, zones, svc.aggregates.default_zone)
        if zone and row_zone != zone:
            continue
        hosts.append({"host_name": row.host, "service": _topic(row), "zone": row_zone})
    return hosts


def _check_compute_host(svc: Any, host: str) -> None:
    if svc.hosts.service(host, COMPUTE) is None:
        raise errors.NotFound(f"Host {host} could not be found.")


def _resources(svc: Any, host: str) -> list[dict[str, Any]]:
    with svc.db.reader() as session:
        node = session.scalar(sa.select(models.ComputeNode).where(models.ComputeNode.host == host)
                              .order_by(models.ComputeNode.id))
        if node is None:
            raise errors.NotFound(f"Compute host {host} could not be found.")
        servers = session.scalars(sa.select(models.Instance).where(
            models.Instance.host == host, models.Instance.deleted.is_(False))).all()

    def resource(project: str, cpu: int, memory_mb: int, disk_gb: int) -> dict[str, Any]:
        return {"resource": {"host": host, "project": project, "cpu": cpu, "memory_mb": memory_mb,
                             "disk_gb": disk_gb}}

    result = [resource("(total)", node.vcpus, node.memory_mb, node.local_gb),
              resource("(used_now)", node.vcpus_used, node.memory_mb_used, node.local_gb_used),
              resource("(used_max)", sum(s.vcpus for s in servers), sum(s.memory_mb for s in servers),
                       sum(s.root_gb + s.ephemeral_gb for s in servers))]
    by_project: dict[str, list[int]] = {}
    for server in servers:
        used = by_project.setdefault(server.project_id, [0, 0, 0])
        used[0] += server.vcpus
        used[1] += server.memory_mb
        used[2] += server.root_gb + server.ephemeral_gb
    result += [resource(project, *used) for project, used in by_project.items()]
    return result


@router.get("/v2.1/os-hosts")
async def index(request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    types.require_version(request, "2.1", MAX_VERSION)
    common.authorize(request, ctx, "os_compute_api:os-hosts:list", {})
    hosts = await run_blocking(_hosts, common.svc(request), types.query_value(request, "zone"))
    return JSONResponse({"hosts": hosts})


@router.get("/v2.1/os-hosts/{host}")
async def show(host: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    types.require_version(request, "2.1", MAX_VERSION)
    common.authorize(request, ctx, "os_compute_api:os-hosts:show", {})
    return JSONResponse({"host": await run_blocking(_resources, common.svc(request), host)})


@router.put("/v2.1/os-hosts/{host}")
async def update(host: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    types.require_version(request, "2.1", MAX_VERSION)
    common.authorize(request, ctx, "os_compute_api:os-hosts:update", {})
    body = await common.json_body(request)
    common.validate(body, _UPDATE)
    await run_blocking(_check_compute_host, common.svc(request), host)
    # Enabling a host is os-services' job since 2.43; maintenance mode would
    # evacuate guests. Neither driver implements these host calls (nor does libvirt).
    raise errors.NotImplementedAPI("The requested functionality is not supported.")


async def _power_action(request: Request, ctx: RequestContext, host: str, rule: str) -> JSONResponse:
    types.require_version(request, "2.1", MAX_VERSION)
    common.authorize(request, ctx, f"os_compute_api:os-hosts:{rule}", {})
    await run_blocking(_check_compute_host, common.svc(request), host)
    raise errors.NotImplementedAPI("The requested functionality is not supported.")


@router.get("/v2.1/os-hosts/{host}/reboot")
async def reboot(host: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    return await _power_action(request, ctx, host, "reboot")


@router.get("/v2.1/os-hosts/{host}/shutdown")
async def shutdown(host: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    return await _power_action(request, ctx, host, "shutdown")


@router.get("/v2.1/os-hosts/{host}/startup")
async def startup(host: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    return await _power_action(request, ctx, host, "start")
