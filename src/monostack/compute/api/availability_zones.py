"""Availability zones (/v2.1/os-availability-zone): the zones of the enabled
services (available) and of only-disabled ones (not available); the detail
view (admins) also shows each zone's hosts and their services.  The
"internal" zone of the non-compute services is only in the detail view."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from monostack.common.auth import authenticated
from monostack.common.context import RequestContext
from monostack.common.http import JSONResponse, run_blocking
from monostack.compute.api import common
from monostack.compute.api.os_services import INTERNAL_ZONE, services, zone_of

router = APIRouter()


def _zones(svc: Any) -> tuple[list[tuple[Any, str]], list[str], list[str]]:
    """(service, zone) pairs, the available zones and the not-available ones (sorted)."""
    rows, zones = services(svc)
    pairs = [(row, zone_of(row, zones, svc.aggregates.default_zone)) for row in rows]
    available = sorted({zone for row, zone in pairs if not row.disabled})
    unavailable = sorted({zone for row, zone in pairs if row.disabled} - set(available))
    return pairs, available, unavailable


@router.get("/v2.1/os-availability-zone")
async def index(request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    common.authorize(request, ctx, "os_compute_api:os-availability-zone:list", {})
    _pairs, available, unavailable = await run_blocking(_zones, common.svc(request))
    info = [{"zoneName": zone, "zoneState": {"available": state}, "hosts": None}
            for zones, state in ((available, True), (unavailable, False)) for zone in zones if zone != INTERNAL_ZONE]
    return JSONResponse({"availabilityZoneInfo": info})


@router.get("/v2.1/os-availability-zone/detail")
async def detail(request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    common.authorize(request, ctx, "os_compute_api:os-availability-zone:detail", {})
    svc = common.svc(request)
    pairs, available, unavailable = await run_blocking(_zones, svc)
    hosts: dict[str, dict[str, dict[str, Any]]] = {}
    for row, zone in pairs:
        if row.disabled:
            continue
        hosts.setdefault(zone, {}).setdefault(row.host, {})[row.binary] = {
            "available": svc.hosts.is_up(row), "active": not row.disabled,
            "updated_at": common.isotime_micro(row.updated_at)}
    info = [{"zoneName": zone, "zoneState": {"available": True}, "hosts": hosts.get(zone, {})} for zone in available]
    info += [{"zoneName": zone, "zoneState": {"available": False}, "hosts": None} for zone in unavailable]
    return JSONResponse({"availabilityZoneInfo": info})
