"""Where image data lives: one interface, one backend per kind of store.

A store writes data it is fed chunk by chunk (`Writer`: write, then commit or
abort -- an aborted or crashed write leaves nothing behind), reads it back in
chunks, and deletes it.  Locations are URLs the store understands
(`file:///...`).  The filesystem store is the default; the object-store
backend plugs in here once Object Storage exists.
"""

from __future__ import annotations

from typing import Iterator, Protocol


class Writer(Protocol):
    def write(self, data: bytes) -> None: ...

    def commit(self) -> str:
        """Make the data durable and visible; returns its location."""

    def abort(self) -> None: ...


class Store(Protocol):
    id: str
    description: str

    def writer(self, key: str, *, staging: bool = False) -> Writer: ...

    def open(self, location: str, offset: int = 0, length: int | None = None,
             chunk_size: int = 1 << 20) -> Iterator[bytes]: ...

    def delete(self, location: str) -> None: ...

    def path(self, location: str) -> str:
        """A local file holding the data (for qemu-img and import)."""

    def cleanup_temporary(self) -> int:
        """Remove leftovers of interrupted writes; returns how many."""
