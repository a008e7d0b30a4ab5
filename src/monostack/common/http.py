"""The HTTP stack every service API is built on.

`create_app()` returns a FastAPI application wrapped in `ApiMiddleware`, a
pure ASGI layer that, for every request:
  - makes the request context (a new `req-<uuid>`; a valid inbound
    X-OpenStack-Request-ID becomes its global_request_id) and puts it in the
    contextvar, so every log line the request causes carries it;
  - enforces the request body size limit (413);
  - renders any exception as the service's own error body (never a bare 500
    page: an unexpected error is logged with its traceback and answered as a
    JSON 500 in the service's format);
  - adds `x-openstack-request-id` to the response and logs one access line:
    method, path, status, length, time.
"""

from __future__ import annotations

import json
import logging
import re
import time
from typing import Any, Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
import orjson
from starlette.responses import JSONResponse as StarletteJSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from monostack.common import context, errors

LOG = logging.getLogger("monostack.api")

ErrorFormat = Callable[[errors.APIError], dict[str, Any]]
_REQUEST_ID_RE = re.compile(r"^req-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def keystone_error(err: errors.APIError) -> dict[str, Any]:
    return {"error": {"code": err.code, "title": err.title, "message": err.message}}


def nova_error(err: errors.APIError) -> dict[str, Any]:
    return {err.nova_key: {"code": err.code, "message": err.message}}


def neutron_error(err: errors.APIError) -> dict[str, Any]:
    return {"NeutronError": {"type": err.error_type, "message": err.message, "detail": ""}}


def error_response(err: errors.APIError, fmt: ErrorFormat) -> JSONResponse:
    return JSONResponse(fmt(err), status_code=err.code, headers=err.headers)


class JSONResponse(StarletteJSONResponse):
    """orjson, falling back to the standard encoder for what orjson refuses
    (integers beyond 64 bits, which Keystone stores in extra attributes)."""

    def render(self, content: Any) -> bytes:
        try:
            return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)
        except TypeError:
            return json.dumps(content, separators=(",", ":"), default=str).encode()


class _BodyTooLarge(StarletteHTTPException):
    """Raised while reading the body; an HTTPException so that frameworks that
    parse the body let it through to the service's error format."""

    def __init__(self) -> None:
        super().__init__(413, "Request is too large.")


