"""Usage (/v2.1/os-simple-tenant-usage): the server hours, vCPU, RAM and disk
hours of projects over a period, from the servers' launch and termination
times (deleted servers count for the time they lived).  2.40 pages the
servers with limit/marker (server uuids)."""

from __future__ import annotations

import datetime
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
from monostack.compute.service import utcnow

router = APIRouter()

_FORMATS = ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%d %H:%M:%S.%f")


def _parse_time(value: str | None) -> datetime.datetime:
    if not value:
        return utcnow()
    for fmt in _FORMATS:
        try:
            return datetime.datetime.strptime(value, fmt)
        except ValueError:
            continue
    raise errors.BadRequest("Invalid datetime string: Datetime is in invalid format")


def _period(request: Request) -> tuple[datetime.datetime, datetime.datetime]:
    start = _parse_time(types.query_value(request, "start"))
    stop = _parse_time(types.query_value(request, "end"))
    if not start < stop:
        raise errors.BadRequest("Invalid start time. The start time cannot occur after the end time.")
    return start, min(stop, utcnow())


def _hours(server: models.Instance, start: datetime.datetime, stop: datetime.datetime) -> float:
    launched, terminated = server.launched_at, server.terminated_at
    if launched is None or (terminated is not None and terminated < start) or launched > stop:
        return 0.0
    end = min(stop, terminated) if terminated is not None else stop
    return (end - max(launched, start)).total_seconds() / 3600.0


def _servers(svc: Any, start: datetime.datetime, stop: datetime.datetime, project_id: str | None,
             limit: int | None, marker: str | None) -> list[models.Instance]:
    """Servers that ran during the period (Nova's get_active_by_window_joined), by project and uuid."""
    query = sa.select(models.Instance).where(
        sa.or_(models.Instance.terminated_at.is_(None), models.Instance.terminated_at > start),
        models.Instance.launched_at < stop)
    if project_id is not None:
        query = query.where(models.Instance.project_id == project_id)
    with svc.db.reader() as session:
        if marker is not None:
            anchor = session.scalar(sa.select(models.Instance).where(models.Instance.uuid == marker))
            if anchor is None:
                raise errors.BadRequest(f"Marker {marker} could not be found.")
            query = query.where(sa.or_(models.Instance.project_id > anchor.project_id,
                                       sa.and_(models.Instance.project_id == anchor.project_id,
                                               models.Instance.uuid > anchor.uuid)))
        query = query.order_by(models.Instance.project_id, models.Instance.uuid)
        if limit:
            query = query.limit(limit)
        return list(session.scalars(query).all())


def _usages(servers: list[models.Instance], start: datetime.datetime, stop: datetime.datetime,
            detailed: bool) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    now = utcnow()
    tenants: dict[str, dict[str, Any]] = {}
    usages = []
    for server in servers:
        flavor = server.flavor or {}
        hours = _hours(server, start, stop)
        ended = server.terminated_at
        info = {"hours": hours, "flavor": flavor.get("name", ""), "instance_id": server.uuid,
                "name": server.display_name or "", "tenant_id": server.project_id,
                "memory_mb": int(flavor.get("ram", server.memory_mb) or 0),
                "local_gb": int(flavor.get("disk", server.root_gb) or 0) + int(flavor.get("ephemeral", 0) or 0),
                "vcpus": int(flavor.get("vcpus", server.vcpus) or 0),
                "started_at": common.isotime_micro(server.launched_at), "ended_at": common.isotime_micro(ended),
                "state": "terminated" if ended else server.vm_state,
                "uptime": int(((ended or now) - server.launched_at).total_seconds())}
        summary = tenants.get(server.project_id)
        if summary is None:
            summary = tenants[server.project_id] = {
                "tenant_id": server.project_id, **({"server_usages": []} if detailed else {}),
                "total_local_gb_usage": 0, "total_vcpus_usage": 0, "total_memory_mb_usage": 0, "total_hours": 0,
                "start": common.isotime_micro(start), "stop": common.isotime_micro(stop)}
        summary["total_local_gb_usage"] += info["local_gb"] * hours
        summary["total_vcpus_usage"] += info["vcpus"] * hours
        summary["total_memory_mb_usage"] += info["memory_mb"] * hours
        summary["total_hours"] += hours
        usages.append(info)
        if detailed:
            summary["server_usages"].append(info)
    return list(tenants.values()), usages


def _paging(request: Request) -> tuple[int, str | None, bool]:
    if common.at_least(request, "2.40"):
        page = types.page_request(request)
        return page.limit or types.MAX_LIMIT, page.marker, True
    return types.MAX_LIMIT, None, False


def _links(request: Request, collection: str, limit: int, usages: list[dict[str, Any]]) -> list[dict[str, str]]:
    if usages and len(usages) == limit:
        return common.collection_next(request, collection, usages[-1]["instance_id"], limit)
    return []


@router.get("/v2.1/os-simple-tenant-usage")
async def index(request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    params = {"start", "end", "detailed"} | ({"limit", "marker"} if common.at_least(request, "2.40") else set())
    types.check_query(request, params)
    common.authorize(request, ctx, "os_compute_api:os-simple-tenant-usage:list", {})
    start, stop = _period(request)
    detailed = types.query_value(request, "detailed") == "1"
    limit, marker, paged = _paging(request)
    servers = await run_blocking(_servers, common.svc(request), start, stop, None, limit, marker)
    tenants, usages = _usages(servers, start, stop, detailed)
    body: dict[str, Any] = {"tenant_usages": tenants}
    if paged and (links := _links(request, "os-simple-tenant-usage", limit, usages)):
        body["tenant_usages_links"] = links
    return JSONResponse(body)


@router.get("/v2.1/os-simple-tenant-usage/{tenant_id}")
async def show(tenant_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    params = {"start", "end"} | ({"limit", "marker"} if common.at_least(request, "2.40") else set())
    types.check_query(request, params)
    common.authorize(request, ctx, "os_compute_api:os-simple-tenant-usage:show", {"project_id": tenant_id})
    start, stop = _period(request)
    limit, marker, paged = _paging(request)
    servers = await run_blocking(_servers, common.svc(request), start, stop, tenant_id, limit, marker)
    tenants, usages = _usages(servers, start, stop, True)
    body: dict[str, Any] = {"tenant_usage": tenants[0] if tenants else {}}
    if paged and (links := _links(request, f"os-simple-tenant-usage/{tenant_id}", limit, usages)):
        body["tenant_usage_links"] = links
    return JSONResponse(body)
