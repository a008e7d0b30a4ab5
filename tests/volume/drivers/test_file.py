"""FileDriver against real qcow2/raw files: the bytes a guest would see (read with qemu-io) are the
evidence, before and after snapshots, clones, deletes in every order and interrupted operations."""

from __future__ import annotations

import asyncio
import os
import pathlib
import signal
import subprocess
import time
import uuid

import pytest

from monostack.volume.drivers import layout, qemu_img
from monostack.volume.drivers.base import VolumeDriverError
from monostack.volume.drivers.file import FileDriver
from tests.volume.drivers.conftest import GiB, MiB, chain_names, holds, img_info, make_conf, need_tools, write


@pytest.fixture(autouse=True)
def _tools() -> None:
    need_tools()


def driver(tmp_path: pathlib.Path, **opts) -> FileDriver:
    return FileDriver(make_conf(tmp_path, **opts), tmp_path / "volumes" / "file", backend="file")


def uid() -> str:
    return str(uuid.uuid4())


def files(drv: FileDriver) -> set[str]:
    return set(os.listdir(drv.state_dir))


async def test_create_empty_qcow2_and_raw(tmp_path: pathlib.Path) -> None:
    drv = driver(tmp_path)
    await drv.init_host()
    vid = uid()
    await drv.create_volume(vid, 1)
    await drv.create_volume(vid, 1)  # a retry: nothing more
    path = drv.volume_path(vid)
    assert path.name == f"volume-{vid}.qcow2"
    info = img_info(path)
    assert info["format"] == "qcow2" and info["virtual-size"] == GiB and "backing-filename" not in info
    with pytest.raises(VolumeDriverError):
        await drv.create_volume(vid, 2)
    with pytest.raises(VolumeDriverError):
        await drv.create_volume(uid(), 0)
    assert await drv.list_volumes() == {vid}
    assert await drv.volume_size(vid) == GiB
    conn = await drv.initialize_connection(vid, {"host": "h"})
    assert conn == {"driver_volume_type": "file", "data": {"device_path": str(path), "format": "qcow2", "name": vid}}
    cap = await drv.capacity()
    assert cap.total_gb > cap.free_gb > 0 and cap.provisioned_gb == 1.0 and cap.backend.endswith("@file")

    raw = driver(tmp_path, file_volume_format="raw")
    rid = uid()
    await raw.create_volume(rid, 2)
    rpath = raw.volume_path(rid)
    assert rpath.name == f"volume-{rid}.raw" and rpath.stat().st_size == 2 * GiB
    assert rpath.stat().st_blocks == 0  # sparse
    assert (await raw.initialize_connection(rid, {}))["data"]["format"] == "raw"
    await drv.delete_volume(vid)
    await drv.delete_volume(vid)  # idempotent
    await raw.delete_volume(rid)
    assert files(drv) == set()


def make_image(tmp: pathlib.Path, fmt: str = "qcow2") -> pathlib.Path:
    image = tmp / f"image.{fmt}"
    subprocess.run(["qemu-img", "create", "-q", "-f", fmt, str(image), str(64 * MiB)], check=True)
    write(image, 0x11, 0, MiB, fmt=fmt)
    write(image, 0x22, 63 * MiB, MiB, fmt=fmt)
    return image


@pytest.mark.parametrize("volume_format", ["qcow2", "raw"])
@pytest.mark.parametrize("image_format", ["qcow2", "raw"])
async def test_from_image(tmp_path: pathlib.Path, volume_format: str, image_format: str) -> None:
    drv = driver(tmp_path, file_volume_format=volume_format)
    await drv.init_host()
    image = make_image(tmp_path, image_format)
    vid = uid()
    await drv.create_volume_from_image(vid, 1, image, image_format)
    path = drv.volume_path(vid)
    info = img_info(path)
    assert info["format"] == volume_format and info["virtual-size"] == GiB and "backing-filename" not in info
    assert holds(path, 0x11, 0, MiB) and holds(path, 0x22, 63 * MiB, MiB) and holds(path, 0, 64 * MiB, GiB - 64 * MiB)
    assert files(drv) == {path.name}


