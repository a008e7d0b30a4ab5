"""A server row as the metadata service sees it (compute/metadata_source.py)."""

from __future__ import annotations

from monostack.compute.metadata.ec2 import block_device_mapping
from monostack.compute.metadata_source import instance_metadata
from tests.compute.api.harness import server_row


def test_the_flavors_ephemeral_and_swap_disks_are_in_ec2s_block_device_mapping() -> None:
    plain = server_row(root_device_name="/dev/vda")
    assert block_device_mapping(instance_metadata(plain)) == {"ami": "vda", "root": "/dev/vda"}
    both = server_row(root_device_name="/dev/vda", flavor=dict(plain.flavor, ephemeral=1, swap=256))
    assert block_device_mapping(instance_metadata(both)) == {
        "ami": "vda", "root": "/dev/vda", "ephemeral0": "/dev/vdb", "swap": "/dev/vdc"}
    swap_only = server_row(root_device_name="/dev/vda", flavor=dict(plain.flavor, swap=256))
    assert block_device_mapping(instance_metadata(swap_only)) == {"ami": "vda", "root": "/dev/vda",
                                                                   "swap": "/dev/vdb"}
