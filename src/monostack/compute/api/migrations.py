"""Migrations: os-migrations (every resize, cold and live migration and
evacuation, for admins) and /servers/{id}/migrations (a server's live
migrations in progress, 2.23+).

2.23 adds migration_type and, for live migrations in progress, links; 2.59
uuids, limit/marker pages (newest first) and changes-since; 2.66
changes-before; 2.80 user_id and project_id (and filters on them).
"""

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

router = APIRouter()

LIVE_IN_PROGRESS = ("queued", "preparing", "running", "post-migrating")
_FILTERS = ("hidden", "host", "instance_uuid", "source_compute", "status", "migration_type")


def _flavor_ids(session: Any, rows: list[models.Migration]) -> dict[str, int]:
    """Flavor ids (the API shows the internal integer ids) of the flavors the migrations name."""
    names = {r.old_flavor_id for r in rows} | {r.new_flavor_id for r in rows}
    names.discard(None)
    if not names:
        return {}
    return dict(session.execute(sa.select(models.Flavor.flavorid, models.Flavor.id).where(
        models.Flavor.flavorid.in_(names))).all())


def _query(svc: Any, filters: dict[str, Any], *, newest_first: bool, limit: int | None,
           marker: str | None) -> tuple[list[models.Migration], dict[str, int]]:
    query = sa.select(models.Migration)
    if filters.get("status"):
        query = query.where(models.Migration.status == filters["status"])
    if filters.get("host"):
        query = query.where(sa.or_(models.Migration.source_compute == filters["host"],
                                   models.Migration.dest_compute == filters["host"]))
    elif filters.get("source_compute"):
        query = query.where(models.Migration.source_compute == filters["source_compute"])
    for key in ("migration_type", "instance_uuid", "user_id", "project_id"):
        if filters.get(key):
            query = query.where(getattr(models.Migration, key) == filters[key])
    if filters.get("changes-since") is not None:
        query = query.where(models.Migration.updated_at >= filters["changes-since"])
    if filters.get("changes-before") is not None:
        query = query.where(models.Migration.updated_at <= filters["changes-before"])
    with svc.db.reader() as session:
        if marker is not None:
            anchor = session.scalar(sa.select(models.Migration).where(models.Migration.uuid == marker))
            if anchor is None:
                raise errors.BadRequest(f"Marker {marker} could not be found.")
            query = query.where(sa.or_(models.Migration.created_at < anchor.created_at,
                                       sa.and_(models.Migration.created_at == anchor.created_at,
                                               models.Migration.id < anchor.id)))
        if newest_first:
            query = query.order_by(models.Migration.created_at.desc(), models.Migration.id.desc())
        else:
            query = query.order_by(models.Migration.id)
        if limit:
            query = query.limit(limit)
        rows = list(session.scalars(query).all())
        return rows, _flavor_ids(session, rows)


def _view(request: Request, row: models.Migration, flavors: dict[str, int]) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": row.id, "status": row.status, "instance_uuid": row.instance_uuid, "source_node": row.source_node,
        "source_compute": row.source_compute, "dest_node": row.dest_node, "dest_compute": row.dest_compute,
        "dest_host": row.dest_host, "old_instance_type_id": flavors.get(row.old_flavor_id or ""),
        "new_instance_type_id": flavors.get(row.new_flavor_id or ""),
        "created_at": common.isotime_micro(row.created_at), "updated_at": common.isotime_micro(row.updated_at)}
    if common.at_least(request, "2.23"):
        body["migration_type"] = row.migration_type
        if row.migration_type == "live-migration" and row.status in LIVE_IN_PROGRESS:
            body["links"] = common.links(request, f"servers/{row.instance_uuid}/migrations", row.id)
    if common.at_least(request, "2.59"):
        body["uuid"] = row.uuid
    if common.at_least(request, "2.80"):
        body["user_id"] = row.user_id
        body["project_id"] = row.project_id
    return body


def _time_filter(request: Request, name: str) -> datetime.datetime | None:
    value = types.query_value(request, name)
    return types.parse_isotime(value, name) if value is not None else None