async def test_from_image_refuses_what_it_must(tmp_path: pathlib.Path) -> None:
    drv = driver(tmp_path)
    await drv.init_host()
    image = make_image(tmp_path)
    sneaky = tmp_path / "sneaky.qcow2"  # an image whose backing file is a host file
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", "/etc/passwd", "-F", "raw", str(sneaky),
                    str(64 * MiB)], check=True)
    with pytest.raises(VolumeDriverError, match="another file"):
        await drv.create_volume_from_image(uid(), 1, sneaky, "qcow2")
    big = tmp_path / "big.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(big), str(2 * GiB)], check=True)
    with pytest.raises(VolumeDriverError, match="larger than the volume"):
        await drv.create_volume_from_image(uid(), 1, big, "qcow2")
    with pytest.raises(VolumeDriverError, match="format"):
        await drv.create_volume_from_image(uid(), 1, image, "iso")
    with pytest.raises(VolumeDriverError):  # a qcow2 declared raw is copied as raw bytes, never parsed: too big here
        await drv.create_volume_from_image(uid(), 1, big, "vmdk")
    assert files(drv) == set()


@pytest.mark.parametrize("volume_format", ["qcow2", "raw"])
async def test_reimage_replaces_the_data_and_keeps_the_snapshots(tmp_path: pathlib.Path, volume_format: str) -> None:
    drv = driver(tmp_path, file_volume_format=volume_format)
    await drv.init_host()
    vol, snap = uid(), uid()
    await drv.create_volume(vol, 1)
    path = drv.volume_path(vol)
    write(path, 0xA1, 0, MiB, fmt=volume_format)
    write(path, 0xA2, 500 * MiB, MiB, fmt=volume_format)
    await drv.create_snapshot(snap, vol)
    await drv.reimage_volume(vol, make_image(tmp_path), "qcow2")
    assert drv.volume_path(vol) == path  # attachments find it where it was
    info = img_info(path)
    assert info["format"] == volume_format and info["virtual-size"] == GiB and "backing-filename" not in info
    assert holds(path, 0x11, 0, MiB, fmt=volume_format) and holds(path, 0x22, 63 * MiB, MiB, fmt=volume_format)
    assert holds(path, 0, 500 * MiB, MiB, fmt=volume_format)  # nothing of the old data
    restored = uid()
    await drv.create_volume_from_snapshot(restored, 1, snap, vol)
    assert holds(drv.volume_path(restored), 0xA1, 0, MiB)  # the snapshot still holds the old data
    big = tmp_path / "big.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(big), str(2 * GiB)], check=True)
    with pytest.raises(VolumeDriverError, match="larger than the volume"):
        await drv.reimage_volume(vol, big, "qcow2")
    with pytest.raises(VolumeDriverError, match="does not exist"):
        await drv.reimage_volume(uid(), big, "qcow2")
    assert holds(path, 0x11, 0, MiB, fmt=volume_format)  # a refused reimage changed nothing
    for vid in (vol, restored):
        await drv.delete_volume(vid)
    await drv.delete_snapshot(snap, vol)
    assert files(drv) == set()


