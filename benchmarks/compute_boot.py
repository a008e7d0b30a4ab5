#!/usr/bin/env python3
"""Server boot time through the Compute API against plain QEMU, side by side in one run.

`monostack up` (identity,image,placement,compute; the QEMU driver; the guest image
`monostack-guest` registered from MONOSTACK_GUEST_CACHE) on a free port, then:

  warm-up   one server created, booted to its login prompt and deleted, not counted: it
            fills the compute agent's image cache (its times are reported as `cold`), and it
            is the template of the plain QEMU runs (its command line and config drive)
  N rounds  alternating which side goes first:
    ours    POST /servers -> the server is ACTIVE (GET /servers/{id} polled), measured from
            the moment the request is sent; -> "login:" after the marker
            "MONOSTACK-GUEST: login prompt" on its serial console (the console log file in
            the instance dir polled, or --console api: os-getConsoleOutput); then DELETE and
            wait until the server is gone (404) and its QEMU has exited
    raw     plain qemu-system-x86_64: `qemu-img create` of a qcow2 overlay on the same base
            file (same virtual size), then the command line that starts the warm-up
            server's guest cold (from its guest.json: same machine, accelerator, CPU model,
            memory, vCPUs, devices, config drive copy, serial console socket + log file,
            QMP, -daemonize; our driver starts that machine paused at the head of a build
            and adds these devices over QMP, guest.json has them as one command line),
            with only its paths, uuid and SSH forward port changed; ->
            "running" (QEMU daemonized and QMP query-status answers "running", which is what
            our driver waits for before ACTIVE); -> the same login prompt in its console log

Reported: medians (and every sample) of ours-to-ACTIVE, ours-to-login, raw-to-running
(with and without the overlay creation), raw-to-login; the ratios ours/raw (goals: ACTIVE
<= 1.1x, login prompt <= 1.2x); a breakdown of our ACTIVE time from the instance action
events and the QEMU process start time; the load average and busy cores during each boot.

    .venv/bin/python benchmarks/compute_boot.py [--rounds 3] [--flavor m1.tiny] [--json FILE]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import pathlib
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid as uuidlib
from typing import Any

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import _compute_cloud as cc  # noqa: E402
import _procs  # noqa: E402

MARKER = b"MONOSTACK-GUEST: login prompt"
PROMPT = b"login:"
GOALS = {"active": 1.1, "login": 1.2}
CLK_TCK = os.sysconf("SC_CLK_TCK")


# -------------------------------------------------------------------- small helpers


def login_seen(text: bytes) -> bool:
    """The login prompt marker, then getty's "login:" after it."""
    at = text.find(MARKER)
    return at >= 0 and text.find(PROMPT, at + len(MARKER)) >= 0


def read_bytes(path: pathlib.Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


def wait_file_login(path: pathlib.Path, t_start: float, poll: float, timeout: float, alive=None) -> float:
    """Seconds from t_start until path shows the login prompt."""
    end = time.monotonic() + timeout
    while True:
        if login_seen(read_bytes(path)):
            return time.monotonic() - t_start
        if time.monotonic() > end:
            raise TimeoutError(f"no login prompt in {path} after {timeout:.0f}s:\n"
                               f"{read_bytes(path)[-1500:].decode(errors='replace')}")
        if alive is not None and not alive():
            raise RuntimeError(f"QEMU exited before the login prompt:\n{read_bytes(path)[-1500:].decode(errors='replace')}")
        time.sleep(poll)


def proc_start_boottime(pid: int) -> float | None:
    """When pid started, in CLOCK_BOOTTIME seconds (10 ms resolution)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    return int(data[data.rindex(b")") + 2:].split()[19]) / CLK_TCK


def pid_alive(pid: int) -> bool:
    return _procs._stat(pid) is not None and _state(pid) not in ("Z", "X", "")


def _state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return ""
    return data[data.rindex(b")") + 2:][:1].decode()


def qmp_status(path: pathlib.Path, timeout: float = 10.0) -> str:
    """query-status over QEMU's QMP socket (capabilities negotiated first)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(str(path))
        stream = sock.makefile("rwb")

        def reply() -> dict:
            while True:
                line = stream.readline()
                if not line:
                    raise ConnectionError("QMP closed")
                msg = json.loads(line)
                if "return" in msg or "error" in msg:
                    return msg

        json.loads(stream.readline())  # greeting
        for command in ("qmp_capabilities", "query-status"):
            stream.write(json.dumps({"execute": command}).encode() + b"\n")
            stream.flush()
            msg = reply()
            if "error" in msg:
                raise RuntimeError(f"QMP {command}: {msg['error']}")
        return msg["return"]["status"]
    finally:
        sock.close()


def parse_time(value: str | None) -> float | None:
    """An API timestamp (UTC, ISO 8601) as a Unix time."""
    if not value:
        return None
    dt = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=datetime.timezone.utc)
    return dt.timestamp()


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


