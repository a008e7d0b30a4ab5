"""Instance usage audit logs (/v2.1/os-instance_usage_audit_log, admin only):
how far the compute hosts got with auditing the last completed (monthly)
usage period.

Monostack's agents run no usage audit task (Nova's default,
[DEFAULT] instance_usage_audit = False), so every compute host is reported
as not run for the period, with no log entries.
"""

from __future__ import annotations

import datetime
from typing import Any

from fastapi import APIRouter, Depends, Request

from monostack.common import errors
from monostack.common.auth import authenticated
from monostack.common.context import RequestContext
from monostack.common.http import JSONResponse, run_blocking
from monostack.compute.api import common
from monostack.compute.service import utcnow

router = APIRouter()


def last_completed_month(before: datetime.datetime) -> tuple[datetime.datetime, datetime.datetime]:
    """The monthly audit period most recently completed before `before` (Nova's default unit)."""
    end = datetime.datetime(before.year, before.month, 1)
    if end >= before:
        end = datetime.datetime(end.year - (end.month == 1), 12 if end.month == 1 else end.month - 1, 1)
    begin = datetime.datetime(end.year - (end.month == 1), 12 if end.month == 1 else end.month - 1, 1)
    return begin, end


def _audit(svc: Any, before: datetime.datetime) -> dict[str, Any]:
    begin, end = last_completed_month(before)
    hosts = sorted(svc.hosts.compute_services())  # disabled ones too: they may hold servers
    return {"period_beginning": str(begin), "period_ending": str(end), "num_hosts": len(hosts),
            "num_hosts_done": 0, "num_hosts_running": 0, "num_hosts_not_run": len(hosts),
            "hosts_not_run": hosts, "total_instances": 0, "total_errors": 0,
            "overall_status": f"{'ALL' if not hosts else f'0 of {len(hosts)}'} hosts done. 0 errors.", "log": {}}


@router.get("/v2.1/os-instance_usage_audit_log")
async def index(request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    common.authorize(request, ctx, "os_compute_api:os-instance-usage-audit-log:list", {})
    log = await run_blocking(_audit, common.svc(request), utcnow())
    return JSONResponse({"instance_usage_audit_logs": log})


@router.get("/v2.1/os-instance_usage_audit_log/{before}")
async def show(before: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    common.authorize(request, ctx, "os_compute_api:os-instance-usage-audit-log:show", {})
    try:
        when = datetime.datetime.strptime(before, "%Y-%m-%d %H:%M:%S.%f" if "." in before else "%Y-%m-%d %H:%M:%S")
    except ValueError:
        raise errors.BadRequest(f"Invalid timestamp for date {before}") from None
    log = await run_blocking(_audit, common.svc(request), when)
    return JSONResponse({"instance_usage_audit_log": log})
