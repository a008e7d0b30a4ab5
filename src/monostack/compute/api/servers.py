"""/servers: create, list (brief and detail), show, update, delete.

Create resolves what lives in other services first (the image through the
Image API with the caller's token, so its visibility rules apply), checks
everything Nova checks (flavor against image, key, networks, zone, group,
quota), writes the servers in one transaction and hands them to the
conductor: the answer is 202 and the build goes on in the background.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import json
import re
import secrets
from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from monostack.common import errors
from monostack.common.auth import authenticated
from monostack.common.context import RequestContext
from monostack.common.http import JSONResponse, run_blocking
from monostack.compute import states
from monostack.compute.api import personality, views
from monostack.compute.api.common import (at_least, authorize, allowed, collection_next, json_body, links, svc,
                                          validate)
from monostack.compute.volume_api import MULTIATTACH_MICROVERSION

router = APIRouter()

_NAME = {"type": "string", "minLength": 1, "maxLength": 255}
CREATE_SCHEMA = {
    "type": "object", "required": ["server"],
    "properties": {"server": {
        "type": "object", "required": ["name", "flavorRef"],
        "properties": {
            "name": _NAME, "imageRef": {"type": "string"}, "flavorRef": {"type": ["string", "integer"]},
            "adminPass": {"type": "string"}, "metadata": {"type": "object", "additionalProperties": {
                "type": "string", "maxLength": 255}},
            "networks": {"oneOf": [{"type": "string", "enum": ["auto", "none"]},
                                   {"type": "array", "items": {"type": "object"}}]},
            "key_name": {"type": "string", "minLength": 1, "maxLength": 255},
            "user_data": {"type": "string", "maxLength": 65535},
            "availability_zone": {"type": "string", "minLength": 1, "maxLength": 255},
            "security_groups": {"type": "array", "items": {"type": "object"}},
            "block_device_mapping_v2": {"type": "array", "items": {"type": "object"}},
            "config_drive": {"type": ["boolean", "string"]},
            "min_count": {"type": ["integer", "string"], "pattern": "^[0-9]+$", "minimum": 1},
            "max_count": {"type": ["integer", "string"], "pattern": "^[0-9]+$", "minimum": 1},
            "return_reservation_id": {"type": ["boolean", "string"]},
            "accessIPv4": {"type": "string", "format": "ipv4"}, "accessIPv6": {"type": "string", "format": "ipv6"},
            "OS-DCF:diskConfig": {"type": "string", "enum": ["AUTO", "MANUAL"]},
            "description": {"type": ["string", "null"], "maxLength": 255},
            "tags": {"type": "array", "items": {"type": "string", "maxLength": 60}, "maxItems": 50},
            "hostname": {"type": "string", "minLength": 1, "maxLength": 255},
            "host": {"type": "string"}, "hypervisor_hostname": {"type": "string"},
        }}},
}


def _ref_id(ref: Any) -> str:
    """flavorRef / imageRef may be ids or URLs ending in the id."""
    return str(ref).rstrip("/").rsplit("/", 1)[-1]


def _bool(value: Any) -> bool:
    return value is True or str(value).lower() in ("true", "1", "yes", "on")


@router.post("/v2.1/servers", status_code=202)
async def create_server(request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    body = await json_body(request)
    validate(body, CREATE_SCHEMA)
    server = body["server"]
    authorize(request, ctx, "os_compute_api:servers:create")
    service = svc(request)
    req = await _resolve(request, ctx, server)
    made = await _make_volumes(service, ctx, req, at_least(request, MULTIATTACH_MICROVERSION))
    try:
        rows = await run_blocking(service.servers.create, ctx, req)
    except BaseException:
        for volume_id in made:
            await service.volumes.delete(volume_id)
        raise
    service.conductor.spawn(service.conductor.build(ctx, [r.uuid for r in rows]))
    if _bool(server.get("return_reservation_id", False)):
        return JSONResponse({"reservation_id": rows[0].reservation_id}, status_code=202)
    first = rows[0]
    view: dict[str, Any] = {"id": first.uuid, "links": links(request, "servers", first.uuid),
                            "OS-DCF:diskConfig": first.disk_config,
                            "security_groups": [{"name": n} for n in first.security_groups or []]}
    view["adminPass"] = server.get("adminPass") or secrets.token_urlsafe(9)
    return JSONResponse({"server": view}, status_code=202,
                        headers={"Location": links(request, "servers", first.uuid)[0]["href"]})


async def _resolve(request: Request, ctx: RequestContext, server: dict[str, Any]) -> dict[str, Any]:
    service = svc(request)
    try:
        flavor = await run_blocking(service.flavors.get, _ref_id(server["flavorRef"]), ctx)
    except errors.NotFound:
        raise errors.BadRequest(f"Flavor {_ref_id(server['flavorRef'])} could not be found.") from None
    if flavor.get("disabled"):
        raise errors.BadRequest(f"Flavor {flavor['id']} could not be found.")
    block_storage = service.volumes is not None and await service.volumes.available()
    image, found = None, None
    image_ref = _ref_id(server.get("imageRef") or "")
    if image_ref:
        found = await service.images.get(image_ref, ctx.auth_token)
        if found is None:
            raise errors.BadRequest(f"Image {image_ref} could not be found.")
        if found.get("status") != "active":
            raise errors.BadRequest(f"Image {image_ref} is not active.")
        image = _image_meta(found)
    bdms, boot_volume = _block_devices(
        {"block_device_mapping_v2": _with_image_defined(server.get("block_device_mapping_v2") or [], found)},
        block_storage)
    if found is not None:
        _check_flavor_fits(flavor, found, boot_volume)
    elif not boot_volume:
        raise errors.BadRequest("Block Device Mapping is Invalid: Boot sequence for the instance and image/block "
                                "device mapping combination is not valid.")
    key = None
    if server.get("key_name"):
        key = await run_blocking(service.keypairs.get, ctx.user_id, server["key_name"])
        if key is None:
            raise errors.BadRequest("Invalid key_name provided.")
    networks = server.get("networks")
    if networks is None and at_least(request, "2.37"):
        raise errors.BadRequest("Invalid input for field/attribute server. Value: ... 'networks' is a required "
                                "property")
    if isinstance(networks, list):
        for item in networks:
            if item.get("uuid") == "auto" or not (item.get("uuid") or item.get("port")):
                raise errors.BadRequest("Bad networks format: network uuid is not in proper format")
    group_names = [sg.get("name", "default") for sg in server.get("security_groups") or []]
    networks = await service.network.validate(networks, ctx, group_names,
                                              int(server.get("max_count", server.get("min_count", 1))))
    user_data = server.get("user_data")
    if user_data is not None:
        try:
            base64.b64decode(user_data, validate=True)
        except (binascii.Error, ValueError):
            raise errors.BadRequest("User data needs to be valid base 64.") from None
    min_count, max_count = int(server.get("min_count", 1)), int(server.get("max_count", server.get("min_count", 1)))
    if min_count > max_count:
        raise errors.BadRequest("min_count must be <= max_count")
    zone = server.get("availability_zone") or service.conf.compute.default_schedule_zone or None
    if zone:
        zone_name, _, forced_host = zone.partition(":")
        if forced_host and not ctx.is_admin:
            raise errors.Forbidden("Policy doesn't allow os_compute_api:servers:create:forced_host to be performed.")
        zones = set((await run_blocking(service.aggregates.zones_of_hosts)).values())
        zones.add(service.aggregates.default_zone)
        if zone_name and zone_name not in zones:
            raise errors.BadRequest("The requested availability zone is not available")
    metadata = server.get("metadata") or {}
    await run_blocking(service.quotas.check_metadata, len(metadata), ctx.project_id)
    for key_ in metadata:
        if not key_ or len(key_) > 255:
            raise errors.BadRequest("Invalid metadata key")
    hints = request_hints = (await _hints(request)) or {}
    group_uuid = hints.get("group")
    if group_uuid:
        try:
            await run_blocking(service.groups.get, group_uuid, ctx)
        except errors.NotFound:
            raise errors.BadRequest(f"Invalid server group {group_uuid}") from None
    if len(bdms) > 0 and service.conf.compute.max_local_block_devices >= 0:
        local = [b for b in bdms if b["destination_type"] == "local"]
        if len(local) > service.conf.compute.max_local_block_devices:
            raise errors.Forbidden("Maximum number of local block devices exceeded.")
    hostname = server.get("hostname") if at_least(request, "2.90") else None
    files = await personality.injected_files(request, server, "server", ctx.project_id)
    return {"name": server["name"], "description": server.get("description"), "hostname": hostname,
            "flavor": flavor, "image": image, "key": key, "user_data": user_data, "metadata": metadata,
            "injected_files": files, "security_groups": group_names or None,
            "requested_networks": networks, "availability_zone": zone, "config_drive": _bool(server.get(
                "config_drive", False)), "bdms": bdms, "min_count": min_count, "max_count": max_count,
            "scheduler_hints": request_hints, "group_uuid": group_uuid, "tags": server.get("tags"),
            "access_ip_v4": server.get("accessIPv4"), "access_ip_v6": server.get("accessIPv6"),
            "disk_config": server.get("OS-DCF:diskConfig")}


async def _hints(request: Request) -> dict[str, Any]:
    body = await json_body(request)
    hints = body.get("os:scheduler_hints") or body.get("OS-SCH-HNT:scheduler_hints") or {}
    if not isinstance(hints, dict):
        raise errors.BadRequest("Invalid input for field/attribute os:scheduler_hints. Value: "
                                f"{hints}. {hints!r} is not of type 'object'")
    group = hints.get("group")
    if group is not None and (not isinstance(group, str) or not re.fullmatch(r"[0-9a-fA-F-]{32,36}", group)):
        raise errors.BadRequest(f"Invalid input for field/attribute group. Value: {group}. "
                                f"'{group}' is not a 'uuid'")
    return hints


def _image_meta(image: dict[str, Any]) -> dict[str, Any]:
    core = {"id", "name", "status", "disk_format", "container_format", "size", "virtual_size", "min_disk",
            "min_ram", "checksum", "owner", "visibility", "protected", "tags", "created_at", "updated_at", "file",
            "schema", "self", "os_hash_algo", "os_hash_value", "os_hidden", "locations", "direct_url", "stores"}
    return {"id": image["id"], "name": image.get("name"), "disk_format": image.get("disk_format"),
            "container_format": image.get("container_format"), "size": image.get("size"),
            "min_disk": image.get("min_disk") or 0, "min_ram": image.get("min_ram") or 0,
            "checksum": image.get("checksum"),
            "properties": {k: v for k, v in image.items() if k not in core}}


def _check_flavor_fits(flavor: dict[str, Any], image: dict[str, Any], boot_volume: bool) -> None:
    if (image.get("min_ram") or 0) > flavor["ram"]:
        raise errors.BadRequest("Flavor's memory is too small for requested image.")
    if boot_volume or flavor["disk"] == 0:
        return
    disk_bytes = flavor["disk"] * 1024 ** 3
    size = max(image.get("size") or 0, image.get("virtual_size") or 0)
    if size > disk_bytes:
        raise errors.BadRequest(f"Flavor's disk is too small for requested image. Flavor disk is {disk_bytes} "
                                f"bytes, image is {size} bytes.")
    if (image.get("min_disk") or 0) > flavor["disk"]:
        raise errors.BadRequest("Flavor's disk is too small for requested image.")


def _with_image_defined(requested: list[Any], image: dict[str, Any] | None) -> list[Any]:
    """The requested block devices and those the image defines (a volume-backed server's snapshot
    maps its volume snapshots in block_device_mapping, bdm_v2): as Nova, a requested device of the
    same name or a requested boot device wins over the image's."""
    raw = (image or {}).get("block_device_mapping")
    if not raw or str((image or {}).get("bdm_v2")).lower() != "true":
        return requested
    try:
        defined = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        return requested
    if not isinstance(defined, list):
        return requested
    if any(isinstance(d, dict) and str(d.get("boot_index")) == "0" for d in defined):
        # The image's root replaces the default root from the image itself (clients such as the
        # openstack CLI may spell that default out as source image, destination local).
        requested = [r for r in requested if not (isinstance(r, dict) and str(r.get("boot_index")) == "0" and
                                                  r.get("source_type") == "image" and
                                                  r.get("destination_type", "local") == "local")]
    names = {r.get("device_name") for r in requested if isinstance(r, dict) and r.get("device_name")}
    has_boot = any(isinstance(r, dict) and str(r.get("boot_index")) == "0" for r in requested)
    merged = list(requested)
    for item in defined:
        if not isinstance(item, dict) or (item.get("device_name") and item["device_name"] in names) or (
                has_boot and str(item.get("boot_index")) == "0"):
            continue
        merged.append({**{k: v for k, v in item.items() if v is not None and k not in (
            "snapshot_id", "volume_id", "image_id")},
            "uuid": item.get("snapshot_id") or item.get("volume_id") or item.get("image_id")})
    return merged