async def test_snapshots_clones_and_deletes_in_any_order(tmp_path: pathlib.Path) -> None:
    drv = driver(tmp_path)
    await drv.init_host()
    vol, snap1, snap2, from1, clone = uid(), uid(), uid(), uid(), uid()
    await drv.create_volume(vol, 1)
    path = drv.volume_path(vol)
    write(path, 0xA1, 0, MiB)
    await drv.create_snapshot(snap1, vol)
    await drv.create_snapshot(snap1, vol)  # a retry: nothing more
    assert drv.volume_path(vol) == path  # the device path never changes
    assert chain_names(path) == [path.name, f"snapshot-{snap1}.qcow2"]
    write(path, 0xB2, 0, MiB)
    await drv.create_snapshot(snap2, vol)
    write(path, 0xC3, 0, MiB)
    await drv.create_volume_from_snapshot(from1, 2, snap1, vol)
    await drv.create_cloned_volume(clone, 1, vol)
    from1_path, clone_path = drv.volume_path(from1), drv.volume_path(clone)
    assert img_info(from1_path)["virtual-size"] == 2 * GiB
    assert chain_names(from1_path) == [from1_path.name, f"snapshot-{snap1}.qcow2"]
    assert holds(from1_path, 0xA1, 0, MiB) and holds(clone_path, 0xC3, 0, MiB) and holds(path, 0xC3, 0, MiB)
    # writes go to each file's own overlay
    write(path, 0xD4, 0, MiB)
    write(clone_path, 0xE5, 0, MiB)
    assert holds(clone_path, 0xE5, 0, MiB) and holds(path, 0xD4, 0, MiB) and holds(from1_path, 0xA1, 0, MiB)
    assert await drv.list_snapshots() == {snap1, snap2}

    # snapshot 1 first: volume `from1` lives on it, so its file stays, tombstoned
    await drv.delete_snapshot(snap1, vol)
    assert await drv.list_snapshots() == {snap2}
    assert (drv.state_dir / f"snapshot-{snap1}.qcow2").exists()
    assert holds(from1_path, 0xA1, 0, MiB)
    with pytest.raises(VolumeDriverError):
        await drv.create_volume_from_snapshot(uid(), 1, snap1, vol)
    # the source volume while its clone and snapshots live
    await drv.delete_volume(vol)
    assert holds(clone_path, 0xE5, 0, MiB) and holds(from1_path, 0xA1, 0, MiB)
    restored = uid()
    await drv.create_volume_from_snapshot(restored, 1, snap2, vol)
    assert holds(drv.volume_path(restored), 0xB2, 0, MiB)
    await drv.delete_snapshot(snap2, vol)
    assert holds(drv.volume_path(restored), 0xB2, 0, MiB)
    await drv.delete_volume(from1)
    # snapshot 1's file stays exactly as long as a chain still goes through it (the clone's does)
    snap1_name = f"snapshot-{snap1}.qcow2"
    assert snap1_name in chain_names(clone_path) and (drv.state_dir / snap1_name).exists()
    assert holds(clone_path, 0xE5, 0, MiB) and holds(drv.volume_path(restored), 0xB2, 0, MiB)
    await drv.delete_volume(restored)
    await drv.delete_volume(clone)
    await drv.delete_snapshot(snap2, vol)  # again: nothing to do
    assert files(drv) == set()


async def test_chains_never_exceed_the_depth_limit(tmp_path: pathlib.Path) -> None:
    drv = driver(tmp_path, file_max_chain_depth=3)
    await drv.init_host()
    vol = uid()
    await drv.create_volume(vol, 1)
    path = drv.volume_path(vol)
    snaps = []
    for i in range(6):
        write(path, 0x10 + i, i * MiB, MiB)
        snaps.append(uid())
        await drv.create_snapshot(snaps[-1], vol)
        assert len(chain_names(path)) <= 3
    for i in range(6):
        assert holds(path, 0x10 + i, i * MiB, MiB)
    # a volume from the deepest snapshot is made standalone; clones stay within the limit too
    deep = uid()
    await drv.create_volume_from_snapshot(deep, 1, snaps[-1], vol)
    assert len(chain_names(drv.volume_path(deep))) <= 3
    clone = uid()
    await drv.create_cloned_volume(clone, 1, deep)
    assert len(chain_names(drv.volume_path(clone))) <= 3
    for i in range(6):
        assert holds(drv.volume_path(deep), 0x10 + i, i * MiB, MiB)
        assert holds(drv.volume_path(clone), 0x10 + i, i * MiB, MiB)
    for sid in snaps[::2][::-1] + snaps[1::2]:  # an odd order
        await drv.delete_snapshot(sid, vol)
    for i in range(6):
        assert holds(path, 0x10 + i, i * MiB, MiB) and holds(drv.volume_path(clone), 0x10 + i, i * MiB, MiB)
    for v in (vol, deep, clone):
        await drv.delete_volume(v)
    assert files(drv) == set()


