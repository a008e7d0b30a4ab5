"""Server external events (/v2.1/os-server-external-events, admin, e.g. the
networking service): events other services send about servers.

Each event is answered on its own: 200 completed for a server on a host, 404
for an unknown server, 422 for one not placed yet, 400 for an event that needs
a tag and has none; any failure makes the answer 207.  Accepted events go to
the agent of each server's host (compute/events.py): a build waiting for
`network-vif-plugged` goes on, `network-changed` refreshes the server's
addresses.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Request

from monostack.common.auth import authenticated
from monostack.common.context import RequestContext
from monostack.common.http import JSONResponse, run_blocking
from monostack.compute import models
from monostack.compute.api import common

LOG = logging.getLogger(__name__)
router = APIRouter()

# Event names by the microversion that added them.
_NAMES = [("2.1", ["network-changed", "network-vif-plugged", "network-vif-unplugged", "network-vif-deleted"]),
          ("2.51", ["volume-extended"]), ("2.76", ["power-update"]), ("2.82", ["accelerator-request-bound"]),
          ("2.93", ["volume-reimaged"])]
TAG_REQUIRED = ("volume-extended", "power-update", "accelerator-request-bound")
_SCHEMA = {"type": "object", "required": ["events"], "additionalProperties": False, "properties": {"events": {
    "type": "array", "minItems": 1, "items": {
        "type": "object", "required": ["name", "server_uuid"], "additionalProperties": False,
        "properties": {"name": {"type": "string", "enum": []}, "server_uuid": {"type": "string", "format": "uuid"},
                       "status": {"type": "string", "enum": ["failed", "completed", "in-progress"]},
                       "tag": {"type": "string", "maxLength": 255}}}}}}


def _schema(request: Request) -> dict[str, Any]:
    schema = copy.deepcopy(_SCHEMA)
    names = [n for version, batch in _NAMES if common.at_least(request, version) for n in batch]
    schema["properties"]["events"]["items"]["properties"]["name"]["enum"] = names
    return schema


def _hosts(svc: Any, uuids: set[str]) -> dict[str, str | None]:
    """server uuid -> its host (None: not placed), for the servers that exist."""
    with svc.db.reader() as session:
        rows = session.execute(sa.select(models.Instance.uuid, models.Instance.host).where(
            models.Instance.uuid.in_(list(uuids)), models.Instance.deleted.is_(False))).all()
    return {uuid: host for uuid, host in rows}


def _record_extend_actions(svc: Any, ctx: RequestContext, uuids: list[str]) -> None:
    with svc.db.writer() as session:
        for uuid in dict.fromkeys(uuids):
            svc.actions.start(session, ctx, uuid, "extend_volume")


@router.post("/v2.1/os-server-external-events")
async def create(request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    common.authorize(request, ctx, "os_compute_api:os-server-external-events:create", {})
    body = await common.json_body(request)
    common.validate(body, _schema(request))
    events = body["events"]
    service = common.svc(request)
    hosts = await run_blocking(_hosts, service, {e["server_uuid"] for e in events})
    by_host: dict[str, list[dict[str, Any]]] = {}
    status = 200
    for event in events:
        event.setdefault("status", "completed")
        uuid = event["server_uuid"]
        if uuid not in hosts:
            event.update(status="failed", code=404)
        elif event["name"] in TAG_REQUIRED and "tag" not in event:
            event.update(status="failed", code=400)
        elif hosts[uuid] is None:
            event.update(status="failed", code=422)
        else:
            LOG.info("event %s:%s (%s) for server %s on %s", event["name"], event.get("tag"), event["status"],
                     uuid, hosts[uuid])
            by_host.setdefault(hosts[uuid], []).append(dict(event))
            event["code"] = 200
        if event["code"] != 200:
            status = 207
    extended = [e["server_uuid"] for batch in by_host.values() for e in batch if e["name"] == "volume-extended"]
    if extended:  # as Nova: the agent's work shows as the server's extend_volume action
        await run_blocking(_record_extend_actions, service, ctx, extended)
    for host, batch in by_host.items():
        await service.conductor.bus.cast("compute", "external_events", ctx, server=host, events=batch)
    return JSONResponse({"events": events}, status_code=status)
