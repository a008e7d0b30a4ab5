"""Telling Compute what happened to its servers' ports (Neutron's nova notifier).

`network-vif-plugged` when a guest's port turns ACTIVE (a build waits for it
before the guest starts), `network-vif-unplugged` when it goes DOWN,
`network-vif-deleted` when it is deleted, and `network-changed` when its
addresses change (a floating IP associated or released), so that the server's
addresses follow.  Events are sent to /os-server-external-events with the
service's token, in the background: a failure is logged, never raised into
the request that caused it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx

LOG = logging.getLogger(__name__)
COMPUTE_PREFIX = "compute:"


class NovaNotifier:
    def __init__(self, auth: Any, loop: asyncio.AbstractEventLoop):
        self.auth = auth  # common.service_auth.ServiceAuth
        self.loop = loop

    # -- the service's seams (called from worker threads or the loop) ----------------------------
    def vif_plugged(self, port: dict[str, Any]) -> None:
        self._soon(port, "network-vif-plugged")

    def vif_unplugged(self, port: dict[str, Any]) -> None:
        self._soon(port, "network-vif-unplugged")

    def vif_deleted(self, port: dict[str, Any]) -> None:
        self._soon(port, "network-vif-deleted")

    def network_changed(self, port: dict[str, Any]) -> None:
        self._soon(port, "network-changed")

    def notification(self, notification: Any) -> None:
        """A bus notification of the service: port deletions and floating IP changes."""
        event_type = notification.get("event_type", "") if isinstance(notification, dict) else ""
        payload = notification.get("payload", {}) if isinstance(notification, dict) else {}
        if event_type == "port.delete.end" and payload.get("port"):
            self.vif_deleted(payload["port"])
        elif event_type.startswith("floatingip.") and event_type.endswith(".end"):
            fip = payload.get("floatingip") or {}
            if fip.get("port_details") or fip.get("port_id"):
                device = (fip.get("port_details") or {}).get("device_id")
                owner = (fip.get("port_details") or {}).get("device_owner", "")
                if device and owner.startswith(COMPUTE_PREFIX):
                    self._send([{"name": "network-changed", "server_uuid": device, "tag": fip["port_id"]}])

    # -- sending -----------------------------------------------------------------------------------
    def _soon(self, port: dict[str, Any], name: str) -> None:
        if not (port.get("device_owner") or "").startswith(COMPUTE_PREFIX) or not port.get("device_id"):
            return
        status = "failed" if name == "network-vif-plugged" and port.get("status") == "ERROR" else "completed"
        self._send([{"name": name, "server_uuid": port["device_id"], "tag": port["id"], "status": status}])

    def _send(self, events: list[dict[str, Any]]) -> None:
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self.loop:
            self.loop.create_task(self.send(events))
        else:
            asyncio.run_coroutine_threadsafe(self.send(events), self.loop)

    async def send(self, events: list[dict[str, Any]]) -> None:
        try:
            base = (await self.auth.endpoint("compute")).rstrip("/")
            if base.endswith("/v2.1"):  # the catalog's endpoint is usually the versioned one
                base = base[:-len("/v2.1")]
            url = f"{base}/v2.1/os-server-external-events"
            response = await self.auth.client.post(url, json={"events": events}, headers=await self.auth.headers())
        except (httpx.HTTPError, Exception) as exc:  # noqa: BLE001 (never into the caller)
            LOG.warning("could not send %s to Compute: %s", [e["name"] for e in events], exc)
            return
        if response.status_code not in (200, 207):
            LOG.warning("Compute answered %s to events %s: %s", response.status_code, events, response.text[:200])
        else:
            LOG.info("sent %s to Compute", [(e["name"], e["server_uuid"], e.get("tag")) for e in events])