# -------------------------------------------------------------------- ours


class Ours:
    def __init__(self, cloud: cc.Cloud, image_id: str, flavor_id: str, args: argparse.Namespace):
        self.cloud, self.image_id, self.flavor_id, self.args = cloud, image_id, flavor_id, args
        self.instances = cloud.data_dir / "compute" / "instances"
        self.count = 0

    def console_api(self, server_id: str) -> bytes:
        response = self.cloud.http.post(f"/compute/v2.1/servers/{server_id}/action",
                                        json={"os-getConsoleOutput": {"length": 50}})
        if response.status_code != 200:
            return b""
        return (response.json().get("output") or "").encode()

    def boot(self) -> dict[str, Any]:
        """Create a server, time it to ACTIVE and to its login prompt; leave it running."""
        args, cloud = self.args, self.cloud
        self.count += 1
        body = {"server": {"name": f"bench-boot-{self.count}", "imageRef": self.image_id,
                           "flavorRef": self.flavor_id}}
        load = cc.LoadMeter()
        wall0, boot0 = time.time(), time.clock_gettime(time.CLOCK_BOOTTIME)
        t0 = time.monotonic()
        response = cloud.call("POST", "/compute/v2.1/servers", 202, json=body)
        t_response = time.monotonic() - t0
        server_id = response.json()["server"]["id"]
        end = t0 + args.timeout
        while True:
            server = cloud.call("GET", f"/compute/v2.1/servers/{server_id}").json()["server"]
            if server["status"] == "ACTIVE":
                t_active = time.monotonic() - t0
                launched = parse_time(server.get("OS-SRV-USG:launched_at"))
                break
            if server["status"] == "ERROR":
                raise RuntimeError(f"server {server_id} went to ERROR: {server.get('fault')}")
            if time.monotonic() > end:
                raise TimeoutError(f"server {server_id} not ACTIVE after {args.timeout:.0f}s: {server['status']}")
            time.sleep(args.active_poll)
        instance = self.instances / server_id
        pid = int(read_bytes(instance / "qemu.pid").strip() or 0)
        if args.console == "api":
            while not login_seen(self.console_api(server_id)):
                if time.monotonic() > end:
                    raise TimeoutError(f"no login prompt from os-getConsoleOutput of {server_id}")
                time.sleep(args.poll)
            t_login = time.monotonic() - t0
        else:
            t_login = wait_file_login(instance / "console.log", t0, args.poll, max(end - time.monotonic(), 1),
                                      alive=lambda: pid_alive(pid))
        result = {"server_id": server_id, "post_response_s": t_response, "active_s": t_active, "login_s": t_login,
                  "load": load.done(), "qemu_pid": pid,
                  # when the agent wrote ACTIVE (its launched_at), without the client's polling delay
                  "active_server_side_s": None if launched is None else launched - wall0}
        started = proc_start_boottime(pid) if pid else None
        if started is not None:
            result["qemu_process_started_s"] = started - boot0  # the daemonized QEMU's fork (10 ms ticks)
        result["console_api_shows_login"] = login_seen(self.console_api(server_id))
        result["breakdown_s"] = self.breakdown(server_id, wall0)
        return result

    def breakdown(self, server_id: str, wall0: float) -> dict[str, Any]:
        """Instance action events of the create, as seconds after the request was sent."""
        try:
            actions = self.cloud.call("GET", f"/compute/v2.1/servers/{server_id}/os-instance-actions").json()
            create = [a for a in actions["instanceActions"] if a["action"] == "create"][0]
            detail = self.cloud.call("GET", f"/compute/v2.1/servers/{server_id}/os-instance-actions/"
                                            f"{create['request_id']}", headers={
                                                "OpenStack-API-Version": "compute 2.51"}).json()["instanceAction"]
        except Exception as err:  # the breakdown is a nicety; the timings above stand without it
            return {"error": f"{type(err).__name__}: {err}"}
        out: dict[str, Any] = {"action_start": _rel(parse_time(create.get("start_time")), wall0)}
        for event in detail.get("events", []):
            out[event["event"]] = {"start": _rel(parse_time(event.get("start_time")), wall0),
                                   "finish": _rel(parse_time(event.get("finish_time")), wall0)}
        return out

    def template(self, server_id: str, dest: pathlib.Path) -> dict[str, Any]:
        """What the plain QEMU runs copy from a running server of ours: its argv, root disk, config drive."""
        instance = self.instances / server_id
        record = json.loads((instance / "guest.json").read_text())
        info = json.loads(subprocess.run(["qemu-img", "info", "-U", "--output=json", str(instance / "disk")],
                                         check=True, capture_output=True, text=True).stdout)
        dest.mkdir(parents=True, exist_ok=True)
        copied = []
        for name in ("disk.config", "disk.eph0", "disk.swap"):
            if (instance / name).exists():
                subprocess.run(["cp", "--sparse=always", str(instance / name), str(dest / name)], check=True)
                copied.append(name)
        base = info.get("full-backing-filename") or info.get("backing-filename")
        if not base:
            raise RuntimeError(f"the root disk of {server_id} has no backing file: {info}")
        return {"argv": record["argv"], "accelerator": record.get("accelerator"),
                "prelaunched": record.get("prelaunched", False), "dir": str(instance),
                "uuid": server_id, "base": base, "base_format": info.get("backing-filename-format") or "qcow2",
                "virtual_size": info["virtual-size"], "files": copied, "files_dir": str(dest)}

    def delete(self, server_id: str, pid: int) -> float:
        """DELETE and wait until the server is gone and its QEMU has exited; returns the seconds it took."""
        t0 = time.monotonic()
        self.cloud.call("DELETE", f"/compute/v2.1/servers/{server_id}", 204)
        end = t0 + 120
        while self.cloud.http.get(f"/compute/v2.1/servers/{server_id}").status_code != 404:
            if time.monotonic() > end:
                raise TimeoutError(f"server {server_id} still there 120 s after DELETE")
            time.sleep(0.1)
        while pid and pid_alive(pid):
            if time.monotonic() > end:
                raise TimeoutError(f"QEMU {pid} of deleted server {server_id} still running")
            time.sleep(0.05)
        return time.monotonic() - t0


