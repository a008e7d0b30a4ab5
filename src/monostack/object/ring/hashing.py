"""Where a name lands: Swift's hash of "/account/container/object" with a secret prefix and suffix.

The prefix and suffix must be the same on every host and never change once data is stored (every
name would move).  They are kept beside the rings (`hash_path.json`), which an operator copies to
every host together with the rings, so a `Ring` loaded from a directory always hashes as the
servers that wrote the data did.  `[object] hash_path_prefix/suffix` set them when the ring
directory is first made; empty, a random suffix is generated then.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import pathlib
import secrets

HASH_PATH_FILE = "hash_path.json"


@dataclasses.dataclass(frozen=True)
class HashPath:
    prefix: bytes = b""
    suffix: bytes = b""

    def digest(self, account: str | bytes, container: str | bytes | None = None,
               obj: str | bytes | None = None) -> bytes:
        """The raw md5 of the name (Swift's hash_path(raw_digest=True))."""
        if obj and not container:
            raise ValueError("container is required if object is provided")
        parts = [_bytes(account)]
        if container:
            parts.append(_bytes(container))
            if obj:
                parts.append(_bytes(obj))
        return hashlib.md5(self.prefix + b"/" + b"/".join(parts) + self.suffix, usedforsecurity=False).digest()

    def hexdigest(self, account: str | bytes, container: str | bytes | None = None,
                  obj: str | bytes | None = None) -> str:
        return self.digest(account, container, obj).hex()


def _bytes(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode("utf-8")


def load(rings_dir: str | os.PathLike) -> HashPath:
    """The hash settings kept in a ring directory (none kept: no prefix, no suffix)."""
    path = pathlib.Path(rings_dir) / HASH_PATH_FILE
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return HashPath()
    return HashPath(data.get("prefix", "").encode("latin-1"), data.get("suffix", "").encode("latin-1"))


def ensure(rings_dir: str | os.PathLike, prefix: str = "", suffix: str = "") -> HashPath:
    """Keep the configured prefix/suffix (or, none configured, a new random suffix) in the ring
    directory the first time; afterwards refuse a configuration that differs from what is kept."""
    directory = pathlib.Path(rings_dir)
    path = directory / HASH_PATH_FILE
    if path.exists():
        kept = load(directory)
        configured = HashPath(prefix.encode("latin-1"), suffix.encode("latin-1"))
        if (prefix or suffix) and configured != kept:
            raise ValueError(f"[object] hash_path_prefix/suffix differ from the ones the stored data was placed "
                             f"with ({path}); changing them would lose every object")
        return kept
    if not prefix and not suffix:
        suffix = secrets.token_hex(16)
    directory.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"prefix": prefix, "suffix": suffix}))
    os.replace(tmp, path)
    return HashPath(prefix.encode("latin-1"), suffix.encode("latin-1"))
