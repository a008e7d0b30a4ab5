"""Compute's side of Block Storage (Cinder v3 over HTTP, as Nova's cinder.API with the
attachments API of microversion 3.44).

An attach: the API process checks the volume with the caller's token and
reserves it (`attachment_create` without a connector: the volume is
"reserved"); the agent of the server's host gives its connector
(`attachment_update`: the answer's connection_info says where the volume is),
hot-plugs it, and completes the attachment (the volume is "in-use").  A detach
deletes the attachment (the volume is "available" again).  Calls on behalf of
a user go to the user's project URL with the user's token; the rest go with
the service's token, which may act on every project's volumes.
"""

from __future__ import annotations

import asyncio
import logging
import pathlib
import socket
from typing import Any

import httpx

from monostack.common import errors
from monostack.common.service_auth import ServiceAuth
from monostack.compute.drivers.base import Disk

LOG = logging.getLogger(__name__)
MICROVERSION = {"OpenStack-API-Version": "volume 3.44"}
MULTIATTACH_MICROVERSION = "2.60"  # the first compute API version that may attach multiattach volumes


def connector(host: str) -> dict[str, Any]:
    """What this host tells Block Storage about itself (os-brick's connector properties)."""
    return {"host": host, "ip": _address(), "platform": "x86_64", "os_type": "linux", "multipath": False,
            "initiator": f"iqn.2026-11.org.monostack:{host}", "do_local_attach": False}


def _address() -> str:
    try:
        return socket.gethostbyname(socket.gethostname())
    except OSError:
        return "127.0.0.1"


def disk(volume_id: str, connection_info: dict[str, Any], device_name: str | None,
         read_only: bool = False, bus: str | None = None) -> Disk:
    """The driver's Disk from a connection_info of a file-backed volume, on its mapping's bus."""
    data = connection_info.get("data") or {}
    if connection_info.get("driver_volume_type") not in ("file", "local", "nfs") or not data.get("device_path"):
        raise errors.BadRequest(f"Volume {volume_id} cannot be attached on this host: "
                                f"{connection_info.get('driver_volume_type')!r} connections are not supported.")
    fmt = data.get("format", "raw")
    # Nova marks connection_info["multiattach"]; Block Storage's file driver says so in data.
    shareable = bool(connection_info.get("multiattach") or data.get("multiattach"))
    if shareable and fmt != "raw":  # QEMU never shares write access to a qcow2 file: refused before it
        raise errors.BadRequest(f"Volume {volume_id} is multiattach but its file is {fmt}, which guests "
                                f"cannot share.")
    return Disk(volume_id=volume_id, path=pathlib.Path(data["device_path"]), format=fmt,
                device_name=device_name or "", serial=volume_id,
                read_only=read_only or data.get("access_mode") == "ro", shareable=shareable, bus=bus or "virtio")


