"""Hypervisors (/v2.1/os-hypervisors): the compute nodes, their capacity and use.

2.28 cpu_info as an object, 2.33 limit/marker pages, 2.53 uuids for ids and
the hypervisor_hostname_pattern and with_servers query parameters (replacing
the search and servers routes), 2.75 an empty servers list when asked for,
2.88 drops the resource fields and the statistics and uptime routes (uptime
moves into the detail view).
"""

from __future__ import annotations

import datetime
import json
import os
import socket
import uuid as uuidlib
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Request

from monostack.common import errors, pagination
from monostack.common.auth import authenticated
from monostack.common.context import RequestContext
from monostack.common.http import JSONResponse, run_blocking
from monostack.compute import models
from monostack.compute.api import common
from monostack.compute.api import parameter_types as types
from monostack.compute.api.os_services import COMPUTE

router = APIRouter()


def _local_uptime() -> str:
    """This machine's `uptime` line (what Nova's libvirt driver returns)."""
    with open("/proc/uptime") as f:
        seconds = int(float(f.read().split()[0]))
    load = os.getloadavg()
    days, rest = divmod(seconds, 86400)
    hours, minutes = rest // 3600, (rest % 3600) // 60
    now = datetime.datetime.now().strftime("%H:%M:%S")
    return (f" {now} up {days} days, {hours:2d}:{minutes:02d},  0 users,  "
            f"load average: {load[0]:.2f}, {load[1]:.2f}, {load[2]:.2f}")


def _uptime(svc: Any, host: str) -> str | None:
    """The host's uptime when it is this machine (a remote agent's is not asked for)."""
    local = getattr(getattr(svc.conf, "default", None), "host", "") or socket.gethostname()
    return _local_uptime() if host == local else None


def _load(svc: Any, *, node_ids: list[int] | None = None, pattern: str | None = None,
          with_servers: bool = False) -> list[tuple[models.ComputeNode, models.Service, list[tuple[str, str]]]]:
    """Nodes (id order) with their host's compute service (nodes without one are left out) and servers."""
    query = sa.select(models.ComputeNode).order_by(models.ComputeNode.id)
    if node_ids is not None:
        query = query.where(models.ComputeNode.id.in_(node_ids))
    if pattern is not None:
        query = query.where(models.ComputeNode.hypervisor_hostname.contains(pattern, autoescape=True))
    with svc.db.reader() as session:
        nodes = list(session.scalars(query).all())
        hosts = {n.host for n in nodes}
        service_rows = session.scalars(sa.select(models.Service).where(
            models.Service.binary == COMPUTE, models.Service.host.in_(hosts))).all() if hosts else []
        by_host = {s.host: s for s in service_rows}
        servers: dict[str, list[tuple[str, str]]] = {}
        if with_servers and hosts:
            for host, uuid, name in session.execute(sa.select(
                    models.Instance.host, models.Instance.uuid, models.Instance.display_name).where(
                    models.Instance.host.in_(hosts), models.Instance.deleted.is_(False))
                    .order_by(models.Instance.id)).all():
                servers.setdefault(host, []).append((uuid, name or ""))
    return [(n, by_host[n.host], servers.get(n.host, [])) for n in nodes if n.host in by_host]


def _workload(svc: Any, hosts: list[str]) -> dict[str, int]:
    """Servers with a task under way, per host (Nova's current_workload)."""
    if not hosts:
        return {}
    with svc.db.reader() as session:
        rows = session.execute(sa.select(models.Instance.host, sa.func.count()).where(
            models.Instance.host.in_(hosts), models.Instance.deleted.is_(False),
            models.Instance.task_state.is_not(None)).group_by(models.Instance.host)).all()
    return {host: int(count) for host, count in rows}


