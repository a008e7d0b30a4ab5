"""The OpenStack documents of the sample server, version by version,
compared field by field with Nova's documented examples."""

from __future__ import annotations

import base64
import datetime
import json

import pytest

from monostack.compute.metadata import Device, Documents
from monostack.compute.metadata.content import (OPENSTACK_VERSIONS, PASSWORD_ENDPOINT, NotFoundPath,
                                                listed_openstack_versions)

from tests.compute.metadata.sample import KEY, PROJECT, USER_DATA, UUID, sample


def get(meta, path: str):
    return Documents(meta).lookup(path)


def get_json(meta, path: str):
    doc = get(meta, path)
    return json.loads(doc.body), doc.content_type


def test_meta_data_json_2018_08_27_like_the_guide() -> None:
    doc, ctype = get_json(sample(), "/openstack/2018-08-27/meta_data.json")
    assert ctype == "application/json"
    assert set(doc) == {"uuid", "meta", "public_keys", "keys", "hostname", "name", "launch_index",
                        "availability_zone", "random_seed", "project_id", "devices"}
    assert doc["uuid"] == UUID
    assert doc["availability_zone"] == "nova"
    assert doc["keys"] == [{"data": KEY, "type": "ssh", "name": "mykey"}]
    assert doc["public_keys"] == {"mykey": KEY}
    assert doc["hostname"] == "test.novalocal"
    assert doc["name"] == "test"
    assert doc["launch_index"] == 0
    assert doc["meta"] == {"priority": "low", "role": "webserver"}
    assert doc["project_id"] == PROJECT
    assert len(base64.b64decode(doc["random_seed"])) == 512
    # The guide's devices, plus vf_trusted that 2018-08-27 added to NICs.
    assert doc["devices"] == [
        {"type": "nic", "bus": "pci", "address": "0000:00:02.0", "mac": "00:11:22:33:44:55",
         "tags": ["trusted"], "vf_trusted": False},
        {"type": "disk", "bus": "ide", "address": "0:0", "serial": "disk-vol-2352423",
         "path": "/dev/sda", "tags": ["baz"]},
    ]


@pytest.mark.parametrize("version, added", [
    ("2012-08-10", set()),
    ("2013-04-04", {"random_seed"}),
    ("2013-10-17", {"random_seed"}),
    ("2015-10-15", {"random_seed", "project_id"}),
    ("2016-06-30", {"random_seed", "project_id", "devices"}),
    ("2017-02-22", {"random_seed", "project_id", "devices"}),
    ("2020-10-14", {"random_seed", "project_id", "devices", "dedicated_cpus"}),
    ("2025-04-04", {"random_seed", "project_id", "devices", "dedicated_cpus"}),
    ("latest", {"random_seed", "project_id", "devices", "dedicated_cpus"}),
])
def test_meta_data_keys_by_version(version: str, added: set[str]) -> None:
    doc, _ = get_json(sample(dedicated_cpus=[3, 1]), f"/openstack/{version}/meta_data.json")
    base = {"uuid", "meta", "public_keys", "keys", "hostname", "name", "launch_index",
            "availability_zone"}
    assert set(doc) == base | added
    if "dedicated_cpus" in added:
        assert doc["dedicated_cpus"] == [1, 3]


def test_meta_data_without_key_metadata_or_domain() -> None:
    doc, _ = get_json(sample(key_name=None, keypairs=[], metadata={}, dhcp_domain=""),
                      "/openstack/latest/meta_data.json")
    assert "public_keys" not in doc and "keys" not in doc and "meta" not in doc
    assert doc["hostname"] == "test"


def test_random_seed_fresh_unless_given() -> None:
    seeds = {get_json(sample(), "/openstack/latest/meta_data.json")[0]["random_seed"] for _ in range(2)}
    assert len(seeds) == 2
    fixed = sample(random_seed=b"\x01" * 512)
    doc, _ = get_json(fixed, "/openstack/latest/meta_data.json")
    assert base64.b64decode(doc["random_seed"]) == b"\x01" * 512


def test_admin_pass_and_files_only_on_the_config_drive() -> None:
    meta = sample(admin_pass="s3cret", files=[("/etc/motd", b"hello")])
    served = json.loads(Documents(meta).lookup("/openstack/latest/meta_data.json").body)
    assert "admin_pass" not in served and "files" not in served
    with pytest.raises(NotFoundPath):
        Documents(meta).lookup("/openstack/content/0000")
    drive = Documents(meta, config_drive=True)
    doc = json.loads(drive.lookup("/openstack/latest/meta_data.json").body)
    assert doc["admin_pass"] == "s3cret"
    assert doc["files"] == [{"path": "/etc/motd", "content_path": "/content/0000"}]
    assert drive.lookup("/openstack/content/0000").body == b"hello"


def test_devices_by_version() -> None:
    devices = [
        Device(type="nic", bus="pci", address="0000:00:03.0", mac="fa:16:3e:00:00:01", vlan=100),
        Device(type="nic", bus="pci", address="0000:00:04.0", mac="fa:16:3e:00:00:02"),
        Device(type="nic", bus="pci", address="0000:00:05.0", mac="fa:16:3e:00:00:03", tags=["a"],
               vf_trusted=True),
        Device(type="disk", bus=None, address="0:1", tags=["db"]),
        Device(type="share", share_id="share-1", tag="data"),
    ]
    meta = sample(devices=devices)

    def devs(version: str):
        return get_json(meta, f"/openstack/{version}/meta_data.json")[0]["devices"]

    # 2016-06-30: tagged NICs and disks only, no vlan
    assert devs("2016-06-30") == [
        {"type": "nic", "mac": "fa:16:3e:00:00:03", "bus": "pci", "address": "0000:00:05.0",
         "tags": ["a"]},
        {"type": "disk", "bus": "none", "address": "none", "tags": ["db"]},
    ]
    # 2017-02-22: a NIC with a VLAN shows, with it
    assert [d.get("vlan") for d in devs("2017-02-22")] == [100, None, None]
    # 2018-08-27: every NIC, with vf_trusted
    rocky = devs("2018-08-27")
    assert [(d["type"], d.get("vf_trusted")) for d in rocky] == [
        ("nic", False), ("nic", False), ("nic", True), ("disk", None)]
    # 2025-04-04: shares
    assert devs("2025-04-04")[-1] == {"type": "share", "share_id": "share-1", "tag": "data",
                                      "bus": "none", "address": "none"}


