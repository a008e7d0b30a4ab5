"""A test double of the compute service's MetadataSource: servers kept in a dict."""

from __future__ import annotations

import dataclasses

from monostack.compute.metadata import InstanceMetadata


class MemorySource:
    """A test double of the compute service's MetadataSource: servers in a dict."""

    def __init__(self, *metas: InstanceMetadata) -> None:
        self.metas = {m.uuid: m for m in metas}
        self.calls: list[tuple[str, str]] = []
        self.fail = False

    async def by_instance_id(self, uuid: str) -> InstanceMetadata | None:
        self.calls.append(("id", uuid))
        if self.fail:
            raise RuntimeError("database is down")
        return self.metas.get(uuid)

    async def by_address(self, address: str) -> InstanceMetadata | None:
        self.calls.append(("address", address))
        for meta in self.metas.values():
            for iface in meta.network_info:
                if any(ip.address == address for s in iface.subnets for ip in s.ips):
                    return meta
        return None

    async def set_password(self, uuid: str, password: str) -> bool:
        meta = self.metas[uuid]
        if meta.password:
            return False
        self.metas[uuid] = dataclasses.replace(meta, password=password)
        return True
