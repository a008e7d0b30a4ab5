"""What every Placement route shares: microversions (negotiated once per request by
`VersionMiddleware`), Placement's error body, JSON bodies and query strings checked against
JSON schemas (Placement answers "JSON does not validate: ..."), content negotiation, and the
cache headers of microversion 1.15."""

from __future__ import annotations

import contextvars
import datetime
import email.utils
import http
import json
import re
from typing import Any

import jsonschema
from fastapi import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from monostack.common import context, errors, validation
from monostack.common.auth import authenticated
from monostack.common.context import RequestContext
from monostack.common.http import JSONResponse, keystone_error, run_blocking
from monostack.common.microversion import Microversions, Version
from monostack.placement.service import PlacementService
from monostack.placement.service.common import DEFAULT_CODE, is_uuid_like, now

VERSIONS = Microversions("placement", Version(1, 0), Version(1, 39))
VERSIONS_RE = re.compile(r"(?:^|,)\s*placement\s+([^,\s]*)", re.IGNORECASE)
_VERSION: contextvars.ContextVar[Version | None] = contextvars.ContextVar("placement_version", default=None)
_FORMAT = jsonschema.FormatChecker()


@_FORMAT.checks("uuid")
def _uuid_format(value: Any) -> bool:
    return not isinstance(value, str) or is_uuid_like(value)


# webob's explanations, which Placement's error details begin with.
_EXPLANATIONS = {
    400: "The server could not comply with the request since it is either malformed or otherwise incorrect.",
    403: "Access was denied to this resource.",
    404: "The resource could not be found.",
    409: "There was a conflict when trying to complete your request.",
    500: "The server has either erred or is incapable of performing the requested operation.",
}


def placement_error(err: errors.APIError) -> dict[str, Any]:
    """`{"errors": [{"status", "title", "detail", "code" (1.23+), "request_id"}]}`; a 401 is
    keystonemiddleware's body, which answers before Placement does."""
    if err.code == 401:
        return keystone_error(err)
    try:
        title = http.HTTPStatus(err.code).phrase
    except ValueError:
        title = err.title
    explanation = _EXPLANATIONS.get(err.code)
    message = "" if err.message == explanation else err.message
    entry: dict[str, Any] = {"status": err.code, "title": title,
                             "detail": f"{explanation}\n\n {message}  " if explanation else err.message}
    version = _VERSION.get()
    if version is not None and version >= Version(1, 23):
        entry["code"] = err.details.get("code", DEFAULT_CODE)
    ctx = context.current()
    if ctx is not None:
        entry["request_id"] = ctx.request_id
    if err.code == 406 and version is None:
        entry["max_version"], entry["min_version"] = str(VERSIONS.maximum), str(VERSIONS.minimum)
    return {"errors": [entry]}


class VersionMiddleware:
    """Negotiates `OpenStack-API-Version: placement X.Y` for every request (406 outside 1.0 to
    1.39, 400 for a malformed version), and names the version in every response."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            version = VERSIONS.negotiate(headers)
        except errors.NotAcceptable:
            requested = VERSIONS_RE.search(headers.get("openstack-api-version", ""))
            raise errors.NotAcceptable(f"Unacceptable version header: {requested.group(1) if requested else ''}"
                                       ) from None
        except errors.BadRequest:
            requested = VERSIONS_RE.search(headers.get("openstack-api-version", ""))
            raise errors.BadRequest(f"invalid version string: {requested.group(1) if requested else ''}") from None
        scope["placement.version"] = version
        extra = [(k.lower().encode(), v.encode()) for k, v in VERSIONS.response_headers(version).items()]

        async def send_with_version(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        token = _VERSION.set(version)
        try:
            await self.app(scope, receive, send_with_version)
        finally:
            _VERSION.reset(token)


# -- per request ---------------------------------------------------------------------------------
def version(request: Request) -> Version:
    return request.scope["placement.version"]


def at_least(request: Request, minimum: str) -> bool:
    return version(request).matches(minimum)


def require(request: Request, minimum: str, maximum: str | None = None, status: int = 404) -> None:
    """Routes that exist only from (or until) a microversion: 404 (or `status`) outside it."""
    if not version(request).matches(minimum, maximum):
        if status == 405:
            raise errors.MethodNotAllowed("The method specified is not allowed for this resource.")
        raise errors.NotFound("The resource could not be found.")


def service(request: Request) -> PlacementService:
    return request.app.state.placement


async def authorize(request: Request, rule: str, target: dict[str, Any] | None = None) -> RequestContext:
    """Authenticate, then check the policy rule (Placement's 403 text)."""
    ctx = await authenticated(request)
    try:
        service(request).authorize(ctx, rule, target)
    except errors.Forbidden:
        raise errors.Forbidden(f"Policy does not allow {rule} to be performed.") from None
    return ctx


def check_accept(request: Request) -> None:
    accept = request.headers.get("accept")
    if not accept:
        return
    for part in accept.split(","):
        media, _, params = part.strip().partition(";")
        if "q=0" in params.replace(" ", "") and "q=0." not in params.replace(" ", ""):
            continue
        if media.strip().lower() in ("application/json", "application/*", "*/*"):
            return
    raise errors.NotAcceptable("Only application/json is provided")


async def json_body(request: Request, schema: dict[str, Any]) -> Any:
    """The request body, which must be application/json (415) and valid for the schema (400)."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/json":
        raise errors.UnsupportedMediaType(f"The media type {media or 'None'} is not supported, use "
                                          f"application/json")
    raw = await request.body()
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise errors.BadRequest(f"Malformed JSON: {exc}") from None
    exc = validation.error(schema, data, _FORMAT)
    if exc is not None:
        raise errors.BadRequest(f"JSON does not validate: {exc.message}")
    return data


def query(request: Request, schema: dict[str, Any]) -> dict[str, str]:
    """The query parameters (the last of a repeated one), valid for the schema (400)."""
    params = dict(request.query_params)
    exc = validation.error(schema, params, _FORMAT)
    if exc is not None:
        raise errors.BadRequest(f"Invalid query string parameters: {exc.message}")
    return params


def http_date(value: datetime.datetime | None) -> str:
    stamp = (value or now()).replace(tzinfo=datetime.timezone.utc)
    return email.utils.format_datetime(stamp, usegmt=True)


def respond(request: Request, body: Any = None, status: int = 200, *, last_modified: datetime.datetime | None = None,
            headers: dict[str, str] | None = None) -> JSONResponse:
    """A JSON answer (or an empty one for 201/204 without body), with Last-Modified and
    Cache-Control: no-cache from microversion 1.15."""
    headers = dict(headers or {})
    if body is not None and at_least(request, "1.15"):
        headers["Last-Modified"] = http_date(last_modified)
        headers["Cache-Control"] = "no-cache"
    if body is None:
        from starlette.responses import Response
        return Response(status_code=status, headers=headers)  # type: ignore[return-value]
    return JSONResponse(body, status_code=status, headers=headers)


def url(request: Request, path: str) -> str:
    """A link as Placement writes them: relative, under the mount point."""
    return f"{request.scope.get('root_path', '')}{path}"


def newest(*stamps: datetime.datetime | None) -> datetime.datetime | None:
    present = [stamp for stamp in stamps if stamp is not None]
    return max(present) if present else None


async def blocking(fn: Any, *args: Any, **kwargs: Any) -> Any:
    return await run_blocking(fn, *args, **kwargs)
