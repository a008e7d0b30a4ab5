"""The compute service's side of the metadata service and the config drive:
a server row (and its key, network info) turned into the InstanceMetadata
that monostack.compute.metadata renders."""

from __future__ import annotations

import asyncio
import base64
import pathlib
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from monostack.compute import models
from monostack.compute.metadata.configdrive import build_config_drive
from monostack.compute.metadata.instance import FixedIP, InstanceMetadata, Interface, Keypair, Subnet
from monostack.compute.service.servers import device_prefix, disk_bus, flavor_disk_names

if TYPE_CHECKING:
    from monostack.compute.service import ComputeService


def interfaces(network_info: list[dict[str, Any]] | None) -> list[Interface]:
    result = []
    for vif in network_info or []:
        subnets = [Subnet(cidr=s["cidr"], gateway=s.get("gateway"), dns_nameservers=list(s.get("dns") or []),
                          enable_dhcp=s.get("dhcp", True), dhcp_server=s.get("dhcp_server"),
                          ips=[FixedIP(address=ip["address"],
                                       floating_ips=[f["address"] for f in ip.get("floating_ips", [])])
                               for ip in s.get("ips", [])])
                   for s in vif["network"].get("subnets", [])]
        result.append(Interface(port_id=vif["id"], mac_address=vif["address"], network_id=vif["network"]["id"],
                                subnets=subnets, mtu=vif.get("mtu"), vif_type=vif.get("vif_type", "bridge"),
                                devname=vif.get("devname")))
    return result


def instance_metadata(row: models.Instance) -> InstanceMetadata:
    user_data = base64.b64decode(row.user_data) if row.user_data else None
    flavor = row.flavor or {}
    # EC2's ephemeral0 and swap: the flavor's own disks, named on the image's bus
    names = iter(flavor_disk_names(flavor, device_prefix(disk_bus(row.image_meta))))
    ephemeral = next(names) if flavor.get("ephemeral") else None
    swap = next(names) if flavor.get("swap") else None
    keypairs = [Keypair(name=row.key_name, public_key=row.key_data)] if row.key_name and row.key_data else []
    return InstanceMetadata(
        uuid=row.uuid, ec2_id=row.id, hostname=row.hostname or "server", name=row.display_name or "",
        project_id=row.project_id, availability_zone=row.availability_zone, launch_index=row.launch_index or 0,
        reservation_id=row.reservation_id or "", key_name=row.key_name, keypairs=keypairs, user_data=user_data,
        metadata={m.key: m.value for m in row.metadata_items}, image_id=row.image_ref or None,
        flavor_name=flavor.get("name", ""), security_groups=list(row.security_groups or []),
        root_device_name=row.root_device_name, default_ephemeral_device=ephemeral, default_swap_device=swap,
        network_info=interfaces(row.network_info),
        password=row.guest_password,
        files=[(path, base64.b64decode(contents)) for path, contents in row.injected_files or []])


class MetadataSource:
    """What the metadata API asks the compute service."""

    def __init__(self, svc: "ComputeService"):
        self.svc = svc

    async def by_instance_id(self, uuid: str) -> InstanceMetadata | None:
        row = await asyncio.to_thread(self.svc.servers.by_uuid, uuid)
        return instance_metadata(row) if row is not None and not row.deleted else None

    async def by_address(self, address: str) -> InstanceMetadata | None:
        def find() -> models.Instance | None:
            with self.svc.db.reader() as session:
                for row in session.scalars(sa.select(models.Instance).where(models.Instance.deleted.is_(False))):
                    for vif in row.network_info or []:
                        for subnet in vif["network"].get("subnets", []):
                            if any(ip["address"] == address for ip in subnet.get("ips", [])):
                                return row
            return None
        row = await asyncio.to_thread(find)
        return instance_metadata(row) if row is not None else None

    async def set_password(self, uuid: str, password: str) -> bool:
        def store() -> bool:
            with self.svc.db.writer() as session:
                row = session.scalar(sa.select(models.Instance).where(models.Instance.uuid == uuid))
                if row is None or (row.guest_password and password):
                    return False
                row.guest_password = password or None
                return True
        return await asyncio.to_thread(store)


class ConfigDriveBuilder:
    """The agent's config drive maker (the same documents the metadata API serves)."""

    def __init__(self, svc: "ComputeService"):
        self.svc = svc

    async def build_config_drive(self, row: models.Instance, target: pathlib.Path) -> None:
        await asyncio.to_thread(target.parent.mkdir, parents=True, exist_ok=True)
        await build_config_drive(instance_metadata(row), target)
