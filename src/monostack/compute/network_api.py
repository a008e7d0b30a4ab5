"""The seam between Compute and networking.

`NetworkAPI.allocate` gives a server its interfaces (Nova's network_info:
one VIF dict per port) and `deallocate` takes them back; `nics` turns them
into the driver's Nic objects.  Without a networking service in the cloud
(the Networking issue replaces this with Neutron ports on bridges), a server
asking for networks "auto" or nothing gets one QEMU user-mode interface: the
guest gets 10.0.2.15 by QEMU's own DHCP, and SSH reaches it through a port
forwarded on the host's loopback (`ssh_port` in the VIF details).
"""

from __future__ import annotations

import random
import socket
import uuid
from typing import Any

from monostack.common import errors
from monostack.compute.drivers.base import Nic

USER_NETWORK = "user-mode"
USER_ADDRESS = "10.0.2.15"


def new_mac() -> str:
    """Nova's (Neutron's) base MAC fa:16:3e:xx:xx:xx."""
    return "fa:16:3e:" + ":".join(f"{random.randint(0, 255):02x}" for _ in range(3))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class NetworkAPI:
    """User-mode networking: what a cloud without a networking service offers."""

    has_networking = False

    async def validate(self, requested: Any, ctx: Any = None, security_groups: list[str] | None = None,
                       max_count: int = 1) -> Any:
        """400 for networks this cloud cannot give (only auto/none/omitted without a networking
        service) and for security groups other than "default"; returns the request."""
        for name in security_groups or []:
            if name != "default":
                raise errors.BadRequest(f"Security group {name} not found.")
        if requested in (None, "auto", "none"):
            return requested
        for item in requested:
            if item.get("uuid") or item.get("port"):
                what = item.get("uuid") or item.get("port")
                raise errors.BadRequest(f"Network {what} could not be found.")
        return requested

    async def allocate(self, instance: Any) -> list[dict[str, Any]]:
        if instance.requested_networks == "none":
            return []
        return [{"id": str(uuid.uuid4()), "address": new_mac(), "type": "user", "active": True,
                 "network": {"id": USER_NETWORK, "label": USER_NETWORK,
                             "subnets": [{"cidr": "10.0.2.0/24", "gateway": "10.0.2.2", "version": 4,
                                          "dns": ["10.0.2.3"],
                                          "ips": [{"address": USER_ADDRESS, "type": "fixed", "version": 4}]}]},
                 "details": {"ssh_port": free_port()}, "mtu": 1500}]

    async def deallocate(self, instance: Any) -> None:
        """Nothing to give back for user-mode interfaces."""

    def nics(self, network_info: list[dict[str, Any]]) -> list[Nic]:
        nics = []
        for vif in network_info or []:
            forwards = {vif["details"]["ssh_port"]: 22} if vif.get("details", {}).get("ssh_port") else {}
            nics.append(Nic(port_id=vif["id"], mac=vif["address"], kind=vif.get("type", "user"),
                            tap_name=vif.get("devname", ""), bridge=vif.get("bridge", ""),
                            mtu=vif.get("mtu") or 1500, host_forwards=forwards))
        return nics


def addresses(network_info: list[dict[str, Any]] | None) -> dict[str, list[dict[str, Any]]]:
    """The server's `addresses` as the API shows them, from its network_info."""
    result: dict[str, list[dict[str, Any]]] = {}
    for vif in network_info or []:
        label = vif["network"]["label"]
        entries = result.setdefault(label, [])
        for subnet in vif["network"].get("subnets", []):
            for ip in subnet.get("ips", []):
                entries.append({"version": ip["version"], "addr": ip["address"], "OS-EXT-IPS:type": "fixed",
                                "OS-EXT-IPS-MAC:mac_addr": vif["address"]})
                for fip in ip.get("floating_ips", []):
                    entries.append({"version": fip.get("version", 4), "addr": fip["address"],
                                    "OS-EXT-IPS:type": "floating", "OS-EXT-IPS-MAC:mac_addr": vif["address"]})
    return result