async def test_extend_and_copy_to_image(tmp_path: pathlib.Path) -> None:
    drv = driver(tmp_path)
    await drv.init_host()
    vol, snap = uid(), uid()
    await drv.create_volume(vol, 1)
    path = drv.volume_path(vol)
    write(path, 0x5A, 0, MiB)
    await drv.create_snapshot(snap, vol)
    write(path, 0x6B, MiB, MiB)
    await drv.extend_volume(vol, 2)
    await drv.extend_volume(vol, 2)  # again
    assert img_info(path)["virtual-size"] == 2 * GiB and await drv.volume_size(vol) == 2 * GiB
    with pytest.raises(VolumeDriverError, match="shrink"):
        await drv.extend_volume(vol, 1)
    for fmt in ("qcow2", "raw"):
        target = tmp_path / f"upload.{fmt}"
        await drv.copy_volume_to_image(vol, target, fmt)
        info = img_info(target, fmt)
        assert info["format"] == fmt and info["virtual-size"] == 2 * GiB and "backing-filename" not in info
        assert holds(target, 0x5A, 0, MiB, fmt=fmt) and holds(target, 0x6B, MiB, MiB, fmt=fmt)
        target.unlink()
    assert not list(tmp_path.glob(".tmp-*"))
    await drv.delete_snapshot(snap, vol)
    await drv.delete_volume(vol)
    assert files(drv) == set()


async def test_raw_backend_copies_instead_of_chains(tmp_path: pathlib.Path) -> None:
    drv = driver(tmp_path, file_volume_format="raw")
    await drv.init_host()
    vol, snap, clone, child = uid(), uid(), uid(), uid()
    await drv.create_volume(vol, 1)
    path = drv.volume_path(vol)
    write(path, 0x31, 0, MiB)
    await drv.create_snapshot(snap, vol)
    write(path, 0x32, 0, MiB)
    await drv.create_cloned_volume(clone, 1, vol)
    await drv.create_volume_from_snapshot(child, 2, snap, vol)
    assert {p.suffix for p in drv.state_dir.iterdir()} == {".raw"}
    assert holds(drv.volume_path(clone), 0x32, 0, MiB) and holds(drv.volume_path(child), 0x31, 0, MiB)
    assert drv.volume_path(child).stat().st_size == 2 * GiB
    await drv.delete_snapshot(snap, vol)
    await drv.delete_volume(vol)
    assert holds(drv.volume_path(clone), 0x32, 0, MiB) and holds(drv.volume_path(child), 0x31, 0, MiB)
    await drv.delete_volume(clone)
    await drv.delete_volume(child)
    assert files(drv) == set()


