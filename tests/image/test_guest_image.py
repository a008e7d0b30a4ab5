"""Boot the Monostack guest image directly with QEMU (no cloud).

The guest gets a user-mode (slirp) NIC whose network is 169.254.0.0/16, so
that a ``guestfwd`` rule can answer at 169.254.169.254:80: each connection
runs a tiny metadata server (this file, run as a script) that serves a
directory. The guest takes its address by DHCP from slirp, reads the metadata
(OpenStack or EC2 paths) or a config drive (iso9660 CD-ROM or vfat disk
labelled config-2), and prints ``MONOSTACK-GUEST: ...`` markers on its serial
console, which the tests follow. One test also hot-plugs a virtio disk through
QMP and SSHs in with the injected key.

KVM is used when it works: /dev/kvm may open yet a nested guest hang, so a
first boot with KVM must reach the initramfs marker within a few seconds,
else every boot uses TCG. MONOSTACK_QEMU_ACCEL=kvm|tcg skips the probe.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
QEMU = "qemu-system-x86_64"
MARK = "MONOSTACK-GUEST: "
MD_NET = "net=169.254.0.0/16,host=169.254.0.1,dhcpstart=169.254.0.15"
BOOT_TIMEOUT = 90  # seconds to the login prompt (TCG on a busy 2-core CI box)

pytestmark = pytest.mark.qemu


# --------------------------------------------------------------------------
# the metadata server, run by QEMU once per guest connection (stdin/stdout
# are the guest's TCP connection)


def serve_one(root: str) -> None:
    rf = sys.stdin.buffer
    line = rf.readline().decode("latin-1")
    while rf.readline() not in (b"\r\n", b"\n", b""):
        pass
    parts = line.split()
    path = parts[1] if len(parts) > 1 else "/"
    full = os.path.normpath(os.path.join(root, path.lstrip("/")))
    with open(os.path.join(root, os.pardir, "requests.log"), "a") as log:
        log.write(path + "\n")
    if path.endswith("/") and os.path.isfile(os.path.join(full, "index")):
        full = os.path.join(full, "index")
    if (full == root or full.startswith(root + os.sep)) and os.path.isfile(full):
        with open(full, "rb") as f:
            body, status = f.read(), "200 OK"
    else:
        body, status = b"Not Found", "404 Not Found"
    head = (f"HTTP/1.0 {status}\r\nContent-Type: text/plain\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n")
    sys.stdout.buffer.write(head.encode() + body)
    sys.stdout.buffer.flush()


# --------------------------------------------------------------------------
# helpers


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _die_with_parent() -> None:
    """In the child: SIGKILL when pytest dies, so no QEMU outlives the run."""
    try:
        import ctypes
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, 9)  # PR_SET_PDEATHSIG, SIGKILL
    except OSError:
        pass


class Guest:
    """One QEMU process booting a snapshot (never written) of the image."""

    def __init__(self, image: Path, workdir: Path, accel: str, *, metadata: Path | None = None,
                 extra: list[str] | None = None, ssh: bool = False) -> None:
        self.workdir = workdir
        self.console = workdir / "console.log"
        self.qmp_path = workdir / "qmp.sock"
        self.ssh_port = _free_port() if ssh else None
        netdev = f"user,id=n0,{MD_NET}"
        if metadata is not None:
            netdev += (f",guestfwd=tcp:169.254.169.254:80-cmd:{sys.executable} "
                       f"{Path(__file__).resolve()} {metadata}")
        if self.ssh_port:
            netdev += f",hostfwd=tcp:127.0.0.1:{self.ssh_port}-:22"
        cmd = [QEMU, "-machine", "pc", "-m", "256", "-smp", "1",
               "-display", "none", "-vga", "none", "-monitor", "none",
               "-serial", f"file:{self.console}",
               "-qmp", f"unix:{self.qmp_path},server=on,wait=off",
               "-drive", f"file={image},if=virtio,format=qcow2,snapshot=on",
               "-netdev", netdev, "-device", "virtio-net-pci,netdev=n0"]
        cmd += ["-accel", "kvm", "-cpu", "host"] if accel == "kvm" else ["-accel", "tcg"]
        cmd += extra or []
        self.started = time.monotonic()
        with open(workdir / "qemu.err", "wb") as err:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=err, preexec_fn=_die_with_parent)

    def text(self) -> str:
        try:
            return self.console.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_for(self, needle: str, timeout: float = BOOT_TIMEOUT) -> float:
        """Wait until the console shows needle; returns seconds since start."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if needle in self.text():
                return time.monotonic() - self.started
            if self.proc.poll() is not None:
                break
            time.sleep(0.2)
        err = (self.workdir / "qemu.err").read_text(errors="replace")
        raise AssertionError(f"no {needle!r} on the console after {timeout}s "
                             f"(qemu rc={self.proc.poll()}, stderr={err!r}):\n{self.text()}")

    def markers(self) -> list[str]:
        return [line.split(MARK, 1)[1].strip() for line in self.text().splitlines()
                if MARK in line]

    def qmp(self, *commands: tuple[str, dict]) -> list[dict]:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(30)
            sock.connect(str(self.qmp_path))
            f = sock.makefile("rwb")
            json.loads(f.readline())  # greeting
            replies = []
            for name, args in (("qmp_capabilities", {}),) + commands:
                f.write(json.dumps({"execute": name, "arguments": args}).encode() + b"\n")
                f.flush()
                while True:
                    msg = json.loads(f.readline())
                    if "return" in msg or "error" in msg:
                        break
                assert "error" not in msg, (name, msg)
                replies.append(msg["return"])
            return replies[1:]

    def ssh(self, key: Path, user: str, command: str) -> str:
        assert self.ssh_port
        out = subprocess.run(
            ["ssh", "-i", str(key), "-p", str(self.ssh_port), "-o", "BatchMode=yes",
             "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
             "-o", "ConnectTimeout=20", "-o", "LogLevel=ERROR", f"{user}@127.0.0.1", command],
            capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, (out.returncode, out.stdout, out.stderr)
        return out.stdout

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=30)