def _view(request: Request, svc: Any, node: models.ComputeNode, service: models.Service, *, detail: bool,
          servers: list[tuple[str, str]] | None = None, with_servers: bool = False,
          workload: dict[str, int] | None = None, uptime: str | None = None) -> dict[str, Any]:
    uuids = common.at_least(request, "2.53")
    body: dict[str, Any] = {"id": node.uuid if uuids else node.id, "hypervisor_hostname": node.hypervisor_hostname,
                            "state": "up" if svc.hosts.is_up(service) else "down",
                            "status": "disabled" if service.disabled else "enabled"}
    if detail:
        body.update({"hypervisor_type": node.hypervisor_type, "hypervisor_version": node.hypervisor_version,
                     "host_ip": node.host_ip,
                     "service": {"id": service.uuid if uuids else service.id, "host": node.host,
                                 "disabled_reason": service.disabled_reason}})
        if not common.at_least(request, "2.88"):
            free_disk = node.local_gb - node.local_gb_used
            body.update({"vcpus": node.vcpus, "memory_mb": node.memory_mb, "local_gb": node.local_gb,
                         "vcpus_used": node.vcpus_used, "memory_mb_used": node.memory_mb_used,
                         "local_gb_used": node.local_gb_used, "free_ram_mb": node.memory_mb - node.memory_mb_used,
                         "free_disk_gb": free_disk, "current_workload": (workload or {}).get(node.host, 0),
                         "running_vms": node.running_vms, "disk_available_least": free_disk})
            cpu_info = node.cpu_info or {}
            body["cpu_info"] = cpu_info if common.at_least(request, "2.28") else json.dumps(cpu_info)
        else:
            body["uptime"] = uptime
    if servers:
        body["servers"] = [{"name": name, "uuid": uuid} for uuid, name in servers]
    elif with_servers and common.at_least(request, "2.75"):
        body["servers"] = []
    return body


def _node_id(request: Request, value: str) -> Any:
    """2.53+: a uuid (400 otherwise); before: an integer (404 otherwise, as Nova)."""
    if common.at_least(request, "2.53"):
        try:
            uuidlib.UUID(value)
        except ValueError:
            raise errors.BadRequest(f"Invalid uuid {value}") from None
        return value
    try:
        return int(value)
    except ValueError:
        raise errors.NotFound(f"Hypervisor with ID '{value}' could not be found.") from None


def _find(svc: Any, node_id: Any) -> int | None:
    with svc.db.reader() as session:
        column = models.ComputeNode.uuid if isinstance(node_id, str) else models.ComputeNode.id
        return session.scalar(sa.select(models.ComputeNode.id).where(column == node_id))


async def _list(request: Request, ctx: RequestContext, *, detail: bool) -> JSONResponse:
    svc = common.svc(request)
    allowed = set()
    pattern, with_servers = None, False
    paged = common.at_least(request, "2.33")
    if paged:
        allowed |= {"limit", "marker"}
    if common.at_least(request, "2.53"):
        allowed |= {"hypervisor_hostname_pattern", "with_servers"}
        pattern = types.query_value(request, "hypervisor_hostname_pattern")
        with_servers = types.to_bool(types.query_value(request, "with_servers") or False, strict=True,
                                     field="with_servers")
    types.check_query(request, allowed, strict_from="2.53")
    common.authorize(request, ctx, f"os_compute_api:os-hypervisors:{'list-detail' if detail else 'list'}", {})
    page = types.page_request(request) if paged else None
    if pattern is not None:
        if page is not None and ("limit" in request.query_params or page.marker):
            raise errors.BadRequest("Paging over hypervisors with the hypervisor_hostname_pattern query parameter "
                                    "is not supported.")
        page = None
    rows = await run_blocking(_load, svc, pattern=pattern, with_servers=with_servers)
    if pattern is not None and not rows:
        raise errors.NotFound(f"No hypervisor matching '{pattern}' could be found.")
    ident = (lambda r: str(r[0].uuid)) if common.at_least(request, "2.53") else (lambda r: str(r[0].id))
    if page is not None:
        if page.marker is not None and not any(ident(r) == page.marker for r in rows):
            raise errors.BadRequest(f"marker [{page.marker}] not found")
        rows = pagination.paginate(rows, page, ident)
    workload = await run_blocking(_workload, svc, [r[0].host for r in rows]) if detail else {}
    uptimes = {r[0].host: _uptime(svc, r[0].host) for r in rows} if detail and common.at_least(request, "2.88") else {}
    hypervisors = [_view(request, svc, node, service, detail=detail, servers=servers, with_servers=with_servers,
                         workload=workload, uptime=uptimes.get(node.host)) for node, service, servers in rows]
    body: dict[str, Any] = {"hypervisors": hypervisors}
    if page is not None:
        links = types.next_links(request, "os-hypervisors/detail" if detail else "os-hypervisors", page, rows, ident)
        if links:
            body["hypervisors_links"] = links
    return JSONResponse(body)


