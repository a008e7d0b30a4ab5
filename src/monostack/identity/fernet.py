"""Fernet key repositories (tokens, credentials), laid out as Keystone does.

A directory of key files named by integers: `0` is the staged key (next to
become primary, already accepted for decryption so that every host can be
given it before it is used), the highest number is the primary key (encrypts),
and the others are secondary keys (decrypt only, until rotated out).
Rotation promotes the staged key to primary, stages a new key and drops the
oldest secondaries beyond `max_active_keys`.

Other processes (a split deployment, or `monostack identity rotate-keys` run
beside a live cloud) may rotate: the repository re-reads the directory when its
modification time changes, checked at most once a second.
"""

from __future__ import annotations

import os
import pathlib
import threading
import time

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

__all__ = ["KeyRepository", "InvalidToken"]


class KeyRepository:
    def __init__(self, path: str | os.PathLike, max_active_keys: int = 3):
        self.path = pathlib.Path(path)
        self.max_active_keys = max(max_active_keys, 2)
        self._lock = threading.Lock()
        self._fernet: MultiFernet | None = None
        self._loaded_mtime = -1.0
        self._checked_at = 0.0

    # -- setup and rotation -------------------------------------------------
    def _key_numbers(self) -> list[int]:
        if not self.path.is_dir():
            return []
        return sorted(int(p.name) for p in self.path.iterdir() if p.name.isdigit())

    def _write_key(self, number: int) -> None:
        tmp = self.path / f".{number}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(Fernet.generate_key())
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path / str(number))

    def setup(self) -> bool:
        """Create the repository with a staged and a primary key if it is empty."""
        self.path.mkdir(parents=True, exist_ok=True, mode=0o700)
        if self._key_numbers():
            return False
        self._write_key(0)
        self.rotate()
        return True

    def rotate(self) -> int:
        """Promote the staged key, stage a new one, purge old keys; returns the new primary."""
        with self._lock:
            numbers = self._key_numbers()
            if 0 not in numbers:
                self._write_key(0)
                numbers = self._key_numbers()
            new_primary = max(numbers) + 1
            os.replace(self.path / "0", self.path / str(new_primary))
            self._write_key(0)
            numbers = self._key_numbers()
            # Keep the staged key, the primary and the newest secondaries.
            secondaries = sorted(n for n in numbers if n not in (0, new_primary))
            excess = len(secondaries) - (self.max_active_keys - 2)
            for number in secondaries[:max(excess, 0)]:
                (self.path / str(number)).unlink()
            self._loaded_mtime = -1.0
            return new_primary

    # -- use --------------------------------------------------------------
    def _load(self) -> MultiFernet:
        numbers = self._key_numbers()
        if not numbers:
            raise RuntimeError(f"no Fernet keys in {self.path}; run setup first")
        # Primary first (it encrypts), then the rest newest first, staged key last.
        ordered = sorted((n for n in numbers if n != 0), reverse=True) + ([0] if 0 in numbers else [])
        keys = [Fernet((self.path / str(n)).read_bytes().strip()) for n in ordered]
        return MultiFernet(keys)

    def fernet(self) -> MultiFernet:
        now = time.monotonic()
        if self._fernet is not None and now - self._checked_at < 1.0:
            return self._fernet
        with self._lock:
            self._checked_at = now
            mtime = self.path.stat().st_mtime
            if self._fernet is None or mtime != self._loaded_mtime:
                self._fernet = self._load()
                self._loaded_mtime = mtime
            return self._fernet

    def encrypt(self, data: bytes) -> str:
        # Keystone strips Fernet's base64 padding; it is restored on decrypt.
        return self.fernet().encrypt(data).decode("ascii").rstrip("=")

    def decrypt(self, token: str, ttl: int | None = None) -> bytes:
        padded = token + "=" * (-len(token) % 4)
        return self.fernet().decrypt(padded.encode("ascii"), ttl=ttl)
