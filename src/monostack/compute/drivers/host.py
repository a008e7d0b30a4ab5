"""What this host offers, read from the kernel and QEMU (blocking helpers: call them in a thread)."""

from __future__ import annotations

import os
import pathlib
import platform
import re
import subprocess
from typing import Any


def meminfo() -> dict[str, int]:
    """/proc/meminfo in KiB."""
    out: dict[str, int] = {}
    with open("/proc/meminfo") as f:
        for line in f:
            key, _, rest = line.partition(":")
            parts = rest.split()
            if parts:
                out[key] = int(parts[0])
    return out


def disk_gb(path: pathlib.Path) -> tuple[int, int]:
    """(total, used) GiB of the filesystem holding path."""
    path.mkdir(parents=True, exist_ok=True)
    st = os.statvfs(path)
    total = st.f_blocks * st.f_frsize
    free = st.f_bavail * st.f_frsize
    return total // 1024 ** 3, (total - free) // 1024 ** 3


def qemu_version(qemu: str) -> tuple[int, int, int]:
    """(major, minor, micro) from `qemu-system-x86_64 --version`."""
    out = subprocess.run([qemu, "--version"], capture_output=True, text=True, timeout=30).stdout
    match = re.search(r"version (\d+)\.(\d+)(?:\.(\d+))?", out)
    if not match:
        raise RuntimeError(f"cannot read the version of {qemu}: {out!r}")
    return int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)


def encode_version(version: tuple[int, int, int]) -> int:
    """Nova's integer form of a version: 8.2.1 -> 8002001."""
    major, minor, micro = version
    return major * 1000000 + minor * 1000 + micro


def cpu_info() -> dict[str, Any]:
    """Nova's cpu_info: arch, model, vendor, topology, features (from /proc/cpuinfo)."""
    model, vendor, flags = "", "", []
    sockets: set[str] = set()
    cores_per_socket, siblings = 1, 1
    with open("/proc/cpuinfo") as f:
        for line in f:
            key, _, value = (part.strip() for part in line.partition(":"))
            if key == "model name" and not model:
                model = value
            elif key == "vendor_id" and not vendor:
                vendor = value
            elif key == "flags" and not flags:
                flags = value.split()
            elif key == "physical id":
                sockets.add(value)
            elif key == "cpu cores":
                cores_per_socket = int(value)
            elif key == "siblings":
                siblings = int(value)
    vendors = {"GenuineIntel": "Intel", "AuthenticAMD": "AMD"}
    return {"arch": platform.machine(), "model": model, "vendor": vendors.get(vendor, vendor),
            "topology": {"sockets": max(len(sockets), 1), "cores": cores_per_socket,
                         "threads": max(siblings // max(cores_per_socket, 1), 1)},
            "features": sorted(flags)}