def _rel(t: float | None, t0: float) -> float | None:
    return None if t is None else round(t - t0, 3)


# -------------------------------------------------------------------- raw QEMU


class Raw:
    def __init__(self, template: dict[str, Any], workdir: pathlib.Path, args: argparse.Namespace):
        self.template, self.workdir, self.args = template, workdir, args
        self.count = 0

    def argv(self, directory: pathlib.Path, guest_uuid: str) -> list[str]:
        tpl = self.template
        port = _procs.free_port()
        out = []
        for arg in tpl["argv"]:
            arg = arg.replace(tpl["dir"], str(directory)).replace(tpl["uuid"], guest_uuid)
            arg = re.sub(r"tcp:127\.0\.0\.1:\d+-:", f"tcp:127.0.0.1:{port}-:", arg)
            out.append(arg)
        return out

    def boot(self) -> dict[str, Any]:
        args, tpl = self.args, self.template
        self.count += 1
        directory = self.workdir / f"raw{self.count}"
        directory.mkdir(parents=True)
        for name in tpl["files"]:  # the config drive (made by our agent for the template): not timed
            subprocess.run(["cp", "--sparse=always", os.path.join(tpl["files_dir"], name), str(directory / name)],
                           check=True)
        guest_uuid = str(uuidlib.uuid4())
        argv = self.argv(directory, guest_uuid)
        load = cc.LoadMeter()
        t0 = time.monotonic()
        create = ["qemu-img", "create", "-q", "-f", "qcow2", "-F", tpl["base_format"], "-b", tpl["base"],
                  str(directory / "disk"), str(tpl["virtual_size"])]
        subprocess.run(create, check=True, capture_output=True)
        t_overlay = time.monotonic() - t0
        t1 = time.monotonic()
        with open(directory / "qemu.out", "wb") as out:
            rc = subprocess.run(argv, cwd=directory, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                start_new_session=True, timeout=args.timeout).returncode
        if rc != 0:
            raise RuntimeError(f"plain QEMU failed ({rc}): {read_bytes(directory / 'qemu.out')[-2000:]!r}")
        t_daemonized = time.monotonic() - t0
        pid = int(read_bytes(directory / "qemu.pid").strip())
        end = t0 + args.timeout
        while True:
            try:
                status = qmp_status(directory / "qmp.sock")
            except (OSError, ConnectionError):
                status = None
            if status == "running":
                t_running = time.monotonic() - t0
                break
            if time.monotonic() > end or not pid_alive(pid):
                raise RuntimeError(f"plain QEMU not running (status {status})")
            time.sleep(0.01)
        t_login = wait_file_login(directory / "console.log", t0, args.poll, max(end - time.monotonic(), 1),
                                  alive=lambda: pid_alive(pid))
        result = {"overlay_s": t_overlay, "daemonized_s": t_daemonized, "running_s": t_running,
                  "running_qemu_only_s": t_running - (t1 - t0), "login_s": t_login,
                  "login_qemu_only_s": t_login - (t1 - t0), "load": load.done(), "qemu_pid": pid}
        os.kill(pid, 9)
        while pid_alive(pid):
            time.sleep(0.02)
        shutil.rmtree(directory, ignore_errors=True)
        return result


