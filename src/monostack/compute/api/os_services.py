"""Compute services (/v2.1/os-services): list, enable/disable, force down, delete.

Before 2.53 a service is named by integer id, and updates are the actions
PUT /os-services/{enable,disable,disable-log-reason,force-down} with host and
binary in the body; from 2.53 it is named by uuid and PUT /os-services/{uuid}
takes status, disabled_reason and forced_down.  Only nova-compute services
can be updated.  Deleting a compute service that hosts servers or migrations
is refused (409); otherwise it leaves its aggregates and its compute nodes
(and their Placement resource providers) go.
"""

from __future__ import annotations

import logging
import uuid as uuidlib
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from monostack.common import errors
from monostack.common.auth import authenticated
from monostack.common.context import RequestContext
from monostack.common.http import JSONResponse, run_blocking
from monostack.compute import models
from monostack.compute.api import common
from monostack.compute.api import parameter_types as types
from monostack.compute.service import utcnow

LOG = logging.getLogger(__name__)
router = APIRouter()

COMPUTE = "nova-compute"
# API services report no heartbeats: Nova leaves them out of service lists.
API_BINARIES = ("nova-osapi_compute", "nova-metadata")
INTERNAL_ZONE = "internal"
# Migration statuses after which a migration no longer holds resources on its hosts.
FINISHED_MIGRATIONS = ("confirmed", "reverted", "error", "failed", "completed", "cancelled", "done")

_REASON = {"type": "string", "minLength": 1, "maxLength": 255}
_UPDATE_V21 = {"type": "object", "required": ["host", "binary"], "additionalProperties": False,
               "properties": {"host": types.fqdn, "binary": {"type": "string", "minLength": 1, "maxLength": 255},
                              "disabled_reason": _REASON}}
_UPDATE_V211 = {**_UPDATE_V21, "properties": {**_UPDATE_V21["properties"], "forced_down": types.boolean}}
_UPDATE_V253 = {"type": "object", "additionalProperties": False,
                "properties": {"status": {"type": "string", "enum": ["enabled", "disabled"]},
                               "disabled_reason": _REASON, "forced_down": types.boolean}}


def zone_of(row: models.Service, zones: dict[str, str], default_zone: str) -> str:
    """A compute service's zone is its host's; other services are in the hidden "internal" zone."""
    if row.binary != COMPUTE:
        return INTERNAL_ZONE
    return zones.get(row.host, default_zone)


def services(svc: Any) -> tuple[list[models.Service], dict[str, str]]:
    """Every service but the API ones, in id order, and the compute hosts' zones."""
    with svc.db.reader() as session:
        rows = list(session.scalars(sa.select(models.Service).where(models.Service.binary.not_in(API_BINARIES))
                                    .order_by(models.Service.id)).all())
    return rows, svc.aggregates.zones_of_hosts()


def _view(request: Request, svc: Any, row: models.Service, zones: dict[str, str], *,
          forced_down: bool) -> dict[str, Any]:
    body = {"binary": row.binary, "host": row.host,
            "id": row.uuid if common.at_least(request, "2.53") else row.id,
            "zone": zone_of(row, zones, svc.aggregates.default_zone),
            "status": "disabled" if row.disabled else "enabled",
            "state": "up" if svc.hosts.is_up(row) else "down",
            "updated_at": common.isotime_micro(row.updated_at or row.last_seen_up),
            "disabled_reason": row.disabled_reason}
    if forced_down:
        body["forced_down"] = bool(row.forced_down)
    return body


