"""The [compute] options only the hypervisor drivers read.

The rest of [compute] (driver, state_dir, accelerator, ...) is declared by
monostack.compute.options; these join the same section.
"""

from __future__ import annotations

from typing import Any

import monostack.compute.options  # noqa: F401  (declares [compute] accelerator)
from monostack.common.config import FLOAT, INT, Opt, config_of, register

register(
    "compute",
    Opt("qemu_binary", "qemu-system-x86_64", "The QEMU system emulator the qemu driver runs."),
    Opt("accel_probe_timeout", 15.0,
        "Seconds the KVM probe guest may take to reach its marker before KVM is judged unusable.", FLOAT),
    Opt("wait_soft_reboot_seconds", 120, "Seconds a soft reboot waits for the guest to power off "
        "after the ACPI power button before it falls back to a hard reboot.", INT),
    Opt("shutdown_timeout", 60, "Seconds rescue and resize wait for the guest to power off after the ACPI "
        "power button before they stop it hard (Nova's [DEFAULT] shutdown_timeout).", INT),
    Opt("shutdown_retry_interval", 10, "Seconds between ACPI power button presses while a clean "
        "power off waits (a guest may miss the first one while it boots).", INT),
    Opt("device_detach_timeout", 30, "Seconds a hot-unplug waits for the guest to release the device.", INT),
    Opt("console_log_max_bytes", 1048576, "The serial console log is cut back to its last half "
        "when it grows past this size.", INT),
    # The fake driver (a test and scale double) plays a host of this size.
    Opt("fake_vcpus", 64, "fake driver: the CPUs the simulated host reports.", INT),
    Opt("fake_memory_mb", 262144, "fake driver: the memory the simulated host reports.", INT),
    Opt("fake_disk_gb", 4096, "fake driver: the disk the simulated host reports.", INT),
)


config = config_of  # the Config a driver was given (see common.config.config_of)


def option(conf: Any, name: str) -> Any:
    """[compute] <name> from the driver's conf (see config)."""
    return config(conf).get("compute", name)
