"""Block Storage's v3 API in memory, behind httpx.MockTransport, for Compute's proxies: just
enough of Cinder (volumes and snapshots of the token's project, its 400/404/413 bodies, pages of
`page_size` with a next link) that VolumeAPI's real HTTP calls and error translation run."""

from __future__ import annotations

import itertools
import json
import uuid
from typing import Any

import httpx

from monostack.common import errors
from monostack.compute.volume_api import VolumeAPI
from tests.compute.api.harness import USERS

ENDPOINT = "http://block-storage.test/volume/v3/5e000000000000000000000000000005"  # the service's project
TYPES = {"lvmdriver-1"}
_CLOCK = itertools.count()


def _error(status: int, key: str, message: str) -> httpx.Response:
    return httpx.Response(status, json={key: {"code": status, "message": message}})


class FakeBlockStorage:
    def __init__(self, *, page_size: int = 1000, quota: int = 10) -> None:
        self.volumes: dict[str, dict[str, Any]] = {}
        self.snapshots: dict[str, dict[str, Any]] = {}
        self.page_size, self.quota = page_size, quota
        self.calls: list[tuple[str, str, str]] = []  # (method, path, token)
        self.present = True

    def api(self) -> VolumeAPI:
        return VolumeAPI(_Auth(self))

    def add_volume(self, project: str, *, status: str = "available", attachments: list[dict[str, Any]] = (),
                   **fields: Any) -> dict[str, Any]:
        volume = {"id": str(uuid.uuid4()), "project": project, "status": status, "size": 1, "name": None,
                  "description": None, "availability_zone": "nova", "volume_type": "lvmdriver-1",
                  "snapshot_id": None, "metadata": {}, "attachments": list(attachments),
                  "created_at": f"2026-01-01T00:00:{next(_CLOCK) % 60:02d}.000000", **fields}
        self.volumes[volume["id"]] = volume
        return volume

    # -- the HTTP side -------------------------------------------------------------------------
    def handle(self, request: httpx.Request) -> httpx.Response:
        token = request.headers.get("x-auth-token", "")
        _, _, rest = request.url.path.partition("/volume/v3/")
        project, *parts = rest.split("/")
        self.calls.append((request.method, "/" + "/".join(parts), token))
        if token not in USERS or USERS[token][1] != project:
            return _error(401, "error", "The request you have made requires authentication.")
        body = json.loads(request.content) if request.content else {}
        collection, name = parts[0], parts[0][:-1]
        items = {k: v for k, v in getattr(self, collection).items() if v["project"] == project}
        if request.method == "GET" and parts[1:] == ["detail"]:
            return self._page(collection, list(items.values()), request.url.params.get("marker"))
        if request.method == "POST":
            return getattr(self, f"_create_{name}")(project, body[name])
        if parts[1] not in items:
            return _error(404, "itemNotFound", f"{name.capitalize()} {parts[1]} could not be found.")
        if request.method == "GET":
            return httpx.Response(200, json={name: self._public(items[parts[1]])})
        return self._delete(collection, items[parts[1]])

    def _page(self, collection: str, items: list[dict[str, Any]], marker: str | None) -> httpx.Response:
        start = next(i + 1 for i, item in enumerate(items) if item["id"] == marker) if marker else 0
        page = items[start:start + self.page_size]
        body: dict[str, Any] = {collection: [self._public(item) for item in page]}
        if len(page) == self.page_size:
            body[f"{collection}_links"] = [{"rel": "next", "href": f"...?marker={page[-1]['id']}"}]
        return httpx.Response(200, json=body)

    def _create_volume(self, project: str, spec: dict[str, Any]) -> httpx.Response:
        if not isinstance(spec.get("size"), int) or spec["size"] < 1:
            return _error(400, "badRequest", f"Invalid input received: size {spec.get('size')} is invalid")
        if spec.get("volume_type", "lvmdriver-1") not in TYPES:
            return _error(404, "itemNotFound", f"Volume type with name {spec['volume_type']} could not be found.")
        if sum(v["project"] == project for v in self.volumes.values()) >= self.quota:
            return _error(413, "overLimit", f"VolumeLimitExceeded: Maximum number of volumes allowed "
                                            f"({self.quota}) exceeded for quota 'volumes'.")
        volume = self.add_volume(project, status="creating", **spec)
        shown = self._public(volume)
        volume["status"] = "available"
        return httpx.Response(202, json={"volume": shown})

    def _create_snapshot(self, project: str, spec: dict[str, Any]) -> httpx.Response:
        volume = self.volumes.get(spec["volume_id"])
        if volume is None or volume["project"] != project:
            return _error(404, "itemNotFound", f"Volume {spec['volume_id']} could not be found.")
        if volume["status"] != "available" and spec.get("force") is not True:
            return _error(400, "badRequest", "Invalid volume: Volume status must be available or in-use for "
                                             "snapshot. (status: in-use)")
        snapshot = {"id": str(uuid.uuid4()), "project": project, "volume_id": volume["id"], "status": "creating",
                    "size": volume["size"], "name": spec.get("name"), "description": spec.get("description"),
                    "created_at": "2026-01-02T00:00:00.000000", "metadata": {}}
        self.snapshots[snapshot["id"]] = snapshot
        return httpx.Response(202, json={"snapshot": self._public(snapshot)})

    def _delete(self, collection: str, item: dict[str, Any]) -> httpx.Response:
        if collection == "volumes" and (item["status"] == "in-use" or any(
                s["volume_id"] == item["id"] for s in self.snapshots.values())):
            return _error(400, "badRequest", "Invalid volume: Volume status must be available or error or "
                                             "error_restoring or error_extending or error_managing and must not "
                                             "be migrating, attached, belong to a group, have snapshots or be "
                                             "disassociated from snapshots after volume transfer.")
        del getattr(self, collection)[item["id"]]
        return httpx.Response(202)

    @staticmethod
    def _public(item: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in item.items() if k != "project"}


class _Auth:
    """ServiceAuth's part VolumeAPI uses: the catalog's endpoint and one HTTP client."""

    def __init__(self, fake: FakeBlockStorage) -> None:
        self.fake = fake
        self.client = httpx.AsyncClient(transport=httpx.MockTransport(fake.handle))

    async def endpoint(self, service_type: str, interface: str = "public") -> str:
        if service_type != "block-storage" or not self.fake.present:
            raise errors.ServiceUnavailable(f"No {service_type} endpoint in the catalog.")
        return ENDPOINT

    async def headers(self) -> dict[str, str]:
        return {"X-Auth-Token": "service"}
