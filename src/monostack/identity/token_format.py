"""What a Fernet token carries, and how it is packed.

A token is a msgpack list encrypted with the primary Fernet key.  It names the
user, the auth methods, the scope, the expiry, the issue time in microseconds
(precise, so a revocation in the same second as a fresh issue does not revoke
the fresh token) and the audit ids; everything else (names, roles, catalog) is
looked up when the token is validated, so tokens stay short and a change of
role shows at once.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import os
import uuid

import msgpack

VERSION = 1

METHODS = ["password", "token", "application_credential", "totp", "mapped", "oauth1", "external", "ec2credential"]

UNSCOPED, PROJECT, DOMAIN, SYSTEM = 0, 1, 2, 3


def new_audit_id() -> str:
    return base64.urlsafe_b64encode(os.urandom(16)).decode("ascii").rstrip("=")


def _pack_id(value: str | None) -> bytes | str | None:
    """uuid4 hex ids take 16 bytes instead of 32."""
    if value and len(value) == 32:
        try:
            return uuid.UUID(hex=value).bytes if value == uuid.UUID(hex=value).hex else value
        except ValueError:
            return value
    return value


def _unpack_id(value: bytes | str | None) -> str | None:
    if isinstance(value, bytes):
        return uuid.UUID(bytes=value).hex
    return value


def _pack_audit(audit_id: str) -> bytes:
    return base64.urlsafe_b64decode(audit_id + "=" * (-len(audit_id) % 4))


def _unpack_audit(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


@dataclasses.dataclass
class TokenPayload:
    user_id: str
    methods: list[str]
    expires_at: dt.datetime  # naive UTC
    issued_at: dt.datetime  # naive UTC
    audit_ids: list[str]
    scope_type: int = UNSCOPED
    scope_id: str | None = None  # project id, domain id, or "all" for system
    app_cred_id: str | None = None
    trust_id: str | None = None

    @property
    def project_id(self) -> str | None:
        return self.scope_id if self.scope_type == PROJECT else None

    @property
    def domain_id(self) -> str | None:
        return self.scope_id if self.scope_type == DOMAIN else None

    @property
    def system(self) -> str | None:
        return self.scope_id if self.scope_type == SYSTEM else None


_EPOCH = dt.datetime(1970, 1, 1)


def _us(value: dt.datetime) -> int:
    """Microseconds since the epoch, exactly (revocation compares at this precision)."""
    delta = value - _EPOCH
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def _from_us(value: int) -> dt.datetime:
    return _EPOCH + dt.timedelta(microseconds=value)


def pack(payload: TokenPayload) -> bytes:
    methods = sum(1 << METHODS.index(m) for m in payload.methods)
    return msgpack.packb([
        VERSION, _pack_id(payload.user_id), methods, payload.scope_type, _pack_id(payload.scope_id),
        _us(payload.expires_at), _us(payload.issued_at), [_pack_audit(a) for a in payload.audit_ids],
        _pack_id(payload.app_cred_id), _pack_id(payload.trust_id),
    ], use_bin_type=True)


class MalformedToken(ValueError):
    pass


def unpack(data: bytes) -> TokenPayload:
    try:
        (version, user_id, methods, scope_type, scope_id, expires_us, issued_us, audits, app_cred_id,
         trust_id) = msgpack.unpackb(data, raw=False)
    except (ValueError, TypeError, msgpack.UnpackException) as exc:
        raise MalformedToken(str(exc)) from exc
    if version != VERSION:
        raise MalformedToken(f"unknown token version {version}")
    return TokenPayload(
        user_id=_unpack_id(user_id),  # type: ignore[arg-type]
        methods=[m for i, m in enumerate(METHODS) if methods & (1 << i)],
        scope_type=scope_type, scope_id=_unpack_id(scope_id),
        expires_at=_from_us(expires_us), issued_at=_from_us(issued_us),
        audit_ids=[_unpack_audit(a) for a in audits],
        app_cred_id=_unpack_id(app_cred_id), trust_id=_unpack_id(trust_id),
    )


def isotime(value: dt.datetime | None, *, subsecond: bool = True) -> str | None:
    """Keystone's timestamp format: 2026-11-21T10:00:00.000000Z."""
    if value is None:
        return None
    if subsecond:
        return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")
