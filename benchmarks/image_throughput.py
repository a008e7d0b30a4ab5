#!/usr/bin/env python3
"""Image upload/download throughput against the raw speed of the same disk.

In one run, on the filesystem that holds the cloud's data dir, `monostack up` (services
identity,image; no start-up guest images) on a free port with its data dir there, then
ROUNDS rounds of, each measured right after its own reference (the disk under /work is a
virtual disk whose speed drifts several-fold within minutes, so a ratio is taken only between
measurements of the same moment):

1. raw sequential write: SIZE bytes in 4 MiB writes to a new file, then fsync (timed together);
   upload: a new image, PUT /v2/images/{id}/file of SIZE bytes (http.client, Content-Length,
   1 MiB sends) until the 204, while the server's VmRSS is sampled every 20 ms;
2. raw sequential read: the uploaded image's own file read in 4 MiB reads into one buffer
   after its pages are dropped from the page cache (posix_fadvise DONTNEED: no root needed),
   after one untimed such read (the first read of a new file is slow on this virtual disk);
   download: GET /v2/images/{id}/file after the pages are dropped again, read into one 1 MiB
   buffer (http.client) and discarded; and the same with curl (to /dev/null) when installed;
   then the same file (pages dropped) sent with sendfile over a loopback TCP connection to a
   plain recv_into loop: what TCP itself carries here, with no HTTP and no server.

Prints the medians in MiB/s, the medians of the per-round ratios to the raw speed, the
server's memory before and at its peak during the uploads, and the single-core speed of md5
and sha512 on this machine: the upload hashes every byte with both (Glance's `checksum` and
`os_hash_value`), which bounds it on a small machine whatever the disk does.

    .venv/bin/python benchmarks/image_throughput.py [--size-mib 1024] [--rounds 3] [--dir DIR] [--json FILE]
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


def raw_write(path: pathlib.Path, size: int) -> float:
    """Bytes per second of SIZE bytes written in 4 MiB writes to a new file, then fsynced."""
    started = time.perf_counter()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for block in _blocks(size, 4 * MIB):
            os.write(fd, block)
        os.fsync(fd)
    finally:
        os.close(fd)
    return size / (time.perf_counter() - started)


def raw_read(path: pathlib.Path) -> float:
    """Bytes per second of the file read from the disk (its pages dropped first) in 4 MiB reads."""
    _drop_cache(path)
    buffer = bytearray(4 * MIB)
    got = 0
    started = time.perf_counter()
    fd = os.open(path, os.O_RDONLY)
    try:
        while count := os.readv(fd, [buffer]):
            got += count
    finally:
        os.close(fd)
    return got / (time.perf_counter() - started)


def loopback_read(path: pathlib.Path) -> float:
    """Bytes per second of the file (its pages dropped first) sent with sendfile over a loopback TCP
    connection and received into one 1 MiB buffer: what TCP carries here, no HTTP, no server."""
    import socket
    _drop_cache(path)
    size = path.stat().st_size
    with socket.create_server(("127.0.0.1", 0)) as listener:
        def send() -> None:
            conn, _ = listener.accept()
            with conn, open(path, "rb") as f:
                offset = 0
                while offset < size:
                    offset += os.sendfile(conn.fileno(), f.fileno(), offset, size - offset)

        sender = threading.Thread(target=send)
        sender.start()
        buffer = memoryview(bytearray(MIB))
        got = 0
        started = time.perf_counter()
        with socket.create_connection(listener.getsockname()) as client:
            while count := client.recv_into(buffer):
                got += count
        elapsed = time.perf_counter() - started
        sender.join()
    return got / elapsed


def hash_speeds() -> dict[str, float]:
    """MiB/s of md5 and of sha512 on one core (what an upload computes over every byte)."""
    import hashlib
    data = PATTERN[:16 * MIB]
    out = {}
    for name in ("md5", "sha512"):
        digest = hashlib.new(name)
        started = time.perf_counter()
        for _ in range(8):
            digest.update(data)
        out[name] = 8 * 16 / (time.perf_counter() - started)
    return out


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


def _median(values: list[float]) -> float:
    import statistics
    return statistics.median(values)


class _Cloud:
    """`monostack up` with identity and image only, and an admin token of its own."""

    def __init__(self, directory: pathlib.Path):
        self.directory = directory
        self.data_dir = directory / "cloud"
        self.port = _free_port()
        # No guest images: registering them at start-up (building one from Debian packages in a
        # fresh data dir, then hashing and storing two copies) would run in the measured server.
        env = dict(os.environ, MONOSTACK_DEFAULT__SERVICES="identity,image", MONOSTACK_DEFAULT__LOG_LEVEL="WARNING",
                   MONOSTACK_IMAGE__GUEST_IMAGES="false")
        self.log = open(directory / "up.log", "wb")
        self.server = subprocess.Popen([str(REPO / ".venv/bin/monostack"), "up", "--data-dir", str(self.data_dir),
                                        "--bind", f"127.0.0.1:{self.port}"], stdout=self.log,
                                       stderr=subprocess.STDOUT, env=env, start_new_session=True)
        deadline = time.monotonic() + 120
        while not (self.data_dir / "clouds.yaml").exists():
            if self.server.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"monostack up failed: {(directory / 'up.log').read_text()[-2000:]}")
            time.sleep(0.05)
        auth = yaml.safe_load((self.data_dir / "clouds.yaml").read_text())["clouds"]["monostack-admin"]["auth"]
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
        body = json.dumps({"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": auth["username"], "domain": {"id": "default"}, "password": auth["password"]}}},
            "scope": {"project": {"name": auth["project_name"], "domain": {"id": "default"}}}}}).encode()
        _, _, headers = _request(self.conn, "POST", "/identity/v3/auth/tokens", body=body,
                                 headers={"Content-Type": "application/json"})
        self.token = {k.lower(): v for k, v in headers.items()}["x-subject-token"]

    def stop(self) -> None:
        os.killpg(self.server.pid, signal.SIGINT)
        try:
            self.server.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.server.pid, signal.SIGKILL)
            self.server.wait()
        self.log.close()

    def upload(self, size: int) -> tuple[str, float, int]:
        """A new image with SIZE bytes: its id, bytes per second, and the server's peak VmRSS."""
        status, raw, _ = _request(self.conn, "POST", "/image/v2/images", self.token, json.dumps(
            {"name": "bench", "disk_format": "raw", "container_format": "bare"}).encode(),
            {"Content-Type": "application/json"})
        if status != 201:
            raise RuntimeError(f"image create answered {status}")
        image_id = json.loads(raw)["id"]
        peak = [_status(self.server.pid, "VmRSS")]
        sampling = threading.Event()

        def sample() -> None:
            while not sampling.is_set():
                peak[0] = max(peak[0], _status(self.server.pid, "VmRSS"))
                time.sleep(0.02)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        conn = self.conn
        started = time.perf_counter()
        conn.putrequest("PUT", f"/image/v2/images/{image_id}/file")
        conn.putheader("X-Auth-Token", self.token)
        conn.putheader("Content-Type", "application/octet-stream")
        conn.putheader("Content-Length", str(size))
        conn.endheaders()
        for block in _blocks(size, MIB):
            conn.send(block)
        response = conn.getresponse()
        response.read()
        speed = size / (time.perf_counter() - started)
        sampling.set()
        sampler.join()
        if response.status != 204:
            raise RuntimeError(f"upload answered {response.status}")
        return image_id, speed, peak[0]

    def file_of(self, image_id: str) -> pathlib.Path:
        return self.data_dir / "images" / image_id

    def download(self, image_id: str, size: int) -> float:
        """Bytes per second of the image's data read with http.client into one 1 MiB buffer."""
        started = time.perf_counter()
        self.conn.request("GET", f"/image/v2/images/{image_id}/file", headers={"X-Auth-Token": self.token})
        response = self.conn.getresponse()
        received = 0
        buffer = bytearray(MIB)  # one buffer: the client's allocations are not what is measured
        while count := response.readinto(buffer):
            received += count
        speed = received / (time.perf_counter() - started)
        if response.status != 200 or received != size:
            raise RuntimeError(f"download answered {response.status} with {received} bytes")
        return speed

    def curl_download(self, image_id: str, size: int) -> float | None:
        if not shutil.which("curl"):
            return None
        out = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{size_download} %{speed_download}",
                              "-H", f"X-Auth-Token: {self.token}",
                              f"http://127.0.0.1:{self.port}/image/v2/images/{image_id}/file"],
                             capture_output=True, text=True, check=True).stdout.split()
        if int(float(out[0])) != size:
            raise RuntimeError(f"curl got {out[0]} bytes of {size}")
        return float(out[1])


