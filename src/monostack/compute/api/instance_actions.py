"""Instance actions (/v2.1/servers/{id}/os-instance-actions): what was done to
a server, by whom, under which request id, and (admins; everyone from 2.51,
without tracebacks) the events of each action.

2.21 shows actions of deleted servers, 2.58 updated_at, limit/marker
(request ids) and changes-since, 2.62 the events' host (admins) and hostId,
2.66 changes-before, 2.84 the events' details (admins).
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
from monostack.compute.api.views import host_id

router = APIRouter()


def _action_view(request: Request, row: models.InstanceAction) -> dict[str, Any]:
    body = {"action": row.action, "instance_uuid": row.instance_uuid, "request_id": row.request_id,
            "user_id": row.user_id, "project_id": row.project_id, "start_time": common.isotime_micro(row.start_time),
            "message": row.message}
    if common.at_least(request, "2.58"):
        body["updated_at"] = common.isotime_micro(row.updated_at)
    return body


async def _server(request: Request, ctx: RequestContext, server_id: str, rule: str) -> Any:
    deleted = common.at_least(request, "2.21")
    server = await run_blocking(common.svc(request).servers.get, ctx, server_id, deleted=deleted)
    common.authorize(request, ctx, rule, {"project_id": server.project_id})
    return server


def _actions(svc: Any, server_id: str, *, limit: int | None, marker: str | None, since: Any,
             before: Any) -> list[models.InstanceAction]:
    query = sa.select(models.InstanceAction).where(models.InstanceAction.instance_uuid == server_id)
    if since is not None:
        query = query.where(models.InstanceAction.updated_at >= since)
    if before is not None:
        query = query.where(models.InstanceAction.updated_at <= before)
    with svc.db.reader() as session:
        if marker is not None:
            anchor = session.scalar(sa.select(models.InstanceAction).where(
                models.InstanceAction.instance_uuid == server_id, models.InstanceAction.request_id == marker))
            if anchor is None:
                raise errors.BadRequest(f"Marker {marker} could not be found.")
            query = query.where(sa.or_(models.InstanceAction.start_time < anchor.start_time,
                                       sa.and_(models.InstanceAction.start_time == anchor.start_time,
                                               models.InstanceAction.id < anchor.id)))
        query = query.order_by(models.InstanceAction.start_time.desc(), models.InstanceAction.id.desc())
        if limit:
            query = query.limit(limit)
        return list(session.scalars(query).all())


@router.get("/v2.1/servers/{server_id}/os-instance-actions")
async def index(server_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    allowed = {"limit", "marker", "changes-since"} | ({"changes-before"} if common.at_least(request, "2.66") else set())
    types.check_query(request, allowed, strict_from="2.58")
    await _server(request, ctx, server_id, "os_compute_api:os-instance-actions:list")
    page, since, before = None, None, None
    if common.at_least(request, "2.58"):
        page = types.page_request(request)
        value = types.query_value(request, "changes-since")
        since = types.parse_isotime(value, "changes-since") if value else None
        value = types.query_value(request, "changes-before") if common.at_least(request, "2.66") else None
        before = types.parse_isotime(value, "changes-before") if value else None
        if since and before and before < since:
            raise errors.BadRequest("The value of changes-since must be less than or equal to changes-before.")
    rows = await run_blocking(_actions, common.svc(request), server_id, limit=page.limit if page else None,
                              marker=page.marker if page else None, since=since, before=before)
    body: dict[str, Any] = {"instanceActions": [_action_view(request, r) for r in rows]}
    if page is not None and (links := types.next_links(request, f"servers/{server_id}/os-instance-actions", page,
                                                       rows, lambda r: r.request_id)):
        body["links"] = links
    return JSONResponse(body)


@router.get("/v2.1/servers/{server_id}/os-instance-actions/{request_id}")
async def show(server_id: str, request_id: str, request: Request,
               ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    server = await _server(request, ctx, server_id, "os_compute_api:os-instance-actions:show")
    svc = common.svc(request)

    def load() -> models.InstanceAction | None:
        with svc.db.reader() as session:
            return session.scalar(sa.select(models.InstanceAction).where(
                models.InstanceAction.instance_uuid == server_id, models.InstanceAction.request_id == request_id)
                .order_by(models.InstanceAction.id.desc()))

    row = await run_blocking(load)
    if row is None:
        raise errors.NotFound(f"Action {request_id} not found")
    body = _action_view(request, row)
    target = {"project_id": server.project_id}
    admin = common.allowed(request, ctx, "os_compute_api:os-instance-actions:events", target)
    if admin or common.at_least(request, "2.51"):
        details = common.at_least(request, "2.84") and common.allowed(
            request, ctx, "os_compute_api:os-instance-actions:events:details", target)
        events = []
        for event in row.events:
            item: dict[str, Any] = {"event": event.event, "start_time": common.isotime_micro(event.start_time),
                                    "finish_time": common.isotime_micro(event.finish_time), "result": event.result}
            if admin:
                item["traceback"] = event.traceback
                if common.at_least(request, "2.62"):
                    item["host"] = event.host
            if common.at_least(request, "2.62"):
                item["hostId"] = host_id(row.project_id or server.project_id, event.host)
            if details:
                item["details"] = event.details
            events.append(item)
        body["events"] = events
    return JSONResponse({"instanceAction": body})