def _block_devices(server: dict[str, Any], block_storage: bool) -> tuple[list[dict[str, Any]], bool]:
    """block_device_mapping_v2 -> rows (volume rows need a Block Storage service); True when the
    server boots from a volume."""
    rows, boot_volume = [], False
    for bdm in server.get("block_device_mapping_v2") or []:
        source, dest = bdm.get("source_type"), bdm.get("destination_type", "volume" if bdm.get(
            "source_type") in ("volume", "snapshot") else "local")
        if source not in ("image", "volume", "snapshot", "blank"):
            raise errors.BadRequest("Block Device Mapping is Invalid: source_type is invalid.")
        if dest not in ("local", "volume"):
            raise errors.BadRequest("Block Device Mapping is Invalid: destination_type is invalid.")
        if dest == "volume" and not block_storage:
            raise errors.BadRequest("Block Device Mapping is Invalid: this cloud has no Block Storage service "
                                    "for volume mappings.")
        if dest == "local" and source in ("volume", "snapshot"):
            raise errors.BadRequest(f"Block Device Mapping is Invalid: Mapping image/blank/volume/snapshot to "
                                    f"local is not supported ({source} to local).")
        boot_index = bdm.get("boot_index")
        try:
            boot_index = int(boot_index) if boot_index not in (None, "", "none") else None
        except (TypeError, ValueError):
            raise errors.BadRequest("Block Device Mapping is Invalid: boot_index is invalid.") from None
        if source == "image" and boot_index == 0 and dest == "local":
            continue  # the image root disk, the default
        if dest == "volume" and source != "blank" and not bdm.get("uuid"):
            raise errors.BadRequest(f"Block Device Mapping is Invalid: {source} source needs a uuid.")
        if dest == "volume" and source in ("image", "blank") and not bdm.get("volume_size"):
            raise errors.BadRequest("Block Device Mapping is Invalid: a volume_size is needed to make a volume.")
        if dest == "volume" and boot_index == 0:
            boot_volume = True
        rows.append({"source_type": source, "destination_type": dest, "boot_index": boot_index,
                     "device_name": bdm.get("device_name"), "device_type": bdm.get("device_type"),
                     "disk_bus": bdm.get("disk_bus"), "guest_format": bdm.get("guest_format"),
                     "image_id": bdm.get("uuid") if source == "image" else None,
                     "volume_id": bdm.get("uuid") if source == "volume" else None,
                     "snapshot_id": bdm.get("uuid") if source == "snapshot" else None,
                     "volume_type": bdm.get("volume_type"),
                     "volume_size": bdm.get("volume_size"),
                     "delete_on_termination": _bool(bdm.get("delete_on_termination", False)),
                     "tag": bdm.get("tag")})
    return rows, boot_volume