def _tools_present() -> bool:
    return all(shutil.which(t) for t in (QEMU, "qemu-img", "mkfs.ext4", "grub-mkimage",
                                         "genisoimage", "mkfs.vfat", "mcopy")) \
        and Path("/usr/lib/grub/i386-pc/boot.img").exists()


# --------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="module")
def guest_image() -> Path:
    if not _tools_present():
        if os.geteuid() != 0:
            pytest.skip("guest build tools missing: run scripts/install-guest-build-deps.sh")
        subprocess.run([str(REPO / "scripts/install-guest-build-deps.sh")], check=True)
    from monostack.image.guest import default_cache_dir, ensure_guest_image
    return ensure_guest_image(default_cache_dir())


_ACCEL: list[str] = []


@pytest.fixture(scope="module")
def accel(guest_image: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    forced = os.environ.get("MONOSTACK_QEMU_ACCEL")
    if forced:
        return forced
    if _ACCEL:
        return _ACCEL[0]
    choice = "tcg"
    try:
        os.close(os.open("/dev/kvm", os.O_RDWR))
        kvm = True
    except OSError:
        kvm = False
    if kvm:
        guest = Guest(guest_image, tmp_path_factory.mktemp("kvm-probe"), "kvm")
        try:
            guest.wait_for(MARK + "initramfs", timeout=10)
            choice = "kvm"
        except AssertionError:
            pass
        finally:
            guest.stop()
    _ACCEL.append(choice)
    return choice


@pytest.fixture
def ssh_key(tmp_path: Path) -> Path:
    if not shutil.which("ssh-keygen"):
        pytest.skip("ssh-keygen missing")
    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "test@monostack",
                    "-f", str(key)], check=True)
    return key


