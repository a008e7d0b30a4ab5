"""/v3/auth: tokens (issue, validate, check, revoke), and the catalog, projects,
domains and system a token may be scoped to."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel

from monostack.common import errors
from monostack.common.auth import authenticated, unauthorized
from monostack.common.context import RequestContext
from monostack.common.http import run_blocking
from monostack.identity.api.common import svc, v3_url, with_link
from monostack.identity.service.tokens import ValidatedToken

router = APIRouter(prefix="/v3/auth", tags=["auth"])


class AuthRequest(BaseModel):
    auth: dict[str, Any]


def _flag(request: Request, name: str) -> bool:
    if name not in request.query_params:
        return False
    return request.query_params[name].lower() in ("", "1", "true", "yes", "on")


def _token_response(request: Request, validated: ValidatedToken, status: int) -> Response:
    body = svc(request).tokens.render(validated, nocatalog=_flag(request, "nocatalog"))
    return Response(body, status_code=status, media_type="application/json",
                    headers={"X-Subject-Token": validated.token_id})


@router.post("/tokens", status_code=201, openapi_extra={
    "requestBody": {"content": {"application/json": {"schema": AuthRequest.model_json_schema()}}, "required": True}})
async def issue_token(request: Request) -> Response:
    raw = await request.body()
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise errors.ValidationError("Malformed request body: the body is not valid JSON.") from None
    if not isinstance(body, dict) or not isinstance(body.get("auth"), dict):
        raise errors.ValidationError("Invalid input for field 'auth': 'auth' is a required property")
    identity = svc(request)
    try:
        validated = await run_blocking(identity.tokens.issue, body["auth"])
    except errors.Unauthorized as exc:
        raise unauthorized(request, exc.message) from None
    return _token_response(request, validated, 201)


async def _subject(request: Request, ctx: RequestContext, rule: str) -> ValidatedToken:
    subject = request.headers.get("x-subject-token")
    if not subject:
        raise errors.NotFound("Could not find token: missing X-Subject-Token.")
    identity = svc(request)
    allow_expired = _flag(request, "allow_expired")
    validated = None if allow_expired else identity.tokens.cached(subject)
    if validated is None:
        validated = await run_blocking(identity.tokens.validate, subject, allow_expired=allow_expired)
    identity.policy.authorize(ctx, rule, {"target.token.user_id": validated.user["id"]})
    return validated


@router.get("/tokens")
async def validate_token(request: Request, ctx: RequestContext = Depends(authenticated)) -> Response:
    return _token_response(request, await _subject(request, ctx, "identity:validate_token"), 200)


@router.head("/tokens", status_code=200)
async def check_token(request: Request, ctx: RequestContext = Depends(authenticated)) -> Response:
    validated = await _subject(request, ctx, "identity:check_token")
    return Response(status_code=200, headers={"X-Subject-Token": validated.token_id})


@router.delete("/tokens", status_code=204)
async def revoke_token(request: Request, ctx: RequestContext = Depends(authenticated)) -> Response:
    validated = await _subject(request, ctx, "identity:revoke_token")
    await run_blocking(svc(request).tokens.revoke, validated.token_id)
    return Response(status_code=204)


@router.get("/catalog")
async def auth_catalog(request: Request, ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    identity = svc(request)
    validated = await request.app.state.validator.validated(request.headers["x-auth-token"])
    if validated.payload.scope_type == 0:
        raise errors.Forbidden("The service catalog is only available to scoped tokens.")
    catalog = await run_blocking(identity.tokens.catalog_for, validated)
    return {"catalog": catalog, "links": {"self": v3_url(request, "/auth/catalog"), "previous": None, "next": None}}


@router.get("/projects")
def auth_projects(request: Request, ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    projects = [p for p in svc(request).assignments.user_projects(ctx.user_id) if p["enabled"]]
    return {"projects": [with_link(request, "projects", p) for p in projects],
            "links": {"self": v3_url(request, "/auth/projects"), "previous": None, "next": None}}


@router.get("/domains")
def auth_domains(request: Request, ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    domains = svc(request).assignments.user_domains(ctx.user_id)
    return {"domains": [with_link(request, "domains", d) for d in domains],
            "links": {"self": v3_url(request, "/auth/domains"), "previous": None, "next": None}}


@router.get("/system")
def auth_system(request: Request, ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    system = [{"all": True}] if svc(request).assignments.user_has_system(ctx.user_id) else []
    return {"system": system, "links": {"self": v3_url(request, "/auth/system"), "previous": None, "next": None}}