async def _make_volumes(service: Any, ctx: RequestContext, req: dict[str, Any],
                        supports_multiattach: bool) -> list[str]:
    """The volumes a create maps: the given ones checked, the others made now with the caller's token
    (so they are the caller's, counted in its quota); the agent waits for them.  Returns the ids made.
    supports_multiattach: the request's microversion may map multiattach volumes (2.60+)."""
    made: list[str] = []
    volume_rows = [b for b in req["bdms"] if b["destination_type"] == "volume"]
    if not volume_rows:
        return made
    if req["max_count"] > 1 and any(b["source_type"] == "volume" for b in volume_rows):
        # Nova's rule, multiattach volumes included: one request, one server per existing volume.
        raise errors.BadRequest("Cannot attach one or more volumes to multiple instances")
    if req["max_count"] > 1 and any(b["volume_id"] is None for b in volume_rows):
        raise errors.BadRequest("Block Device Mapping is Invalid: volumes made from an image, a snapshot or "
                                "blank need one server per request (max_count 1).")
    try:
        for bdm in volume_rows:
            if bdm["volume_id"]:
                try:
                    volume = await service.volumes.get(bdm["volume_id"], ctx)
                except errors.NotFound:
                    raise errors.BadRequest(f"Block Device Mapping is Invalid: failed to get volume "
                                            f"{bdm['volume_id']}.") from None
                if volume["status"] != "available" and not volume.get("multiattach"):
                    raise errors.BadRequest(f"Block Device Mapping is Invalid: Volume {volume['id']} status must "
                                            f"be 'available'. Currently in '{volume['status']}'")
                if volume.get("multiattach") and not supports_multiattach:
                    raise errors.BadRequest(f"Multiattach volumes are only supported starting with compute API "
                                            f"version {MULTIATTACH_MICROVERSION}.")
                if bdm.get("boot_index") == 0 and str(volume.get("bootable")).lower() != "true":
                    raise errors.BadRequest(f"Block Device {volume['id']} is not bootable.")
                continue
            volume = await service.volumes.create(
                ctx, int(bdm["volume_size"] or 0) or 1, image_id=bdm["image_id"], snapshot_id=bdm["snapshot_id"],
                volume_type=bdm["volume_type"], name=f"{req['name']}-volume")
            bdm["volume_id"] = volume["id"]
            made.append(volume["id"])
    except BaseException:
        for volume_id in made:
            await service.volumes.delete(volume_id)
        raise
    return made


