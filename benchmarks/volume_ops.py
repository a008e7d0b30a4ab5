#!/usr/bin/env python3
"""Block Storage: a volume from a 1 GiB image against `qemu-img convert`, attach/detach
latency on a running QEMU guest, and a sequential write inside the guest to an attached volume
against the host disk.

One run starts `monostack up` (services identity,image,placement,compute,volume; the QEMU
driver; guest images on, `monostack-guest` from MONOSTACK_GUEST_CACHE, default
~/.cache/monostack/guest; MONOSTACK_NETWORK__RUN_AGENT=false) on a free port in a temp dir
under data/, then:

(a) volume from image: a raw file of SIZE bytes of random data (a 64 MiB random block
    repeated: nothing is zero, so no step can skip it) is uploaded as an image
    (disk_format raw); POST /volume/v3/{project}/volumes {size, imageRef} is timed until
    GET .../volumes/{id} says `available` (polled every 50 ms).  Against: `qemu-img convert
    -f raw -O qcow2` of the same file into the same directory as the cloud's volumes (what
    the file driver does; once with qemu-img's defaults, once with the driver's `-W -m 16`),
    followed by a sync of the target (the driver's convert flushes its target too).  Then a
    second volume from the same image (now in the volume host's image cache: no download) and
    a client GET of the image file, to split the first time.
(b) attach/detach: a server from monostack-guest, flavor m1.tiny, networks "auto" (microversion
    2.37; without a Networking service that is one QEMU user-mode NIC whose hostfwd forwards a
    loopback port to the guest's port 22 -- networks "none" would give no NIC and no forward) and
    a keypair, waited until its login prompt is on the console (hot-plug needs the booted
    guest's ACPI handling); then ROUNDS times: POST /compute/v2.1/servers/{id}/
    os-volume_attachments until the volume is `in-use`, DELETE until it is `available` (volume
    polled every 50 ms).  Also: when the guest's disk watcher printed "disk vdX added"/"removed"
    on the console (it polls /sys/block once a second, so +-1 s).
(c) sequential write inside the guest against the host disk: a new empty volume of
    WRITE_VOLUME_GB is attached to the server; over SSH as root (127.0.0.1, the port in the
    instance's guest.json) the guest runs `dd if=/dev/zero of=/dev/vdX bs=4M count=WRITE_MIB/4
    oflag=direct conv=fsync` (busybox dd; O_DIRECT past the guest's page cache, the fsync is a
    virtio flush, an fdatasync of the qcow2 on the host: QEMU's default writeback cache; the disk
    is found by its virtio serial = the volume id; zeroes are written as data, the driver does
    not set detect-zeroes).  Timed in the guest (/proc/uptime right before and after dd) and on
    the host (arrival of those two lines over SSH); also the guest's CPU split (/proc/stat) and
    the QEMU process's CPU during the dd, to tell a CPU-bound guest (TCG) from a disk-bound one.
    The first write into the new volume (qcow2 clusters allocated on the way) is recorded once;
    then WRITE_REPEATS interleaved rounds of: the host writing WRITE_MIB in 4 MiB os.write()s to
    a new file in the volumes' directory + fsync, the same over that file in place + fsync,
    `qemu-io` writing the same through QEMU's block layer (the hot-plug's options) over the
    detached volume from (a) (allocated clusters, no guest), and the guest's dd over its now
    allocated volume.  Medians; ratio guest/host.  The accelerator the guest ran with (kvm or
    tcg, from guest.json) is recorded.

Every QEMU whose command line names the temp dir is killed at the end (the server delete
normally does it).

    .venv/bin/python benchmarks/volume_ops.py [--size-mib 1024] [--rounds 5] [--write-mib 512]
        [--write-volume-gb 1] [--write-repeats 5] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import _compute_cloud as cc  # noqa: E402
import _procs  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parent.parent
MIB = 1 << 20
LOGIN_MARKER = b"MONOSTACK-GUEST: login prompt"
COMPUTE_237 = {"OpenStack-API-Version": "compute 2.37", "X-OpenStack-Nova-API-Version": "2.37"}


def make_image(path: pathlib.Path, size: int) -> float:
    """A raw file of size bytes, a random 64 MiB block repeated; returns seconds taken."""
    block = os.urandom(64 * MIB)
    t0 = time.monotonic()
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, len(block))
            f.write(block[:n])
            left -= n
        f.flush()
        os.fsync(f.fileno())
    return time.monotonic() - t0


def sync_file(path: pathlib.Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def timed(argv: list[str]) -> float:
    t0 = time.monotonic()
    subprocess.run(argv, check=True, capture_output=True, timeout=1800)
    return time.monotonic() - t0


class Volumes:
    def __init__(self, cloud: cc.Cloud, poll: float):
        self.cloud, self.poll = cloud, poll
        self.base = f"/volume/v3/{cloud.project_id}/volumes"

    def get(self, volume_id: str) -> dict[str, Any]:
        return self.cloud.call("GET", f"{self.base}/{volume_id}").json()["volume"]

    def wait(self, volume_id: str, status: str, t0: float, timeout: float) -> float:
        while True:
            volume = self.get(volume_id)
            if volume["status"] == status:
                return time.monotonic() - t0
            if volume["status"].startswith("error"):
                raise RuntimeError(f"volume {volume_id} went to {volume['status']}: {volume}")
            if time.monotonic() - t0 > timeout:
                raise TimeoutError(f"volume {volume_id} not {status} after {timeout:.0f}s: {volume['status']}")
            time.sleep(self.poll)


def upload_image(cloud: cc.Cloud, path: pathlib.Path) -> tuple[str, float]:
    image_id = cloud.call("POST", "/image/v2/images", 201, json={
        "name": "bench-volume-src", "disk_format": "raw", "container_format": "bare"}).json()["id"]

    def chunks():
        with open(path, "rb") as f:
            while block := f.read(4 * MIB):
                yield block

    t0 = time.monotonic()
    cloud.call("PUT", f"/image/v2/images/{image_id}/file", 204, content=chunks(),
               headers={"Content-Type": "application/octet-stream",
                        "Content-Length": str(path.stat().st_size)}, timeout=1800)
    return image_id, time.monotonic() - t0


def volume_file(cloud: cc.Cloud, volume_id: str) -> pathlib.Path:
    found = list((cloud.data_dir / "volume").rglob(f"volume-{volume_id}.*"))
    if len(found) != 1:
        raise RuntimeError(f"volume file of {volume_id}: found {found}")
    return found[0]


def console_events(console: pathlib.Path) -> list[tuple[float, str]]:
    """The guest's disk markers on the console so far, in order (the time slot is unused: 0.0)."""
    try:
        text = console.read_bytes().decode(errors="replace")
    except OSError:
        return []
    return [(0.0, m) for m in re.findall(r"MONOSTACK-GUEST: (disk \S+ (?:added|removed))", text)]


