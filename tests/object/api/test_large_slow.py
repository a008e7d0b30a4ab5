"""The issue's full test: a 2 GiB file uploaded as a static large object in segments with
the swift CLI, downloaded back intact (slow: several GiB go to disk)."""

from __future__ import annotations

import hashlib
import os
import uuid

import pytest

from tests.object.api.conftest import User

SIZE = 2 * 1024 ** 3
SEGMENT = 256 * 1024 ** 2


@pytest.mark.slow
def test_two_gib_slo_upload_and_download(demo: User, tmp_path) -> None:
    source = tmp_path / "two-gib.bin"
    digest = hashlib.md5()
    with open(source, "wb") as handle:
        block = os.urandom(1024 * 1024)
        for i in range(SIZE // len(block)):
            # Not one block repeated: each MiB differs (a wrong segment order must show).
            piece = i.to_bytes(8, "big") + block[8:]
            digest.update(piece)
            handle.write(piece)
    container = f"slow-{uuid.uuid4().hex[:8]}"
    try:
        demo.swift("upload", "--use-slo", "-S", str(SEGMENT), container, "two-gib.bin", cwd=str(tmp_path),
                   timeout=3600)
        stat = demo.swift("stat", container, "two-gib.bin").stdout
        assert f"Content Length: {SIZE}" in stat
        assert len(demo.swift("list", container + "_segments").stdout.split()) == SIZE // SEGMENT
        source.unlink()
        back = tmp_path / "back.bin"
        demo.swift("download", container, "two-gib.bin", "-o", str(back), timeout=3600)
        assert back.stat().st_size == SIZE
        check = hashlib.md5()
        with open(back, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 22), b""):
                check.update(chunk)
        assert check.hexdigest() == digest.hexdigest()
        back.unlink()
    finally:
        demo.swift("delete", container, check=False, timeout=600)
        demo.swift("delete", container + "_segments", check=False, timeout=600)