def test_version_listing() -> None:
    assert get(sample(), "/openstack/2012-08-10").body == b"meta_data.json\nuser_data"
    assert get(sample(), "/openstack/2013-04-04/").body == b"meta_data.json\nuser_data\npassword"
    assert get(sample(user_data=None), "/openstack/latest").body.split(b"\n") == [
        b"meta_data.json", b"password", b"vendor_data.json", b"network_data.json",
        b"vendor_data2.json"]


def test_openstack_version_list_hides_future_versions() -> None:
    assert listed_openstack_versions(datetime.date(2019, 1, 1)) == [
        "2012-08-10", "2013-04-04", "2013-10-17", "2015-10-15", "2016-06-30", "2016-10-06",
        "2017-02-22", "2018-08-27", "latest"]
    listing = get(sample(), "/openstack").body.decode().split("\n")
    assert listing[:8] == OPENSTACK_VERSIONS[:8] and listing[-1] == "latest"
    # a future version is still served when asked for by name
    assert get(sample(), f"/openstack/{OPENSTACK_VERSIONS[-1]}/meta_data.json").body


def test_user_data() -> None:
    doc = get(sample(), "/openstack/latest/user_data")
    assert doc.body == USER_DATA and doc.content_type.startswith("text/plain")
    with pytest.raises(NotFoundPath):
        get(sample(user_data=None), "/openstack/latest/user_data")


def test_vendor_data() -> None:
    meta = sample(dynamic_vendor_data={"ad": {"token": "x"}, "static": {"ignored": True}})
    doc, ctype = get_json(meta, "/openstack/latest/vendor_data.json")
    assert ctype == "application/json"
    assert doc == {"testing": {"value1": 1, "value2": 2, "value3": "three"}}
    doc, _ = get_json(meta, "/openstack/2018-08-27/vendor_data2.json")
    assert doc == {"static": {"testing": {"value1": 1, "value2": 2, "value3": "three"}},
                   "ad": {"token": "x"}}
    assert get_json(sample(vendor_data={}), "/openstack/latest/vendor_data.json")[0] == {}
    # StaticJSON not configured: no vendor_data.json, no "static"
    no_static = sample(vendor_data=None, dynamic_vendor_data={"ad": {}})
    with pytest.raises(NotFoundPath):
        get(no_static, "/openstack/latest/vendor_data.json")
    assert get_json(no_static, "/openstack/latest/vendor_data2.json")[0] == {"ad": {}}
    # versions before the documents existed
    with pytest.raises(NotFoundPath):
        get(meta, "/openstack/2013-04-04/vendor_data.json")
    with pytest.raises(NotFoundPath):
        get(meta, "/openstack/2016-06-30/vendor_data2.json")


def test_network_data_is_served_as_text() -> None:
    doc = get(sample(), "/openstack/latest/network_data.json")
    assert doc.content_type.startswith("text/plain")  # as Nova does
    assert json.loads(doc.body)["networks"][0]["type"] == "ipv4_dhcp"


def test_password_endpoint_and_unknown_paths() -> None:
    assert get(sample(), "/openstack/latest/password") is PASSWORD_ENDPOINT
    for path in ("/openstack/2012-08-10/password", "/openstack/2011-01-01/meta_data.json",
                 "/openstack/latest/nothing", "/openstack/latest/meta_data.json/uuid",
                 "/openstack/content", "/openstack/content/0000"):
        with pytest.raises(NotFoundPath):
            get(sample(), path)


def test_config_drive_file_list() -> None:
    files = dict(Documents(sample(files=[("/etc/motd", b"hi")]), config_drive=True)
                 .config_drive_files())
    expected = {"ec2/2009-04-04/meta-data.json", "ec2/2009-04-04/user-data",
                "ec2/latest/meta-data.json", "ec2/latest/user-data", "openstack/content/0000"}
    for version in OPENSTACK_VERSIONS + ["latest"]:
        expected |= {f"openstack/{version}/meta_data.json", f"openstack/{version}/user_data"}
        if version >= "2013-10-17":
            expected.add(f"openstack/{version}/vendor_data.json")
        if version >= "2015-10-15":
            expected.add(f"openstack/{version}/network_data.json")
        if version >= "2016-10-06":
            expected.add(f"openstack/{version}/vendor_data2.json")
    assert set(files) == expected
    ec2_md = json.loads(files["ec2/latest/meta-data.json"])
    assert ec2_md["public-keys"] == {"0": {"openssh-key": KEY}}  # no "_name" on the drive
    assert ec2_md["local-ipv4"] == "10.0.0.5"
    assert ec2_md["ami-launch-index"] == 0
    assert files["ec2/latest/user-data"] == USER_DATA
    bare = dict(Documents(sample(user_data=None, vendor_data=None), config_drive=True)
                .config_drive_files())
    assert not [p for p in bare if "user" in p or p.endswith("/vendor_data.json")]
    assert json.loads(bare["openstack/latest/vendor_data2.json"]) == {}
