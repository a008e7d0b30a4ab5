"""Object Storage plugged into the cloud (see monostack.services).

Two catalog entries share one app: the Swift API ("object-store", at
/object-store/v1/AUTH_<project_id>) and the S3 API ("s3", path-style buckets at
/s3).  `prepare` makes the default rings of a new all-in-one and the
ResellerAdmin role; `start` runs this host's storage servers (account,
container, object, with their replicator, auditor and updaters) and the
object expirer.  The proxy (and the storage servers' own updates to each
other) call the servers of this process directly, without the loopback
network ([object] local_dispatch; see proxy/local.py).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from monostack.services import CatalogEntry, ServicePlugin

if TYPE_CHECKING:
    from monostack.cloud import Cloud

LOG = logging.getLogger(__name__)

SWIFT = CatalogEntry(type="object-store", name="swift", path="/object-store", description="Object Storage",
                     url_suffix="/v1/AUTH_$(project_id)s")
# The trailing slash: clients join bucket names to the endpoint, and the bare mount path is not routed.
S3 = CatalogEntry(type="s3", name="s3", path="/s3", description="S3-compatible Object Storage", url_suffix="/")


class ObjectStoragePlugin(ServicePlugin):
    name = "object"
    catalog = (SWIFT, S3)

    def __init__(self) -> None:
        self.proxy: Any = None
        self.node: Any = None
        self.expirer: Any = None
        self._asgi: Any = None

    def prepare(self, cloud: "Cloud") -> None:
        import monostack.object.options  # noqa: F401  (registers [object])
        from monostack.object.ring import ensure_default_rings

        ensure_default_rings(cloud.conf)
        self._ensure_reseller_role(cloud)

    @staticmethod
    def _ensure_reseller_role(cloud: "Cloud") -> None:
        """Swift's account quotas are set by the reseller admin role: make it exist (as devstack does)."""
        identity = cloud.identity
        if identity is None:
            return
        name = cloud.conf.object.reseller_admin_role
        with identity.db.reader() as session:
            if identity.assignments.role_by_name(session, name) is not None:
                return
        identity.assignments.create_role({"name": name})

    def app(self, cloud: "Cloud") -> Any:
        if self._asgi is not None:  # one app for both catalog entries
            return self._asgi
        from monostack.object.middleware.pipeline import build
        from monostack.object.proxy.asgi import ObjectStorageASGI
        from monostack.object.proxy.server import ProxyApp, Rings

        self.proxy = ProxyApp(cloud.conf, Rings(cloud.conf.object.rings_dir))
        pipeline = build(self.proxy, cloud.conf, cloud.validator, cloud.identity)
        self._asgi = ObjectStorageASGI(pipeline, s3_paths=(S3.path,), client_timeout=cloud.conf.object.client_timeout)
        return self._asgi

    async def start(self, cloud: "Cloud") -> None:
        conf = cloud.conf.object
        if conf.storage_servers:
            from monostack.object.storage.node import StorageNode

            self.node = StorageNode(cloud.conf)
            await self.node.start()
            if conf.local_dispatch:
                apps = {(ip, int(port)): self.node.app_for(kind) for kind, ip, port in self.node.addresses()}
                self.node.pool.local.update(apps)  # container and account updates of the servers too
                if self.proxy is not None:
                    self.proxy.pool.local.update(apps)
        if conf.expirer and self.proxy is not None:
            from monostack.object.expirer import Expirer

            self.expirer = Expirer(self.proxy, conf.expirer_interval)
            self.expirer.start()

    async def stop(self, cloud: "Cloud") -> None:
        if self.expirer is not None:
            await self.expirer.stop()
        if self.node is not None:
            await self.node.stop()
        if self.proxy is not None:
            self.proxy.close()
