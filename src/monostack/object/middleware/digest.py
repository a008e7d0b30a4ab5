"""Signatures of TempURLs and FormPost forms: HMAC with the account's or the
container's Temp-URL keys, hex (the length tells the digest) or
"<digest>:<base64>"."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from typing import Any

DIGESTS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha512": hashlib.sha512}
ACCOUNT_SCOPE = "account"
CONTAINER_SCOPE = "container"


def extract_digest_and_algorithm(value: str) -> tuple[str, str]:
    """('sha256', '<hex signature>'); ValueError when the signature cannot be read."""
    if ":" in value:
        algorithm, encoded = value.split(":", 1)
        if ("-" in encoded or "_" in encoded) and not ("+" in encoded or "/" in encoded):
            encoded = encoded.replace("-", "+").replace("_", "/")
        padded = encoded + "=" * (-len(encoded) % 4)
        try:
            raw = base64.b64decode(padded, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("invalid base64 signature") from None
        return algorithm, binascii.hexlify(raw).decode("ascii")
    try:
        binascii.unhexlify(value)
    except (binascii.Error, ValueError):
        raise ValueError("Non-hexadecimal digest") from None
    algorithm = {40: "sha1", 64: "sha256", 128: "sha512"}.get(len(value))
    if algorithm is None:
        raise ValueError("Bad digest length")
    return algorithm, value.lower()


def get_hmac(method: str, path: str, expires: Any, key: str, digest: str = "sha1",
             ip_range: str | None = None) -> str:
    parts = [method, str(expires), path]
    if ip_range:
        parts.insert(0, f"ip={ip_range}")
    message = "\n".join(parts).encode("utf-8")
    return hmac.new(key.encode("utf-8"), message, DIGESTS[digest]).hexdigest()


def keys_from_meta(meta: dict[str, str]) -> list[str]:
    return [value for key, value in meta.items() if key.lower() in ("temp-url-key", "temp-url-key-2") and value]


async def scoped_keys(proxy: Any, req: Any, account: str, container: str) -> list[tuple[str, str]]:
    """The Temp-URL keys that may sign for this container: the account's and the container's own."""
    account_info = await proxy.account_info(account, req)
    container_info = await proxy.container_info(account, container, req)
    return ([(k, ACCOUNT_SCOPE) for k in keys_from_meta(account_info.get("meta", {}))]
            + [(k, CONTAINER_SCOPE) for k in keys_from_meta(container_info.get("meta", {}))])


def const_eq(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))
