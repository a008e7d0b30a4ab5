"""The config drive: build real images with genisoimage (and mkfs.vfat +
mcopy), read them back with isoinfo / mtools, check label and contents."""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess

import pytest

from monostack.compute.metadata import ConfigDriveError, build_config_drive
from monostack.compute.metadata.content import OPENSTACK_VERSIONS

from tests.compute.metadata.sample import KEY, USER_DATA, UUID, sample

needs_iso = pytest.mark.skipif(not (shutil.which("genisoimage") and shutil.which("isoinfo")),
                               reason="genisoimage/isoinfo missing: scripts/install-system-packages.sh")
needs_vfat = pytest.mark.skipif(not (shutil.which("mkfs.vfat") and shutil.which("mtype")),
                                reason="dosfstools/mtools missing")


def isoinfo(*args: str) -> bytes:
    return subprocess.run(["isoinfo", *args], check=True, capture_output=True).stdout


@needs_iso
async def test_iso9660_drive(tmp_path: pathlib.Path) -> None:
    target = tmp_path / "disk.config"
    meta = sample(admin_pass="p4ss", files=[("/etc/motd", b"welcome\n")])
    await build_config_drive(meta, target)
    assert target.stat().st_mode & 0o777 == 0o644
    info = isoinfo("-d", "-i", str(target)).decode()
    assert "Volume id: config-2" in info
    assert "Joliet" in info and "Rock Ridge" in info

    def read(path: str) -> bytes:
        return isoinfo("-J", "-i", str(target), "-x", path)

    md = json.loads(read("/openstack/latest/meta_data.json"))
    assert md["uuid"] == UUID and md["public_keys"] == {"mykey": KEY}
    assert md["admin_pass"] == "p4ss"
    assert md["files"] == [{"path": "/etc/motd", "content_path": "/content/0000"}]
    assert read("/openstack/content/0000") == b"welcome\n"
    assert read("/openstack/latest/user_data") == USER_DATA
    assert json.loads(read("/openstack/latest/network_data.json"))["links"][0]["id"] == "tapcd9f6d46-4a"
    assert json.loads(read("/openstack/2013-10-17/vendor_data.json")) == meta.vendor_data
    assert json.loads(read("/openstack/2016-10-06/vendor_data2.json")) == {"static": meta.vendor_data}
    ec2 = json.loads(read("/ec2/latest/meta-data.json"))
    assert ec2["instance-id"] == "i-0000002a" and ec2["public-keys"]["0"]["openssh-key"] == KEY
    assert read("/ec2/2009-04-04/user-data") == USER_DATA

    # The Rock Ridge names (what a Linux guest sees) match the Joliet ones.
    listing = isoinfo("-R", "-f", "-i", str(target)).decode().split()
    assert "/openstack/latest/meta_data.json" in listing
    assert "/ec2/2009-04-04/meta-data.json" in listing
    dirs = {p.split("/")[2] for p in listing if p.startswith("/openstack/") and p.count("/") >= 3}
    assert dirs == set(OPENSTACK_VERSIONS) | {"latest", "content"}
    assert {p.split("/")[2] for p in listing if p.startswith("/ec2/")} == {"2009-04-04", "latest"}
    # nothing left beside the drive
    assert sorted(os.listdir(tmp_path)) == ["disk.config"]


@needs_iso
async def test_rebuild_replaces_and_cleans_leftovers(tmp_path: pathlib.Path) -> None:
    target = tmp_path / "disk.config"
    target.write_bytes(b"old")
    stale = tmp_path / ".disk.config.building-crashed"
    (stale / "tree").mkdir(parents=True)
    await build_config_drive(sample(user_data=b"second"), target)
    assert sorted(os.listdir(tmp_path)) == ["disk.config"]
    assert isoinfo("-J", "-i", str(target), "-x", "/openstack/latest/user_data") == b"second"


async def test_failures_leave_nothing(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "disk.config"
    with pytest.raises(ConfigDriveError, match="unknown config drive format"):
        await build_config_drive(sample(), target, fmt="qcow2")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(ConfigDriveError, match="genisoimage not found"):
        await build_config_drive(sample(), target)
    assert os.listdir(tmp_path) == []


@needs_vfat
async def test_vfat_drive(tmp_path: pathlib.Path) -> None:
    target = tmp_path / "disk.config"
    await build_config_drive(sample(), target, fmt="vfat")
    assert target.stat().st_size == 64 * 1024 * 1024
    env = dict(os.environ, MTOOLS_SKIP_CHECK="1")
    label = subprocess.run(["blkid", "-o", "value", "-s", "LABEL", str(target)],
                           capture_output=True, text=True).stdout.strip()
    assert label == "config-2"
    out = subprocess.run(["mtype", "-i", str(target), "::/openstack/latest/meta_data.json"],
                         check=True, capture_output=True, env=env).stdout
    assert json.loads(out)["uuid"] == UUID
    out = subprocess.run(["mtype", "-i", str(target), "::/openstack/latest/user_data"],
                         check=True, capture_output=True, env=env).stdout
    assert out == USER_DATA
    assert sorted(os.listdir(tmp_path)) == ["disk.config"]
