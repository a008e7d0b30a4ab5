"""The fake volume driver keeps the file driver's contract, instantly, and survives a restart."""

from __future__ import annotations

import os
import pathlib
import time

import pytest

from monostack.volume.drivers.base import VolumeDriverError
from monostack.volume.drivers.fake import FakeVolumeDriver
from tests.volume.drivers.conftest import GiB, make_conf


def driver(tmp_path: pathlib.Path) -> FakeVolumeDriver:
    return FakeVolumeDriver(make_conf(tmp_path, fake_total_gb=1000), tmp_path / "volumes" / "fake")


async def test_contract(tmp_path: pathlib.Path) -> None:
    drv = driver(tmp_path)
    await drv.init_host()
    await drv.create_volume("v1", 10)
    await drv.create_volume("v1", 10)
    with pytest.raises(VolumeDriverError):
        await drv.create_volume("v1", 11)
    with pytest.raises(VolumeDriverError):
        await drv.create_volume("v0", 0)
    await drv.create_snapshot("s1", "v1")
    await drv.create_volume_from_snapshot("v2", 20, "s1", "v1")
    with pytest.raises(VolumeDriverError):
        await drv.create_volume_from_snapshot("v3", 5, "s1", "v1")
    await drv.create_cloned_volume("v3", 10, "v1")
    with pytest.raises(VolumeDriverError):
        await drv.create_cloned_volume("v4", 10, "missing")
    await drv.extend_volume("v1", 15)
    assert await drv.volume_size("v1") == 15 * GiB
    with pytest.raises(VolumeDriverError):
        await drv.extend_volume("v1", 5)
    image = tmp_path / "img"
    image.write_bytes(b"x")
    await drv.create_volume_from_image("v4", 1, image, "raw")
    cap = await drv.capacity()
    assert cap.provisioned_gb == 15 + 20 + 10 + 1 and cap.free_gb == 1000 - 46
    conn = await drv.initialize_connection("v1", {})
    assert conn["data"]["device_path"] == str(drv.volume_path("v1")) and pathlib.Path(conn["data"]["device_path"]).exists()
    # an in-use snapshot: (fake) Compute writes the target, the driver adopts it
    drv.snapshot_target("s2").write_bytes(b"copy")
    await drv.snapshot_created_by_guest("s2", "v1")
    with pytest.raises(VolumeDriverError):
        await drv.snapshot_created_by_guest("s3", "v1")
    target = tmp_path / "upload.raw"
    await drv.copy_volume_to_image("v4", target, "raw")
    assert target.stat().st_size == GiB
    # a restarted service sees the same
    again = driver(tmp_path)
    await again.init_host()
    assert await again.list_volumes() == {"v1", "v2", "v3", "v4"} and await again.list_snapshots() == {"s1", "s2"}
    await again.delete_snapshot("s1", "v1")  # snapshots in any order, volumes from them unaffected
    await again.delete_volume("v1")
    await again.delete_volume("v1")
    assert await again.volume_size("v2") == 20 * GiB
    drv.fail["delete_volume"] = "boom"
    with pytest.raises(VolumeDriverError, match="boom"):
        await drv.delete_volume("v2")
    for vid in ("v2", "v3", "v4"):
        await again.delete_volume(vid)
    await again.delete_snapshot("s2", "v1")
    assert os.listdir(again.state_dir) == []


async def test_it_is_instant_at_scale(tmp_path: pathlib.Path) -> None:
    drv = driver(tmp_path)
    await drv.init_host()
    start = time.monotonic()
    for i in range(200):
        await drv.create_volume(f"v{i}", 1000)
    assert time.monotonic() - start < 10
    assert len(await drv.list_volumes()) == 200


async def test_with_the_fake_compute_driver(tmp_path: pathlib.Path) -> None:
    """The fake pair: an in-use snapshot and an online extend go through fake Compute as through QEMU."""
    from monostack.compute.drivers.base import Disk, DriverError, GuestSpec
    from monostack.compute.drivers.fake import FakeDriver

    vols = driver(tmp_path)
    await vols.init_host()
    await vols.create_volume("v1", 1)
    compute = FakeDriver(tmp_path / "compute")
    await compute.spawn(GuestSpec(uuid="g1", name="instance-00000001", vcpus=1, memory_mb=64, root_gb=1))
    conn = await vols.initialize_connection("v1", {})
    await compute.attach_disk("g1", Disk(volume_id="v1", path=pathlib.Path(conn["data"]["device_path"]),
                                         format=conn["data"]["format"]))
    await compute.snapshot_disk("g1", "v1", vols.snapshot_target("s1"))
    await vols.snapshot_created_by_guest("s1", "v1")
    assert await vols.list_snapshots() == {"s1"}
    await compute.extend_disk("g1", "v1", 2 * GiB)
    with pytest.raises(DriverError):
        await compute.extend_disk("g1", "v1", GiB)
    with pytest.raises(DriverError):
        await compute.snapshot_disk("g1", "other", vols.snapshot_target("s2"))
    assert ("snapshot_disk", "g1") in compute.calls and ("extend_disk", "g1") in compute.calls