@router.get("/v2.1/os-services")
async def index(request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    types.check_query(request, {"host", "binary"})
    common.authorize(request, ctx, "os_compute_api:os-services:list", {})
    svc = common.svc(request)
    rows, zones = await run_blocking(services, svc)
    host, binary = types.query_value(request, "host"), types.query_value(request, "binary")
    rows = [r for r in rows if (not host or r.host == host) and (not binary or r.binary == binary)]
    forced = common.at_least(request, "2.11")
    return JSONResponse({"services": [_view(request, svc, r, zones, forced_down=forced) for r in rows]})


# -- updates -------------------------------------------------------------------------------
def _check_evacuations(session: Any, host: str) -> None:
    """A host may not be forced up while evacuations from it wait for its agent's cleanup."""
    done = session.scalar(sa.select(models.Migration.id).where(
        models.Migration.source_compute == host, models.Migration.status == "done",
        models.Migration.migration_type == "evacuation").limit(1))
    if done is not None:
        raise errors.BadRequest(f"Unable to force up host {host} as `done` evacuation migration records remain "
                                f"associated with the host. Ensure the compute service has been restarted, "
                                f"allowing these records to move to `completed` before retrying this request.")


def _update_by_host(svc: Any, host: str, binary: str, changes: dict[str, Any]) -> None:
    if binary != COMPUTE:
        raise errors.BadRequest(f"Updating a {binary} service is not supported. Only nova-compute services can "
                                f"be updated.")
    with svc.db.writer() as session:
        row = session.scalar(sa.select(models.Service).where(models.Service.host == host,
                                                             models.Service.binary == binary))
        if row is None:
            raise errors.NotFound(f"Could not find binary {binary} on host {host}.")
        if changes.get("forced_down") is False:
            _check_evacuations(session, host)
        for key, value in changes.items():
            setattr(row, key, value)
        row.updated_at = utcnow()


def _update_by_uuid(svc: Any, service_id: str, body: dict[str, Any]) -> tuple[models.Service, dict[str, str]]:
    with svc.db.writer() as session:
        row = session.scalar(sa.select(models.Service).where(models.Service.uuid == service_id))
        if row is None:
            raise errors.NotFound(f"Service {service_id} could not be found.")
        if row.binary != COMPUTE:
            raise errors.BadRequest(f"Updating a {row.binary} service is not supported. Only nova-compute services "
                                    f"can be updated.")
        changed = False
        if "status" in body:
            if body["status"] == "enabled":
                if body.get("disabled_reason"):
                    raise errors.BadRequest("Specifying 'disabled_reason' with status 'enabled' is invalid.")
                row.disabled, row.disabled_reason = False, None
            else:
                row.disabled, row.disabled_reason = True, body.get("disabled_reason")
            changed = True
        if "forced_down" in body:
            row.forced_down = types.to_bool(body["forced_down"], strict=True, field="forced_down")
            if not row.forced_down:
                _check_evacuations(session, row.host)
            changed = True
        if not changed:
            raise errors.BadRequest("No updates were requested. Fields 'status' or 'forced_down' should be specified.")
        row.updated_at = utcnow()
        session.flush()
    return row, svc.aggregates.zones_of_hosts()


@router.put("/v2.1/os-services/{service_id}")
async def update(service_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    svc = common.svc(request)
    if common.at_least(request, "2.53"):
        if not _is_uuid(service_id):
            raise errors.BadRequest(f"Invalid uuid {service_id}")
        common.authorize(request, ctx, "os_compute_api:os-services:update", {})
        body = await common.json_body(request)
        common.validate(body, _UPDATE_V253)
        row, zones = await run_blocking(_update_by_uuid, svc, service_id, body)
        return JSONResponse({"service": _view(request, svc, row, zones, forced_down=True)})
    common.authorize(request, ctx, "os_compute_api:os-services:update", {})
    actions = ["enable", "disable", "disable-log-reason"] + (["force-down"] if common.at_least(request, "2.11") else [])
    if service_id not in actions:
        raise errors.NotFound("Unknown action")
    body = await common.json_body(request)
    common.validate(body, _UPDATE_V211 if common.at_least(request, "2.11") else _UPDATE_V21)
    host, binary = body["host"], body["binary"]
    result: dict[str, Any] = {"host": host, "binary": binary}
    if service_id == "force-down":
        if "forced_down" not in body:
            raise errors.BadRequest("Missing forced_down field")
        forced = types.to_bool(body["forced_down"])
        await run_blocking(_update_by_host, svc, host, binary, {"forced_down": forced})
        result["forced_down"] = forced
    elif service_id == "enable":
        await run_blocking(_update_by_host, svc, host, binary, {"disabled": False, "disabled_reason": None})
        result["status"] = "enabled"
    else:
        reason = None
        if service_id == "disable-log-reason":
            if "disabled_reason" not in body:
                raise errors.BadRequest("Missing disabled reason field")
            reason = body["disabled_reason"]
        await run_blocking(_update_by_host, svc, host, binary, {"disabled": True, "disabled_reason": reason})
        result["status"] = "disabled"
        if reason:
            result["disabled_reason"] = reason
    return JSONResponse({"service": result})


# -- delete --------------------------------------------------------------------------------
def _is_uuid(value: str) -> bool:
    try:
        uuidlib.UUID(value)
    except ValueError:
        return False
    return True


def _delete(svc: Any, service_id: str, by_uuid: bool) -> list[str]:
    """Delete the service (and a compute service's nodes); returns the deleted nodes' uuids."""
    with svc.db.writer() as session:
        column = models.Service.uuid if by_uuid else models.Service.id
        row = session.scalar(sa.select(models.Service).where(column == (service_id if by_uuid else int(service_id))))
        if row is None:
            raise errors.NotFound(f"Service {service_id} not found.")
        if row.binary == COMPUTE:
            servers = session.scalar(sa.select(sa.func.count()).select_from(models.Instance).where(
                models.Instance.host == row.host, models.Instance.deleted.is_(False)))
            if servers:
                raise errors.Conflict("Unable to delete compute service that is hosting instances. Migrate or "
                                      "delete the instances first.")
            nodes = list(session.scalars(sa.select(models.ComputeNode).where(models.ComputeNode.host == row.host)))
            names = [n.hypervisor_hostname for n in nodes]
            moving = session.scalar(sa.select(sa.func.count()).select_from(models.Migration).where(
                models.Migration.status.not_in(FINISHED_MIGRATIONS),
                sa.or_(sa.and_(models.Migration.source_compute == row.host, models.Migration.source_node.in_(names)),
                       sa.and_(models.Migration.dest_compute == row.host, models.Migration.dest_node.in_(names)))))
            if moving:
                raise errors.Conflict("Unable to delete compute service that has in-progress migrations. Complete "
                                      "the migrations or delete the instances first.")
            svc.aggregates.remove_host_everywhere(session, row.host)
            for node in nodes:
                session.delete(node)
            session.delete(row)
            return [n.uuid for n in nodes]
        session.delete(row)
        return []


@router.delete("/v2.1/os-services/{service_id}")
async def delete(service_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> Response:
    common.authorize(request, ctx, "os_compute_api:os-services:delete", {})
    by_uuid = common.at_least(request, "2.53")
    if by_uuid and not _is_uuid(service_id):
        raise errors.BadRequest(f"Invalid uuid {service_id}")
    if not by_uuid:
        types.validate_integer(service_id, "id")
    svc = common.svc(request)
    nodes = await run_blocking(_delete, svc, service_id, by_uuid)
    placement = getattr(svc, "placement", None)
    for node in nodes if placement is not None else []:
        try:  # as Nova: the service is gone either way; a provider left behind is logged
            await placement.delete_provider(node)
        except Exception as err:  # noqa: BLE001
            LOG.error("could not delete the resource provider %s of a deleted compute service: %s", node, err)
    return Response(status_code=204)
