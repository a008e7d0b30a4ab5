"""`monostack up` registers the project's guest images: public qcow2, twice, once."""

import time

import httpx
import pytest

from tests.conftest import start_cloud, stop_cloud

pytestmark = pytest.mark.qemu  # builds the guest image (Debian packages, qemu-img)


def guest_images(cloud, token):
    response = httpx.get(f"{cloud.url}/image/v2/images", params={"os_distro": "monostack-guest"},
                         headers={"X-Auth-Token": token}, timeout=30)
    response.raise_for_status()
    return response.json()["images"]


def wait_for_guest_images(cloud, token, timeout=300):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        images = guest_images(cloud, token)
        if len(images) == 2 and all(i["status"] == "active" for i in images):
            return images
        time.sleep(1)
    raise AssertionError(f"guest images not registered: {guest_images(cloud, token)}")


def test_up_registers_the_guest_images_once(tmp_path):
    cloud = start_cloud(tmp_path / "cloud", guest_images=True)
    try:
        images = wait_for_guest_images(cloud, cloud.token("monostack"))  # a member sees them: public
        assert sorted(i["name"] for i in images) == ["monostack-guest", "monostack-guest-alt"]
        for image in images:
            assert image["visibility"] == "public" and image["disk_format"] == "qcow2"
            assert image["container_format"] == "bare" and image["virtual_size"] >= 64 * 1024 * 1024
            assert image["checksum"] and image["os_hash_algo"] == "sha512"
        first_ids = {i["id"] for i in images}
    finally:
        stop_cloud(cloud)
    cloud = start_cloud(tmp_path / "cloud", guest_images=True)
    try:
        time.sleep(2)  # registration of the restart, if it wrongly happened, would have begun
        assert {i["id"] for i in wait_for_guest_images(cloud, cloud.token())} == first_ids
    finally:
        stop_cloud(cloud)
