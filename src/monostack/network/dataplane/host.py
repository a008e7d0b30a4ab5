"""Host commands (ip, bridge, nft, sysctl) off the event loop, and what the
host has now (links, namespaces) parsed from `ip -j`.

Everything goes through monostack.common.processes.run (a worker thread, no
fork on the loop).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
from typing import Any

from monostack.common import processes

LOG = logging.getLogger(__name__)


class CommandError(RuntimeError):
    def __init__(self, argv: list[str], result: subprocess.CompletedProcess) -> None:
        err = (result.stderr or b"").decode(errors="replace").strip()
        super().__init__(f"{' '.join(argv)} failed ({result.returncode}): {err}")
        self.returncode = result.returncode
        self.stderr = err


async def run(*argv: str, check: bool = True, input: bytes | None = None, netns: str | None = None,
              timeout: float = 30.0) -> str:
    argv_l = list(argv)
    if netns:
        argv_l = ["ip", "netns", "exec", netns] + argv_l
    kwargs: dict[str, Any] = {}
    if input is not None:
        kwargs["input"] = input
        kwargs["stdin"] = None
    result = await processes.run(argv_l, timeout=timeout, **kwargs)
    if check and result.returncode != 0:
        raise CommandError(argv_l, result)
    return (result.stdout or b"").decode(errors="replace")


async def run_json(*argv: str, netns: str | None = None) -> Any:
    out = await run(*argv, netns=netns)
    return json.loads(out) if out.strip() else []


# ---- what exists

async def links(netns: str | None = None) -> dict[str, dict[str, Any]]:
    """name -> {"kind", "master", "mtu", "address", "operstate", "ifindex", ...}"""
    data = await run_json("ip", "-d", "-j", "link", "show", netns=netns)
    result = {}
    for link in data:
        info = link.get("linkinfo", {})
        link["kind"] = info.get("info_kind", "")
        link["slave_kind"] = info.get("info_slave_kind", "")
        link["data"] = info.get("info_data", {})
        result[link["ifname"]] = link
    return result


async def addresses(dev: str, netns: str | None = None) -> set[str]:
    """"10.0.0.2/24"-style addresses (global scope, both families) on dev."""
    data = await run_json("ip", "-j", "addr", "show", "dev", dev, netns=netns)
    found = set()
    for link in data:
        for a in link.get("addr_info", []):
            if a.get("scope") == "link":
                continue
            found.add(f"{a['local']}/{a['prefixlen']}")
    return found


async def namespaces() -> set[str]:
    # `ip netns list` reads /run/netns; so do we, without a process.
    try:
        return set(os.listdir("/run/netns"))
    except FileNotFoundError:
        return set()


def link_exists(name: str) -> bool:
    return os.path.exists(f"/sys/class/net/{name}")


async def ensure_netns(name: str) -> bool:
    if name in await namespaces():
        return False
    await run("ip", "netns", "add", name)
    await run("ip", "link", "set", "lo", "up", netns=name)
    return True


async def delete_netns(name: str) -> None:
    """Kill every process in the namespace, then remove it (its devices go
    with it, and so do the host ends of their veth pairs)."""
    pids = (await run("ip", "netns", "pids", name, check=False)).split()
    for pid in pids:
        try:
            os.kill(int(pid), 9)
        except (ProcessLookupError, ValueError):
            pass
    await run("ip", "netns", "del", name, check=False)


async def write_sysctl(path: str, value: str, netns: str | None = None) -> None:
    """path like "net/ipv4/ip_forward"; inside a namespace through ip netns exec."""
    if netns is None:
        with open(f"/proc/sys/{path}") as f:
            if f.read().strip() == value:
                return
        with open(f"/proc/sys/{path}", "w") as f:
            f.write(value)
        return
    await run("sh", "-c", f"echo {value} > /proc/sys/{path}", netns=netns)
