"""Hypervisor drivers of the compute agent (interface: base.Driver).

`load(name, state_dir, conf)` makes one: "qemu" (the real one) or "fake" (an
explicit test and scale double, never a default). `accelerator(conf)` is the
KVM-or-TCG decision the qemu driver uses (probed once per process).
"""

from __future__ import annotations

import importlib
import pathlib
from typing import Any

from monostack.compute.drivers.base import Driver

DRIVERS = {
    "qemu": "monostack.compute.drivers.qemu:QemuDriver",
    "fake": "monostack.compute.drivers.fake:FakeDriver",
}


def load(name: str, state_dir: str | pathlib.Path, conf: Any = None, **kwargs: Any) -> Driver:
    try:
        module, cls = DRIVERS[name].split(":")
    except KeyError:
        raise ValueError(f"unknown compute driver {name!r} (known: {', '.join(sorted(DRIVERS))})") from None
    return getattr(importlib.import_module(module), cls)(pathlib.Path(state_dir), conf, **kwargs)


async def accelerator(conf: Any = None) -> str:
    """"kvm" or "tcg": [compute] accelerator when it says kvm/tcg, else the (cached) KVM probe."""
    from monostack.compute.drivers import kvm_probe
    return await kvm_probe.accelerator(conf)
