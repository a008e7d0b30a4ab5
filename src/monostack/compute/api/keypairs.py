"""Key pairs (/v2.1/os-keypairs): a user's SSH keys or x509 certificates.

Microversions: 2.2 key types (and 201/204 codes), 2.10 admins act for another
user (user_id), 2.35 limit/marker pages, 2.92 no server-side generation
(public_key required) and '@' and '.' allowed in names.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from monostack.common.auth import authenticated
from monostack.common.context import RequestContext
from monostack.common.http import JSONResponse, run_blocking
from monostack.compute.api import common
from monostack.compute.api import parameter_types as types

router = APIRouter()


def _create_schema(request: Request) -> dict[str, Any]:
    chars = r"^[_\-\@\. a-zA-Z0-9]+$" if common.at_least(request, "2.92") else r"^[_\- a-zA-Z0-9]+$"
    name = {"allOf": [types.name, {"type": "string", "pattern": chars, "minLength": 1, "maxLength": 255}]}
    keypair: dict[str, Any] = {"name": name, "public_key": {"type": "string"}}
    if common.at_least(request, "2.2"):
        keypair["type"] = {"type": "string", "enum": ["ssh", "x509"]}
    if common.at_least(request, "2.10"):
        keypair["user_id"] = {"type": "string"}
    required = ["name", "public_key"] if common.at_least(request, "2.92") else ["name"]
    return {"type": "object", "required": ["keypair"], "additionalProperties": False,
            "properties": {"keypair": {"type": "object", "properties": keypair, "required": required,
                                       "additionalProperties": False}}}


def _target_user(request: Request, ctx: RequestContext) -> str:
    """From 2.10 an admin may name another user (?user_id=)."""
    if common.at_least(request, "2.10"):
        user_id = types.query_value(request, "user_id")
        if user_id:
            return user_id
    return ctx.user_id or ""


def _query_params(request: Request) -> set[str]:
    allowed = set()
    if common.at_least(request, "2.10"):
        allowed.add("user_id")
    return allowed


@router.get("/v2.1/os-keypairs")
async def index(request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    paged = common.at_least(request, "2.35")
    types.check_query(request, _query_params(request) | ({"limit", "marker"} if paged else set()))
    user_id = _target_user(request, ctx)
    common.authorize(request, ctx, "os_compute_api:os-keypairs:index", {"user_id": user_id})
    page = types.page_request(request) if paged else None
    keypairs = await run_blocking(common.svc(request).keypairs.list, user_id,
                                  limit=page.limit if page else None, marker=page.marker if page else None)
    fields = ["name", "public_key", "fingerprint"] + (["type"] if common.at_least(request, "2.2") else [])
    body: dict[str, Any] = {"keypairs": [{"keypair": {f: k[f] for f in fields}} for k in keypairs]}
    if page is not None:
        links = types.next_links(request, "os-keypairs", page, keypairs, lambda k: k["name"])
        if links:
            body["keypairs_links"] = links
    return JSONResponse(body)


@router.post("/v2.1/os-keypairs")
async def create(request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    body = await common.json_body(request)
    common.validate(body, _create_schema(request))
    values = body["keypair"]
    user_id = values.get("user_id") or ctx.user_id or ""
    common.authorize(request, ctx, "os_compute_api:os-keypairs:create", {"user_id": user_id})
    keypair = await run_blocking(common.svc(request).keypairs.create, ctx, user_id, values["name"],
                                 key_type=values.get("type", "ssh"), public_key=values.get("public_key"))
    fields = ["name", "public_key", "fingerprint", "user_id"]
    if "private_key" in keypair:
        fields.append("private_key")
    if common.at_least(request, "2.2"):
        fields.append("type")
    status = 201 if common.at_least(request, "2.2") else 200
    return JSONResponse({"keypair": {f: keypair[f] for f in fields}}, status_code=status)


@router.get("/v2.1/os-keypairs/{name}")
async def show(name: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    types.check_query(request, _query_params(request))
    user_id = _target_user(request, ctx)
    common.authorize(request, ctx, "os_compute_api:os-keypairs:show", {"user_id": user_id})
    keypair = await run_blocking(common.svc(request).keypairs.show, user_id, name)
    body = {"name": keypair["name"], "public_key": keypair["public_key"], "fingerprint": keypair["fingerprint"],
            "user_id": keypair["user_id"], "created_at": common.isotime_micro(keypair["created_at"]),
            "deleted": False, "deleted_at": None, "id": keypair["id"], "updated_at": None}
    if common.at_least(request, "2.2"):
        body["type"] = keypair["type"]
    return JSONResponse({"keypair": body})


@router.delete("/v2.1/os-keypairs/{name}")
async def delete(name: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> Response:
    types.check_query(request, _query_params(request))
    user_id = _target_user(request, ctx)
    common.authorize(request, ctx, "os_compute_api:os-keypairs:delete", {"user_id": user_id})
    await run_blocking(common.svc(request).keypairs.delete, ctx, user_id, name)
    return Response(status_code=204 if common.at_least(request, "2.2") else 202)
