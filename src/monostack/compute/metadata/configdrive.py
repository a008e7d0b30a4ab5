"""The config drive: the metadata documents on a disk labelled ``config-2``,
for guests that read it instead of (or before) the metadata service.

Like Nova (nova/virt/configdrive.py), an ISO 9660 image with Joliet and Rock
Ridge made by ``genisoimage`` from a directory tree::

    ec2/2009-04-04/meta-data.json, ec2/2009-04-04/user-data, ec2/latest/...
    openstack/<version>/{meta_data.json,user_data,vendor_data.json,
                         network_data.json,vendor_data2.json}, openstack/latest/...
    openstack/content/0000 ...   (injected files)

or, with ``fmt="vfat"``, a 64 MiB FAT disk (``mkfs.vfat`` + ``mcopy``, no
mounting). The image is made beside the target under a hidden temporary name
and renamed into place, so the target is whole or absent; leftovers of an
interrupted build are removed by the next build of the same target.
"""

from __future__ import annotations

import asyncio
import os
import pathlib
import shutil
import tempfile

from monostack.common import processes
from monostack.compute.metadata.content import Documents
from monostack.compute.metadata.instance import InstanceMetadata

LABEL = "config-2"
VFAT_SIZE_KIB = 64 * 1024  # Nova's CONFIGDRIVESIZE_BYTES
PUBLISHER = "Monostack"


class ConfigDriveError(RuntimeError):
    pass


def _write_tree(meta: InstanceMetadata, root: pathlib.Path) -> None:
    for rel, data in Documents(meta, config_drive=True).config_drive_files():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def _temp_prefix(target: pathlib.Path) -> str:
    return f".{target.name}.building-"


def _remove_leftovers(target: pathlib.Path) -> None:
    for old in target.parent.glob(_temp_prefix(target) + "*"):
        if old.is_dir() and not old.is_symlink():
            shutil.rmtree(old, ignore_errors=True)
        else:
            old.unlink(missing_ok=True)


async def _run(*cmd: str, env: dict[str, str] | None = None) -> None:
    try:
        done = await processes.run(cmd, env=env)
    except FileNotFoundError:
        raise ConfigDriveError(f"{cmd[0]} not found: run scripts/install-system-packages.sh") from None
    if done.returncode != 0:
        text = (done.stderr or done.stdout).decode(errors="replace").strip()[-2000:]
        raise ConfigDriveError(f"{cmd[0]} failed (exit {done.returncode}): {text}")


async def _make_iso9660(tree: pathlib.Path, image: pathlib.Path, publisher: str) -> None:
    # Nova's flags: lowercase, dotted, long names kept in the ISO 9660 names
    # too, Joliet and rationalised Rock Ridge (readable, owned by root).
    await _run("genisoimage", "-o", str(image), "-ldots", "-allow-lowercase", "-allow-multidot",
               "-l", "-publisher", publisher, "-quiet", "-J", "-r", "-V", LABEL, str(tree))


async def _make_vfat(tree: pathlib.Path, image: pathlib.Path) -> None:
    await _run("mkfs.vfat", "-C", "-n", LABEL, str(image), str(VFAT_SIZE_KIB))
    entries = sorted(str(p) for p in tree.iterdir())
    if entries:
        env = dict(os.environ, MTOOLS_SKIP_CHECK="1")
        await _run("mcopy", "-s", "-i", str(image), *entries, "::/", env=env)


async def build_config_drive(meta: InstanceMetadata, target: pathlib.Path, *,
                             fmt: str = "iso9660", publisher: str = PUBLISHER) -> None:
    """Write the config drive of this server to `target` (replaced if present)."""
    if fmt not in ("iso9660", "vfat"):
        raise ConfigDriveError(f"unknown config drive format {fmt!r}")
    target = pathlib.Path(target)

    def prepare() -> pathlib.Path:  # one trip to a thread: a build's config drive is on its way to ACTIVE
        _remove_leftovers(target)
        work = pathlib.Path(tempfile.mkdtemp(prefix=_temp_prefix(target), dir=target.parent))
        try:
            _write_tree(meta, work / "tree")
        except BaseException:
            shutil.rmtree(work, True)
            raise
        return work

    def place(image: pathlib.Path) -> None:
        os.chmod(image, 0o644)
        os.replace(image, target)

    work = await asyncio.to_thread(prepare)
    try:
        tree, image = work / "tree", work / "image"
        if fmt == "iso9660":
            await _make_iso9660(tree, image, publisher)
        else:
            await _make_vfat(tree, image)
        await asyncio.to_thread(place, image)
    finally:
        await asyncio.to_thread(shutil.rmtree, work, True)