# -------------------------------------------------------------------- the run


def run(args: argparse.Namespace, workdir: pathlib.Path) -> dict[str, Any]:
    env = {"MONOSTACK_DEFAULT__SERVICES": "identity,image,placement,compute",
           "MONOSTACK_GUEST_CACHE": args.guest_cache, "MONOSTACK_COMPUTE__DRIVER": "qemu",
           "MONOSTACK_DEFAULT__LOG_LEVEL": args.log_level}
    if args.accelerator:
        env["MONOSTACK_COMPUTE__ACCELERATOR"] = args.accelerator
    cloud = cc.Cloud(workdir, env)
    results: dict[str, Any] = {"benchmark": "compute_boot", "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                               "machine": cc.machine_info(), "loadavg_at_start": list(os.getloadavg()),
                               "config": {"rounds": args.rounds, "flavor": args.flavor, "image": args.image,
                                          "poll_s": args.poll, "active_poll_s": args.active_poll, "console": args.console,
                                          "guest_cache": args.guest_cache}}
    try:
        cc.say(f"starting monostack up in {workdir}")
        results["cloud_start_s"] = cloud.start()
        image = cloud.find_image(args.image)
        flavor = cloud.flavor_id(args.flavor)
        results["config"].update(image_id=image["id"], image_size=image.get("size"),
                                 flavor_detail={k: flavor[k] for k in ("id", "name", "vcpus", "ram", "disk")})
        ours = Ours(cloud, image["id"], flavor["id"], args)

        cc.say("warm-up server (fills the image cache; the template of the plain QEMU runs)")
        cold = ours.boot()
        template = ours.template(cold["server_id"], workdir / "template")
        cold["delete_s"] = ours.delete(cold["server_id"], cold["qemu_pid"])
        results["cold"] = cold
        results["qemu_argv"] = template["argv"]
        results["accelerator"] = template["accelerator"]
        results["ours_prelaunched"] = template["prelaunched"]  # QEMU started ahead of the devices
        cc.say(f"cold: ACTIVE {cold['active_s']:.2f}s, login {cold['login_s']:.2f}s "
               f"(accelerator {template['accelerator']})")
        raw = Raw(template, workdir / "raw", args)

        rounds = []
        for i in range(args.rounds):
            order = ("ours", "raw") if i % 2 == 0 else ("raw", "ours")
            entry: dict[str, Any] = {"order": list(order)}
            for side in order:
                if side == "ours":
                    r = ours.boot()
                    r["delete_s"] = ours.delete(r["server_id"], r["qemu_pid"])
                    cc.say(f"round {i + 1} ours: ACTIVE {r['active_s']:.2f}s, login {r['login_s']:.2f}s, "
                           f"delete {r['delete_s']:.2f}s, load {r['load']['loadavg_start'][0]}")
                else:
                    r = raw.boot()
                    cc.say(f"round {i + 1} raw:  running {r['running_s']:.2f}s (overlay {r['overlay_s']:.3f}s), "
                           f"login {r['login_s']:.2f}s, load {r['load']['loadavg_start'][0]}")
                entry[side] = r
            rounds.append(entry)
        results["rounds"] = rounds
    finally:
        cloud.stop()
        left = cc.kill_qemus(str(workdir))
        if left:
            results["qemus_killed_at_end"] = left
    results["summary"] = summarize(results)
    results["loadavg_at_end"] = list(os.getloadavg())
    return results