@router.get("/v2.1/os-hypervisors")
async def index(request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    return await _list(request, ctx, detail=False)


@router.get("/v2.1/os-hypervisors/detail")
async def detail(request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    return await _list(request, ctx, detail=True)


def _statistics(svc: Any) -> dict[str, int]:
    with svc.db.reader() as session:
        nodes = list(session.scalars(sa.select(models.ComputeNode).join(
            models.Service, sa.and_(models.Service.host == models.ComputeNode.host, models.Service.binary == COMPUTE))
            .where(models.Service.disabled.is_(False))).all())
    hosts = sorted({n.host for n in nodes})
    workload = sum(_workload(svc, hosts).values())
    stats = {"count": len(nodes), "current_workload": workload}
    for field in ("vcpus", "memory_mb", "local_gb", "vcpus_used", "memory_mb_used", "local_gb_used", "running_vms"):
        stats[field] = sum(getattr(n, field) or 0 for n in nodes)
    stats["free_ram_mb"] = stats["memory_mb"] - stats["memory_mb_used"]
    stats["free_disk_gb"] = stats["local_gb"] - stats["local_gb_used"]
    stats["disk_available_least"] = stats["free_disk_gb"]
    return stats


@router.get("/v2.1/os-hypervisors/statistics")
async def statistics(request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    types.require_version(request, "2.1", "2.87")
    common.authorize(request, ctx, "os_compute_api:os-hypervisors:statistics", {})
    return JSONResponse({"hypervisor_statistics": await run_blocking(_statistics, common.svc(request))})


@router.get("/v2.1/os-hypervisors/{hypervisor_id}")
async def show(hypervisor_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    with_servers = False
    if common.at_least(request, "2.53"):
        with_servers = types.to_bool(types.query_value(request, "with_servers") or False, strict=True,
                                     field="with_servers")
        types.check_query(request, {"with_servers"}, strict_from="2.53")
    common.authorize(request, ctx, "os_compute_api:os-hypervisors:show", {})
    svc = common.svc(request)
    node_id = _node_id(request, hypervisor_id)
    found = await run_blocking(_find, svc, node_id)
    rows = await run_blocking(_load, svc, node_ids=[found], with_servers=with_servers) if found is not None else []
    if not rows:
        raise errors.NotFound(f"Hypervisor with ID '{hypervisor_id}' could not be found.")
    node, service, servers = rows[0]
    workload = await run_blocking(_workload, svc, [node.host])
    uptime = _uptime(svc, node.host) if common.at_least(request, "2.88") else None
    return JSONResponse({"hypervisor": _view(request, svc, node, service, detail=True, servers=servers,
                                             with_servers=with_servers, workload=workload, uptime=uptime)})


@router.get("/v2.1/os-hypervisors/{hypervisor_id}/uptime")
async def uptime(hypervisor_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    types.require_version(request, "2.1", "2.87")
    common.authorize(request, ctx, "os_compute_api:os-hypervisors:uptime", {})
    svc = common.svc(request)
    node_id = _node_id(request, hypervisor_id)
    found = await run_blocking(_find, svc, node_id)
    rows = await run_blocking(_load, svc, node_ids=[found]) if found is not None else []
    if not rows:
        raise errors.NotFound(f"Hypervisor with ID '{hypervisor_id}' could not be found.")
    node, service, _servers = rows[0]
    value = _uptime(svc, node.host)
    if value is None:
        raise errors.NotImplementedAPI("Feature not supported: the uptime of a remote compute host.")
    body = _view(request, svc, node, service, detail=False)
    body["uptime"] = value
    return JSONResponse({"hypervisor": body})


@router.get("/v2.1/os-hypervisors/{pattern}/search")
async def search(pattern: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    types.require_version(request, "2.1", "2.52")
    common.authorize(request, ctx, "os_compute_api:os-hypervisors:search", {})
    svc = common.svc(request)
    rows = await run_blocking(_load, svc, pattern=pattern)
    if not rows:
        raise errors.NotFound(f"No hypervisor matching '{pattern}' could be found.")
    return JSONResponse({"hypervisors": [_view(request, svc, n, s, detail=False) for n, s, _ in rows]})


@router.get("/v2.1/os-hypervisors/{pattern}/servers")
async def servers(pattern: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    types.require_version(request, "2.1", "2.52")
    common.authorize(request, ctx, "os_compute_api:os-hypervisors:servers", {})
    svc = common.svc(request)
    rows = await run_blocking(_load, svc, pattern=pattern, with_servers=True)
    if not rows:
        raise errors.NotFound(f"No hypervisor matching '{pattern}' could be found.")
    return JSONResponse({"hypervisors": [_view(request, svc, n, s, detail=False, servers=srv) for n, s, srv in rows]})
