#!/usr/bin/env python3
"""Image upload/download throughput against the raw speed of the same disk.

In one run, on the filesystem that holds the cloud's data dir:

1. raw sequential write: SIZE bytes in 4 MiB writes to a file, then fsync (timed together);
   raw sequential read: the same file read back in 4 MiB reads after its pages are dropped
   from the page cache (posix_fadvise DONTNEED: no root needed);
2. `monostack up` (services identity,image; no start-up guest images) on a free port with its
   data dir there;
   upload: PUT /v2/images/{id}/file of SIZE bytes (http.client, Content-Length, 1 MiB
   sends), while the server's VmRSS is sampled every 20 ms (and VmHWM read at the end);
   download: GET /v2/images/{id}/file after the image file's pages are dropped, read into one
   4 MiB buffer and discarded.

Prints MiB/s for each, the ratio to the raw speed, and the server's memory before and
at its peak during the upload.  The upload includes md5 + sha512 hashing and the fsync
that the store does before the image turns active.

    .venv/bin/python benchmarks/image_throughput.py [--size-mib 1024] [--dir DIR] [--json FILE]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

import yaml

REPO = pathlib.Path(__file__).resolve().parent.parent
MIB = 1 << 20
PATTERN = os.urandom(64 * MIB)  # sent over and over: the content does not matter, its size does


def _drop_cache(path: pathlib.Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def _blocks(size: int, block: int):
    view = memoryview(PATTERN)
    sent = 0
    while sent < size:
        n = min(block, size - sent)
        start = sent % len(PATTERN)
        if start + n > len(PATTERN):
            start = 0
        yield view[start:start + n]
        sent += n


def raw_disk(directory: pathlib.Path, size: int) -> tuple[float, float]:
    path = directory / "raw-disk-test"
    started = time.perf_counter()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for block in _blocks(size, 4 * MIB):
            os.write(fd, block)
        os.fsync(fd)
    finally:
        os.close(fd)
    write = size / (time.perf_counter() - started)
    _drop_cache(path)
    started = time.perf_counter()
    fd = os.open(path, os.O_RDONLY)
    try:
        while os.read(fd, 4 * MIB):
            pass
    finally:
        os.close(fd)
    read = size / (time.perf_counter() - started)
    path.unlink()
    return write, read


def _status(pid: int, field: str) -> int:
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return 0


def _free_port() -> int:
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _request(conn: http.client.HTTPConnection, method: str, path: str, token: str | None = None,
             body: bytes | None = None, headers: dict | None = None) -> tuple[int, bytes, dict]:
    all_headers = dict(headers or {})
    if token:
        all_headers["X-Auth-Token"] = token
    conn.request(method, path, body=body, headers=all_headers)
    response = conn.getresponse()
    return response.status, response.read(), dict(response.getheaders())


def run(size: int, directory: pathlib.Path) -> dict:
    results: dict = {"size_bytes": size, "directory": str(directory)}
    write, read = raw_disk(directory, size)
    results["raw_write_mib_s"], results["raw_read_mib_s"] = write / MIB, read / MIB

    data_dir = directory / "cloud"
    port = _free_port()
    # No guest images: registering them at start-up (building one from Debian packages in a fresh
    # data dir, then hashing and storing two copies) would run in the measured server during the
    # measured upload.
    env = dict(os.environ, MONOSTACK_DEFAULT__SERVICES="identity,image", MONOSTACK_DEFAULT__LOG_LEVEL="WARNING",
               MONOSTACK_IMAGE__GUEST_IMAGES="false")
    log = open(directory / "up.log", "wb")
    server = subprocess.Popen([str(REPO / ".venv/bin/monostack"), "up", "--data-dir", str(data_dir),
                               "--bind", f"127.0.0.1:{port}"], stdout=log, stderr=subprocess.STDOUT, env=env,
                              start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not (data_dir / "clouds.yaml").exists():
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"monostack up failed: {(directory / 'up.log').read_text()[-2000:]}")
            time.sleep(0.05)
        auth = yaml.safe_load((data_dir / "clouds.yaml").read_text())["clouds"]["monostack-admin"]["auth"]
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        body = json.dumps({"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": auth["username"], "domain": {"id": "default"}, "password": auth["password"]}}},
            "scope": {"project": {"name": auth["project_name"], "domain": {"id": "default"}}}}}).encode()
        status, _, headers = _request(conn, "POST", "/identity/v3/auth/tokens", body=body,
                                      headers={"Content-Type": "application/json"})
        token = {k.lower(): v for k, v in headers.items()}["x-subject-token"]
        status, raw, _ = _request(conn, "POST", "/image/v2/images", token, json.dumps(
            {"name": "bench", "disk_format": "raw", "container_format": "bare"}).encode(),
            {"Content-Type": "application/json"})
        image_id = json.loads(raw)["id"]

        rss_before = _status(server.pid, "VmRSS")
        peak = [rss_before]
        sampling = threading.Event()

        def sample() -> None:
            while not sampling.is_set():
                peak[0] = max(peak[0], _status(server.pid, "VmRSS"))
                time.sleep(0.02)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        started = time.perf_counter()
        conn.putrequest("PUT", f"/image/v2/images/{image_id}/file")
        conn.putheader("X-Auth-Token", token)
        conn.putheader("Content-Type", "application/octet-stream")
        conn.putheader("Content-Length", str(size))
        conn.endheaders()
        for block in _blocks(size, MIB):
            conn.send(block)
        response = conn.getresponse()
        response.read()
        upload = size / (time.perf_counter() - started)
        sampling.set()
        sampler.join()
        if response.status != 204:
            raise RuntimeError(f"upload answered {response.status}")
        results["upload_mib_s"] = upload / MIB
        results["server_rss_before_upload_mib"] = rss_before / MIB
        results["server_rss_peak_during_upload_mib"] = peak[0] / MIB
        results["server_vmhwm_mib"] = _status(server.pid, "VmHWM") / MIB

        _drop_cache(data_dir / "images" / image_id)
        started = time.perf_counter()
        conn.request("GET", f"/image/v2/images/{image_id}/file", headers={"X-Auth-Token": token})
        response = conn.getresponse()
        received = 0
        buffer = bytearray(4 * MIB)  # read into one buffer, as the raw read's 4 MiB reads: the client's
        while count := response.readinto(buffer):  # allocations are not what is measured
            received += count
        download = received / (time.perf_counter() - started)
        if response.status != 200 or received != size:
            raise RuntimeError(f"download answered {response.status} with {received} bytes")
        results["download_mib_s"] = download / MIB
        conn.close()
    finally:
        os.killpg(server.pid, signal.SIGINT)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
    results["upload_vs_raw_write"] = results["upload_mib_s"] / results["raw_write_mib_s"]
    results["download_vs_raw_read"] = results["download_mib_s"] / results["raw_read_mib_s"]
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mib", type=int, default=1024, help="image size (default 1024 = 1 GiB)")
    parser.add_argument("--dir", default=None, help="where the raw test file and the cloud's data dir go "
                                                    "(default: a temporary directory under data/)")
    parser.add_argument("--json", default=None, help="also write the results to this file")
    parser.add_argument("--keep", action="store_true", help="keep the directory")
    args = parser.parse_args()
    base = pathlib.Path(args.dir) if args.dir else REPO / "data"
    base.mkdir(parents=True, exist_ok=True)
    directory = pathlib.Path(tempfile.mkdtemp(prefix="bench-image-", dir=base))
    try:
        results = run(args.size_mib * MIB, directory)
    finally:
        if not args.keep:
            shutil.rmtree(directory, ignore_errors=True)
    print(f"image throughput, {args.size_mib} MiB, on {results['directory']}")
    print(f"  raw disk   write {results['raw_write_mib_s']:8.1f} MiB/s   read {results['raw_read_mib_s']:8.1f} MiB/s")
    print(f"  upload           {results['upload_mib_s']:8.1f} MiB/s   ({results['upload_vs_raw_write']:.0%} of raw write)")
    print(f"  download         {results['download_mib_s']:8.1f} MiB/s   ({results['download_vs_raw_read']:.0%} of raw read)")
    print(f"  server RSS       {results['server_rss_before_upload_mib']:.0f} MiB before the upload, "
          f"{results['server_rss_peak_during_upload_mib']:.0f} MiB peak during it (VmHWM {results['server_vmhwm_mib']:.0f} MiB)")
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