def wait_marker(console: pathlib.Path, count_before: int, t0: float, timeout: float) -> tuple[float | None, str]:
    """Seconds from t0 until the guest printed a new disk marker (polled every 50 ms)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        events = console_events(console)
        if len(events) > count_before:
            return time.monotonic() - t0, events[count_before][1]
        time.sleep(0.05)
    return None, ""


def boot(cloud: cc.Cloud, args: argparse.Namespace, key: pathlib.Path) -> tuple[str, dict[str, Any]]:
    """A server with a user-mode NIC (networks "auto": "none" would give no NIC, so no SSH forward)
    and the keypair of key, waited until its login prompt."""
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    cloud.call("POST", "/compute/v2.1/os-keypairs", (200, 201), json={"keypair": {
        "name": "bench-volume", "public_key": key.with_suffix(".pub").read_text()}})
    image = cloud.find_image(args.image)
    flavor = cloud.flavor_id(args.flavor)
    t0 = time.monotonic()
    server_id = cloud.call("POST", "/compute/v2.1/servers", 202, headers=COMPUTE_237, json={"server": {
        "name": "bench-volume", "imageRef": image["id"], "flavorRef": flavor["id"], "key_name": "bench-volume",
        "networks": "auto"}}).json()["server"]["id"]
    while True:
        server = cloud.call("GET", f"/compute/v2.1/servers/{server_id}").json()["server"]
        if server["status"] == "ACTIVE":
            break
        if server["status"] == "ERROR" or time.monotonic() - t0 > args.timeout:
            raise RuntimeError(f"server {server_id}: {server['status']} {server.get('fault')}")
        time.sleep(0.2)
    active = time.monotonic() - t0
    console = cloud.data_dir / "compute" / "instances" / server_id / "console.log"
    while LOGIN_MARKER not in (console.read_bytes() if console.exists() else b""):
        if time.monotonic() - t0 > args.timeout:
            raise TimeoutError(f"no login prompt on {console} after {args.timeout:.0f}s")
        time.sleep(0.2)
    time.sleep(2)  # the boot script starts the disk watcher right before getty: let it take its first look
    return server_id, {"active_s": active, "login_prompt_s": time.monotonic() - t0, "image_id": image["id"],
                       "flavor": flavor["name"], "vcpus": flavor["vcpus"], "ram_mb": flavor["ram"]}


def attach_detach(cloud: cc.Cloud, vols: Volumes, server_id: str, volume_id: str,
                  rounds: int, timeout: float) -> list[dict[str, Any]]:
    console = cloud.data_dir / "compute" / "instances" / server_id / "console.log"
    out: list[dict[str, Any]] = []
    failures: list[dict[str, Any]] = []
    while len(out) < rounds:
        i = len(out)
        before = len(console_events(console))
        t0 = time.monotonic()
        path = f"/compute/v2.1/servers/{server_id}/os-volume_attachments"
        response = cloud.http.post(path, json={"volumeAttachment": {"volumeId": volume_id}})
        post_s = time.monotonic() - t0
        if response.status_code != 200:
            # A failed attach is a finding, not a measurement: record it with the cloud's traceback,
            # wait for the volume to settle and try the round again (at most 5 failures).
            failures.append({"round": i + 1, "request": f"POST {path}", "status": response.status_code,
                             "body": response.text[:800], "after_s": post_s, "cloud_log": log_errors(cloud)})
            cc.say(f"round {i + 1}: attach answered {response.status_code}: {response.text[:200]}")
            if len(failures) >= 5:
                raise RuntimeError(f"attach failed {len(failures)} times: {failures[-1]}")
            time.sleep(2)
            status = vols.get(volume_id)["status"]
            if status != "available":
                raise RuntimeError(f"after the failed attach the volume is {status}: {failures}")
            continue
        device = response.json()["volumeAttachment"].get("device")
        attach_s = vols.wait(volume_id, "in-use", t0, timeout)
        seen_attach, marker_a = wait_marker(console, before, t0, 10)
        before = len(console_events(console))
        t1 = time.monotonic()
        cloud.call("DELETE", f"/compute/v2.1/servers/{server_id}/os-volume_attachments/{volume_id}", 202)
        delete_s = time.monotonic() - t1
        detach_s = vols.wait(volume_id, "available", t1, timeout)
        seen_detach, marker_d = wait_marker(console, before, t1, 10)
        row = {"round": i + 1, "attach_post_s": post_s, "attach_to_in_use_s": attach_s, "device": device,
               "guest_saw_disk_s": seen_attach, "guest_marker": marker_a,
               "detach_delete_s": delete_s, "detach_to_available_s": detach_s,
               "guest_saw_removal_s": seen_detach, "guest_marker_detach": marker_d}
        cc.say(f"round {i + 1}: attach {attach_s * 1e3:.0f} ms, detach {detach_s * 1e3:.0f} ms "
               f"({marker_a or 'no marker'}, {marker_d or 'no marker'})")
        out.append(row)
    return out, failures


def log_errors(cloud: cc.Cloud) -> str:
    """The last traceback (or ERROR lines) of the cloud's log."""
    try:
        text = (cloud.workdir / "monostack.log").read_text(errors="replace")
    except OSError:
        return ""
    at = text.rfind("Traceback")
    if at >= 0:
        start = text.rfind("\n", 0, max(0, at - 1)) + 1  # from the log line that carries the traceback
        return text[start:start + 6000]
    return "\n".join(line for line in text.splitlines() if "ERROR" in line)[-4000:]


