"""The request context: who is asking, in which scope, under which request id.

One `RequestContext` per API request (built by the auth middleware), carried in
a contextvar so that every log line and every bus message the request causes
knows its request id, user and project without passing it by hand.  Bus
messages carry `to_dict()` and the receiving side restores it with
`RequestContext.from_dict()` + `use_context()`.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import uuid
from typing import Any, Iterator


def new_request_id() -> str:
    return f"req-{uuid.uuid4()}"


@dataclasses.dataclass
class RequestContext:
    request_id: str = dataclasses.field(default_factory=new_request_id)
    user_id: str | None = None
    user_name: str | None = None
    user_domain_id: str | None = None
    project_id: str | None = None
    project_name: str | None = None
    project_domain_id: str | None = None
    domain_id: str | None = None  # domain-scoped token
    domain_name: str | None = None
    system_scope: str | None = None  # "all" for a system-scoped token
    roles: list[str] = dataclasses.field(default_factory=list)
    auth_token: str | None = None
    audit_ids: list[str] = dataclasses.field(default_factory=list)
    application_credential_id: str | None = None
    trust_id: str | None = None
    # Requests from the cloud itself (bootstrap, periodic tasks, agents).
    is_service: bool = False
    global_request_id: str | None = None

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles or self.is_service

    @property
    def scope_type(self) -> str | None:
        if self.system_scope:
            return "system"
        if self.project_id:
            return "project"
        if self.domain_id:
            return "domain"
        return None

    def policy_creds(self) -> dict[str, Any]:
        """The credentials dict oslo.policy checks rules against."""
        return {
            "user_id": self.user_id,
            "user_domain_id": self.user_domain_id,
            "project_id": self.project_id,
            "project_domain_id": self.project_domain_id,
            "domain_id": self.domain_id,
            "system_scope": self.system_scope,
            "roles": list(self.roles),
            "is_admin": self.is_service,
            "is_admin_project": True,
            # oslo.policy reads dotted names ("token.project.domain.id") as nested keys.
            "token": {"domain": {"id": self.domain_id}, "project": {"domain": {"id": self.project_domain_id}},
                      "user": {"domain": {"id": self.user_domain_id}}},
        }

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data.pop("auth_token")  # never put tokens on the bus or in logs
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RequestContext":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    @classmethod
    def service(cls, request_id: str | None = None) -> "RequestContext":
        """A context for work the cloud does on its own behalf."""
        return cls(request_id=request_id or new_request_id(), is_service=True, roles=["admin"])


_current: contextvars.ContextVar[RequestContext | None] = contextvars.ContextVar(
    "monostack_request_context", default=None
)


def current() -> RequestContext | None:
    return _current.get()


@contextlib.contextmanager
def use_context(ctx: RequestContext | None) -> Iterator[RequestContext | None]:
    token = _current.set(ctx)
    try:
        yield ctx
    finally:
        _current.reset(token)


def set_context(ctx: RequestContext | None) -> contextvars.Token:
    return _current.set(ctx)