# -- list ------------------------------------------------------------------------------------
_SORT_KEYS = {"created_at", "display_name", "updated_at", "uuid", "vm_state", "task_state", "power_state",
              "launched_at", "terminated_at", "host", "node", "hostname", "key_name", "project_id", "user_id",
              "availability_zone", "display_description", "locked", "launch_index", "image_ref", "access_ip_v4",
              "access_ip_v6", "config_drive", "progress", "root_device_name", "reservation_id", "kernel_id",
              "ramdisk_id", "instance_type_id", "id"}


def _time(value: str, name: str) -> datetime.datetime:
    try:
        parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise errors.BadRequest(f"Invalid input for query parameters {name}. Value: {value}. "
                                f"'{value}' is not a 'date-time'") from None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    return parsed


def _list(request: Request, ctx: RequestContext, detail: bool) -> dict[str, Any]:
    service = svc(request)
    params = request.query_params
    authorize(request, ctx, "os_compute_api:servers:detail" if detail else "os_compute_api:servers:index")
    all_tenants = "all_tenants" in params and params.get("all_tenants", "").lower() not in ("0", "false", "off", "no")
    project_id: str | None = ctx.project_id
    if all_tenants:
        authorize(request, ctx, "os_compute_api:servers:index:get_all_tenants")
        project_id = params.get("project_id") or params.get("tenant_id") or None
    changes_since = _time(params["changes-since"], "changes-since") if "changes-since" in params else None
    changes_before = _time(params["changes-before"], "changes-before") if "changes-before" in params else None
    if changes_since and changes_before and changes_before < changes_since:
        raise errors.BadRequest("The value of changes-since must be less than or equal to changes-before.")
    deleted: bool | None = False
    if "deleted" in params and ctx.is_admin:
        deleted = params["deleted"].lower() in ("true", "1", "yes")
    host = params.get("host") if ctx.is_admin else None
    rows = service.servers.list(ctx, project_id=project_id, deleted=deleted, changes_since=changes_since,
                                changes_before=changes_before, host=host)
    rows = [r for r in rows if _matches(r, params, ctx)]
    rows = _sorted(rows, params)
    limit = params.get("limit")
    if limit is not None:
        try:
            limit_n = int(limit)
        except ValueError:
            raise errors.BadRequest("limit param must be an integer") from None
        if limit_n < 0:
            raise errors.BadRequest("limit param must be positive")
    else:
        limit_n = 1000
    marker = params.get("marker")
    if marker:
        ids = [r.uuid for r in rows]
        if marker not in ids:
            raise errors.BadRequest(f"marker [{marker}] not found")
        rows = rows[ids.index(marker) + 1:]
    page = rows[:limit_n]
    if detail:
        extended = allowed(request, ctx, "os_compute_api:os-extended-server-attributes", {"project_id": ctx.project_id})
        body: dict[str, Any] = {"servers": [views.server_detail(request, r, ctx, show_extended=extended)
                                            for r in page]}
    else:
        body = {"servers": [views.server_brief(request, r) for r in page]}
    # Nova links the next page whenever a page is full.
    if page and len(page) == limit_n:
        body["servers_links"] = collection_next(request, "servers/detail" if detail else "servers",
                                                page[-1].uuid, limit_n)
    return body