@pytest.fixture
def holder():
    """A QEMU process (never started CPU) holding a file open for writing, as an attached guest does."""
    procs: list[subprocess.Popen] = []

    def hold(path: pathlib.Path) -> None:
        blockdev = (f'{{"driver":"qcow2","node-name":"v","file":{{"driver":"file","filename":"{path}"}}}}')
        proc = subprocess.Popen(["qemu-system-x86_64", "-nodefaults", "-display", "none", "-S", "-machine", "none",
                                 "-blockdev", blockdev, "-monitor", "none"],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        procs.append(proc)
        for _ in range(100):
            if subprocess.run(["qemu-img", "info", str(path)], capture_output=True).returncode != 0:
                return
            assert proc.poll() is None, proc.stderr.read()
            time.sleep(0.05)
        raise AssertionError("QEMU never locked the file")

    yield hold
    for proc in procs:
        proc.send_signal(signal.SIGKILL)
        proc.wait()


@pytest.mark.qemu
async def test_in_use_volumes(tmp_path: pathlib.Path, holder) -> None:
    drv = driver(tmp_path)
    await drv.init_host()
    vol, snap, clone = uid(), uid(), uid()
    await drv.create_volume(vol, 1)
    path = drv.volume_path(vol)
    write(path, 0x77, 0, MiB)
    holder(path)
    with pytest.raises(VolumeDriverError, match="through Compute"):
        await drv.create_snapshot(snap, vol)
    with pytest.raises(VolumeDriverError, match="through Compute"):
        await drv.extend_volume(vol, 2)
    with pytest.raises(VolumeDriverError, match="open by a guest"):
        await drv.reimage_volume(vol, make_image(tmp_path), "qcow2")
    with pytest.raises(VolumeDriverError):
        await drv.copy_volume_to_image(vol, tmp_path / "up.qcow2", "qcow2")

    def point_in_time_copy(copy_id: str) -> pathlib.Path:
        """What Compute makes of a volume a guest writes (the manager asks it): a standalone qcow2."""
        target = drv.snapshot_target(copy_id)
        subprocess.run(["qemu-img", "convert", "-U", "-f", "qcow2", "-O", "qcow2", str(path), str(target)],
                       check=True)
        return target

    await drv.copy_volume_to_image(vol, tmp_path / "up.raw", "raw", source=point_in_time_copy("upload"))
    assert holds(tmp_path / "up.raw", 0x77, 0, MiB, fmt="raw")
    # a clone of an in-use volume is made of such a copy (taken over, not copied again)
    copy = point_in_time_copy("clone")
    await drv.create_cloned_volume(clone, 2, vol, source=copy)
    assert chain_names(drv.volume_path(clone)) == [drv.volume_path(clone).name] and not copy.exists()
    assert holds(drv.volume_path(clone), 0x77, 0, MiB)
    assert img_info(drv.volume_path(clone))["virtual-size"] == 2 * GiB
    # what Compute does for a snapshot of an in-use volume: a standalone copy at snapshot_target
    target = drv.snapshot_target(snap)
    subprocess.run(["qemu-img", "convert", "-U", "-f", "qcow2", "-O", "qcow2", str(path), str(target)], check=True)
    await drv.snapshot_created_by_guest(snap, vol)
    await drv.snapshot_created_by_guest(snap, vol)  # again
    assert await drv.list_snapshots() == {snap} and not target.exists()
    child = uid()
    await drv.create_volume_from_snapshot(child, 1, snap, vol)
    assert holds(drv.volume_path(child), 0x77, 0, MiB)
    with pytest.raises(VolumeDriverError):
        await drv.snapshot_created_by_guest(uid(), vol)


async def test_a_crash_leaves_no_half_made_volume(tmp_path: pathlib.Path) -> None:
    drv = driver(tmp_path)
    await drv.init_host()
    vol = uid()
    await drv.create_volume(vol, 1)
    path = drv.volume_path(vol)
    write(path, 0x42, 0, MiB)
    # a crash in the middle of an overlay switch: the snapshot's name links the volume's own file
    snap = uid()
    os.link(path, drv.state_dir / f"snapshot-{snap}.qcow2")
    (drv.state_dir / f".tmp-0000-volume-{vol}.qcow2").write_bytes(b"half")
    (drv.state_dir / f".tmp-1111-volume-{uid()}.qcow2").write_bytes(b"half a volume")
    layer = f"layer-{uid()}.qcow2"  # a layer nothing uses any more
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(drv.state_dir / layer), "1M"], check=True)
    restarted = driver(tmp_path)
    await restarted.init_host()
    assert files(restarted) == {path.name}
    assert await restarted.list_snapshots() == set() and await restarted.list_volumes() == {vol}
    assert os.stat(path).st_nlink == 1 and holds(path, 0x42, 0, MiB)
    await restarted.create_snapshot(snap, vol)  # the retried snapshot works
    write(path, 0x43, 0, MiB)
    child = uid()
    await restarted.create_volume_from_snapshot(child, 1, snap, vol)
    assert holds(restarted.volume_path(child), 0x42, 0, MiB)


