"""Personality (files injected at create and rebuild, Nova up to 2.56), with the fake driver.

The files reach the guest on its config drive: this cloud has no Networking
service, so every server has one, and it is read back here with isoinfo (the
guest writing them is in test_guest_lifecycle.py).  Nova's 403s for the
injected-file quotas, 400 for contents that are not base64, and 400 from 2.57.
"""

from __future__ import annotations

import base64
import json
import pathlib
import subprocess

import pytest

from tests.compute.conftest import Nova


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def drive(nova: Nova, server_id: str) -> tuple[dict, dict[str, bytes]]:
    """meta_data.json of the server's config drive, and each injected file's contents by path."""
    iso = pathlib.Path(nova.cloud.data_dir) / "compute" / "instances" / server_id / "disk.config"

    def read(path: str) -> bytes:
        return subprocess.run(["isoinfo", "-J", "-i", str(iso), "-x", path], check=True,
                              capture_output=True).stdout

    meta = json.loads(read("/openstack/latest/meta_data.json"))
    return meta, {f["path"]: read("/openstack" + f["content_path"]) for f in meta.get("files", [])}


def test_files_are_on_the_config_drive_and_a_rebuild_replaces_them(nova: Nova, image_id: str) -> None:
    response = nova.create(image_id, name="personal", personality=[
        {"path": "/etc/motd", "contents": b64(b"hello\n")}, {"path": "etc/relative.txt", "contents": b64(b"x")}])
    assert response.status_code == 202, response.text
    server_id = response.json()["server"]["id"]
    nova.wait(server_id, "ACTIVE")
    meta, files = drive(nova, server_id)
    assert files == {"/etc/motd": b"hello\n", "etc/relative.txt": b"x"}
    assert [f["content_path"] for f in meta["files"]] == ["/content/0000", "/content/0001"]
    response = nova.action(server_id, {"rebuild": {"imageRef": image_id, "personality": [
        {"path": "/rebuilt.txt", "contents": b64(b"after")}]}})
    assert response.status_code == 202, response.text
    nova.wait(server_id, "ACTIVE")
    assert drive(nova, server_id)[1] == {"/rebuilt.txt": b"after"}
    # a rebuild that names none injects none (Nova passes a rebuild's personality only)
    assert nova.action(server_id, {"rebuild": {"imageRef": image_id}}).status_code == 202
    nova.wait(server_id, "ACTIVE")
    meta, files = drive(nova, server_id)
    assert files == {} and "files" not in meta
    assert nova.http.delete(f"/servers/{server_id}").status_code == 204


@pytest.mark.parametrize("personality, status, message", [
    ([{"path": f"/f{i}", "contents": b64(b"x")} for i in range(6)], 403, "Personality file limit exceeded"),
    ([{"path": "/" + "p" * 255, "contents": b64(b"x")}], 403, "Personality file path exceeds maximum 255"),
    ([{"path": "/big", "contents": b64(b"x" * 10241)}], 403, "Personality file content exceeds maximum 10240"),
    ([{"path": "/etc/testfile.txt", "contents": "This is a test file."}], 400,
     "Personality content for /etc/testfile.txt cannot be decoded"),
    ([{"path": "/etc/x"}], 400, "'contents' is a required property"),
])
def test_refused_personality(nova: Nova, image_id: str, personality: list, status: int, message: str) -> None:
    response = nova.create(image_id, name="refused", personality=personality)
    assert response.status_code == status, response.text
    assert message in next(iter(response.json().values()))["message"]
    assert not [s for s in nova.http.get("/servers").json()["servers"] if s["name"] == "refused"]  # none half-made


def test_personality_is_gone_from_2_57(compute_cloud, image_id: str) -> None:
    nova = Nova(compute_cloud, version="2.57")
    files = [{"path": "/etc/motd", "contents": b64(b"x")}]
    response = nova.create(image_id, name="too-new", networks="none", personality=files)
    assert response.status_code == 400, response.text
    assert "Additional properties are not allowed ('personality' was unexpected)" in \
        response.json()["badRequest"]["message"]
    server_id = nova.create(image_id, name="new", networks="none").json()["server"]["id"]
    nova.wait(server_id, "ACTIVE")
    response = nova.action(server_id, {"rebuild": {"imageRef": image_id, "personality": files}})
    assert response.status_code == 400, response.text
    nova.http.delete(f"/servers/{server_id}")
