"""A multiattach volume in two running guests at once, through the real CLI: a volume of a type
with multiattach="<is> True" is a raw file both guests' QEMUs open shared (share-rw); what guest
A writes, guest B reads (O_DIRECT, so B's page cache cannot answer); detaching it from A leaves
it working in B and in-use; detaching it from B makes it available.  Compute API 2.60 is needed
to attach it (400 with 2.59), and a volume that is not multiattach is refused on a second server
(400).  SSH
reaches the guests through QEMU's user-mode port forward (no Networking here)."""

from __future__ import annotations

import concurrent.futures
import pathlib
import time
import uuid
from typing import Any, Iterator

import pytest

from tests.conftest import RunningCloud
from tests.guests import boot, cli, guest_cloud, register_key, run, wait_guest

pytestmark = pytest.mark.qemu
NEW = ("--os-compute-api-version", "2.60")


@pytest.fixture(scope="module")
def ma_cloud(tmp_path_factory: pytest.TempPathFactory, db_backend: str) -> Iterator[RunningCloud]:
    yield from guest_cloud(tmp_path_factory, db_backend, "multiattach")


@pytest.fixture(scope="module")
def key(ma_cloud: RunningCloud, tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    return register_key(ma_cloud, tmp_path_factory)


def wait_volume(cloud: RunningCloud, name: str, status: str, attachments: int, timeout: float = 120
                ) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        shown = cli(cloud, "volume", "show", name, "-f", "json")
        if shown["status"] == status and len(shown["attachments"]) == attachments:
            return shown
        assert not shown["status"].startswith("error"), shown
        assert time.monotonic() < deadline, f"volume {name}: {shown['status']}, {shown['attachments']}"
        time.sleep(1)


def boot_two(cloud: RunningCloud, key: pathlib.Path, names: tuple[str, str]) -> list[str]:
    """Both servers at once: two `server create --wait` side by side."""
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        return [server_id for server_id, _ in pool.map(lambda name: boot(cloud, key, name), names)]


# The first sector, read past the guest's page cache: what the other guest wrote is on the device.
READ = "dd if=/dev/vdb bs=512 count=1 iflag=direct 2>/dev/null | tr -d '\\0'"


def write(text: str) -> str:
    # Only into the device node: /sys/block/vdb shows up a moment before /dev/vdb does, and dd
    # into a missing node would write a plain file in /dev (run() retries while this fails).
    return f"test -b /dev/vdb && echo {text} | dd of=/dev/vdb bs=512 count=1 conv=sync 2>/dev/null && sync"


def test_two_guests_share_a_multiattach_volume(ma_cloud: RunningCloud, key: pathlib.Path) -> None:
    c = ma_cloud
    cli(c, "volume", "type", "create", "--property", "multiattach=<is> True", "multiattach")
    shared_id = cli(c, "volume", "create", "--type", "multiattach", "--size", "1", "shared", "-f", "json")["id"]
    cli(c, "volume", "create", "--size", "1", "single")
    a, b = boot_two(c, key, ("ma-a", "ma-b"))
    shown = wait_volume(c, "shared", "available", 0)
    assert shown["multiattach"] is True
    files = list((c.data_dir / "volume").rglob(f"volume-{shared_id}.*"))
    assert [f.suffix for f in files] == [".raw"], files  # guests can share a raw file, never a qcow2 one

    # (the CLI's own default negotiates the newest microversion, so the old one is asked for)
    old = cli(c, "--os-compute-api-version", "2.59", "server", "add", "volume", "ma-a", "shared", check=False)
    assert old.returncode != 0
    assert "Multiattach volumes are only supported starting with compute API version 2.60" in old.stderr
    for server in ("ma-a", "ma-b"):
        cli(c, *NEW, "server", "add", "volume", server, "shared")
    shown = wait_volume(c, "shared", "in-use", 2)
    assert {x["server_id"] for x in shown["attachments"]} == {a, b}

    text = f"multiattach-{uuid.uuid4().hex[:8]}"
    wait_guest(c, (a, key), "ls /sys/block", "vdb")
    run(c, (a, key), write(text))
    assert text in wait_guest(c, (b, key), READ, text, timeout=60)

    # A volume that is not multiattach stays with one server: Nova's 400, never a 500.
    cli(c, "server", "add", "volume", "ma-a", "single")
    wait_volume(c, "single", "in-use", 1)
    refused = cli(c, *NEW, "server", "add", "volume", "ma-b", "single", check=False)
    assert refused.returncode != 0 and "BadRequestException: 400" in refused.stderr, refused.stderr
    assert "is already attached to instances" in refused.stderr
    assert wait_volume(c, "single", "in-use", 1)["attachments"][0]["server_id"] == a

    # Detached from A: B keeps the disk, its data and the use of it; the volume stays in-use.
    cli(c, "server", "remove", "volume", "ma-a", "shared")
    shown = wait_volume(c, "shared", "in-use", 1)
    assert shown["attachments"][0]["server_id"] == b
    assert text in run(c, (b, key), READ)
    run(c, (b, key), write(f"{text}-b"))
    assert f"{text}-b" in run(c, (b, key), READ)

    cli(c, "server", "remove", "volume", "ma-b", "shared")
    wait_volume(c, "shared", "available", 0)
    deadline = time.monotonic() + 30
    while "vdb" in run(c, (b, key), "ls /sys/block"):
        assert time.monotonic() < deadline, "guest B kept the detached disk"
        time.sleep(1)
    cli(c, "server", "delete", "--wait", "ma-a", "ma-b")
    wait_volume(c, "single", "available", 0)
