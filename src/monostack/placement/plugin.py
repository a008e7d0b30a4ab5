"""The Placement service plugged into the cloud (see monostack.services)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from monostack.services import CatalogEntry, ServicePlugin

if TYPE_CHECKING:
    from monostack.cloud import Cloud
    from monostack.placement.service import PlacementService


class PlacementPlugin(ServicePlugin):
    name = "placement"
    catalog = (CatalogEntry(type="placement", name="placement", path="/placement", description="Placement Service"),)

    def __init__(self) -> None:
        self.service: "PlacementService | None" = None

    def prepare(self, cloud: "Cloud") -> None:
        """Migrations, the standard resource classes and traits, usage sums checked."""
        from monostack.common.migrate import upgrade
        from monostack.placement.service import PlacementService

        db = cloud.database("placement")
        upgrade(db, "placement")
        self.service = PlacementService(cloud.conf, db)
        self.service.prepare()

    def app(self, cloud: "Cloud") -> Any:
        from monostack.placement import api

        assert self.service is not None
        _app, asgi = api.build(self.service, cloud.validator, max_body_size=cloud.conf.default.max_request_body_size,
                               identity_uri=cloud.auth_url)
        return asgi