def qemu_io_write(path: pathlib.Path, fmt: str, mib: int) -> float:
    cmds = []
    for i in range(mib // 4):
        cmds += ["-c", f"write -q -P 0x5a {i * 4 * MIB} {4 * MIB}"]
    return timed(["qemu-io", "-f", fmt, *cmds, "-c", "flush", str(path)])


def host_write(path: pathlib.Path, mib: int, overwrite: bool = False) -> float:
    """mib MiB in 4 MiB writes then fsync: into a new file, or over an existing one in place."""
    block = os.urandom(4 * MIB)
    t0 = time.monotonic()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | (0 if overwrite else os.O_TRUNC), 0o600)
    try:
        for _ in range(mib // 4):
            os.write(fd, block)
        os.fsync(fd)
    finally:
        os.close(fd)
    return time.monotonic() - t0


class Guest:
    """Root shell in the server over SSH: QEMU's user-mode NIC forwards a loopback port to its port 22
    (`tcp:127.0.0.1:PORT-:22` in the instance's guest.json, which also says kvm or tcg)."""

    def __init__(self, instance_dir: pathlib.Path, key: pathlib.Path):
        text = (instance_dir / "guest.json").read_text()
        found = re.search(r"tcp:127\.0\.0\.1:(\d+)-:22", text)
        if not found:
            raise RuntimeError(f"no SSH forward in {instance_dir / 'guest.json'} (a server without a user-mode NIC?)")
        self.port, self.key = int(found.group(1)), key
        self.accelerator = json.loads(text).get("accelerator")
        self.qemu_pid = int((instance_dir / "qemu.pid").read_text())

    def argv(self, command: str) -> list[str]:
        return ["ssh", "-p", str(self.port), "-i", str(self.key), "-o", "StrictHostKeyChecking=no",
                "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=5",
                "-o", "BatchMode=yes", "root@127.0.0.1", command]

    def run(self, command: str, timeout: float = 120) -> str:
        done = subprocess.run(self.argv(command), capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"guest: {command!r}: exit {done.returncode}: {done.stderr.strip()}")
        return done.stdout

    def wait(self, command: str, timeout: float) -> str:
        """command's output once it succeeds with some output (retried every second)."""
        end = time.monotonic() + timeout
        while True:
            try:
                out = self.run(command, timeout=60)
                if out.strip():
                    return out
            except (RuntimeError, subprocess.TimeoutExpired) as exc:
                if time.monotonic() > end:
                    raise TimeoutError(f"guest: {command!r} never succeeded: {exc}") from exc
            if time.monotonic() > end:
                raise TimeoutError(f"guest: {command!r} printed nothing for {timeout:.0f}s")
            time.sleep(1)

    def disk(self, serial: str, timeout: float) -> str:
        """/dev/vdX of the disk whose virtio serial is serial (the volume id cut to 20 bytes)."""
        return self.wait(f"for s in /sys/block/vd*; do [ \"$(cat $s/serial 2>/dev/null)\" = {serial[:20]} ] "
                         "&& echo /dev/${s##*/}; done", timeout).strip()

    def dd(self, device: str, mib: int, flags: str) -> dict[str, Any]:
        """One sequential write of mib MiB to device, timed in the guest and on the host."""
        script = (f"T() {{ echo \"$1 $(cut -d' ' -f1 /proc/uptime) $(head -1 /proc/stat)\"; }}; T T0; "
                  f"e=$(dd if=/dev/zero of={device} bs=4M count={mib // 4} {flags} 2>&1); rc=$?; T T1; "
                  "echo RC $rc; echo \"$e\"")
        marks: dict[str, tuple[float, float, list[str]]] = {}
        t0 = time.monotonic()
        proc = subprocess.Popen(self.argv(script), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        lines = []
        for raw in proc.stdout:  # each line as the guest prints it: T0 and T1 are timed as they arrive
            line = raw.decode(errors="replace").rstrip("\n")
            if line[:2] in ("T0", "T1"):
                marks[line[:2]] = (time.monotonic(), _procs._stat(self.qemu_pid)[1] / _procs.CLK_TCK, line.split())
            else:
                lines.append(line)
        err = proc.stderr.read().decode(errors="replace")
        proc.wait(timeout=60)
        ssh_s = time.monotonic() - t0
        if proc.returncode != 0 or "RC 0" not in lines or set(marks) != {"T0", "T1"}:
            raise RuntimeError(f"guest dd failed (ssh exit {proc.returncode}): {lines} {err}")
        (h0, q0, g0), (h1, q1, g1) = marks["T0"], marks["T1"]
        guest_s, host_s = float(g1[1]) - float(g0[1]), h1 - h0
        # /proc/stat's cpu line: user nice system idle iowait irq softirq steal ...
        c0, c1 = [int(x) for x in g0[3:11]], [int(x) for x in g1[3:11]]
        d = [b - a for a, b in zip(c0, c1)]
        total = sum(d) or 1
        cpu = {"user": (d[0] + d[1]) / total, "system": (d[2] + d[5] + d[6]) / total, "iowait": d[4] / total,
               "idle": d[3] / total, "steal": d[7] / total}
        return {"s": guest_s, "mib_s": mib / guest_s, "host_wall_s": host_s, "host_wall_mib_s": mib / host_s,
                "ssh_command_s": ssh_s, "guest_cpu": {k: round(v, 3) for k, v in cpu.items()},
                "qemu_cpu_cores": round((q1 - q0) / host_s, 2), "dd_output": lines[1:]}


def run(args: argparse.Namespace, workdir: pathlib.Path) -> dict[str, Any]:
    env = {"MONOSTACK_DEFAULT__SERVICES": "identity,image,placement,compute,volume",
           "MONOSTACK_NETWORK__RUN_AGENT": "false", "MONOSTACK_IMAGE__GUEST_IMAGES": "true",
           "MONOSTACK_GUEST_CACHE": args.guest_cache, "MONOSTACK_COMPUTE__DRIVER": "qemu",
           "MONOSTACK_DEFAULT__LOG_LEVEL": args.log_level}
    size = args.size_mib * MIB
    results: dict[str, Any] = {"benchmark": "volume_ops", "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                               "machine": cc.machine_info(), "loadavg_at_start": list(os.getloadavg()),
                               "config": {"size_mib": args.size_mib, "rounds": args.rounds, "write_mib": args.write_mib,
                                          "write_repeats": args.write_repeats,
                                          "write_volume_gb": args.write_volume_gb,
                                          "volume_size_gb": args.volume_gb, "env": env}}
    cloud = cc.Cloud(workdir, env)
    cc.at_exit_kill_qemus(str(workdir))
    server_id = None
    try:
        src = workdir / "image.raw"
        cc.say(f"writing {args.size_mib} MiB of random data to {src}")
        results["image_file_write_s"] = make_image(src, size)
        cc.say(f"starting monostack up in {workdir}")
        results["cloud_start_s"] = cloud.start()
        vols = Volumes(cloud, args.poll)

        # (a) volume from image, and qemu-img convert of the same file
        image_id, upload_s = upload_image(cloud, src)
        results["image_upload_s"] = upload_s
        load = cc.LoadMeter()
        t0 = time.monotonic()
        volume_id = cloud.call("POST", vols.base, 202, json={"volume": {
            "name": "bench-from-image", "size": args.volume_gb, "imageRef": image_id}}).json()["volume"]["id"]
        post_s = time.monotonic() - t0
        available_s = vols.wait(volume_id, "available", t0, args.timeout)
        vfile = volume_file(cloud, volume_id)
        results["volume_from_image"] = {"post_s": post_s, "to_available_s": available_s, "load": load.done(),
                                        "volume_file": vfile.name, "volume_file_bytes": vfile.stat().st_size}
        cc.say(f"volume from image available in {available_s:.2f} s")
        # The same again: the image is now in the volume host's image cache, so this is the
        # convert (and the API/manager around it) without the download.
        t0 = time.monotonic()
        second_id = cloud.call("POST", vols.base, 202, json={"volume": {
            "name": "bench-from-image-cached", "size": args.volume_gb, "imageRef": image_id}}).json()["volume"]["id"]
        results["volume_from_image"]["cached_image_to_available_s"] = vols.wait(second_id, "available", t0,
                                                                                args.timeout)
        cloud.call("DELETE", f"{vols.base}/{second_id}", 202)
        cc.say(f"second volume (image cached) available in "
               f"{results['volume_from_image']['cached_image_to_available_s']:.2f} s")
        # What a download of the image over the Image API costs a client (the part of the first create
        # that the second skips), read and discarded.
        t0 = time.monotonic()
        with cloud.http.stream("GET", f"/image/v2/images/{image_id}/file", timeout=600) as response:
            got = sum(len(chunk) for chunk in response.iter_bytes(4 * MIB))
        results["image_download_by_client_s"] = time.monotonic() - t0
        if got != size:
            raise RuntimeError(f"image download: {got} bytes")
        convert: dict[str, Any] = {}
        for label, extra in (("qemu-img convert (defaults)", []), ("qemu-img convert -W -m 16", ["-W", "-m", "16"])):
            target = vfile.parent / f"bench-convert-{len(convert)}.qcow2"
            load = cc.LoadMeter()
            t0 = time.monotonic()
            subprocess.run(["qemu-img", "convert", "-q", "-f", "raw", "-O", "qcow2", *extra, str(src), str(target)],
                           check=True, capture_output=True, timeout=1800)
            sync_file(target)
            convert[label] = {"s": time.monotonic() - t0, "load": load.done()}
            target.unlink()
            cc.say(f"{label}: {convert[label]['s']:.2f} s")
        results["qemu_img_convert"] = convert
        best = min(v["s"] for v in convert.values())
        results["volume_from_image"]["vs_fastest_convert"] = available_s / best
        results["volume_from_image"]["vs_default_convert"] = available_s / convert["qemu-img convert (defaults)"]["s"]

        # (b) attach/detach on a running guest
        cc.say("booting a server (networks auto: a user-mode NIC with an SSH forward) to its login prompt")
        server_id, results["server"] = boot(cloud, args, workdir / "id_bench")
        load = cc.LoadMeter()
        rows, failures = attach_detach(cloud, vols, server_id, volume_id, args.rounds, args.timeout)
        attach = [r["attach_to_in_use_s"] for r in rows]
        detach = [r["detach_to_available_s"] for r in rows]
        results["attach_detach"] = {"rounds": rows, "failed_attaches": failures, "load": load.done(),
                                    "attach_median_s": statistics.median(attach),
                                    "detach_median_s": statistics.median(detach),
                                    "attach_ms": cc.summary(attach, 1e3), "detach_ms": cc.summary(detach, 1e3)}

        # (c) sequential write in the guest to a new attached volume, against the host disk
        guest = Guest(cloud.data_dir / "compute" / "instances" / server_id, workdir / "id_bench")
        results["server"]["accelerator"] = guest.accelerator
        write_id = cloud.call("POST", vols.base, 202, json={"volume": {
            "name": "bench-write", "size": args.write_volume_gb}}).json()["volume"]["id"]
        vols.wait(write_id, "available", time.monotonic(), args.timeout)
        cloud.call("POST", f"/compute/v2.1/servers/{server_id}/os-volume_attachments", 200,
                   json={"volumeAttachment": {"volumeId": write_id}})
        vols.wait(write_id, "in-use", time.monotonic(), args.timeout)
        guest.wait("echo ok", args.timeout)
        device = guest.disk(write_id, 60)
        usage = guest.run("dd --help 2>&1 | grep -c 'oflag=.*direct' || true")
        flags = "oflag=direct conv=fsync" if usage.strip() not in ("", "0") else "conv=fsync"
        facts = guest.run("busybox 2>&1 | head -1; uname -r; nproc; "
                          "cat /sys/devices/system/clocksource/clocksource0/current_clocksource").splitlines()
        results["guest_write"] = {"accelerator": guest.accelerator, "device": device, "dd_flags": flags,
                                  "busybox": facts[0], "guest_kernel": facts[1], "guest_cpus": int(facts[2]),
                                  "guest_clocksource": facts[3], "volume_gb": args.write_volume_gb}
        cc.say(f"guest ({guest.accelerator}): dd to {device} with {flags}")
        guest_case = "guest dd over its volume (allocated)"
        writes: dict[str, Any] = {}

        def record(label: str, took: float | dict[str, Any], load: cc.LoadMeter) -> None:
            row = took if isinstance(took, dict) else {"s": took, "mib_s": args.write_mib / took}
            row["load"] = load.done()
            writes.setdefault(label, {"runs": []})["runs"].append(row)
            cc.say(f"{label}: {row['mib_s']:.0f} MiB/s")

        load = cc.LoadMeter()
        record("guest dd, first write into the new volume (allocating)", guest.dd(device, args.write_mib, flags), load)
        host_file = vfile.parent / "bench-host-write"
        fmt = vfile.suffix.lstrip(".")
        cases = (("host write+fsync (new file)", lambda: host_write(host_file, args.write_mib)),
                 ("host overwrite+fsync (same file again)",
                  lambda: host_write(host_file, args.write_mib, overwrite=True)),
                 (f"qemu-io over the detached volume's {fmt} file",
                  lambda: qemu_io_write(vfile, fmt, args.write_mib)),
                 (guest_case, lambda: guest.dd(device, args.write_mib, flags)))
        # The disk's speed moves a lot from second to second here: each case WRITE_REPEATS times, interleaved.
        for _ in range(args.write_repeats):
            for label, fn in cases:
                load = cc.LoadMeter()
                record(label, fn(), load)
        host_file.unlink()
        for entry in writes.values():
            entry["mib_s_median"] = statistics.median(run["mib_s"] for run in entry["runs"])
        host = writes["host write+fsync (new file)"]["mib_s_median"]
        overwrite = writes["host overwrite+fsync (same file again)"]["mib_s_median"]
        for v in writes.values():
            v["vs_host_new_file"] = v["mib_s_median"] / host
            v["vs_host_overwrite"] = v["mib_s_median"] / overwrite
        g = writes[guest_case]
        g["host_wall_mib_s_median"] = statistics.median(run["host_wall_mib_s"] for run in g["runs"])
        results["writes"] = writes
        results["guest_write"].update({"guest_mib_s": g["mib_s_median"], "host_new_file_mib_s": host,
                                       "ratio_guest_to_host": g["vs_host_new_file"],
                                       "ratio_guest_to_host_overwrite": g["vs_host_overwrite"]})
        cloud.call("DELETE", f"/compute/v2.1/servers/{server_id}/os-volume_attachments/{write_id}", 202)
        vols.wait(write_id, "available", time.monotonic(), args.timeout)
        cloud.call("DELETE", f"{vols.base}/{write_id}", 202)

        cloud.call("DELETE", f"/compute/v2.1/servers/{server_id}", 204)
        end = time.monotonic() + 120
        while cloud.http.get(f"/compute/v2.1/servers/{server_id}").status_code != 404 and time.monotonic() < end:
            time.sleep(0.2)
        server_id = None
        cloud.call("DELETE", f"{vols.base}/{volume_id}", 202)
    finally:
        if server_id is not None:
            try:
                cloud.call("DELETE", f"/compute/v2.1/servers/{server_id}", 204)
                time.sleep(3)
            except Exception as exc:  # noqa: BLE001 - clean up whatever state the run stopped in
                cc.say(f"server delete failed: {exc}")
        cloud.stop()
        results["qemus_killed_at_end"] = cc.kill_qemus(str(workdir))
    results["loadavg_at_end"] = list(os.getloadavg())
    return results


def report(r: dict[str, Any]) -> None:
    cfg = r["config"]
    print(f"\nvolume ops (load average at start {r['loadavg_at_start'][0]:.2f}, at end {r['loadavg_at_end'][0]:.2f})")
    v = r["volume_from_image"]
    print(f"(a) {cfg['size_mib']} MiB raw image -> {cfg['volume_size_gb']} GiB volume: available in "
          f"{v['to_available_s']:.2f} s (POST answered in {v['post_s'] * 1e3:.0f} ms)")
    for label, c in r["qemu_img_convert"].items():
        print(f"    {label} + sync: {c['s']:.2f} s")
    print(f"    the same image again (in the host's image cache): {v['cached_image_to_available_s']:.2f} s; "
          f"GET of the image file by this client: {r['image_download_by_client_s']:.2f} s")
    print(f"    ratio: {v['vs_default_convert']:.2f}x of the default convert, "
          f"{v['vs_fastest_convert']:.2f}x of the fastest")
    a = r["attach_detach"]
    print(f"(b) attach -> in-use  median {a['attach_median_s'] * 1e3:.0f} ms (min {a['attach_ms']['min']:.0f}, "
          f"max {a['attach_ms']['max']:.0f}); detach -> available median {a['detach_median_s'] * 1e3:.0f} ms "
          f"(min {a['detach_ms']['min']:.0f}, max {a['detach_ms']['max']:.0f}), {len(a['rounds'])} rounds")
    for f in a["failed_attaches"]:
        print(f"    FAILED attach (round {f['round']}, retried): {f['request']} -> {f['status']} {f['body'][:200]}")
    gw = r["guest_write"]
    print(f"(c) {cfg['write_mib']} MiB sequential write, 4 MiB writes then flush/fsync; guest: dd to {gw['device']} "
          f"({cfg['write_volume_gb']} GiB volume) with {gw['dd_flags']}, accelerator {gw['accelerator']}:")
    for label, w in r["writes"].items():
        runs = ", ".join(f"{run['mib_s']:.0f}" for run in w["runs"])
        print(f"    {label:<55} median {w['mib_s_median']:6.0f} MiB/s  ({w['vs_host_new_file']:.0%} of host new file, "
              f"{w['vs_host_overwrite']:.0%} of host overwrite; runs {runs})")
    g = r["writes"]["guest dd over its volume (allocated)"]
    cpu = [run["guest_cpu"] for run in g["runs"]]
    print(f"    guest dd timed from the host: median {g['host_wall_mib_s_median']:.0f} MiB/s; guest CPU during dd: "
          + ", ".join(f"{c['system'] + c['user']:.0%} busy/{c['iowait']:.0%} iowait" for c in cpu)
          + "; QEMU process: " + ", ".join(f"{run['qemu_cpu_cores']:.2f}" for run in g["runs"]) + " cores")
    print(f"    ratio guest/host (new file + fsync): {gw['ratio_guest_to_host']:.2f}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-mib", type=int, default=1024, help="image size (default 1 GiB)")
    ap.add_argument("--volume-gb", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--write-mib", type=int, default=512, help="MiB per write run, a multiple of 4 (default 512)")
    ap.add_argument("--write-volume-gb", type=int, default=1, help="size of the volume the guest writes to")
    ap.add_argument("--write-repeats", type=int, default=5)
    ap.add_argument("--image", default="monostack-guest")
    ap.add_argument("--flavor", default="m1.tiny")
    ap.add_argument("--poll", type=float, default=0.05)
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--guest-cache", default=os.environ.get("MONOSTACK_GUEST_CACHE")
                    or str(pathlib.Path.home() / ".cache" / "monostack" / "guest"))
    ap.add_argument("--log-level", default="WARNING")
    ap.add_argument("--json", default=None)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    if args.write_mib % 4 or not 0 < args.write_mib <= args.write_volume_gb * 1024:
        ap.error("--write-mib must be a multiple of 4 and fit in --write-volume-gb")
    base = REPO / "data"
    base.mkdir(parents=True, exist_ok=True)
    workdir = pathlib.Path(tempfile.mkdtemp(prefix="bench-volume-", dir=base))
    try:
        results = run(args, workdir)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    report(results)
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