def summarize(results: dict[str, Any]) -> dict[str, Any]:
    rounds = results.get("rounds", [])
    ours = [r["ours"] for r in rounds]
    raw = [r["raw"] for r in rounds]
    med = {
        "ours_post_response_s": median([r["post_response_s"] for r in ours]),
        "ours_active_s": median([r["active_s"] for r in ours]),
        "ours_active_server_side_s": median([r["active_server_side_s"] for r in ours
                                             if r.get("active_server_side_s") is not None]),
        "ours_qemu_process_started_s": median([r["qemu_process_started_s"] for r in ours
                                               if "qemu_process_started_s" in r]),
        "ours_login_s": median([r["login_s"] for r in ours]),
        "ours_delete_s": median([r["delete_s"] for r in ours]),
        "raw_overlay_s": median([r["overlay_s"] for r in raw]),
        "raw_running_s": median([r["running_s"] for r in raw]),
        "raw_running_qemu_only_s": median([r["running_qemu_only_s"] for r in raw]),
        "raw_login_s": median([r["login_s"] for r in raw]),
    }

    def ratio(a: str, b: str) -> float | None:
        return med[a] / med[b] if med[a] is not None and med[b] else None

    ratios = {"active_vs_raw_running": ratio("ours_active_s", "raw_running_s"),
              "active_vs_raw_running_qemu_only": ratio("ours_active_s", "raw_running_qemu_only_s"),
              "active_server_side_vs_raw_running": ratio("ours_active_server_side_s", "raw_running_s"),
              "login_vs_raw_login": ratio("ours_login_s", "raw_login_s")}
    goals = [
        {"goal": "API to ACTIVE <= 1.1x plain QEMU to running (overlay + QEMU)",
         "value": ratios["active_vs_raw_running"], "target": f"<= {GOALS['active']}",
         "pass": None if ratios["active_vs_raw_running"] is None else ratios["active_vs_raw_running"] <= GOALS["active"]},
        {"goal": "API to login prompt <= 1.2x plain QEMU to login prompt",
         "value": ratios["login_vs_raw_login"], "target": f"<= {GOALS['login']}",
         "pass": None if ratios["login_vs_raw_login"] is None else ratios["login_vs_raw_login"] <= GOALS["login"]},
    ]
    return {"medians": med, "ratios": ratios, "goals": goals,
            "our_overhead_active_s": (med["ours_active_s"] - med["raw_running_s"])
            if med["ours_active_s"] is not None and med["raw_running_s"] is not None else None,
            "our_overhead_login_s": (med["ours_login_s"] - med["raw_login_s"])
            if med["ours_login_s"] is not None and med["raw_login_s"] is not None else None}


