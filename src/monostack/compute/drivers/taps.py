"""Tap devices for "tap" NICs, when the networking agent has not made them.

A tap the driver creates (persistent, `ip tuntap add`) is plugged into the
NIC's bridge and brought up; the driver records it in devices.json and
deletes it when the NIC or the guest goes. A tap that already exists belongs
to whoever made it and is left alone.
"""

from __future__ import annotations

import os

from monostack.compute.drivers.commands import run


def exists(name: str) -> bool:
    return os.path.exists(f"/sys/class/net/{name}")


async def ensure(name: str, bridge: str = "", mtu: int = 1500) -> bool:
    """Create the tap unless it exists; True when this call created it."""
    if not name or len(name) > 15:
        raise ValueError(f"invalid tap name {name!r}")
    if exists(name):
        return False
    await run("ip", "tuntap", "add", "dev", name, "mode", "tap")
    try:
        if mtu and mtu != 1500:
            await run("ip", "link", "set", "dev", name, "mtu", str(mtu))
        if bridge:
            await run("ip", "link", "set", "dev", name, "master", bridge)
        await run("ip", "link", "set", "dev", name, "up")
    except BaseException:
        await delete(name)
        raise
    return True


async def delete(name: str) -> None:
    if exists(name):
        await run("ip", "link", "del", "dev", name)