@pytest.fixture
def guests():
    started: list[Guest] = []
    yield started
    for guest in started:
        guest.stop()


USER_DATA = """#!/bin/sh
echo "USER-DATA: hello from $(hostname)" > /dev/console
echo ran > /root/user-data-was-here
"""


def _openstack_tree(root: Path, key: Path, name: str) -> Path:
    latest = root / "openstack" / "latest"
    latest.mkdir(parents=True)
    pub = key.with_suffix(".pub").read_text()
    meta = {"uuid": f"uuid-{name}", "name": name, "hostname": f"{name}.novalocal",
            "availability_zone": "nova", "launch_index": 0, "project_id": "p1",
            "public_keys": {"testkey": pub},
            "keys": [{"name": "testkey", "type": "ssh", "data": pub}],
            "meta": {"role": "test"}, "devices": []}
    (latest / "meta_data.json").write_text(json.dumps(meta))
    (latest / "user_data").write_text(USER_DATA)
    return root


def _assert_boot(guest: Guest, *, source: str, hostname: str, keys: int = 1) -> None:
    guest.wait_for(MARK + "login prompt")
    marks = guest.markers()
    expected = ["bootloader", "initramfs", "boot reached", "address 169.254.0.15/16 on eth0",
                "ssh server started", f"metadata from {source}", f"hostname {hostname}",
                f"keys installed {keys}", "user-data ran (exit 0)", "login prompt"]
    positions = []
    for item in expected:
        assert item in marks, (item, marks, guest.text())
        positions.append(marks.index(item))
    assert positions == sorted(positions), marks
    assert f"USER-DATA: hello from {hostname}" in guest.text()


# --------------------------------------------------------------------------
# tests


def test_image_is_small_qcow2(guest_image: Path) -> None:
    info = json.loads(subprocess.run(["qemu-img", "info", "--output=json", str(guest_image)],
                                     check=True, capture_output=True, text=True).stdout)
    assert info["format"] == "qcow2"
    assert info["virtual-size"] <= 1024**3
    assert guest_image.stat().st_size < 64 * 1024**2
    assert guest_image.with_suffix(".vmlinuz").exists()
    assert guest_image.with_suffix(".initrd").exists()