class ApiMiddleware:
    # Set by the cloud: every 401 of every service tells the client where to authenticate,
    # as keystonemiddleware does.
    www_authenticate: bytes | None = None

    def __init__(self, app: ASGIApp, *, service: str, error_format: ErrorFormat,
                 max_body_size: int | None, unlimited_body: Callable[[Scope], bool] | None = None):
        self.app = app
        self.service = service
        self.error_format = error_format
        self.max_body_size = max_body_size
        self.unlimited_body = unlimited_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = dict(scope["headers"])
        ctx = context.RequestContext()
        inbound = headers.get(b"x-openstack-request-id", b"").decode("latin-1")
        if _REQUEST_ID_RE.match(inbound):
            ctx.global_request_id = inbound
        scope["monostack.context"] = ctx
        token = context.set_context(ctx)
        status = 500
        length = 0
        response_started = False
        request_id_header = (b"x-openstack-request-id", ctx.request_id.encode())

        async def send_wrapper(message: Message) -> None:
            nonlocal status, length, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                headers = list(message.get("headers", [])) + [request_id_header]
                if status == 401 and self.www_authenticate and not any(
                        name.lower() == b"www-authenticate" for name, _ in headers):
                    headers.append((b"www-authenticate", self.www_authenticate))
                message["headers"] = headers
            elif message["type"] == "http.response.body":
                length += len(message.get("body", b""))
            await send(message)

        limit = self.max_body_size
        if limit is not None and self.unlimited_body is not None and self.unlimited_body(scope):
            limit = None
        receive_wrapper = receive
        try:
            if limit is not None:
                declared = headers.get(b"content-length")
                if declared is not None and declared.isdigit() and int(declared) > limit:
                    raise _BodyTooLarge()
                received = 0

                async def receive_wrapper() -> Message:
                    nonlocal received
                    message = await receive()
                    if message["type"] == "http.request":
                        received += len(message.get("body", b""))
                        if received > limit:
                            raise _BodyTooLarge()
                    return message

            await self.app(scope, receive_wrapper, send_wrapper)
        except _BodyTooLarge:
            if not response_started:
                await error_response(errors.RequestTooLarge("Request is too large."), self.error_format)(
                    scope, receive, send_wrapper)
        except Exception as exc:  # the last line of defence: log it, answer in the service's format
            if isinstance(exc, errors.APIError):
                err = exc
            else:
                LOG.exception("unhandled error in %s %s", scope["method"], scope["path"])
                err = errors.APIError()
            if not response_started:
                await error_response(err, self.error_format)(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - started
            raw = scope.get("raw_path")
            path = raw.decode("latin-1") if raw else scope["path"]
            query = scope.get("query_string", b"")
            if query:
                path += "?" + query.decode("latin-1")
            LOG.info('%s "%s %s" status: %d len: %d time: %.4f', self.service, scope["method"], path,
                     status, length, elapsed)
            context._current.reset(token)


def create_app(service: str, *, error_format: ErrorFormat, title: str, version: str = "1.0",
               max_body_size: int | None = 114688,
               unlimited_body: Callable[[Scope], bool] | None = None) -> tuple[FastAPI, ASGIApp]:
    """A service API.  Returns the FastAPI app (to add routes to) and the ASGI
    app to serve (the FastAPI app inside the shared middleware)."""
    app = FastAPI(title=title, version=version, default_response_class=JSONResponse,
                  docs_url=None, redoc_url=None, openapi_url="/openapi.json")

    async def api_error(_request: Request, exc: errors.APIError) -> JSONResponse:
        return error_response(exc, error_format)

    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            err = errors.NotFound("The resource could not be found.")
        elif exc.status_code == 405:
            err = errors.MethodNotAllowed()
        else:
            err = errors.for_status(exc.status_code, str(exc.detail))
        return error_response(err, error_format)

    async def validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(errors.ValidationError(describe_validation_error(exc)), error_format)

    async def unexpected_error(_request: Request, _exc: Exception) -> JSONResponse:
        # Logged with its traceback by ApiMiddleware, which sees it re-raised.
        return error_response(errors.APIError(), error_format)

    app.add_exception_handler(errors.APIError, api_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, unexpected_error)
    app.add_exception_handler(StarletteHTTPException, http_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, validation_error)  # type: ignore[arg-type]

    @app.get("/healthcheck", include_in_schema=False)
    async def healthcheck() -> Any:
        from starlette.responses import PlainTextResponse
        return PlainTextResponse("OK")

    wrapped = ApiMiddleware(app, service=service, error_format=error_format, max_body_size=max_body_size,
                            unlimited_body=unlimited_body)
    return app, wrapped


def describe_validation_error(exc: RequestValidationError) -> str:
    """Keystone-style text for the first problem pydantic found."""
    problems = exc.errors()
    if not problems:
        return "Expecting to find valid input in the request."
    first = problems[0]
    kind = first.get("type", "")
    loc = [str(part) for part in first.get("loc", ()) if part != "body"]
    if kind == "json_invalid":
        return "Malformed request body: the body is not valid JSON."
    field = ".".join(loc) if loc else "body"
    if kind == "missing":
        return f"Invalid input for field '{field}': '{loc[-1] if loc else field}' is a required property"
    return f"Invalid input for field '{field}': {first.get('msg', 'invalid value')}"


def request_context(request: Request) -> context.RequestContext:
    return request.scope["monostack.context"]


def base_url(request: Request) -> str:
    """The URL of the service root as the client reached it (scheme, host, mount path)."""
    scheme = request.headers.get("x-forwarded-proto", request.url.scheme)
    host = request.headers.get("host") or f"{request.url.hostname}:{request.url.port}"
    return f"{scheme}://{host}{request.scope.get('root_path', '')}"


BlockingCall = Callable[..., Any]


async def run_blocking(fn: BlockingCall, *args: Any, **kwargs: Any) -> Any:
    """Run database, disk or CPU-heavy work off the event loop, keeping the request context."""
    import asyncio
    import functools
    return await asyncio.to_thread(functools.partial(fn, *args, **kwargs))

