"""The EC2-compatible tree: listings and values, compared with Nova's guide
(doc/source/user/metadata.rst, "EC2-compatible metadata")."""

from __future__ import annotations

import pytest

from monostack.compute.metadata import BlockDevice, Documents
from monostack.compute.metadata.content import NotFoundPath
from monostack.compute.metadata.ec2 import block_device_mapping

from tests.compute.metadata.sample import KEY, USER_DATA, sample


def text(meta, path: str, address: str | None = None) -> str:
    doc = Documents(meta, address=address).lookup(path)
    assert doc.content_type.startswith("text/plain")
    return doc.body.decode()


def test_version_list() -> None:
    versions = ["1.0", "2007-01-19", "2007-03-01", "2007-08-29", "2007-10-10", "2007-12-15",
                "2008-02-01", "2008-09-01", "2009-04-04", "latest"]
    assert text(sample(), "/").split("\n") == versions
    assert text(sample(), "/ec2").split("\n") == versions


def test_meta_data_listing_like_the_guide() -> None:
    assert text(sample(), "/2009-04-04/meta-data/").split("\n") == [
        "ami-id", "ami-launch-index", "ami-manifest-path", "block-device-mapping/", "hostname",
        "instance-action", "instance-id", "instance-type", "kernel-id", "local-hostname",
        "local-ipv4", "placement/", "public-hostname", "public-ipv4", "public-keys/", "ramdisk-id",
        "reservation-id", "security-groups"]
    assert text(sample(), "/latest/meta-data") == text(sample(), "/2009-04-04/meta-data/")
    assert text(sample(), "/ec2/latest/meta-data/") == text(sample(), "/latest/meta-data/")


def test_version_directory() -> None:
    assert text(sample(), "/latest/") == "meta-data/\nuser-data"
    assert text(sample(user_data=None), "/2009-04-04") == "meta-data/"
    assert text(sample(), "/latest/user-data") == USER_DATA.decode()


def test_values() -> None:
    meta = sample()
    values = {name: text(meta, f"/latest/meta-data/{name}") for name in (
        "ami-id", "ami-launch-index", "ami-manifest-path", "hostname", "instance-action",
        "instance-id", "instance-type", "kernel-id", "local-hostname", "local-ipv4",
        "public-hostname", "public-ipv4", "ramdisk-id", "reservation-id", "security-groups")}
    assert values == {
        "ami-id": "ami-00000001", "ami-launch-index": "0", "ami-manifest-path": "FIXME",
        "hostname": "test.novalocal", "instance-action": "none", "instance-id": "i-0000002a",
        "instance-type": "m1.tiny", "kernel-id": "aki-00000002",
        "local-hostname": "test.novalocal", "local-ipv4": "10.0.0.5",
        "public-hostname": "test.novalocal", "public-ipv4": "172.24.4.10",
        "ramdisk-id": "ari-00000003", "reservation-id": "r-3gs1ml5c",
        "security-groups": "default\nweb"}
    assert text(meta, "/latest/meta-data/placement/") == "availability-zone"
    assert text(meta, "/latest/meta-data/placement/availability-zone") == "nova"


def test_public_keys() -> None:
    assert text(sample(), "/2009-04-04/meta-data/public-keys/") == "0=mykey"
    assert text(sample(), "/2009-04-04/meta-data/public-keys/0/") == "openssh-key"
    assert text(sample(), "/2009-04-04/meta-data/public-keys/0/openssh-key") == KEY
    assert "public-keys/" not in text(sample(key_name=None, keypairs=[]), "/latest/meta-data/")


def test_block_device_mapping() -> None:
    assert text(sample(), "/latest/meta-data/block-device-mapping/").split("\n") == [
        "ami", "ebs0", "ebs1", "ephemeral0", "root", "swap"]
    assert block_device_mapping(sample()) == {
        "ami": "vda", "root": "/dev/vda", "ebs0": "/dev/vdb", "ebs1": "/dev/vdc",
        "swap": "/dev/vdd", "ephemeral0": "/dev/vde"}
    assert text(sample(), "/latest/meta-data/block-device-mapping/ebs0") == "/dev/vdb"
    # no root device name: Nova's fixed defaults
    assert block_device_mapping(sample(root_device_name=None)) == {
        "ami": "sda1", "ephemeral0": "sda2", "root": "/dev/sda1", "swap": "sda3"}
    # flavor disks named by the server record
    meta = sample(block_device_mappings=[BlockDevice("/dev/vda", "image", "local")],
                  default_ephemeral_device="/dev/vdb", default_swap_device="/dev/vdc")
    assert block_device_mapping(meta) == {"ami": "vda", "root": "/dev/vda",
                                          "ephemeral0": "/dev/vdb", "swap": "/dev/vdc"}


def test_older_versions_lack_newer_items() -> None:
    assert text(sample(), "/1.0/meta-data/").split("\n") == [
        "ami-id", "ami-launch-index", "ami-manifest-path", "hostname", "instance-id", "local-ipv4",
        "public-keys/", "reservation-id", "security-groups"]
    listing = text(sample(), "/2007-12-15/meta-data/").split("\n")
    assert "block-device-mapping/" in listing and "instance-type" in listing
    assert "placement/" not in listing and "instance-action" not in listing
    assert "placement/" in text(sample(), "/2008-02-01/meta-data/").split("\n")


def test_addresses_fallbacks() -> None:
    meta = sample(network_info=[])
    assert text(meta, "/latest/meta-data/local-ipv4", address="10.9.8.7") == "10.9.8.7"
    assert text(meta, "/latest/meta-data/public-ipv4") == ""


def test_boot_from_volume_and_no_kernel() -> None:
    meta = sample(image_id=None, kernel_id=None, ramdisk_id=None)
    assert text(meta, "/latest/meta-data/ami-id") == "None"  # Nova prints the missing id so
    listing = text(meta, "/latest/meta-data/").split("\n")
    assert "kernel-id" not in listing and "ramdisk-id" not in listing
    derived = sample(image_ec2_id=None)
    assert text(derived, "/latest/meta-data/ami-id") == "ami-6a3e6b1b"


@pytest.mark.parametrize("path", [
    "/2010-01-01/meta-data/", "/latest/meta-data/nothing", "/latest/meta-data/hostname/x",
    "/latest/meta-data/security-groups/default", "/latest/meta-data/public-keys/1",
])
def test_unknown_paths(path: str) -> None:
    with pytest.raises(NotFoundPath):
        Documents(sample()).lookup(path)


def test_no_user_data() -> None:
    with pytest.raises(NotFoundPath):
        Documents(sample(user_data=None)).lookup("/latest/user-data")
