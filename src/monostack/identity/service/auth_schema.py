"""The shape of an auth request (`POST /v3/auth/tokens` `auth`), checked before any
credential is: like Keystone's token_issue schema, a malformed request is a 400,
whatever its password."""

from __future__ import annotations

from typing import Any, Literal

import pydantic
from pydantic import BaseModel, ConfigDict

from monostack.common import errors


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="allow")


class _Domain(_Strict):
    id: str | None = None
    name: str | None = None


class _User(_Strict):
    id: str | None = None
    name: str | None = None
    password: str | None = None
    domain: _Domain | None = None


class _Password(_Strict):
    user: _User


class _Token(_Strict):
    id: str


class _AppCred(_Strict):
    id: str | None = None
    name: str | None = None
    secret: str
    user: _User | None = None


class _Identity(_Strict):
    methods: list[str] = pydantic.Field(min_length=1)
    password: _Password | None = None
    token: _Token | None = None
    application_credential: _AppCred | None = None


class _Project(_Strict):
    id: str | None = None
    name: str | None = None
    domain: _Domain | None = None


class _System(_Strict):
    all: bool


class _Trust(_Strict):
    id: str


class _Scope(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", populate_by_name=True)
    project: _Project | None = None
    domain: _Domain | None = None
    system: _System | None = None
    trust: _Trust | None = pydantic.Field(default=None, alias="OS-TRUST:trust")


class _Auth(_Strict):
    identity: _Identity
    scope: _Scope | Literal["unscoped"] | None = None


def check(auth: Any) -> None:
    """Raise a 400 describing the first thing wrong with an auth request body."""
    try:
        _Auth.model_validate(auth)
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        where = "/".join(str(part) for part in first["loc"])
        raise errors.ValidationError(f"Invalid input for field '{where}': {first['msg']}") from None