def run(size: int, directory: pathlib.Path, rounds: int) -> dict:
    results: dict = {"size_bytes": size, "directory": str(directory), "rounds": [],
                     "hash_mib_s_one_core": hash_speeds()}
    cloud = _Cloud(directory)
    try:
        results["server_rss_before_upload_mib"] = _status(cloud.server.pid, "VmRSS") / MIB
        for _ in range(rounds):
            one: dict = {}
            scratch = directory / "raw-disk-test"
            one["raw_write_mib_s"] = raw_write(scratch, size) / MIB
            scratch.unlink()
            image_id, speed, peak = cloud.upload(size)
            one["upload_mib_s"], one["server_rss_peak_during_upload_mib"] = speed / MIB, peak / MIB
            path = cloud.file_of(image_id)
            # Not timed: on this virtual disk the first read of a file just written runs at about
            # half the speed of the next ones, whoever does it; the raw read and the downloads
            # that are compared all come after it.
            raw_read(path)
            one["raw_read_mib_s"] = raw_read(path) / MIB
            _drop_cache(path)
            one["download_mib_s"] = cloud.download(image_id, size) / MIB
            _drop_cache(path)
            curl = cloud.curl_download(image_id, size)
            one["curl_download_mib_s"] = curl / MIB if curl is not None else None
            one["loopback_mib_s"] = loopback_read(path) / MIB
            status, _, _ = _request(cloud.conn, "DELETE", f"/image/v2/images/{image_id}", cloud.token)
            if status != 204:
                raise RuntimeError(f"image delete answered {status}")
            one["upload_vs_raw_write"] = one["upload_mib_s"] / one["raw_write_mib_s"]
            one["download_vs_raw_read"] = one["download_mib_s"] / one["raw_read_mib_s"]
            one["download_vs_loopback"] = one["download_mib_s"] / one["loopback_mib_s"]
            if curl is not None:
                one["curl_download_vs_raw_read"] = one["curl_download_mib_s"] / one["raw_read_mib_s"]
            results["rounds"].append(one)
            print("  round: " + ", ".join(f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}"
                                          for k, v in one.items()), flush=True)
        results["server_vmhwm_mib"] = _status(cloud.server.pid, "VmHWM") / MIB
    finally:
        cloud.stop()
    for key in results["rounds"][0]:
        values = [r[key] for r in results["rounds"] if r.get(key) is not None]
        if values:
            results[key] = max(values) if key.startswith("server_rss") else _median(values)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mib", type=int, default=1024, help="image size (default 1024 = 1 GiB)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (medians are reported; default 3)")
    parser.add_argument("--dir", default=None, help="where the raw test file and the cloud's data dir go "
                                                    "(default: a temporary directory under data/)")
    parser.add_argument("--json", default=None, help="also write the results to this file")
    parser.add_argument("--keep", action="store_true", help="keep the directory")
    args = parser.parse_args()
    base = pathlib.Path(args.dir) if args.dir else REPO / "data"
    base.mkdir(parents=True, exist_ok=True)
    directory = pathlib.Path(tempfile.mkdtemp(prefix="bench-image-", dir=base))
    try:
        results = run(args.size_mib * MIB, directory, args.rounds)
    finally:
        if not args.keep:
            shutil.rmtree(directory, ignore_errors=True)
    hashes = results["hash_mib_s_one_core"]
    print(f"image throughput, {args.size_mib} MiB, {args.rounds} rounds (medians), on {results['directory']}")
    print(f"  raw disk   write {results['raw_write_mib_s']:8.1f} MiB/s   read {results['raw_read_mib_s']:8.1f} MiB/s")
    print(f"  upload           {results['upload_mib_s']:8.1f} MiB/s   ({results['upload_vs_raw_write']:.0%} of raw write; "
          f"md5 {hashes['md5']:.0f} and sha512 {hashes['sha512']:.0f} MiB/s on one core)")
    print(f"  loopback TCP     {results['loopback_mib_s']:8.1f} MiB/s   (the file sent over loopback TCP, no HTTP)")
    print(f"  download         {results['download_mib_s']:8.1f} MiB/s   ({results['download_vs_raw_read']:.0%} of raw read, "
          f"{results['download_vs_loopback']:.0%} of loopback TCP)")
    if results.get("curl_download_mib_s"):
        print(f"  download (curl)  {results['curl_download_mib_s']:8.1f} MiB/s   "
              f"({results['curl_download_vs_raw_read']:.0%} of raw read)")
    print(f"  server RSS       {results['server_rss_before_upload_mib']:.0f} MiB before the uploads, "
          f"{results['server_rss_peak_during_upload_mib']:.0f} MiB peak during them (VmHWM {results['server_vmhwm_mib']:.0f} MiB)")
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
