"""The guest's password endpoint (/openstack/<version>/password), as Nova's
nova/api/metadata/password.py.

A guest agent (cloudbase-init, cloud-init's password modules) generates an
administrator password, encrypts it with the server's public key and POSTs
it here, once: a second POST is refused with 409 until an operator clears it
(DELETE /servers/{id}/os-server-password in the compute API). GET returns it
(empty when none); the owner reads it with GET
/servers/{id}/os-server-password and decrypts it with the private key.

Nova keeps it in four system-metadata items of 255 characters
(password_0..password_3); `split_password` / `join_password` convert, for a
compute service that stores it the same way.
"""

from __future__ import annotations

CHUNKS = 4
CHUNK_LENGTH = 255
MAX_SIZE = CHUNKS * CHUNK_LENGTH
CONFLICT = "There was a conflict when trying to complete your request."


class PasswordError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def split_password(password: str | None) -> dict[str, str]:
    """password_0..password_3 system-metadata items ("" clears)."""
    password = password or ""
    items = {}
    for i in range(CHUNKS):
        items[f"password_{i}"] = password[:CHUNK_LENGTH]
        password = password[CHUNK_LENGTH:]
    return items


def join_password(system_metadata: dict[str, str]) -> str | None:
    """The stored password from system-metadata items, None when unset."""
    result = "".join(system_metadata[key] for key in sorted(system_metadata)
                     if key.startswith("password_"))
    return result or None


def check_post(current: str | None, body: bytes) -> str:
    """The password a POST stores, or PasswordError (409: already set,
    400: too large or not UTF-8)."""
    if current:
        raise PasswordError(409, CONFLICT)
    if len(body) > MAX_SIZE:
        raise PasswordError(400, "Request is too large.")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise PasswordError(400, "The password must be UTF-8 text.") from None
