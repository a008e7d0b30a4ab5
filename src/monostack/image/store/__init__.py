"""Where image data lives: one interface, one backend per kind of store.

A store writes data it is fed chunk by chunk (`Writer`: write, then commit or
abort -- an aborted or crashed write leaves nothing behind), reads it back in
chunks, and deletes it.  Locations are URLs the store understands
(`file:///...`, `swift+config://<store id>/<container>/<object>`).

A cloud runs several stores at once as Glance's multi-store does:
`[image] enabled_backends` = "<id>:<type>,..." (types `file` and `swift`),
`default_backend` the one uploads go to when the request names none.  The
filesystem store under `store_dir` also stages data for imports, whatever the
backends (Glance's `os_glance_staging_store`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator, Protocol

if TYPE_CHECKING:
    from monostack.common.config import Config

TYPES = ("file", "swift")


class Writer(Protocol):
    def write(self, data: bytes) -> None: ...

    def commit(self) -> str:
        """Make the data durable and visible; returns its location."""

    def abort(self) -> None: ...


class Store(Protocol):
    id: str
    description: str
    kind: str  # "file", "swift"
    local: bool  # the data is a local file (`path` works)

    def writer(self, key: str, *, staging: bool = False, size: int | None = None) -> Writer:
        """`size`, when known beforehand, lets a store pick how to write (one object or segments)."""

    def open(self, location: str, offset: int = 0, length: int | None = None,
             chunk_size: int = 1 << 20) -> Iterator[bytes]: ...

    def delete(self, location: str) -> None: ...

    def owns(self, location: str) -> bool:
        """Whether the location is one of this store's."""

    def path(self, location: str) -> str:
        """A local file holding the data (for qemu-img and import); only when `local`."""

    def cleanup_temporary(self) -> int:
        """Remove leftovers of interrupted writes; returns how many."""


def parse_backends(conf: "Config") -> list[tuple[str, str]]:
    """`enabled_backends` as (id, type) pairs, checked (ValueError on a bad configuration)."""
    backends: list[tuple[str, str]] = []
    for item in conf.image.enabled_backends:
        store_id, sep, kind = item.partition(":")
        store_id, kind = store_id.strip(), kind.strip()
        if not sep or not store_id or kind not in TYPES:
            raise ValueError(f"[image] enabled_backends: {item!r} is not <id>:<type> with a type of {TYPES}")
        if store_id.startswith("os_glance_") or any(store_id == known for known, _ in backends):
            raise ValueError(f"[image] enabled_backends: store id {store_id!r} is reserved or repeated")
        backends.append((store_id, kind))
    if not backends:
        raise ValueError("[image] enabled_backends names no store")
    default = conf.image.default_backend or backends[0][0]
    if default not in {store_id for store_id, _ in backends}:
        raise ValueError(f"[image] default_backend {default!r} is not in enabled_backends")
    return backends


def load_stores(conf: "Config", *, identity_url: str = "", password: str = "") -> dict[str, Store]:
    """The enabled stores by id, in the configured order.  `identity_url` and `password` are the
    cloud's own Identity and service password, used by a swift store whose options name none."""
    from monostack.image.store.filesystem import FilesystemStore

    image = conf.image
    stores: dict[str, Store] = {}
    files = 0
    for store_id, kind in parse_backends(conf):
        if kind == "file":
            # The first filesystem store is store_dir itself (where images always were); any other
            # one gets a directory of its own inside it.
            root = image.store_dir if not files else f"{image.store_dir}/{store_id}"
            files += 1
            stores[store_id] = FilesystemStore(root, fsync=image.fsync, store_id=store_id)
            continue
        from monostack.image.store.swift import MiB, SwiftSession, SwiftStore

        auth_url = image.swift_store_auth_address or identity_url
        key = image.swift_store_key or password
        if not auth_url or not key:
            raise ValueError(f"store {store_id}: [image] swift_store_auth_address and swift_store_key are needed "
                             f"outside the all-in-one cloud")
        session = SwiftSession(auth_url, username=image.swift_store_user, password=key,
                               project_name=image.swift_store_project, region=image.swift_store_region or conf.default.region or None,
                               endpoint_override=image.swift_store_endpoint,
                               interface=image.swift_store_endpoint_type.removesuffix("URL"))
        stores[store_id] = SwiftStore(
            store_id, session, container=image.swift_store_container,
            multiple_containers_seed=image.swift_store_multiple_containers_seed,
            large_object_size=image.swift_store_large_object_size * MiB,
            large_object_chunk_size=image.swift_store_large_object_chunk_size * MiB,
            create_container_on_put=image.swift_store_create_container_on_put)
    return stores