class VolumeAPI:
    def __init__(self, auth: ServiceAuth):
        self.auth = auth

    async def available(self) -> bool:
        """This cloud has a Block Storage service (in its catalog)."""
        try:
            await self.auth.endpoint("block-storage")
        except errors.ServiceUnavailable:
            return False
        return True

    async def _base(self, project_id: str | None) -> str:
        """The v3 URL of `project_id` (the service's own project when None)."""
        url = await self.auth.endpoint("block-storage")
        if project_id is None:
            return url
        head, _, _ = url.rpartition("/")  # .../v3/<service project>
        return f"{head}/{project_id}"

    async def _call(self, method: str, path: str, *, ctx: Any = None, headers: dict[str, str] | None = None,
                    **kwargs: Any) -> httpx.Response:
        """`headers` (e.g. a later microversion) override the defaults."""
        if ctx is not None and ctx.auth_token:
            headers = {"X-Auth-Token": ctx.auth_token, **MICROVERSION, **(headers or {})}
            base = await self._base(ctx.project_id)
        else:
            headers = {**await self.auth.headers(), **MICROVERSION, **(headers or {})}
            base = await self._base(None)
        try:
            return await self.auth.client.request(method, f"{base}{path}", headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            raise errors.ServiceUnavailable(f"The Block Storage service could not be reached: {exc}") from None

    @staticmethod
    def _message(response: httpx.Response) -> str:
        try:
            body = response.json()
            return next(iter(body.values()))["message"]
        except Exception:
            return response.text[:200]

    def _body(self, response: httpx.Response, key: str) -> Any:
        """`key` of a 200 answer's body; any other status is Block Storage being unavailable."""
        if response.status_code != 200:
            raise errors.ServiceUnavailable(f"Block Storage answered {response.status_code}: "
                                            f"{self._message(response)}")
        return response.json()[key]

    async def get(self, volume_id: str, ctx: Any = None) -> dict[str, Any]:
        response = await self._call("GET", f"/volumes/{volume_id}", ctx=ctx)
        if response.status_code == 404:
            raise errors.NotFound(f"Volume {volume_id} could not be found.")
        return self._body(response, "volume")

    def check_attachable(self, volume: dict[str, Any], server_uuid: str, supports_multiattach: bool) -> None:
        """Nova's checks before it reserves a volume for a server (400 unless it can be attached):
        a volume that is not multiattach attached nowhere else, none attached to this server
        twice, and multiattach volumes only from compute API 2.60 on (supports_multiattach)."""
        servers = [a.get("server_id") for a in volume.get("attachments") or [] if a.get("server_id")]
        if servers and not volume.get("multiattach"):
            raise errors.BadRequest(f"Invalid volume: volume {volume['id']} is already attached to instances: "
                                    f"{' '.join(servers)}")
        if server_uuid in servers:
            raise errors.BadRequest(f"Invalid volume: volume {volume['id']} already attached")
        if volume.get("multiattach") and not supports_multiattach:
            raise errors.BadRequest(f"Multiattach volumes are only supported starting with compute API version "
                                    f"{MULTIATTACH_MICROVERSION}.")
        if volume["status"] not in ("available", "in-use", "reserved") or (
                volume["status"] != "available" and not volume.get("multiattach")):
            raise errors.BadRequest(f"Invalid volume: volume {volume['id']} status must be 'available'. "
                                    f"Currently in '{volume['status']}'")

    async def attachment_create(self, volume_id: str, server_uuid: str, ctx: Any = None,
                                connector: dict[str, Any] | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"volume_uuid": volume_id, "instance_uuid": server_uuid}
        if connector is not None:
            body["connector"] = connector
        response = await self._call("POST", "/attachments", ctx=ctx, json={"attachment": body})
        if response.status_code == 404:
            raise errors.NotFound(f"Volume {volume_id} could not be found.")
        if response.status_code not in (200, 202):
            raise errors.BadRequest(f"Invalid volume: {self._message(response)}")
        return response.json()["attachment"]

    async def attachment_get(self, attachment_id: str) -> dict[str, Any] | None:
        """The attachment (its `status` is Cinder's attach_status), or None when it is gone."""
        response = await self._call("GET", f"/attachments/{attachment_id}")
        if response.status_code == 404:
            return None
        return self._body(response, "attachment")

    async def attachments(self, status: str) -> list[dict[str, Any]]:
        """Every project's attachments in this attach status (the service is admin)."""
        response = await self._call("GET", "/attachments/detail", params={"status": status, "all_tenants": "1"})
        return self._body(response, "attachments")

    async def attachment_update(self, attachment_id: str, connector: dict[str, Any]) -> dict[str, Any]:
        response = await self._call("PUT", f"/attachments/{attachment_id}",
                                    json={"attachment": {"connector": connector}})
        if response.status_code != 200:
            raise errors.ServiceUnavailable(f"Block Storage could not connect attachment {attachment_id}: "
                                            f"{self._message(response)}")
        return response.json()["attachment"]

    async def attachment_complete(self, attachment_id: str) -> None:
        response = await self._call("POST", f"/attachments/{attachment_id}/action", json={"os-complete": None})
        if response.status_code not in (200, 202, 204):
            raise errors.ServiceUnavailable(f"Block Storage could not complete attachment {attachment_id}: "
                                            f"{self._message(response)}")

    async def reimage(self, volume_id: str, image_id: str) -> None:
        """Block Storage writes the image over a volume this server reserved (os-reimage, 3.68, with
        reimage_reserved); `volume-reimaged` tells when it is done."""
        response = await self._call("POST", f"/volumes/{volume_id}/action",
                                    json={"os-reimage": {"image_id": image_id, "reimage_reserved": True}},
                                    headers={"OpenStack-API-Version": "volume 3.68"})
        if response.status_code != 202:
            raise errors.ServiceUnavailable(f"Block Storage could not reimage volume {volume_id}: "
                                            f"{self._message(response)}")

    async def release(self, server_uuid: str, block_devices: list[Any]) -> None:
        """At a server's delete: its attachments go, and the volumes marked delete_on_termination."""
        for bdm in block_devices:
            if bdm.destination_type != "volume" or not bdm.volume_id:
                continue
            try:
                if bdm.attachment_id:
                    await self.attachment_delete(bdm.attachment_id)
                if bdm.delete_on_termination:
                    await self.delete(bdm.volume_id)
            except Exception:  # the volume stays; an operator can delete it
                LOG.exception("could not release volume %s of %s", bdm.volume_id, server_uuid)

    async def attachment_delete(self, attachment_id: str) -> None:
        response = await self._call("DELETE", f"/attachments/{attachment_id}")
        if response.status_code not in (200, 202, 204, 404):
            raise errors.ServiceUnavailable(f"Block Storage could not delete attachment {attachment_id}: "
                                            f"{self._message(response)}")

    # -- boot from volume -------------------------------------------------------------------------
    async def create(self, ctx: Any, size: int, *, image_id: str | None = None, snapshot_id: str | None = None,
                     source_volid: str | None = None, name: str = "", volume_type: str | None = None,
                     availability_zone: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"size": size, "name": name}
        for key, value in (("imageRef", image_id), ("snapshot_id", snapshot_id), ("source_volid", source_volid),
                           ("volume_type", volume_type), ("availability_zone", availability_zone)):
            if value:
                body[key] = value
        response = await self._call("POST", "/volumes", ctx=ctx, json={"volume": body})
        if response.status_code == 413:
            raise errors.Forbidden(self._message(response))
        if response.status_code != 202:
            raise errors.BadRequest(f"Block Storage refused the volume: {self._message(response)}")
        return response.json()["volume"]

    async def wait_available(self, volume_id: str, timeout: float = 600) -> dict[str, Any]:
        """Polls (as Nova's block_device_allocate_retries) until the volume is available; a
        multiattach volume may also be in use by other servers (it takes further attachments)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        delay = 0.05
        while True:
            volume = await self.get(volume_id)
            if volume["status"] == "available" or (volume.get("multiattach") and
                                                   volume["status"] in ("in-use", "reserved", "attaching")):
                return volume
            if volume["status"] in ("error", "error_restoring", "error_extending"):
                raise errors.BadRequest(f"Volume {volume_id} did not finish being created even after we waited "
                                        f"(status {volume['status']}).")
            if loop.time() > deadline:
                raise errors.ServiceUnavailable(f"Volume {volume_id} is still {volume['status']} after "
                                                f"{timeout:.0f} s.")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)

    async def delete(self, volume_id: str) -> None:
        response = await self._call("DELETE", f"/volumes/{volume_id}")
        if response.status_code not in (202, 204, 404):
            LOG.warning("could not delete volume %s: %s", volume_id, self._message(response))

    # -- Nova's volume proxy (os-volumes, os-snapshots): the caller's token, Nova's errors ---------
    async def _proxy(self, ctx: Any, method: str, path: str, not_found: str | None = None,
                     **kwargs: Any) -> httpx.Response:
        """A call on the caller's behalf, its errors translated as nova.volume.cinder does: 404 is
        the volume's or snapshot's NotFound, 400 (and a 409 of a busy volume) invalid input, 403
        forbidden and 413 (over quota) Nova's OverQuota, a 403; anything else Block Storage failing."""
        response = await self._call(method, path, ctx=ctx, **kwargs)
        status = response.status_code
        if status < 300:
            return response
        message = self._message(response)
        if status == 404:
            raise errors.NotFound(not_found or message)
        if status in (400, 409):
            prefix = "" if message.startswith("Invalid input received") else "Invalid input received: "
            raise errors.BadRequest(prefix + message)
        if status in (403, 413):
            raise errors.Forbidden(message)
        raise errors.ServiceUnavailable(f"Block Storage answered {status}: {message}")

    async def _every(self, ctx: Any, collection: str) -> list[dict[str, Any]]:
        """Every item of a detailed list, page after page (Nova pages them itself, with offset)."""
        items: list[dict[str, Any]] = []
        params: dict[str, str] = {}
        while True:
            body = (await self._proxy(ctx, "GET", f"/{collection}/detail", params=params)).json()
            page = body.get(collection) or []
            items += page
            if not page or not any(link.get("rel") == "next" for link in body.get(f"{collection}_links") or []):
                return items
            params = {"marker": page[-1]["id"]}

    async def list_volumes(self, ctx: Any) -> list[dict[str, Any]]:
        return await self._every(ctx, "volumes")

    async def create_volume(self, ctx: Any, volume: dict[str, Any]) -> dict[str, Any]:
        """`volume`: Block Storage's create body; 404 (a volume type, a zone) keeps its message."""
        return (await self._proxy(ctx, "POST", "/volumes", json={"volume": volume})).json()["volume"]

    async def delete_volume(self, ctx: Any, volume_id: str) -> None:
        await self._proxy(ctx, "DELETE", f"/volumes/{volume_id}", f"Volume {volume_id} could not be found.")

    async def get_snapshot(self, ctx: Any, snapshot_id: str) -> dict[str, Any]:
        response = await self._proxy(ctx, "GET", f"/snapshots/{snapshot_id}",
                                     f"Snapshot {snapshot_id} could not be found.")
        return response.json()["snapshot"]

    async def list_snapshots(self, ctx: Any) -> list[dict[str, Any]]:
        return await self._every(ctx, "snapshots")

    async def create_snapshot(self, ctx: Any, volume_id: str, *, force: bool, name: str | None,
                              description: str | None) -> dict[str, Any]:
        body = {"volume_id": volume_id, "force": force, "name": name, "description": description}
        response = await self._proxy(ctx, "POST", "/snapshots", f"Volume {volume_id} could not be found.",
                                     json={"snapshot": body})
        return response.json()["snapshot"]

    async def delete_snapshot(self, ctx: Any, snapshot_id: str) -> None:
        await self._proxy(ctx, "DELETE", f"/snapshots/{snapshot_id}", f"Snapshot {snapshot_id} could not be found.")