def print_report(results: dict[str, Any]) -> None:
    s = results["summary"]
    m = s["medians"]
    f = lambda v, spec=".2f": "-" if v is None else format(v, spec)  # noqa: E731
    print(f"\nCompute boot benchmark ({len(results.get('rounds', []))} rounds, flavor "
          f"{results['config'].get('flavor_detail', {}).get('name')}, accelerator {results.get('accelerator')})")
    print(f"machine: {results['machine']['cpus']} CPUs, {results['machine']['cpu_model']}; "
          f"load average at start {results['loadavg_at_start'][0]:.2f}, at end {results['loadavg_at_end'][0]:.2f}")
    if "cold" in results:
        print(f"cold (first server, image not cached): ACTIVE {results['cold']['active_s']:.2f} s, "
              f"login {results['cold']['login_s']:.2f} s")
    print(f"\n{'round':<6} {'ours ACTIVE':>12} {'ours login':>11} {'raw running':>12} {'(qemu only)':>12} "
          f"{'raw login':>10} {'load1':>6}")
    for i, r in enumerate(results.get("rounds", []), 1):
        o, w = r["ours"], r["raw"]
        print(f"{i:<6} {o['active_s']:>12.2f} {o['login_s']:>11.2f} {w['running_s']:>12.2f} "
              f"{w['running_qemu_only_s']:>12.2f} {w['login_s']:>10.2f} {o['load']['loadavg_start'][0]:>6.2f}")
    print(f"{'median':<6} {f(m['ours_active_s']):>12} {f(m['ours_login_s']):>11} {f(m['raw_running_s']):>12} "
          f"{f(m['raw_running_qemu_only_s']):>12} {f(m['raw_login_s']):>10}")
    print(f"\nours: POST answered in {f(m['ours_post_response_s'], '.3f')} s, ACTIVE written (launched_at) at "
          f"{f(m['ours_active_server_side_s'], '.3f')} s, QEMU forked at "
          f"{f(m['ours_qemu_process_started_s'])} s; delete to gone {f(m['ours_delete_s'])} s (medians)")
    for g in s["goals"]:
        verdict = "n/a" if g["pass"] is None else "PASS" if g["pass"] else "FAIL"
        print(f"  {verdict:4}  {g['goal']}: {f(g['value'])}x (target {g['target']})")
    print(f"  ACTIVE vs plain QEMU alone (without the overlay): {f(s['ratios']['active_vs_raw_running_qemu_only'])}x; "
          f"ACTIVE as written by the agent (launched_at, no polling delay) vs plain: "
          f"{f(s['ratios']['active_server_side_vs_raw_running'])}x")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--flavor", default="m1.tiny", help="flavor name or id (default m1.tiny: 1 vCPU, 512 MiB)")
    ap.add_argument("--image", default="monostack-guest")
    ap.add_argument("--guest-cache", default=os.environ.get("MONOSTACK_GUEST_CACHE")
                    or str(pathlib.Path.home() / ".cache" / "monostack" / "guest"))
    ap.add_argument("--accelerator", default="", help="kvm or tcg to skip the KVM probe (default: the cloud's auto)")
    ap.add_argument("--console", choices=("file", "api"), default="file",
                    help="where our login prompt is watched: the instance's console.log (the plain QEMU's is "
                         "always its log file) or os-getConsoleOutput")
    ap.add_argument("--poll", type=float, default=0.05, help="seconds between console polls")
    ap.add_argument("--active-poll", type=float, default=0.02,
                    help="seconds between GET /servers/{id} while waiting for ACTIVE (a short phase)")
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds one boot may take")
    ap.add_argument("--log-level", default="INFO", help="the cloud's log level (its log is in the workdir)")
    ap.add_argument("--dir", default=None, help="parent of the work directory (default: the temp dir)")
    ap.add_argument("--json", default=None, help="write the results here (e.g. benchmarks/results-compute-boot.json)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (cloud log, data)")
    args = ap.parse_args(argv)

    _procs.install_signal_handlers()
    workdir = pathlib.Path(tempfile.mkdtemp(prefix="bcb-", dir=args.dir)).resolve()
    cc.at_exit_kill_qemus(str(workdir))
    t0 = time.monotonic()
    try:
        results = run(args, workdir)
    finally:
        if args.keep:
            cc.say(f"work directory kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    results["total_s"] = time.monotonic() - t0
    print_report(results)
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
        cc.say(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
