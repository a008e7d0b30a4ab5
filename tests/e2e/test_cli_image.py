"""The real `openstack image ...` CLI against a cloud running the Image service: create with
--file, list with filters, show, set properties and tags, save and compare checksums, share
with another project and accept, deactivate/reactivate, delete."""

from __future__ import annotations

import hashlib
import os
import uuid
from typing import Iterator

import httpx
import pytest

from tests.conftest import RunningCloud
from tests.e2e.test_cli_identity import osc, osc_script
from tests.image.cloud import image_cloud


@pytest.fixture(scope="module")
def cloud_with_image(tmp_path_factory: pytest.TempPathFactory, db_backend: str) -> Iterator[RunningCloud]:
    yield from image_cloud(tmp_path_factory, db_backend)


def test_image_lifecycle_with_the_cli(cloud_with_image, tmp_path):
    cloud = cloud_with_image
    data = os.urandom(3 * 1024 * 1024 + 5)
    source, saved = tmp_path / "disk.raw", tmp_path / "saved.raw"
    source.write_bytes(data)
    name = f"e2e-cli-image-{uuid.uuid4().hex[:8]}"
    created, listed, shown = osc_script(
        cloud,
        ["image", "create", name, "--file", str(source), "--disk-format", "raw", "--container-format", "bare",
         "--shared", "--property", "purpose=e2e", "--tag", "first", "-f", "json"],
        ["image", "list", "--property", "purpose=e2e", "--status", "active", "-f", "json"],
        ["image", "show", name, "-f", "json"]).ok()
    image_id = created["id"]
    assert created["status"] == "active" and created["size"] == len(data)
    assert created["checksum"] == hashlib.md5(data).hexdigest()
    assert {"id": image_id, "name": name, "status": "active"} in listed
    assert shown["properties"]["purpose"] == "e2e" and shown["properties"]["os_hash_algo"] == "sha512"
    assert shown["properties"]["os_hash_value"] == hashlib.sha512(data).hexdigest()

    osc_script(cloud,
               ["image", "set", name, "--property", "color=blue", "--tag", "second"],
               ["image", "save", name, "--file", str(saved)]).ok()
    assert hashlib.md5(saved.read_bytes()).hexdigest() == created["checksum"]
    updated = osc(cloud, "image", "show", name, "-f", "json").json()
    assert updated["properties"]["color"] == "blue" and sorted(updated["tags"]) == ["first", "second"]

    # Share with the demo project; demo accepts and then lists it.
    member, = osc_script(cloud, ["image", "add", "project", name, "demo", "-f", "json"]).ok()
    assert member["status"] == "pending"
    demo_before = osc(cloud, "image", "list", "-f", "json", os_cloud="monostack").json()
    assert image_id not in {i["id"] for i in demo_before}
    (demo_after,) = osc_script(cloud, ["image", "set", "--accept", image_id], ["image", "list", "-f", "json"],
                                 os_cloud="monostack").ok()
    assert image_id in {i["id"] for i in demo_after}
    members = osc(cloud, "image", "member", "list", name, "-f", "json").json()
    assert [m["status"] for m in members] == ["accepted"]

    # Deactivated: the demo project may not download it; reactivated, it may.
    (deactivated,) = osc_script(cloud, ["image", "set", "--deactivate", name],
                                ["image", "show", name, "-f", "json"]).ok()
    assert deactivated["status"] == "deactivated"
    demo_token = cloud.token("monostack")
    url = f"{cloud.url}/image/v2/images/{image_id}/file"
    assert httpx.get(url, headers={"X-Auth-Token": demo_token}).status_code == 403
    (reactivated,) = osc_script(cloud, ["image", "set", "--activate", name],
                                ["image", "show", name, "-f", "json"]).ok()
    assert reactivated["status"] == "active"
    demo_saved = tmp_path / "demo.raw"
    osc(cloud, "image", "save", image_id, "--file", str(demo_saved), os_cloud="monostack").ok()
    assert demo_saved.read_bytes() == data

    osc(cloud, "image", "delete", name).ok()
    remaining = osc(cloud, "image", "list", "-f", "json").json()
    assert image_id not in {i["id"] for i in remaining}
    assert not list((cloud.data_dir / "images").glob(f"{image_id}*"))
