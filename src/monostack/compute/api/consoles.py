"""Serial consoles: `POST /servers/{id}/remote-consoles` (2.6+) and the older
`os-getSerialConsole` action hand out a websocket URL with a one-time-ish
token; `/serial-console?token=...` bridges that websocket to the guest's
serial port (the driver's live console, several viewers at once), as Nova's
serial proxy does.  `os-console-auth-tokens/{token}` tells an admin what a
token opens.

Tokens are HMAC-signed (server uuid, expiry) with a key made at start-up, so
they need no table and die with the process; the agent of the server's host
must run in this process (the all-in-one; remote hosts get the scale-out work).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import os
import time
from typing import Any

from fastapi import APIRouter, Depends, Request, WebSocket, WebSocketDisconnect

from monostack.common import errors
from monostack.common.auth import authenticated
from monostack.common.context import RequestContext
from monostack.common.http import JSONResponse, base_url, run_blocking
from monostack.compute import states
from monostack.compute.api.common import authorize, json_body, svc
from monostack.compute.api.server_actions import action

router = APIRouter()
_KEY = os.urandom(32)
TOKEN_TTL = 600


def make_token(instance_uuid: str, ttl: int = TOKEN_TTL) -> str:
    payload = f"{instance_uuid}:{int(time.time()) + ttl}".encode()
    signature = hmac.new(_KEY, payload, hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(payload + b"." + signature).decode().rstrip("=")


def check_token(token: str) -> tuple[str, int] | None:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        # the payload ("uuid:expiry") has no dot; the raw signature after it may hold one
        payload, _, signature = raw.partition(b".")
        uuid, _, expires = payload.decode().partition(":")
        if not hmac.compare_digest(hmac.new(_KEY, payload, hashlib.sha256).digest()[:16], signature):
            return None
        if int(expires) < time.time():
            return None
        return uuid, int(expires)
    except (ValueError, UnicodeError):
        return None


def _console_url(request: Request, token: str) -> str:
    http = base_url(request)
    return http.replace("https://", "wss://", 1).replace("http://", "ws://", 1) + f"/serial-console?token={token}"


async def _serial(request: Request, ctx: RequestContext, row: Any) -> str:
    states.check("get_serial_console", row.uuid, row.vm_state, row.task_state)
    if svc(request).console_driver is None:
        raise errors.Conflict("The serial console of this server's host is not reachable from this API.")
    return _console_url(request, make_token(row.uuid))


@router.post("/v2.1/servers/{server_id}/remote-consoles")
async def remote_console(server_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    body = await json_body(request)
    console = body.get("remote_console")
    if not isinstance(console, dict) or "protocol" not in console or "type" not in console:
        raise errors.BadRequest("Invalid input for field/attribute remote_console.")
    row = await run_blocking(svc(request).servers.get, ctx, server_id)
    authorize(request, ctx, "os_compute_api:os-remote-consoles", {"project_id": row.project_id})
    if console["protocol"] not in ("vnc", "spice", "serial", "rdp", "mks"):
        raise errors.BadRequest(f"Invalid input for field/attribute protocol. Value: {console['protocol']}.")
    if console["protocol"] != "serial" or console["type"] != "serial":
        raise errors.BadRequest(f"Unavailable console type {console['type']}.")
    url = await _serial(request, ctx, row)
    return JSONResponse({"remote_console": {"protocol": "serial", "type": "serial", "url": url}})


async def _get_serial_console(request: Request, ctx: RequestContext, row: Any, args: Any) -> JSONResponse:
    kind = (args or {}).get("type") if isinstance(args, dict) else None
    if kind != "serial":
        raise errors.BadRequest(f"Unavailable console type {kind}.")
    return JSONResponse({"console": {"type": "serial", "url": await _serial(request, ctx, row)}})


action("os-getSerialConsole", "os-remote-consoles")(_get_serial_console)


@router.get("/v2.1/os-console-auth-tokens/{token}")
async def console_token(token: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    authorize(request, ctx, "os_compute_api:os-console-auth-tokens")
    found = check_token(token)
    if found is None:
        raise errors.NotFound("The token has expired or is invalid.")
    uuid, _ = found
    row = await run_blocking(svc(request).servers.by_uuid, uuid)
    return JSONResponse({"console": {"instance_uuid": uuid, "host": row.host if row else None, "port": None,
                                     "internal_access_path": None}})


@router.websocket("/serial-console")
async def serial_console(websocket: WebSocket) -> None:
    found = check_token(websocket.query_params.get("token", ""))
    driver = websocket.app.state.compute.console_driver
    if found is None or driver is None:
        await websocket.close(code=4401)
        return
    uuid, _ = found
    subprotocols = websocket.scope.get("subprotocols") or []
    await websocket.accept(subprotocol="binary" if "binary" in subprotocols else None)

    async def guest_to_client() -> None:
        async for chunk in driver.console_stream(uuid):
            await websocket.send_bytes(chunk)

    async def client_to_guest() -> None:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            data = message.get("bytes") or (message.get("text") or "").encode()
            if data:
                await driver.console_write(uuid, data)

    tasks = [asyncio.create_task(guest_to_client()), asyncio.create_task(client_to_guest())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    except WebSocketDisconnect:
        pass
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        try:
            await websocket.close()
        except RuntimeError:
            pass
