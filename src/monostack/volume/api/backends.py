"""What the backends report, for admins: os-hosts (services per host, usage per
backend), scheduler-stats/get_pools (the scheduler's view of each pool) and
capabilities/{host}."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Request

from monostack.common import errors
from monostack.common.auth import authenticated
from monostack.common.context import RequestContext
from monostack.common.http import JSONResponse, run_blocking
from monostack.volume import models
from monostack.volume.api.common import authorize, isotime, svc
from monostack.volume.service.hosts import VOLUME_BINARY

router = APIRouter()
VENDOR, DRIVER_VERSION = "Monostack", "1.0.0"


@router.get("/v3/os-hosts")
async def list_hosts(request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    authorize(request, ctx, "volume_extension:services:index")
    service = svc(request)
    rows = await run_blocking(service.hosts.list)
    return JSONResponse({"hosts": [
        {"service-status": "available" if service.hosts.is_up(r) else "unavailable", "service": r.binary,
         "zone": r.availability_zone, "service-state": "disabled" if r.disabled else "enabled",
         "host_name": r.host, "last-update": isotime(r.updated_at)} for r in rows]})


def _usage(service: Any, host: str) -> list[dict[str, Any]]:
    with service.db.reader() as session:
        backend = session.query(models.Service).filter_by(host=host, binary=VOLUME_BINARY, disabled=False).first()
        if backend is None:
            raise errors.NotFound(f"Host {host} could not be found.")
        like = f"{host}#%"
        volumes = session.query(models.Volume.project_id, sa.func.count(), sa.func.coalesce(
            sa.func.sum(models.Volume.size), 0)).filter(models.Volume.host.like(like)).group_by(
            models.Volume.project_id).all()
        snaps = dict(((p, (c, s)) for p, c, s in session.query(
            models.Snapshot.project_id, sa.func.count(), sa.func.coalesce(sa.func.sum(models.Snapshot.volume_size), 0))
            .join(models.Volume, models.Volume.id == models.Snapshot.volume_id)
            .filter(models.Volume.host.like(like)).group_by(models.Snapshot.project_id)))
    total = {"host": host, "project": "(total)", "volume_count": 0, "total_volume_gb": 0, "snapshot_count": 0,
             "total_snapshot_gb": 0}
    per_project = []
    for project, count, size in volumes:
        snap_count, snap_gb = snaps.get(project, (0, 0))
        entry = {"host": host, "project": project, "volume_count": count, "total_volume_gb": int(size),
                 "snapshot_count": snap_count, "total_snapshot_gb": int(snap_gb)}
        per_project.append({"resource": entry})
        for key in ("volume_count", "total_volume_gb", "snapshot_count", "total_snapshot_gb"):
            total[key] += entry[key]
    # Cinder answers the numbers as strings.
    return [{"resource": {k: str(v) if isinstance(v, int) else v for k, v in entry["resource"].items()}}
            for entry in [{"resource": total}] + per_project]


@router.get("/v3/os-hosts/{host}")
async def show_host(host: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    authorize(request, ctx, "volume_extension:services:index")
    return JSONResponse({"host": await run_blocking(_usage, svc(request), host)})


def _pool(row: Any) -> dict[str, Any]:
    cap = row.capacity or {}
    pool = cap.get("volume_backend_name") or row.host.partition("@")[2]
    return {"name": f"{row.host}#{pool}", "capabilities": {
        "pool_name": pool, "volume_backend_name": cap.get("volume_backend_name") or pool,
        "total_capacity_gb": cap.get("total_gb"), "free_capacity_gb": cap.get("free_gb"),
        "provisioned_capacity_gb": cap.get("provisioned_gb"), "reserved_percentage": 0,
        "max_over_subscription_ratio": cap.get("max_over_subscription_ratio"),
        "thin_provisioning_support": bool(cap.get("thin_provisioning", True)),
        "thick_provisioning_support": not cap.get("thin_provisioning", True),
        "storage_protocol": cap.get("storage_protocol", "file"), "vendor_name": VENDOR,
        "driver_version": DRIVER_VERSION, "multiattach": True, "timestamp": isotime(row.updated_at)}}


@router.get("/v3/scheduler-stats/get_pools")
async def get_pools(request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    authorize(request, ctx, "volume_extension:scheduler_stats:get_pools")
    service = svc(request)
    rows = [r for r in await run_blocking(service.hosts.list, None, VOLUME_BINARY) if service.hosts.is_up(r)]
    detail = request.query_params.get("detail", "false").lower() in ("1", "true", "yes")
    pools = [_pool(r) for r in rows]
    if not detail:
        pools = [{"name": p["name"]} for p in pools]
    return JSONResponse({"pools": pools})


@router.get("/v3/capabilities/{host}")
async def capabilities(host: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    authorize(request, ctx, "volume_extension:capabilities")
    rows = await run_blocking(svc(request).hosts.list, host.partition("#")[0], VOLUME_BINARY)
    if not rows:
        raise errors.NotFound(f"Backend {host} could not be found.")
    cap = _pool(rows[0])["capabilities"]
    return JSONResponse({"namespace": f"OS::Storage::Capabilities::{rows[0].host}", "vendor_name": VENDOR,
                         "volume_backend_name": cap["volume_backend_name"], "pool_name": cap["pool_name"],
                         "driver_version": DRIVER_VERSION, "storage_protocol": cap["storage_protocol"],
                         "display_name": None, "description": None, "visibility": None,
                         "replication_targets": [], "properties": {}})
