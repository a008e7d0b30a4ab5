"""The swift CLI (python-swiftclient) against the cloud, as a user would drive it."""

from __future__ import annotations

import hashlib
import os
import subprocess
import uuid

import httpx
import pytest

from tests.object.api.conftest import User


def md5(path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@pytest.fixture
def cli_container(demo: User):
    name = f"cli-{uuid.uuid4().hex[:8]}"
    demo.swift("post", name)
    yield name
    demo.swift("delete", name, check=False)
    demo.swift("delete", name + "_segments", check=False)


def test_upload_download_with_checksums(demo: User, cli_container: str, tmp_path) -> None:
    source = tmp_path / "data.bin"
    source.write_bytes(os.urandom(5 * 1024 * 1024 + 123))
    # A real login: the CLI finds the storage URL in the catalog.
    demo.swift("upload", cli_container, "data.bin", cwd=str(tmp_path), password=True)
    assert demo.swift("list", cli_container, password=True).stdout.split() == ["data.bin"]
    stat = demo.swift("stat", cli_container, "data.bin").stdout
    assert md5(source) in stat and str(source.stat().st_size) in stat
    out = tmp_path / "out.bin"
    demo.swift("download", cli_container, "data.bin", "-o", str(out))
    assert md5(out) == md5(source)
    account = demo.swift("stat").stdout
    assert f"Account: {demo.account}" in account


def test_metadata(demo: User, cli_container: str, tmp_path) -> None:
    demo.swift("post", "-m", "color:blue", "-m", "size:large", cli_container)
    stat = demo.swift("stat", cli_container).stdout
    assert "Meta Color: blue" in stat and "Meta Size: large" in stat
    (tmp_path / "o.txt").write_text("hello")
    demo.swift("upload", cli_container, "o.txt", cwd=str(tmp_path))
    demo.swift("post", "-m", "shape:round", "-H", "Content-Type:text/x-shape", cli_container, "o.txt")
    stat = demo.swift("stat", cli_container, "o.txt").stdout
    assert "Meta Shape: round" in stat and "text/x-shape" in stat
    demo.swift("post", "-m", "color:", cli_container)
    assert "Meta Color" not in demo.swift("stat", cli_container).stdout


def test_acls_for_another_project(demo: User, alt: User, cli_container: str, tmp_path) -> None:
    (tmp_path / "shared.txt").write_text("shared with alt")
    demo.swift("upload", cli_container, "shared.txt", cwd=str(tmp_path))
    refused = alt.swift("--os-storage-url", demo.storage_url, "download", cli_container, "shared.txt", "-o", "-",
                        check=False)
    assert refused.returncode != 0 and "403" in refused.stderr
    demo.swift("post", "-r", f"{alt.project_id}:*", "-w", f"{alt.project_id}:*", cli_container)
    stat = demo.swift("stat", cli_container).stdout
    assert f"Read ACL: {alt.project_id}:*" in stat
    got = alt.swift("--os-storage-url", demo.storage_url, "download", cli_container, "shared.txt", "-o", "-")
    assert got.stdout == "shared with alt"
    (tmp_path / "reply.txt").write_text("from alt")
    alt.swift("--os-storage-url", demo.storage_url, "upload", cli_container, "reply.txt", cwd=str(tmp_path))
    assert "reply.txt" in demo.swift("list", cli_container).stdout.split()
    demo.swift("post", "-r", "", "-w", "", cli_container)
    refused = alt.swift("--os-storage-url", demo.storage_url, "list", cli_container, check=False)
    assert refused.returncode != 0


def test_slo_upload_in_segments(demo: User, cli_container: str, tmp_path) -> None:
    source = tmp_path / "large.bin"
    source.write_bytes(os.urandom(6 * 1024 * 1024 + 5))
    demo.swift("upload", "--use-slo", "-S", str(1024 * 1024), cli_container, "large.bin", cwd=str(tmp_path))
    segments = demo.swift("list", cli_container + "_segments").stdout.split()
    assert len(segments) == 7
    stat = demo.swift("stat", cli_container, "large.bin").stdout
    assert "Static-Large-Object: True" in stat or "X-Static-Large-Object: True" in stat
    assert str(source.stat().st_size) in stat
    out = tmp_path / "out.bin"
    demo.swift("download", cli_container, "large.bin", "-o", str(out))
    assert md5(out) == md5(source)
    demo.swift("delete", cli_container, "large.bin")
    assert demo.swift("list", cli_container + "_segments").stdout.split() == []


def test_dlo_upload_in_segments(demo: User, cli_container: str, tmp_path) -> None:
    source = tmp_path / "dlo.bin"
    source.write_bytes(os.urandom(3 * 1024 * 1024 + 1))
    demo.swift("upload", "--use-dlo", "-S", str(1024 * 1024), cli_container, "dlo.bin", cwd=str(tmp_path))
    assert "Manifest:" in demo.swift("stat", cli_container, "dlo.bin").stdout
    out = tmp_path / "out.bin"
    demo.swift("download", cli_container, "dlo.bin", "-o", str(out))
    assert md5(out) == md5(source)


def test_tempurl_with_curl(demo: User, cli_container: str, tmp_path) -> None:
    (tmp_path / "t.txt").write_text("temporary")
    demo.swift("upload", cli_container, "t.txt", cwd=str(tmp_path))
    key = uuid.uuid4().hex
    demo.swift("post", "-m", f"Temp-URL-Key:{key}")
    path = f"/v1/{demo.account}/{cli_container}/t.txt"
    base = f"{demo.cloud.url}/object-store"
    for digest in ("sha1", "sha256", "sha512"):
        signed = demo.swift("tempurl", "--digest", digest, "GET", "60", path, key).stdout.strip()
        got = subprocess.run(["curl", "-s", "-i", base + signed], capture_output=True, text=True)
        assert got.stdout.startswith("HTTP/1.1 200"), got.stdout
        assert got.stdout.endswith("temporary")
        assert 'attachment; filename="t.txt"' in got.stdout
    put_path = f"/v1/{demo.account}/{cli_container}/via-tempurl.txt"
    signed = demo.swift("tempurl", "PUT", "60", put_path, key).stdout.strip()
    (tmp_path / "up.txt").write_text("uploaded with a temp url")
    put = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-T", str(tmp_path / "up.txt"),
                          base + signed], capture_output=True, text=True)
    assert put.stdout == "201"
    assert demo.swift("download", cli_container, "via-tempurl.txt", "-o", "-").stdout == "uploaded with a temp url"
    # A GET signature does not allow a PUT; a wrong or expired signature is 401.
    signed = demo.swift("tempurl", "GET", "60", put_path, key).stdout.strip()
    refused = subprocess.run(["curl", "-s", "-w", "%{http_code}", "-T", str(tmp_path / "up.txt"), base + signed],
                             capture_output=True, text=True)
    assert refused.stdout.endswith("401")
    bad = httpx.get(base + path, params={"temp_url_sig": "0" * 40, "temp_url_expires": "9999999999"})
    assert bad.status_code == 401 and bad.text == "401 Unauthorized: Temp URL invalid\n"
    signed = demo.swift("tempurl", "--absolute", "GET", "1000000000", path, key).stdout.strip()
    assert httpx.get(base + signed).status_code == 401
    demo.swift("post", "-m", "Temp-URL-Key:")