def test_metadata_service_ssh_and_hotplug(guest_image, accel, tmp_path, ssh_key, guests):
    md = _openstack_tree(tmp_path / "md", ssh_key, "guest-one")
    guest = Guest(guest_image, tmp_path, accel, metadata=md, ssh=True)
    guests.append(guest)
    _assert_boot(guest, source="http://169.254.169.254 (openstack)", hostname="guest-one")
    boot_time = guest.wait_for(MARK + "login prompt")
    print(f"boot to login prompt under {accel}: {boot_time:.1f}s")
    requests = (tmp_path / "requests.log").read_text().split()
    assert "/openstack/latest/meta_data.json" in requests
    assert "/openstack/latest/user_data" in requests

    if shutil.which("ssh"):
        out = guest.ssh(ssh_key, "monostack", "id -un; hostname; cat /run/monostack/address")
        assert out.split() == ["monostack", "guest-one", "169.254.0.15/16"]
        assert guest.ssh(ssh_key, "root", "cat /root/user-data-was-here").strip() == "ran"

    # hot-plug a disk through QMP: /dev/vdb appears and the guest says so
    disk = tmp_path / "extra.raw"
    with open(disk, "wb") as f:
        f.truncate(64 * 1024 * 1024)
    guest.qmp(("blockdev-add", {"driver": "raw", "node-name": "hp0",
                                "file": {"driver": "file", "filename": str(disk)}}),
              ("device_add", {"driver": "virtio-blk-pci", "drive": "hp0", "id": "hpdisk0"}))
    guest.wait_for(MARK + "disk vdb added", timeout=60)
    if shutil.which("ssh"):
        out = guest.ssh(ssh_key, "root", "cat /sys/block/vdb/size; "
                        "echo hello | dd of=/dev/vdb bs=512 conv=sync 2>/dev/null; sync")
        assert out.split()[0] == str(64 * 1024 * 1024 // 512)
        time.sleep(0.5)
        with open(disk, "rb") as f:
            assert f.read(6) == b"hello\n"
        # What Tempest's validation runs in a guest: its disk list (a TYPE
        # column with "disk" rows) and commands behind sudo.
        listed = guest.ssh(ssh_key, "root", "lsblk -lb --nodeps").splitlines()
        assert "TYPE" in listed[0]
        disks = {line.split()[0]: line.split()[3] for line in listed[1:] if " disk" in line}
        assert disks["vdb"] == str(64 * 1024 * 1024), listed
        assert "vda" in disks
        assert guest.ssh(ssh_key, "root", 'sudo sh -c "id -un"').strip() == "root"
        assert guest.ssh(ssh_key, "root", "blkid -o value -s TYPE /dev/vda1").strip() == "ext4"
        refused = subprocess.run(
            ["ssh", "-i", str(ssh_key), "-p", str(guest.ssh_port), "-o", "BatchMode=yes",
             "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
             "monostack@127.0.0.1", "sudo id -un"], capture_output=True, text=True, timeout=60)
        assert refused.returncode != 0 and "sudoers" in refused.stderr

    # ACPI power button (what a soft stop sends): a clean poweroff, QEMU exits
    guest.qmp(("system_powerdown", {}))
    guest.proc.wait(timeout=60)
    assert "MONOSTACK-GUEST: shutting down" in guest.text()


def test_ec2_metadata_paths(guest_image, accel, tmp_path, ssh_key, guests):
    md = tmp_path / "md"
    meta = md / "latest" / "meta-data"
    (meta / "public-keys" / "0").mkdir(parents=True)
    (meta / "instance-id").write_text("i-0000abcd")
    (meta / "hostname").write_text("ec2-guest.novalocal")
    (meta / "public-keys" / "index").write_text("0=testkey")
    (meta / "public-keys" / "0" / "openssh-key").write_text(ssh_key.with_suffix(".pub").read_text())
    (md / "latest" / "user-data").write_text(USER_DATA)
    guest = Guest(guest_image, tmp_path, accel, metadata=md)
    guests.append(guest)
    _assert_boot(guest, source="http://169.254.169.254 (ec2)", hostname="ec2-guest")
    assert "instance-id i-0000abcd" in guest.markers()


@pytest.mark.parametrize("fs", ["iso9660", "vfat"])
def test_config_drive(guest_image, accel, tmp_path, ssh_key, guests, fs):
    tree = _openstack_tree(tmp_path / "cd", ssh_key, f"cd-{fs}")
    if fs == "iso9660":
        drive = tmp_path / "config.iso"
        subprocess.run(["genisoimage", "-quiet", "-o", str(drive), "-V", "config-2", "-J", "-R",
                        str(tree)], check=True)
        extra = ["-drive", f"file={drive},if=ide,media=cdrom,format=raw,readonly=on"]
        dev = "/dev/sr0"
    else:
        drive = tmp_path / "config.vfat"
        subprocess.run(["mkfs.vfat", "-C", "-n", "config-2", str(drive), "16384"], check=True,
                       capture_output=True)
        subprocess.run(["mcopy", "-s", "-i", str(drive), str(tree / "openstack"), "::/"],
                       check=True)
        extra = ["-drive", f"file={drive},if=virtio,format=raw"]
        dev = "/dev/vdb"
    # no metadata server: the config drive is the only source
    guest = Guest(guest_image, tmp_path, accel, extra=extra)
    guests.append(guest)
    _assert_boot(guest, source=f"config-drive {dev}", hostname=f"cd-{fs}")


if __name__ == "__main__":
    serve_one(os.path.realpath(sys.argv[1]))