def _matches(row: Any, params: Any, ctx: RequestContext) -> bool:
    if "name" in params:
        try:
            if not re.search(params["name"], row.display_name or ""):
                return False
        except re.error:
            return False
    if "status" in params:
        wanted = {s.upper() for s in params.getlist("status")}
        if states.status(row.vm_state, row.task_state) not in wanted and not (
                "DELETED" in wanted and row.deleted):
            return False
    if "image" in params and row.image_ref != params["image"].rstrip("/").rsplit("/", 1)[-1]:
        return False
    if "flavor" in params and (row.flavor or {}).get("id") != params["flavor"].rstrip("/").rsplit("/", 1)[-1]:
        return False
    if "reservation_id" in params and row.reservation_id != params["reservation_id"]:
        return False
    if "key_name" in params and row.key_name != params["key_name"]:
        return False
    if "availability_zone" in params and row.availability_zone != params["availability_zone"]:
        return False
    if "locked" in params and bool(row.locked) != (params["locked"].lower() in ("true", "1", "yes")):
        return False
    if "user_id" in params and row.user_id != params["user_id"]:
        return False
    if "ip" in params:
        from monostack.compute.network_api import addresses
        ips = [a["addr"] for entries in addresses(row.network_info).values() for a in entries]
        if not any(re.search(params["ip"], ip) for ip in ips):
            return False
    tags = {t.tag for t in row.tags}
    if "tags" in params and not set(params["tags"].split(",")) <= tags:
        return False
    if "tags-any" in params and not set(params["tags-any"].split(",")) & tags:
        return False
    if "not-tags" in params and set(params["not-tags"].split(",")) <= tags:
        return False
    if "not-tags-any" in params and set(params["not-tags-any"].split(",")) & tags:
        return False
    return True


