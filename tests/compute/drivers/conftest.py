"""Fixtures of the driver tests: the guest image, config drives, a QMP client of our own.

Every QEMU a test starts lives under a tmp state directory; teardown kills
every QEMU whose command line names that directory (tests.compute.conftest
.kill_guests), whatever the test did, so none outlives the run.
"""

from __future__ import annotations

import asyncio
import json
import os
import pathlib
import shutil
import subprocess
import tempfile
import time
from typing import Any

import pytest

REPO = pathlib.Path(__file__).resolve().parents[3]
QEMU = "qemu-system-x86_64"
MARK = "MONOSTACK-GUEST: "


def tools_present() -> bool:
    return all(shutil.which(t) for t in (QEMU, "qemu-img", "mkfs.ext4", "mkswap", "grub-mkimage", "genisoimage",
                                         "mkfs.vfat", "mcopy")) \
        and pathlib.Path("/usr/lib/grub/i386-pc/boot.img").exists()


@pytest.fixture(scope="session")
def guest_image() -> pathlib.Path:
    """The Monostack guest image (built once, cached: MONOSTACK_GUEST_CACHE or ~/.cache/monostack/guest)."""
    if not tools_present():
        if os.geteuid() != 0:
            pytest.skip("guest build tools missing: run scripts/install-guest-build-deps.sh")
        subprocess.run([str(REPO / "scripts/install-guest-build-deps.sh")], check=True)
    from monostack.image.guest import default_cache_dir, ensure_guest_image
    return ensure_guest_image(default_cache_dir())


@pytest.fixture(scope="session")
def ssh_key(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    key = tmp_path_factory.mktemp("ssh") / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "test@monostack", "-f", str(key)],
                   check=True)
    return key


def config_drive(target: pathlib.Path, *, uuid: str, hostname: str, key: pathlib.Path) -> pathlib.Path:
    """An ISO9660 config drive (label config-2) with the OpenStack meta_data.json the guest reads."""
    tree = pathlib.Path(tempfile.mkdtemp(prefix="config-drive-"))
    latest = tree / "openstack" / "latest"
    latest.mkdir(parents=True)
    pub = key.with_suffix(".pub").read_text()
    (latest / "meta_data.json").write_text(json.dumps({
        "uuid": uuid, "name": hostname, "hostname": hostname, "availability_zone": "nova", "launch_index": 0,
        "public_keys": {"testkey": pub}, "keys": [{"name": "testkey", "type": "ssh", "data": pub}]}))
    try:
        subprocess.run(["genisoimage", "-quiet", "-o", str(target), "-V", "config-2", "-J", "-R", str(tree)],
                       check=True)
    finally:
        shutil.rmtree(tree)
    return target


def ssh(port: int, key: pathlib.Path, command: str, user: str = "root") -> str:
    out = subprocess.run(
        ["ssh", "-i", str(key), "-p", str(port), "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
         "-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=20", "-o", "LogLevel=ERROR",
         f"{user}@127.0.0.1", command], capture_output=True, text=True, timeout=90)
    assert out.returncode == 0, (out.returncode, out.stdout, out.stderr)
    return out.stdout


async def qmp(instance_dir: pathlib.Path, command: str, arguments: dict[str, Any] | None = None) -> Any:
    """One QMP command, through the qemu.qmp library directly (not the driver's code)."""
    from qemu.qmp import QMPClient

    from monostack.compute.drivers import unixsock
    client = QMPClient("test")
    await client.connect(await unixsock.connect(instance_dir / "qmp.sock"))
    try:
        return await client.execute(command, arguments)
    finally:
        await client.disconnect()


async def wait_console(driver: Any, uuid: str, needle: str, *, count: int = 1, timeout: float = 150) -> str:
    """Wait until the console log shows needle `count` times; returns the log."""
    end = time.monotonic() + timeout
    text = ""
    while time.monotonic() < end:
        text = await driver.console_output(uuid)
        if text.count(needle) >= count:
            return text
        await asyncio.sleep(0.5)
    raise AssertionError(f"{needle!r} x{count} not on the console after {timeout}s:\n{text[-3000:]}")


def qemu_pids(marker: str) -> list[int]:
    """Live QEMU processes whose command line contains marker."""
    from monostack.compute.drivers import process
    found = []
    for entry in pathlib.Path("/proc").iterdir():
        if entry.name.isdigit():
            argv = process.cmdline(int(entry.name))
            if argv and "qemu-system" in argv[0] and any(marker in a for a in argv) \
                    and process.alive(int(entry.name)):
                found.append(int(entry.name))
    return found
