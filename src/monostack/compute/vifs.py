"""Plugging a server's ports on this host, as Nova's os-vif Linux bridge plugin does.

Before the guest starts, each port's tap device (tap<port id[:11]>) exists and
is in its network's bridge (brq<network id[:11]>, made here when the
Networking agent has not made it yet: both make it the same way, whoever is
first), with the network's MTU (the agent may make the tap too, for a port bound
here: whoever is first, the other plugs it).  The Networking agent of this host
sees the tap, applies the port's security groups and reports the port up, which makes
the Networking service send `network-vif-plugged`.  QEMU then opens the tap
by name; the driver leaves taps it did not create alone, so unplugging is
done here after the guest is gone.
"""

from __future__ import annotations

import os
from typing import Any

from monostack.compute.drivers import taps
from monostack.compute.drivers.base import DriverError
from monostack.compute.drivers.commands import run


def _exists(name: str) -> bool:
    return os.path.exists(f"/sys/class/net/{name}")


async def ensure_bridge(name: str, mtu: int) -> None:
    if not _exists(name):
        try:
            await run("ip", "link", "add", "name", name, "mtu", str(mtu), "type", "bridge", "forward_delay", "0",
                      "stp_state", "0")
        except DriverError:
            if not _exists(name):  # not a race with the agent making it at the same moment
                raise
    await run("ip", "link", "set", "dev", name, "up")


async def plug(vif: dict[str, Any]) -> None:
    if vif.get("type") == "user":
        return
    mtu = int(vif.get("mtu") or 1500)
    await ensure_bridge(vif["bridge"], mtu)
    if not _exists(vif["devname"]):
        try:
            await taps.ensure(vif["devname"], vif["bridge"], mtu)
            return
        except DriverError:
            if not _exists(vif["devname"]):  # not the Networking agent making it at the same moment
                raise
    # A tap left by an earlier start, or made by the agent: plugged where it belongs.
    await run("ip", "link", "set", "dev", vif["devname"], "master", vif["bridge"], "mtu", str(mtu), "up")


async def unplug(vif: dict[str, Any]) -> None:
    if vif.get("type") == "user":
        return
    await taps.delete(vif["devname"])
