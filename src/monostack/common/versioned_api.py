"""What the microversioned OpenStack APIs (Compute, Block Storage) share around a request.

`MicroversionLayer`: the ASGI layer in front of the routes.  It negotiates the
microversion of a versioned request (406 in Nova's/Cinder's error body for one the
service does not serve), keeps it in scope["state"]["microversion"] and names it in
the response.  A service subclasses it to say which paths are versioned and how a
path is rewritten first (project ids in URLs, legacy endpoints).

`ServiceRequests`: what route handlers read off a request: the service object, the
negotiated microversion, and policy checks whose target defaults to the caller's
own project and user.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from starlette.routing import get_route_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from monostack.common import errors
from monostack.common.context import RequestContext
from monostack.common.http import error_response, nova_error
from monostack.common.microversion import Microversions, Version


class MicroversionLayer:
    microversions: Microversions

    def __init__(self, app: ASGIApp):
        self.app = app

    def route(self, scope: Scope, path: str) -> tuple[Scope, bool] | None:
        """None when the path (below the mount point) is not a versioned request; else the scope
        to pass on and whether the request is a legacy one (no microversions: the minimum, and no
        version header in the response)."""
        raise NotImplementedError

    def extra_headers(self, scope: Scope) -> list[tuple[bytes, bytes]]:
        """Headers the service adds to every versioned response."""
        return []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        routed = self.route(scope, get_route_path(scope)) if scope["type"] == "http" else None
        if routed is None:
            await self.app(scope, receive, send)
            return
        scope, legacy = routed
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            version = self.microversions.minimum if legacy else self.microversions.negotiate(headers)
        except errors.APIError as err:
            await error_response(err, nova_error)(scope, receive, send)
            return
        scope.setdefault("state", {})["microversion"] = version
        extra = [] if legacy else [(k.encode(), v.encode())
                                   for k, v in self.microversions.response_headers(version).items()]
        extra += self.extra_headers(scope)

        async def send_with_version(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        await self.app(scope, receive, send_with_version)


class ServiceRequests:
    def __init__(self, state_name: str, microversions: Microversions):
        self.state_name = state_name  # the service object is app.state.<state_name>
        self.microversions = microversions

    def svc(self, request: Request) -> Any:
        return getattr(request.app.state, self.state_name)

    def version(self, request: Request) -> Version:
        """The microversion the request negotiated (set by MicroversionLayer)."""
        return request.scope.get("state", {}).get("microversion", self.microversions.minimum)

    def at_least(self, request: Request, wanted: str) -> bool:
        return self.version(request).matches(minimum=wanted)

    def authorize(self, request: Request, ctx: RequestContext, rule: str, target: dict[str, Any] | None = None
                  ) -> None:
        """403 unless the policy rule allows the caller on the target (default: its own project)."""
        target = target if target is not None else {"project_id": ctx.project_id, "user_id": ctx.user_id}
        self.svc(request).policy.authorize(ctx, rule, target)

    def allowed(self, request: Request, ctx: RequestContext, rule: str, target: dict[str, Any] | None = None
                ) -> bool:
        target = target if target is not None else {"project_id": ctx.project_id, "user_id": ctx.user_id}
        return self.svc(request).policy.check(ctx, rule, target)