def _sorted(rows: list[Any], params: Any) -> list[Any]:
    keys = params.getlist("sort_key")
    dirs = params.getlist("sort_dir")
    for key in keys:
        if key not in _SORT_KEYS:
            raise errors.BadRequest(f"Invalid input for query parameters sort_key. Value: {key}.")
    for direction in dirs:
        if direction not in ("asc", "desc"):
            raise errors.BadRequest(f"Invalid input for query parameters sort_dir. Value: {direction}.")
    if not keys:
        return rows
    for index in reversed(range(len(keys))):
        key = {"uuid": "uuid", "id": "id"}.get(keys[index], keys[index])
        direction = dirs[index] if index < len(dirs) else "desc"
        attr = key if hasattr(rows[0] if rows else object(), key) else "created_at"
        rows = sorted(rows, key=lambda r: (getattr(r, attr) is None, getattr(r, attr) or ""),
                      reverse=direction == "desc")
    return rows


@router.get("/v2.1/servers")
def list_servers(request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    return JSONResponse(_list(request, ctx, detail=False))


@router.get("/v2.1/servers/detail")
def list_servers_detail(request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    return JSONResponse(_list(request, ctx, detail=True))


@router.get("/v2.1/servers/{server_id}")
def show_server(server_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    row = svc(request).servers.get(ctx, server_id)
    authorize(request, ctx, "os_compute_api:servers:show", {"project_id": row.project_id})
    groups = views.group_ids(svc(request), row.uuid) if at_least(request, "2.71") else None
    return JSONResponse({"server": views.server_detail(request, row, ctx, server_groups=groups)})


UPDATE_SCHEMA = {"type": "object", "required": ["server"], "properties": {"server": {
    "type": "object", "additionalProperties": False, "properties": {
        "name": _NAME, "description": {"type": ["string", "null"], "maxLength": 255},
        "accessIPv4": {"type": "string", "format": "ipv4"}, "accessIPv6": {"type": "string", "format": "ipv6"},
        "OS-DCF:diskConfig": {"type": "string", "enum": ["AUTO", "MANUAL"]},
        "hostname": {"type": "string", "minLength": 1, "maxLength": 255}}}}}


@router.put("/v2.1/servers/{server_id}")
async def update_server(server_id: str, request: Request,
                        ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    body = await json_body(request)
    validate(body, UPDATE_SCHEMA)
    service = svc(request)
    row = await run_blocking(service.servers.get, ctx, server_id)
    authorize(request, ctx, "os_compute_api:servers:update", {"project_id": row.project_id})
    fields = body["server"]
    if "description" in fields and not at_least(request, "2.19"):
        raise errors.BadRequest("Additional properties are not allowed ('description' was unexpected)")
    changes = {}
    mapping = {"name": "display_name", "description": "display_description", "accessIPv4": "access_ip_v4",
               "accessIPv6": "access_ip_v6", "OS-DCF:diskConfig": "disk_config", "hostname": "hostname"}
    for key, column in mapping.items():
        if key in fields:
            changes[column] = fields[key]
    row = await run_blocking(service.servers.update, ctx, server_id, changes)
    groups = await run_blocking(views.group_ids, service, row.uuid) if at_least(request, "2.71") else None
    return JSONResponse({"server": views.server_after_change(request, row, ctx, server_groups=groups)})


@router.delete("/v2.1/servers/{server_id}", status_code=204)
async def delete_server(server_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> Response:
    service = svc(request)
    row = await run_blocking(service.servers.get, ctx, server_id)
    authorize(request, ctx, "os_compute_api:servers:delete", {"project_id": row.project_id})
    await service.conductor.delete(ctx, row)
    return Response(status_code=204)