@router.get("/v2.1/os-migrations")
async def index(request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    allowed = set(_FILTERS)
    paged = common.at_least(request, "2.59")
    if paged:
        allowed |= {"limit", "marker", "changes-since"}
    if common.at_least(request, "2.66"):
        allowed.add("changes-before")
    if common.at_least(request, "2.80"):
        allowed |= {"user_id", "project_id"}
    types.check_query(request, allowed, strict_from="2.59")
    common.authorize(request, ctx, "os_compute_api:os-migrations:index", {})
    filters: dict[str, Any] = {k: types.query_value(request, k) for k in allowed - {"limit", "marker"}}
    filters = {k: v for k, v in filters.items() if v is not None}
    filters.pop("changes-since", None)
    filters.pop("changes-before", None)
    if paged:
        filters["changes-since"] = _time_filter(request, "changes-since")
    if common.at_least(request, "2.66"):
        filters["changes-before"] = _time_filter(request, "changes-before")
        since, before = filters.get("changes-since"), filters["changes-before"]
        if since and before and before < since:
            raise errors.BadRequest("The value of changes-since must be less than or equal to changes-before.")
    page = types.page_request(request) if paged else None
    rows, flavors = await run_blocking(_query, common.svc(request), filters, newest_first=paged,
                                       limit=page.limit if page else None, marker=page.marker if page else None)
    body: dict[str, Any] = {"migrations": [_view(request, r, flavors) for r in rows]}
    if page is not None and (links := types.next_links(request, "os-migrations", page, rows, lambda r: r.uuid)):
        body["migrations_links"] = links
    return JSONResponse(body)


# -- /servers/{id}/migrations ------------------------------------------------------------------
def _server_view(request: Request, row: models.Migration, *, include_host: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "created_at": common.isotime_micro(row.created_at), "dest_compute": None, "dest_host": None,
        "dest_node": None, "disk_processed_bytes": None, "disk_remaining_bytes": None, "disk_total_bytes": None,
        "id": row.id, "memory_processed_bytes": None, "memory_remaining_bytes": None, "memory_total_bytes": None,
        "server_uuid": row.instance_uuid, "source_compute": None, "source_node": None, "status": row.status,
        "updated_at": common.isotime_micro(row.updated_at)}
    if common.at_least(request, "2.59"):
        body["uuid"] = row.uuid
    if common.at_least(request, "2.80"):
        body["user_id"] = row.user_id
        body["project_id"] = row.project_id
    if include_host:
        body.update({"dest_compute": row.dest_compute, "dest_host": row.dest_host, "dest_node": row.dest_node,
                     "source_compute": row.source_compute, "source_node": row.source_node})
    return body


async def _server(request: Request, ctx: RequestContext, server_id: str, rule: str) -> Any:
    types.require_version(request, "2.23")
    server = await run_blocking(common.svc(request).servers.get, ctx, server_id)
    common.authorize(request, ctx, rule, {"project_id": server.project_id})
    return server


@router.get("/v2.1/servers/{server_id}/migrations")
async def server_index(server_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    server = await _server(request, ctx, server_id, "os_compute_api:servers:migrations:index")
    include_host = common.allowed(request, ctx, "os_compute_api:servers:migrations:index:host",
                                  {"project_id": server.project_id})
    rows, _ = await run_blocking(_query, common.svc(request), {"instance_uuid": server_id,
                                                               "migration_type": "live-migration"},
                                 newest_first=False, limit=None, marker=None)
    rows = [r for r in rows if r.status in LIVE_IN_PROGRESS]
    return JSONResponse({"migrations": [_server_view(request, r, include_host=include_host) for r in rows]})


@router.get("/v2.1/servers/{server_id}/migrations/{migration_id}")
async def server_show(server_id: str, migration_id: str, request: Request,
                      ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    server = await _server(request, ctx, server_id, "os_compute_api:servers:migrations:show")
    include_host = common.allowed(request, ctx, "os_compute_api:servers:migrations:index:host",
                                  {"project_id": server.project_id})
    rows, _ = await run_blocking(_query, common.svc(request), {"instance_uuid": server_id},
                                 newest_first=False, limit=None, marker=None)
    row = next((r for r in rows if str(r.id) == migration_id), None)
    if row is None:
        raise errors.NotFound(f"In-progress live migration {migration_id} is not found for server {server_id}.")
    if row.migration_type != "live-migration":
        raise errors.NotFound(f"Migration {migration_id} for server {server_id} is not live-migration.")
    if row.status not in LIVE_IN_PROGRESS:
        raise errors.NotFound(f"Live migration {migration_id} for server {server_id} is not in progress.")
    return JSONResponse({"migration": _server_view(request, row, include_host=include_host)})