def test_layout_names() -> None:
    assert layout.parse("volume-abc.qcow2") == layout.Entry("volume", "abc", "qcow2")
    assert layout.parse("snapshot-x.raw") == layout.Entry("snapshot", "x", "raw")
    assert layout.parse(".tmp-1-volume-abc.qcow2") is None
    assert layout.parse("snapshot-x.deleted") is None and layout.parse("volume-.qcow2") is None


async def test_an_upload_keeps_its_chain_while_the_volume_goes(tmp_path: pathlib.Path) -> None:
    import asyncio

    drv = driver(tmp_path)
    await drv.init_host()
    vol, snap = uid(), uid()
    await drv.create_volume(vol, 1)
    write(drv.volume_path(vol), 0x2B, 0, 64 * MiB)
    await drv.create_snapshot(snap, vol)
    write(drv.volume_path(vol), 0x2C, 64 * MiB, MiB)
    target = tmp_path / "upload.raw"
    upload = asyncio.create_task(drv.copy_volume_to_image(vol, target, "raw"))
    await asyncio.sleep(0.05)  # the conversion runs outside the lock
    await drv.delete_snapshot(snap, vol)
    await drv.delete_volume(vol)
    await upload
    assert holds(target, 0x2B, 0, 64 * MiB, fmt="raw") and holds(target, 0x2C, 64 * MiB, MiB, fmt="raw")
    await drv.delete_volume(vol)  # the sweep after the pin is gone
    assert files(drv) == set()


async def test_shareable_volumes_are_raw_files_on_a_qcow2_backend(tmp_path: pathlib.Path) -> None:
    """A multiattach volume is a standalone raw file however it is made (two QEMUs may share
    write access to a raw file, never to a qcow2 one); snapshots of it are raw copies, and volumes
    made from those follow their own flag."""
    drv = driver(tmp_path)
    await drv.init_host()
    image = make_image(tmp_path)
    empty, from_image, plain, snap, from_snap, clone, child = (uid() for _ in range(7))
    await drv.create_volume(empty, 1, shareable=True)
    await drv.create_volume_from_image(from_image, 1, image, "qcow2", shareable=True)
    await drv.create_volume(plain, 1)
    write(drv.volume_path(plain), 0x5A, 0, MiB)
    await drv.create_snapshot(snap, plain)  # the plain volume goes on in an overlay on the snapshot
    await drv.create_volume_from_snapshot(from_snap, 1, snap, plain, shareable=True)
    await drv.create_cloned_volume(clone, 1, plain, shareable=True)
    for vid in (empty, from_image, from_snap, clone):
        path = drv.volume_path(vid)
        assert path.suffix == ".raw" and chain_names(path) == [path.name]
        conn = await drv.initialize_connection(vid, {"host": "h"}, shareable=True)
        assert conn["data"]["format"] == "raw" and conn["data"]["multiattach"] is True
    assert holds(drv.volume_path(from_image), 0x11, 0, MiB)
    assert holds(drv.volume_path(from_snap), 0x5A, 0, MiB) and holds(drv.volume_path(clone), 0x5A, 0, MiB)
    shared_snap = uid()
    await drv.create_snapshot(shared_snap, clone)
    assert drv.volume_path(clone).suffix == ".raw" and (drv.state_dir / f"snapshot-{shared_snap}.raw").exists()
    await drv.create_volume_from_snapshot(child, 1, shared_snap, clone)  # not shareable: a qcow2 overlay
    assert chain_names(drv.volume_path(child)) == [f"volume-{child}.qcow2", f"snapshot-{shared_snap}.raw"]
    assert holds(drv.volume_path(child), 0x5A, 0, MiB)
    for vid in (empty, from_image, plain, from_snap, clone, child):
        await drv.delete_volume(vid)
    await drv.delete_snapshot(snap, plain)
    await drv.delete_snapshot(shared_snap, clone)
    assert files(drv) == set()


