"""The services a cloud process can run, and the seam each one plugs in through.

Identity is built in (everything else authenticates through it).  Every other
service is a `ServicePlugin` named in `[DEFAULT] services`, imported only when
it runs (start-up time), and given the `Cloud` for what it shares: the
configuration, databases, the bus, the Identity service layer and token
validator, the public URL.

Order of calls: `prepare` (blocking, in a worker thread: migrations, stores,
bootstrap), `app` (its ASGI app, mounted at each catalog entry's path),
`start` (background work on the event loop), and at shutdown `stop`.
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from starlette.types import ASGIApp

    from monostack.cloud import Cloud


@dataclasses.dataclass(frozen=True)
class CatalogEntry:
    type: str
    name: str
    path: str  # appended to the public URL, e.g. "/image"
    description: str = ""
    # Appended to the endpoint URL in the catalog (e.g. "/v3/$(project_id)s"); empty for most.
    url_suffix: str = ""


class ServicePlugin:
    name = ""
    catalog: tuple[CatalogEntry, ...] = ()

    def prepare(self, cloud: "Cloud") -> None:
        """Blocking set-up before the API serves: migrations, stores, bootstrap."""

    def app(self, cloud: "Cloud") -> "ASGIApp":
        raise NotImplementedError

    async def start(self, cloud: "Cloud") -> None:
        """Background work (periodic tasks, bus servers) once the API is up."""

    async def stop(self, cloud: "Cloud") -> None:
        """Graceful stop of what start began."""


# name -> "module:attribute" of its ServicePlugin; imported only when run.
REGISTRY: dict[str, str] = {
    "image": "monostack.image.plugin:ImagePlugin",
    "placement": "monostack.placement.plugin:PlacementPlugin",
    "compute": "monostack.compute.plugin:ComputePlugin",
    "object": "monostack.object.plugin:ObjectStoragePlugin",
    "network": "monostack.network.plugin:NetworkPlugin",
    "volume": "monostack.volume.plugin:VolumePlugin",
}

# The order services prepare and start in (and stop in reverse), whatever order the
# configuration names them in: Compute's agent starts after Block Storage's managers, since its
# start-up reconcile finishes or undoes volume attaches a restart interrupted.
START_ORDER = ("image", "placement", "volume", "compute", "network", "object")


def load(name: str) -> ServicePlugin:
    if name not in REGISTRY:
        raise ValueError(f"unknown service {name!r}; known: identity, {', '.join(sorted(REGISTRY))}")
    module, _, attribute = REGISTRY[name].partition(":")
    plugin: Any = getattr(importlib.import_module(module), attribute)
    return plugin()
