"""The Object Storage backup store against a real started cloud (Identity + Object Storage):
full and incremental backups of a qcow2 volume as objects of the "volumebackups" container,
found through the service catalog with a token, restored byte for byte, deleted."""

from __future__ import annotations

import pathlib
import subprocess
from typing import Iterator

import httpx
import pytest

from monostack.common.service_auth import ServiceAuth
from monostack.volume.backup import BackupEngine, BackupError, BackupStoreError, SwiftStore, make_engine
from tests.conftest import RunningCloud, own_cloud
from tests.object.api.conftest import object_env
from tests.volume.drivers.conftest import MiB, digest, make_conf, need_tools, write


@pytest.fixture(scope="module")
def swift_cloud(tmp_path_factory: pytest.TempPathFactory, db_backend: str) -> Iterator[RunningCloud]:
    need_tools()
    yield from own_cloud(tmp_path_factory, db_backend, "backup-cloud", object_env())


def service_auth(cloud: RunningCloud) -> ServiceAuth:
    auth = cloud.cloud("monostack-admin")["auth"]
    return ServiceAuth(cloud.auth_url, username=auth["username"], password=auth["password"],
                       project_name=auth["project_name"])


async def test_backups_in_object_storage(swift_cloud: RunningCloud, tmp_path: pathlib.Path) -> None:
    auth = service_auth(swift_cloud)
    try:
        eng = make_engine(make_conf(tmp_path, backup_chunk_size_mb=4), tmp_path, auth=auth)
        assert isinstance(eng.store, SwiftStore) and eng.store.container == "volumebackups"
        vol = tmp_path / "vol.qcow2"
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(vol), str(40 * MiB)], check=True)
        write(vol, 0x61, 0, 5 * MiB)
        write(vol, 0x62, 33 * MiB, MiB)
        first = digest(vol)
        full = await eng.backup("bk-full", "vol", vol, "qcow2")
        assert full.stored_chunks == 3  # chunks 0, 1 and 8; the other 7 are zero
        write(vol, 0x63, 12 * MiB, MiB)
        second = digest(vol)
        incr = await eng.backup("bk-incr", "vol", vol, "qcow2", parent=full)
        assert incr.stored_chunks == 1
        # what Object Storage holds, seen with a plain HTTP client and the same token
        url = await auth.endpoint("object-store")
        listing = httpx.get(f"{url}/volumebackups", params={"format": "json"},
                            headers=await auth.headers()).json()
        assert sorted(o["name"] for o in listing) == [
            "bk-full/chunk-00000000", "bk-full/chunk-00000001", "bk-full/chunk-00000008", "bk-full/manifest.json",
            "bk-incr/chunk-00000003", "bk-incr/manifest.json"]
        for backup_id, expected in (("bk-full", first), ("bk-incr", second)):
            target = tmp_path / f"{backup_id}.qcow2"
            subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(target), str(40 * MiB)], check=True)
            await eng.restore(backup_id, target, "qcow2")
            assert digest(target) == expected
        with pytest.raises(BackupError, match="Incremental"):
            await eng.delete("bk-full")
        await eng.delete("bk-incr")
        await eng.delete("bk-full")
        assert await eng.store.list() == []
    finally:
        await auth.close()


async def test_a_store_without_object_storage_says_so(tmp_path: pathlib.Path) -> None:
    auth = ServiceAuth("http://127.0.0.1:9/identity", username="x", password="y", project_name="z")
    try:
        eng = BackupEngine(SwiftStore(auth), tmp_path, chunk_size=4 * MiB, compression="none")
        with pytest.raises(BackupStoreError, match="cannot be reached"):
            await eng.store.prepare()
    finally:
        await auth.close()
