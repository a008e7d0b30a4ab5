"""The EC2-compatible meta-data tree (``/<version>/meta-data/...``), as Nova
serves it: the 2009-04-04 layout of Amazon's instance metadata, with the
items older versions lacked left out of those versions."""

from __future__ import annotations

import re
from typing import Any

from monostack.compute.metadata.instance import InstanceMetadata
from monostack.compute.metadata.network import ec2_addresses

VERSIONS = [
    "1.0",
    "2007-01-19",
    "2007-03-01",
    "2007-08-29",
    "2007-10-10",
    "2007-12-15",
    "2008-02-01",
    "2008-09-01",
    "2009-04-04",
]
# Nova's [api] config_drive_skip_versions default: the config drive carries
# only the newest EC2 version (and latest).
CONFIG_DRIVE_SKIP_VERSIONS = VERSIONS[:-1]

# What Nova shows when the server has no root device name.
_DEFAULT_MAPPINGS = {"ami": "sda1", "ephemeral0": "sda2", "root": "/dev/sda1", "swap": "sda3"}

# A listing entry whose text is not "<key>/" (public-keys/ lists "0=keyname").
NAME_KEY = "_name"


class UnknownVersion(KeyError):
    pass


def ec2_id(integer: int, prefix: str = "i") -> str:
    return f"{prefix}-{int(integer):08x}"


def _image_ec2_id(image_id: str | None, integer: int | None, prefix: str) -> str | None:
    if not image_id:
        return None
    if integer is None:
        # No mapping table: the uuid's first 32 bits stand in for its integer.
        integer = int(image_id.replace("-", "")[:8], 16)
    return ec2_id(integer, prefix)


def _strip_dev(name: str) -> str:
    return re.sub(r"^/dev/", "", name)


def block_device_mapping(meta: InstanceMetadata) -> dict[str, str]:
    """EC2's block-device-mapping/: ami, root, ebsN, ephemeralN, swap."""
    if meta.root_device_name is None:
        return dict(_DEFAULT_MAPPINGS)
    mappings = {"ami": _strip_dev(meta.root_device_name), "root": meta.root_device_name}
    if meta.default_ephemeral_device:
        mappings["ephemeral0"] = meta.default_ephemeral_device
    if meta.default_swap_device:
        mappings["swap"] = meta.default_swap_device
    volumes = [bdm.device_name for bdm in meta.block_device_mappings
               if bdm.destination_type == "volume"]
    blanks = [bdm for bdm in meta.block_device_mappings
              if bdm.destination_type != "volume" and bdm.source_type == "blank"]
    # Volumes are numbered by device name (unnamed first), as Nova does.
    for num, device in enumerate(sorted(volumes, key=lambda d: (d is not None, d or ""))):
        mappings[f"ebs{num}"] = device
    swaps = [bdm for bdm in blanks if bdm.guest_format == "swap"]
    if swaps:
        mappings["swap"] = swaps[-1].device_name
    for num, bdm in enumerate(b for b in blanks if b.guest_format != "swap"):
        mappings[f"ephemeral{num}"] = bdm.device_name
    return mappings


def _since(required: str, version: str) -> bool:
    return VERSIONS.index(version) >= VERSIONS.index(required)


def ec2_metadata(meta: InstanceMetadata, version: str, address: str | None = None) -> dict[str, Any]:
    """``{"meta-data": {...}, "user-data": bytes}`` for one EC2 version.

    `address` is where the request came from: local-ipv4 falls back to it
    when the server has no fixed IPv4 address."""
    if version == "latest":
        version = VERSIONS[-1]
    if version not in VERSIONS:
        raise UnknownVersion(version)
    hostname = meta.fqdn
    fixed_v4, _fixed_v6, floating = ec2_addresses(meta.network_info)
    md: dict[str, Any] = {
        "ami-id": _image_ec2_id(meta.image_id, meta.image_ec2_id, "ami"),
        "ami-launch-index": meta.launch_index,
        "ami-manifest-path": "FIXME",  # Nova's literal value
        "instance-id": ec2_id(meta.ec2_id),
        "hostname": hostname,
        "local-ipv4": (fixed_v4[0] if fixed_v4 else "") or address,
        "reservation-id": meta.reservation_id,
        "security-groups": list(meta.security_groups),
    }
    keypair = meta.keypairs[0] if meta.keypairs else None
    if meta.key_name and keypair is not None:
        # public-keys/ lists "0=<name>"; public-keys/0/ lists openssh-key.
        md["public-keys"] = {"0": {NAME_KEY: f"0={meta.key_name}",
                                   "openssh-key": keypair.public_key}}
    if _since("2007-01-19", version):
        md["local-hostname"] = hostname
        md["public-hostname"] = hostname
        md["public-ipv4"] = floating[0] if floating else ""
    if _since("2007-08-29", version):
        md["instance-type"] = meta.flavor_name
    if _since("2007-12-15", version):
        md["block-device-mapping"] = block_device_mapping(meta)
        kernel = _image_ec2_id(meta.kernel_id, meta.kernel_ec2_id, "aki")
        ramdisk = _image_ec2_id(meta.ramdisk_id, meta.ramdisk_ec2_id, "ari")
        if kernel:
            md["kernel-id"] = kernel
        if ramdisk:
            md["ramdisk-id"] = ramdisk
    if _since("2008-02-01", version):
        md["placement"] = {"availability-zone": meta.availability_zone}
    if _since("2008-09-01", version):
        md["instance-action"] = "none"
    data: dict[str, Any] = {"meta-data": md}
    if meta.user_data is not None:
        data["user-data"] = meta.user_data
    return data