async def test_a_qcow2_volume_made_shareable_is_converted_to_raw_at_its_next_connection(
        tmp_path: pathlib.Path) -> None:
    """A volume retyped to multiattach keeps its qcow2 file (and chain) until it is connected
    shareable: then it becomes a standalone raw file with the same bytes, the snapshot under it
    stays, and a crash between publishing the raw file and removing the qcow2 one is finished
    at the next start (the raw file is complete)."""
    drv = driver(tmp_path)
    await drv.init_host()
    vol, snap = uid(), uid()
    await drv.create_volume(vol, 1)
    write(drv.volume_path(vol), 0x61, 0, MiB)
    await drv.create_snapshot(snap, vol)
    write(drv.volume_path(vol), 0x62, MiB, MiB)
    conn = await drv.initialize_connection(vol, {"host": "h"}, shareable=True)
    raw = drv.volume_path(vol)
    assert conn["data"] == {"device_path": str(raw), "format": "raw", "name": vol, "multiattach": True}
    assert raw.suffix == ".raw" and files(drv) == {raw.name, f"snapshot-{snap}.qcow2"}
    assert holds(raw, 0x61, 0, MiB) and holds(raw, 0x62, MiB, MiB) and raw.stat().st_size == GiB
    assert (await drv.initialize_connection(vol, {}))["data"]["format"] == "raw"  # stays raw
    # the crash: the qcow2 file is back beside the raw one
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(drv.state_dir / f"volume-{vol}.qcow2"), "1G"],
                   check=True)
    restarted = driver(tmp_path)
    await restarted.init_host()
    assert restarted.volume_path(vol) == raw and holds(raw, 0x62, MiB, MiB)
    assert files(restarted) == {raw.name, f"snapshot-{snap}.qcow2"}


@pytest.mark.qemu
async def test_guests_sharing_a_raw_volume_count_as_in_use(tmp_path: pathlib.Path) -> None:
    """Two QEMUs write one raw file (virtio-blk share-rw=on, image locks on): the driver sees it in
    use (QEMU's lock on the write permission), so it refuses what needs the file quiet; a shared
    qcow2 volume a guest holds is not converted under it."""
    drv = driver(tmp_path)
    await drv.init_host()
    shared, legacy = uid(), uid()
    await drv.create_volume(shared, 1, shareable=True)
    await drv.create_volume(legacy, 1)
    procs = []

    def guest(path: pathlib.Path, fmt: str) -> None:
        blockdev = f'{{"driver":"{fmt}","node-name":"v","file":{{"driver":"file","filename":"{path}"}}}}'
        proc = subprocess.Popen(["qemu-system-x86_64", "-nodefaults", "-display", "none", "-S", "-machine", "pc",
                                 "-blockdev", blockdev, "-device", '{"driver":"virtio-blk-pci","drive":"v",'
                                 '"share-rw":true}', "-monitor", "none"],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        procs.append(proc)

    try:
        assert not await qemu_img.in_use(drv.volume_path(shared), "raw")
        for _ in range(2):
            guest(drv.volume_path(shared), "raw")
        guest(drv.volume_path(legacy), "qcow2")
        deadline = time.monotonic() + 30
        while not (await qemu_img.in_use(drv.volume_path(shared), "raw")
                   and await qemu_img.in_use(drv.volume_path(legacy), "qcow2")):
            assert all(p.poll() is None for p in procs), [p.stderr.read() for p in procs if p.poll() is not None]
            assert time.monotonic() < deadline, "QEMU never locked the files"
            time.sleep(0.05)
        await asyncio.sleep(0.5)
        assert all(p.poll() is None for p in procs)  # the second guest got write access beside the first
        with pytest.raises(VolumeDriverError, match="through Compute"):
            await drv.extend_volume(shared, 2)
        with pytest.raises(VolumeDriverError, match="cannot be shared"):
            await drv.initialize_connection(legacy, {}, shareable=True)
        assert drv.volume_path(legacy).suffix == ".qcow2"
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
    assert not await qemu_img.in_use(drv.volume_path(shared), "raw")
