"""Password and secret hashing: bcrypt, Keystone's default, at Keystone's default cost (12).

bcrypt reads at most 72 bytes; longer passwords are cut there, as Keystone
does.  Both calls are CPU-bound (about 0.2 s each at cost 12) and release the
GIL: run them in worker threads, never on the event loop.
"""

from __future__ import annotations

import bcrypt

BCRYPT_MAX_BYTES = 72


def _bytes(password: str) -> bytes:
    return password.encode("utf-8")[:BCRYPT_MAX_BYTES]


def hash_password(password: str, rounds: int = 12) -> str:
    return bcrypt.hashpw(_bytes(password), bcrypt.gensalt(rounds)).decode("ascii")


def check_password(password: str, hashed: str | None) -> bool:
    if not hashed or password is None:
        return False
    try:
        return bcrypt.checkpw(_bytes(password), hashed.encode("ascii"))
    except ValueError:
        return False
