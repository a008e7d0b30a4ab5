"""Compute's side of the Networking service (Neutron v2.0 over HTTP, as Nova's neutron.API).

The API process validates what a create asks for with the caller's token (what
the caller cannot see does not exist for it); the agent of the chosen host
makes the ports with the service's token, bound to its host, and turns them
into Nova's network_info: one VIF dict per port, with the Linux bridge
agent's names (tap<port id[:11]> in brq<network id[:11]>) and the subnets,
addresses and floating IPs the guest has.  Ports the user passed in are kept
on delete (`preserve_on_delete`) and only unbound; the ones made here go.
"""

from __future__ import annotations

import ipaddress
import logging
from typing import Any

import httpx

from monostack.common import errors
from monostack.common.service_auth import ServiceAuth
from monostack.compute.drivers.base import Nic

LOG = logging.getLogger(__name__)

DEVICE_OWNER_PREFIX = "compute:"


def tap_name(port_id: str) -> str:
    return ("tap" + port_id)[:14]


def bridge_name(network_id: str) -> str:
    return ("brq" + network_id)[:14]


class NetworkAmbiguous(errors.Conflict):
    def __init__(self) -> None:
        super().__init__("Multiple possible networks found, use a Network ID to be more specific.")


class NeutronNetworkAPI:
    has_networking = True

    def __init__(self, auth: ServiceAuth):
        self.auth = auth

    # -- HTTP ------------------------------------------------------------------------------------
    async def _call(self, method: str, path: str, *, token: str | None = None, **kwargs: Any) -> httpx.Response:
        headers = {"X-Auth-Token": token} if token else await self.auth.headers()
        url = f"{await self.auth.endpoint('network')}/v2.0{path}"
        try:
            return await self.auth.client.request(method, url, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            raise errors.ServiceUnavailable(f"The Networking service could not be reached: {exc}") from None

    async def _get(self, path: str, *, token: str | None = None, **params: Any) -> Any:
        response = await self._call("GET", path, token=token, params=params or None)
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise errors.ServiceUnavailable(f"The Networking service answered {response.status_code} to GET {path}.")
        return response.json()

    @staticmethod
    def _neutron_message(response: httpx.Response) -> str:
        try:
            return response.json()["NeutronError"]["message"]
        except Exception:
            return response.text[:200]

    # -- the API process: what a create may ask for ----------------------------------------------------
    async def available_networks(self, project_id: str, token: str | None = None) -> list[dict[str, Any]]:
        """The networks a server of the project gets without naming one: its own and shared ones,
        not external ones (Nova's _get_available_networks)."""
        own = await self._get("/networks", token=token, project_id=project_id, **{"router:external": "false"})
        shared = await self._get("/networks", token=token, shared="true", **{"router:external": "false"})
        seen: dict[str, dict[str, Any]] = {}
        for net in (own or {}).get("networks", []) + (shared or {}).get("networks", []):
            seen.setdefault(net["id"], net)
        return sorted(seen.values(), key=lambda n: n["id"])

    async def validate(self, requested: Any, ctx: Any, security_groups: list[str] | None = None,
                       max_count: int = 1) -> Any:
        """400/409 as Nova answers for networks, ports, fixed IPs and security groups a create asks
        for; returns the request with `auto`/omitted resolved to the one available network."""
        token = ctx.auth_token
        if requested == "none":
            return requested
        if requested in (None, "auto"):
            nets = await self.available_networks(ctx.project_id, token)
            if len(nets) > 1:
                raise NetworkAmbiguous()
            if not nets:
                if requested == "auto":
                    raise errors.BadRequest("Unable to automatically allocate a network for project "
                                            f"{ctx.project_id}")
                return []
            resolved: Any = [{"uuid": nets[0]["id"]}]
        else:
            resolved = []
            for item in requested:
                if item.get("port"):
                    port = await self._get(f"/ports/{item['port']}", token=token)
                    if port is None:
                        raise errors.BadRequest(f"Port id {item['port']} could not be found.")
                    port = port["port"]
                    if port.get("device_id"):
                        raise errors.Conflict(f"Port {item['port']} is still in use.")
                    if max_count > 1:
                        raise errors.BadRequest("Unable to launch multiple instances with a single configured "
                                                "port ID. Please launch your instance one by one with different "
                                                "ports.")
                    resolved.append({"port": port["id"], "uuid": port["network_id"], "tag": item.get("tag")})
                    continue
                net = await self._get(f"/networks/{item['uuid']}", token=token)
                if net is None:
                    raise errors.BadRequest(f"Network {item['uuid']} could not be found.")
                entry = {"uuid": item["uuid"], "tag": item.get("tag")}
                if item.get("fixed_ip"):
                    try:
                        ipaddress.ip_address(item["fixed_ip"])
                    except ValueError:
                        raise errors.BadRequest(f"Invalid fixed IP address ({item['fixed_ip']})") from None
                    if max_count > 1:
                        raise errors.BadRequest("max_count cannot be greater than 1 if an fixed_ip is specified.")
                    entry["fixed_ip"] = item["fixed_ip"]
                resolved.append(entry)
        await self.security_group_ids(security_groups or [], ctx.project_id, token)
        return resolved

    async def security_group_ids(self, names: list[str], project_id: str, token: str | None = None) -> list[str]:
        """Group names (or ids) of the project to ids; 400 for an unknown one, 409 for an ambiguous one."""
        if not names:
            return []
        body = await self._get("/security-groups", token=token, project_id=project_id, fields=["id", "name"])
        groups = (body or {}).get("security_groups", [])
        ids = []
        for name in names:
            matches = [g["id"] for g in groups if g["name"] == name or g["id"] == name]
            if not matches and name == "default":
                continue  # created with the project's first port
            if not matches:
                raise errors.BadRequest(f"Security group {name} not found.")
            if len(matches) > 1:
                raise errors.Conflict(f"Multiple security groups found matching '{name}'. Use an ID to be more "
                                      f"specific.")
            ids.append(matches[0])
        return ids

    # -- the agent: ports for a server on this host ----------------------------------------------
    async def allocate(self, instance: Any) -> list[dict[str, Any]]:
        requested = instance.requested_networks
        if requested in ("none", None, []):
            return []
        if requested == "auto":  # not resolved by the API (an older row): resolve now
            nets = await self.available_networks(instance.project_id)
            requested = [{"uuid": nets[0]["id"]}] if len(nets) == 1 else []
        groups = await self.security_group_ids(list(instance.security_groups or []), instance.project_id)
        ports: list[tuple[dict[str, Any], bool]] = []
        try:
            for item in requested:
                ports.append(await self._port_for(instance, item, groups))
        except BaseException:
            await self._release([p for p, _ in ports], [kept for _, kept in ports])
            raise
        return [await self._vif(port, preserve) for port, preserve in ports]

    async def allocate_one(self, instance: Any, item: dict[str, Any]) -> dict[str, Any]:
        """One more port (interface attach): {"port": id} or {"uuid": network id, "fixed_ip": ...}."""
        groups = [] if item.get("port") else await self.security_group_ids(
            list(instance.security_groups or []), instance.project_id)
        port, preserve = await self._port_for(instance, item, groups)
        return await self._vif(port, preserve)

    async def release_one(self, vif: dict[str, Any]) -> None:
        await self._release([{"id": vif["id"]}], [bool(vif.get("preserve_on_delete"))])

    async def _port_for(self, instance: Any, item: dict[str, Any], groups: list[str]) -> tuple[dict[str, Any], bool]:
        """The port for one requested NIC, bound to the server's host; True: the user's own port."""
        zone = instance.availability_zone or "nova"
        binding = {"device_id": instance.uuid, "device_owner": DEVICE_OWNER_PREFIX + zone,
                   "binding:host_id": instance.host}
        if item.get("port"):
            return await self._update_port(item["port"], binding), True
        body: dict[str, Any] = dict(binding, network_id=item["uuid"], project_id=instance.project_id)
        if groups:
            body["security_groups"] = groups
        if item.get("fixed_ip"):
            body["fixed_ips"] = [{"ip_address": item["fixed_ip"]}]
        return await self._create_port(body), False

    async def _create_port(self, body: dict[str, Any]) -> dict[str, Any]:
        response = await self._call("POST", "/ports", json={"port": body})
        if response.status_code != 201:
            message = self._neutron_message(response)
            if response.status_code == 409:
                raise errors.Conflict(message)
            raise errors.BadRequest(f"Could not create a port: {message}")
        return response.json()["port"]

    async def _update_port(self, port_id: str, body: dict[str, Any]) -> dict[str, Any]:
        response = await self._call("PUT", f"/ports/{port_id}", json={"port": body})
        if response.status_code == 404:
            raise errors.BadRequest(f"Port id {port_id} could not be found.")
        if response.status_code != 200:
            raise errors.Conflict(f"Could not bind port {port_id}: {self._neutron_message(response)}")
        return response.json()["port"]

    async def _release(self, ports: list[dict[str, Any]], preserve: list[bool]) -> None:
        for port, keep in zip(ports, preserve):
            if keep:
                response = await self._call("PUT", f"/ports/{port['id']}", json={"port": {
                    "device_id": "", "device_owner": "", "binding:host_id": ""}})
            else:
                response = await self._call("DELETE", f"/ports/{port['id']}")
            if response.status_code not in (200, 204, 404):
                LOG.warning("could not release port %s: %s", port["id"], response.status_code)

    async def deallocate(self, instance: Any) -> None:
        """The server's ports: those made for it deleted, those given to it unbound."""
        known = {vif["id"]: bool(vif.get("preserve_on_delete")) for vif in instance.network_info or []}
        body = await self._get("/ports", device_id=instance.uuid)
        ports = [p for p in (body or {}).get("ports", []) if p.get("device_owner", "").startswith(DEVICE_OWNER_PREFIX)]
        await self._release(ports, [known.get(p["id"], False) for p in ports])

    async def refresh(self, instance: Any) -> list[dict[str, Any]]:
        """network_info from the ports the server has now (after a `network-changed` event)."""
        preserve = {vif["id"]: bool(vif.get("preserve_on_delete")) for vif in instance.network_info or []}
        body = await self._get("/ports", device_id=instance.uuid)
        ports = sorted((body or {}).get("ports", []), key=lambda p: list(preserve).index(p["id"])
                       if p["id"] in preserve else len(preserve))
        return [await self._vif(p, preserve.get(p["id"], False)) for p in ports]

    async def _vif(self, port: dict[str, Any], preserve: bool) -> dict[str, Any]:
        net = (await self._get(f"/networks/{port['network_id']}") or {}).get("network", {})
        subnet_ids = sorted({ip["subnet_id"] for ip in port.get("fixed_ips", [])})
        subnets = {}
        if subnet_ids:
            body = await self._get("/subnets", id=subnet_ids)
            subnets = {s["id"]: s for s in (body or {}).get("subnets", [])}
        floating = (await self._get("/floatingips", port_id=port["id"]) or {}).get("floatingips", [])
        by_subnet: dict[str, dict[str, Any]] = {}
        for fixed in port.get("fixed_ips", []):
            subnet = subnets.get(fixed["subnet_id"])
            if subnet is None:
                continue
            entry = by_subnet.setdefault(subnet["id"], {
                "id": subnet["id"], "cidr": subnet["cidr"], "gateway": subnet.get("gateway_ip"),
                "version": subnet["ip_version"],
                "dns": list(subnet.get("dns_nameservers") or []),
                "routes": [{"cidr": r["destination"], "gateway": r["nexthop"]} for r in subnet.get("host_routes", [])],
                "ips": [], "meta": {"enable_dhcp": subnet.get("enable_dhcp", True)}})
            entry["ips"].append({"address": fixed["ip_address"], "type": "fixed", "version": subnet["ip_version"],
                                 "floating_ips": [{"address": f["floating_ip_address"], "type": "floating",
                                                   "version": 4} for f in floating
                                                  if f.get("fixed_ip_address") == fixed["ip_address"]]})
        mtu = net.get("mtu") or 1500
        return {"id": port["id"], "address": port["mac_address"], "type": port.get("binding:vif_type") or "bridge",
                "devname": tap_name(port["id"]), "bridge": bridge_name(port["network_id"]),
                "active": port.get("status") == "ACTIVE", "vnic_type": port.get("binding:vnic_type", "normal"),
                "preserve_on_delete": preserve, "mtu": mtu, "details": port.get("binding:vif_details") or {},
                "network": {"id": port["network_id"], "label": net.get("name") or port["network_id"],
                            "bridge": bridge_name(port["network_id"]), "subnets": list(by_subnet.values()),
                            "meta": {"mtu": mtu, "tenant_id": port.get("project_id")}}}

    def nics(self, network_info: list[dict[str, Any]]) -> list[Nic]:
        return [Nic(port_id=vif["id"], mac=vif["address"], kind="tap", tap_name=vif["devname"],
                    bridge=vif["bridge"], mtu=vif.get("mtu") or 1500) for vif in network_info or []]
