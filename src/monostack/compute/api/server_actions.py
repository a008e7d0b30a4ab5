"""POST /servers/{id}/action: every server action, one handler per body key.

Each handler authorises with Nova's rule, then the conductor begins the
action (the lifecycle checks in states.py, 409 otherwise) and casts it to
the server's agent; the answer is 202 (or what Nova answers for that action).
"""

from __future__ import annotations

import json
import secrets
from typing import Any, Awaitable, Callable

from fastapi import APIRouter, Depends, Request, Response

from monostack.common import errors
from monostack.common.auth import authenticated
from monostack.common.context import RequestContext
from monostack.common.http import JSONResponse, run_blocking
from monostack.compute import resize_claims, states
from monostack.compute.api import personality, views
from monostack.compute.api.common import at_least, authorize, links, svc
from monostack.compute.drivers.base import rescue_of, rescue_problem

router = APIRouter()
Handler = Callable[[Request, RequestContext, Any, Any], Awaitable[Response]]
HANDLERS: dict[str, tuple[str, Handler]] = {}


def action(name: str, rule: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        HANDLERS[name] = (rule, fn)
        return fn
    return register


@router.post("/v2.1/servers/{server_id}/action")
async def server_action(server_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> Response:
    import orjson
    try:
        body = orjson.loads(await request.body() or b"null")
    except orjson.JSONDecodeError:
        raise errors.BadRequest("Malformed request body") from None
    if not isinstance(body, dict) or len(body) != 1:
        raise errors.BadRequest("Malformed request body")
    (name, args), = body.items()
    if name not in HANDLERS:
        raise errors.BadRequest(f"There is no such action: {name}")
    rule, handler = HANDLERS[name]
    row = await run_blocking(svc(request).servers.get, ctx, server_id)
    authorize(request, ctx, f"os_compute_api:{rule}", {"project_id": row.project_id, "user_id": row.user_id})
    return await handler(request, ctx, row, args)


def _accepted() -> Response:
    return Response(status_code=202)


async def _boot_volume(request: Request, row: Any) -> Any:
    """The mapping of a volume-backed server's boot volume, or None."""
    return next((b for b in await run_blocking(svc(request).servers.volumes, row.uuid) if b.boot_index == 0), None)


async def _act(request: Request, ctx: RequestContext, row: Any, action_name: str, record_as: str,
               args: dict[str, Any] | None = None, **changes: Any) -> Any:
    return await svc(request).conductor.act(ctx, row.uuid, action_name, record_as=record_as, args=args, **changes)


def _simple(body_key: str, rule: str, action_name: str, record_as: str) -> None:
    async def handler(request: Request, ctx: RequestContext, row: Any, args: Any) -> Response:
        await _act(request, ctx, row, action_name, record_as)
        return _accepted()
    action(body_key, rule)(handler)


_simple("os-start", "servers:start", "start", "start")
_simple("pause", "os-pause-server:pause", "pause", "pause")
_simple("unpause", "os-pause-server:unpause", "unpause", "unpause")
_simple("suspend", "os-suspend-server:suspend", "suspend", "suspend")
_simple("resume", "os-suspend-server:resume", "resume", "resume")
_simple("unrescue", "os-unrescue", "unrescue", "unrescue")
_simple("revertResize", "servers:revert_resize", "revert_resize", "revertResize")


@action("os-stop", "servers:stop")
async def stop(request: Request, ctx: RequestContext, row: Any, args: Any) -> Response:
    await _act(request, ctx, row, "stop", "stop")
    return _accepted()


@action("reboot", "servers:reboot")
async def reboot(request: Request, ctx: RequestContext, row: Any, args: Any) -> Response:
    kind = (args or {}).get("type") if isinstance(args, dict) else None
    if not isinstance(kind, str) or kind.upper() not in ("SOFT", "HARD"):
        raise errors.BadRequest(f"Invalid input for field/attribute type. Value: {kind}. "
                                f"'{kind}' is not one of ['HARD', 'Hard', 'SOFT', 'Soft']")
    await _act(request, ctx, row, "reboot_hard" if kind.upper() == "HARD" else "reboot", "reboot")
    return _accepted()


@action("confirmResize", "servers:confirm_resize")
async def confirm_resize(request: Request, ctx: RequestContext, row: Any, args: Any) -> Response:
    await _act(request, ctx, row, "confirm_resize", "confirmResize")
    return Response(status_code=204)


@action("lock", "os-lock-server:lock")
async def lock(request: Request, ctx: RequestContext, row: Any, args: Any) -> Response:
    reason = (args or {}).get("locked_reason") if isinstance(args, dict) else None
    if reason is not None and not at_least(request, "2.73"):
        raise errors.BadRequest("Invalid input for field/attribute lock. Additional properties are not allowed")
    if reason is not None and (not isinstance(reason, str) or len(reason) > 255):
        raise errors.BadRequest("Invalid input for field/attribute locked_reason.")
    who = "owner" if ctx.project_id == row.project_id else "admin"
    await run_blocking(_lock, svc(request), ctx, row.uuid, True, who, reason)
    return _accepted()


@action("unlock", "os-lock-server:unlock")
async def unlock(request: Request, ctx: RequestContext, row: Any, args: Any) -> Response:
    if row.locked and row.locked_by == "admin" and ctx.project_id == row.project_id and not ctx.is_admin:
        authorize(request, ctx, "os_compute_api:os-lock-server:unlock:unlock_override",
                  {"project_id": row.project_id})
    await run_blocking(_lock, svc(request), ctx, row.uuid, False, None, None)
    return _accepted()


def _lock(service: Any, ctx: RequestContext, uuid: str, locked: bool, who: str | None, reason: str | None) -> None:
    with service.db.writer() as session:
        row = service.servers.for_update(session, ctx, uuid)
        row.locked, row.locked_by, row.locked_reason = locked, who, reason
        service.actions.start(session, ctx, uuid, "lock" if locked else "unlock")


@action("rescue", "os-rescue")
async def rescue(request: Request, ctx: RequestContext, row: Any, args: Any) -> Response:
    args = args if isinstance(args, dict) else {}
    image_ref = args.get("rescue_image_ref")
    image: dict[str, Any] | None = None
    if image_ref:
        image = await svc(request).images.get(str(image_ref).rsplit("/", 1)[-1], ctx.auth_token)
        if image is None:
            raise errors.BadRequest(f"Image {image_ref} could not be found.")
        image_ref = image["id"]
    # The rescue image's hw_rescue_device/hw_rescue_bus ask for a stable device rescue; without a
    # rescue image the server's own image's properties count, as in Nova.
    props = image if image is not None else (row.image_meta or {}).get("properties") or {}
    problem = rescue_problem(rescue_of(props))
    if problem:
        raise errors.BadRequest(problem)
    if await _boot_volume(request, row) is not None:
        # A volume-backed server has no root disk of its own to put second: only a stable rescue
        # (2.87+, an image with both properties) keeps its volumes in place and boots beside them.
        if not (at_least(request, "2.87") and image is not None
                and "hw_rescue_device" in image and "hw_rescue_bus" in image):
            raise errors.BadRequest(f"Instance {row.uuid} cannot be rescued: "
                                    "Cannot rescue a volume-backed instance")
    password = args.get("adminPass") or secrets.token_urlsafe(9)
    await _act(request, ctx, row, "rescue", "rescue", args={"image_id": image_ref})
    return JSONResponse({"adminPass": password})


@action("resize", "servers:resize")
async def resize(request: Request, ctx: RequestContext, row: Any, args: Any) -> Response:
    service = svc(request)
    if not isinstance(args, dict) or "flavorRef" not in args:
        raise errors.BadRequest("Invalid input for field/attribute resize. 'flavorRef' is a required property")
    disk_config = _disk_config(args)
    flavor_id = str(args["flavorRef"]).rstrip("/").rsplit("/", 1)[-1]
    try:
        new = await run_blocking(service.flavors.get, flavor_id, ctx)
    except errors.NotFound:
        raise errors.BadRequest(f"Flavor {flavor_id} could not be found.") from None
    if new["id"] == row.flavor.get("id"):
        raise errors.BadRequest("When resizing, instances must change flavor!")
    if new["disk"] < row.flavor["disk"] and row.image_ref:
        raise errors.BadRequest("Resize error: Unable to resize disk down.")
    states.check("resize", row.uuid, row.vm_state, row.task_state)
    service.servers.check_lock(ctx, row)
    await run_blocking(_quota_delta, service, ctx, row, new)
    migration = await run_blocking(service.servers.start_migration, ctx, row, "resize", new)
    await resize_claims.begin(service.placement, service, row, new, migration)
    try:
        await _act(request, ctx, row, "resize", "resize", old_flavor=row.flavor, new_flavor=new, **disk_config)
    except Exception:
        await resize_claims.revert(service.placement, row.uuid, migration)
        await run_blocking(service.servers.migration_status, row.uuid, "error")
        raise
    return _accepted()


def _disk_config(args: dict[str, Any]) -> dict[str, str]:
    """OS-DCF:diskConfig of a resize or rebuild: the server's new disk_config."""
    if "OS-DCF:diskConfig" not in args:
        return {}
    value = args["OS-DCF:diskConfig"]
    if value not in ("AUTO", "MANUAL"):
        raise errors.BadRequest(f"Invalid input for field/attribute OS-DCF:diskConfig. Value: {value}. "
                                f"'{value}' is not one of ['AUTO', 'MANUAL']")
    return {"disk_config": value}


def _quota_delta(service: Any, ctx: RequestContext, row: Any, new: dict[str, Any]) -> None:
    cores, ram = new["vcpus"] - row.flavor["vcpus"], new["ram"] - row.flavor["ram"]
    if cores > 0 or ram > 0:
        with service.db.reader() as session:
            service.quotas.check_servers(session, row.project_id, row.user_id, instances=0,
                                         cores=max(cores, 0), ram=max(ram, 0))


@action("rebuild", "servers:rebuild")
async def rebuild(request: Request, ctx: RequestContext, row: Any, args: Any) -> Response:
    service = svc(request)
    if not isinstance(args, dict) or "imageRef" not in args:
        raise errors.BadRequest("Invalid input for field/attribute rebuild. 'imageRef' is a required property")
    image_id = str(args["imageRef"]).rstrip("/").rsplit("/", 1)[-1]
    image = await service.images.get(image_id, ctx.auth_token)
    if image is None:
        raise errors.BadRequest(f"Image {image_id} could not be found.")
    if image.get("status") != "active":
        raise errors.BadRequest(f"Image {image_id} is not active.")
    from monostack.compute.api.servers import _check_flavor_fits, _image_meta
    root = await _boot_volume(request, row)
    agent_args: dict[str, Any] | None = None
    if root is not None:
        # A volume-backed server is rebuilt from the image its volume holds; another image (2.93) is
        # written over the boot volume by Block Storage (os-reimage) while the guest is down.
        volume = await service.volumes.get(root.volume_id, ctx) if service.volumes is not None else {}
        changes: dict[str, Any] = {}
        if image["id"] != (volume.get("volume_image_metadata") or {}).get("image_id"):
            if not at_least(request, "2.93"):
                raise errors.BadRequest(f"Image {image['id']} is unacceptable: Unable to rebuild with a different "
                                        "image for a volume-backed server.")
            _check_volume_fits(volume, image)
            changes["image_meta"] = _image_meta(image)
            agent_args = {"reimage_boot_volume": image["id"]}
    else:
        _check_flavor_fits(row.flavor, image, False)
        changes = {"image_ref": image["id"], "image_meta": _image_meta(image)}
    if "name" in args:
        changes["display_name"] = args["name"]
    if "description" in args and at_least(request, "2.19"):
        changes["display_description"] = args["description"]
    changes.update(_disk_config(args))
    if "accessIPv4" in args:
        changes["access_ip_v4"] = args["accessIPv4"]
    if "accessIPv6" in args:
        changes["access_ip_v6"] = args["accessIPv6"]
    if "user_data" in args and at_least(request, "2.57"):
        changes["user_data"] = args["user_data"]
    # the rebuilt guest's config drive has the files this rebuild names, and no others (as Nova's)
    changes["injected_files"] = await personality.injected_files(request, args, "rebuild", row.project_id)
    if "key_name" in args and at_least(request, "2.54"):
        if args["key_name"] is None:
            changes.update(key_name=None, key_data=None)
        else:
            key = await run_blocking(service.keypairs.get, ctx.user_id, args["key_name"])
            if key is None:
                raise errors.BadRequest("Invalid key_name provided.")
            changes.update(key_name=key["name"], key_data=key["public_key"])
    if "metadata" in args:
        await run_blocking(service.quotas.check_metadata, len(args["metadata"] or {}), ctx.project_id)
    row = await _act(request, ctx, row, "rebuild", "rebuild", args=agent_args, **changes)
    if "metadata" in args:
        await run_blocking(_set_metadata, service, ctx, row.uuid, args["metadata"] or {})
    row = await run_blocking(service.servers.get, ctx, row.uuid)
    groups = await run_blocking(views.group_ids, service, row.uuid) if at_least(request, "2.71") else None
    view = views.server_after_change(request, row, ctx, rebuild=True, server_groups=groups)
    view["adminPass"] = args.get("adminPass") or secrets.token_urlsafe(9)
    return JSONResponse({"server": view}, status_code=202)


def _check_volume_fits(volume: dict[str, Any], image: dict[str, Any]) -> None:
    """Nova's check of an image for a volume it is written to (the volume keeps its size)."""
    size = int(volume.get("size") or 0) * 1024 ** 3
    if image.get("size") and int(image["size"]) > size:
        raise errors.BadRequest(f"Volume is smaller than the image: volume {size} bytes, image {image['size']} bytes.")
    min_disk = int(image.get("min_disk") or 0) * 1024 ** 3
    if min_disk > size:
        raise errors.BadRequest(f"Volume is smaller than the minimum size specified in image metadata. Volume size "
                                f"is {size} bytes, minimum size is {min_disk} bytes.")


def _set_metadata(service: Any, ctx: RequestContext, uuid: str, items: dict[str, str]) -> None:
    with service.db.writer() as session:
        row = service.servers.for_update(session, ctx, uuid)
        service.servers.set_metadata_items(session, row, items)


# Image attributes a snapshot's metadata cannot set (they are not properties).
_IMAGE_CORE = ("name", "disk_format", "container_format", "visibility", "id", "owner", "status", "protected")


async def _snapshot_image(request: Request, ctx: RequestContext, row: Any, name: str,
                          metadata: dict[str, Any], extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The queued image a snapshot or shelve uploads into, owned by the caller's project."""
    props = {k: v for k, v in ((row.image_meta or {}).get("properties") or {}).items()
             if not k.startswith(("os_glance", "owner_specified"))}
    # The caller's metadata may override image_type and the other snapshot properties (as in Nova).
    body = {**props, "name": name, "disk_format": "qcow2", "container_format": "bare", "visibility": "private",
            "image_type": "snapshot", "instance_uuid": row.uuid, "base_image_ref": row.image_ref or "",
            "user_id": ctx.user_id, **{k: str(v) for k, v in (metadata or {}).items() if k not in _IMAGE_CORE},
            **(extra or {})}
    if (row.image_meta or {}).get("min_ram"):
        body["min_ram"] = row.image_meta["min_ram"]
    body["min_disk"] = max(row.flavor.get("disk", 0), (row.image_meta or {}).get("min_disk", 0))
    return await svc(request).images.create(ctx.auth_token, body)


@action("createImage", "servers:create_image")
async def create_image(request: Request, ctx: RequestContext, row: Any, args: Any) -> Response:
    if not isinstance(args, dict) or not isinstance(args.get("name"), str) or not args["name"].strip():
        raise errors.BadRequest("Invalid input for field/attribute name. 'name' is a required property")
    states.check("snapshot", row.uuid, row.vm_state, row.task_state)
    volumes = await run_blocking(svc(request).servers.volumes, row.uuid)
    if any(b.boot_index == 0 for b in volumes):
        image = await _snapshot_volume_backed(request, ctx, row, args, volumes)
    else:
        image = await _snapshot_image(request, ctx, row, args["name"], args.get("metadata") or {})
        try:
            await _act(request, ctx, row, "snapshot", "createImage", args={"image_id": image["id"]})
        except Exception:
            await svc(request).images.delete(image["id"])
            raise
    location = links(request, "images", image["id"])[0]["href"]
    if at_least(request, "2.45"):
        return JSONResponse({"image_id": image["id"]}, status_code=202)
    return Response(status_code=202, headers={"Location": location})


async def _snapshot_volume_backed(request: Request, ctx: RequestContext, row: Any, args: dict[str, Any],
                                  volumes: list[Any]) -> dict[str, Any]:
    """Nova's snapshot_volume_backed: a Block Storage snapshot (forced: the volumes are in use) of
    each volume, and an image without data that maps them (block_device_mapping, bdm_v2), active
    at once; a server booted from it gets volumes made from those snapshots."""
    service = svc(request)
    if service.volumes is None:
        raise errors.Conflict("The server's volumes cannot be snapshotted: there is no Block Storage service.")
    mappings = []
    for bdm in sorted(volumes, key=lambda b: (b.boot_index is None or b.boot_index < 0, b.boot_index or 0)):
        volume = await service.volumes.get(bdm.volume_id, ctx)
        snapshot = await service.volumes.create_snapshot(ctx, bdm.volume_id, force=True,
                                                         name=f"snapshot for {args['name']}", description=None)
        mappings.append({"source_type": "snapshot", "destination_type": "volume", "snapshot_id": snapshot["id"],
                         "volume_size": volume["size"], "boot_index": bdm.boot_index,
                         "device_name": bdm.device_name, "delete_on_termination": bool(bdm.delete_on_termination),
                         "disk_bus": bdm.disk_bus, "device_type": bdm.device_type, "tag": None,
                         "guest_format": None, "no_device": None, "image_id": None, "volume_id": None,
                         "volume_type": None})
    extra = {"block_device_mapping": json.dumps(mappings), "bdm_v2": "True", "root_device_name": "/dev/vda"}
    image = await _snapshot_image(request, ctx, row, args["name"], args.get("metadata") or {}, extra)
    try:
        await service.images.activate_empty(image["id"])
    except Exception:
        await service.images.delete(image["id"])
        raise
    return image


@action("shelve", "os-shelve:shelve")
async def shelve(request: Request, ctx: RequestContext, row: Any, args: Any) -> Response:
    states.check("shelve", row.uuid, row.vm_state, row.task_state)
    image = await _snapshot_image(request, ctx, row, f"{row.display_name}-shelved", {})
    offload = True  # Nova's default shelved_offload_time 0: offloaded at once
    await _act(request, ctx, row, "shelve", "shelve", args={"image_id": image["id"], "offload": offload})
    return _accepted()


@action("shelveOffload", "os-shelve:shelve_offload")
async def shelve_offload(request: Request, ctx: RequestContext, row: Any, args: Any) -> Response:
    await _act(request, ctx, row, "shelve_offload", "shelveOffload")
    return _accepted()


@action("unshelve", "os-shelve:unshelve")
async def unshelve(request: Request, ctx: RequestContext, row: Any, args: Any) -> Response:
    service = svc(request)
    states.check("unshelve", row.uuid, row.vm_state, row.task_state)
    if row.vm_state == states.SHELVED_OFFLOADED:
        # Offloaded: place it again (the scheduler claims), then the chosen agent boots it.
        await service.conductor.unshelve_offloaded(ctx, row)
        return _accepted()
    await _act(request, ctx, row, "unshelve", "unshelve")
    return _accepted()


@action("os-getConsoleOutput", "os-console-output")
async def console_output(request: Request, ctx: RequestContext, row: Any, args: Any) -> Response:
    length = (args or {}).get("length") if isinstance(args, dict) else None
    if length is not None:
        try:
            length = int(length)
        except (TypeError, ValueError):
            raise errors.BadRequest(f"Invalid input for field/attribute length. Value: {length}.") from None
        if length < -1:
            raise errors.BadRequest(f"Invalid input for field/attribute length. Value: {length}.")
        if length == -1:
            length = None
    states.check("get_console_output", row.uuid, row.vm_state, row.task_state)
    output = await svc(request).conductor.call_agent(row, "console_output", instance_uuid=row.uuid, length=length)
    return JSONResponse({"output": output})


@action("os-resetState", "os-admin-actions:reset_state")
async def reset_state(request: Request, ctx: RequestContext, row: Any, args: Any) -> Response:
    state = (args or {}).get("state") if isinstance(args, dict) else None
    if state not in ("active", "error"):
        raise errors.BadRequest(f"Invalid input for field/attribute state. Value: {state}.")
    await run_blocking(svc(request).servers.finish, row.uuid, vm_state=state, task_state=None)
    return _accepted()


@action("injectNetworkInfo", "os-admin-actions:inject_network_info")
async def inject_network_info(request: Request, ctx: RequestContext, row: Any, args: Any) -> Response:
    """Nova has the driver push network info into the guest; a user-mode NIC takes its
    address by DHCP, so there is nothing to push (as with libvirt)."""
    svc(request).servers.check_lock(ctx, row)
    return _accepted()


@action("migrate", "os-migrate-server:migrate")
async def migrate(request: Request, ctx: RequestContext, row: Any, args: Any) -> Response:
    states.check("migrate", row.uuid, row.vm_state, row.task_state)
    raise errors.BadRequest("No valid host was found. No valid host found for cold migrate")


@action("os-migrateLive", "os-migrate-server:migrate_live")
async def live_migrate(request: Request, ctx: RequestContext, row: Any, args: Any) -> Response:
    states.check("live_migrate", row.uuid, row.vm_state, row.task_state)
    raise errors.BadRequest("No valid host was found. No valid host found for live migration")


@action("evacuate", "os-evacuate")
async def evacuate(request: Request, ctx: RequestContext, row: Any, args: Any) -> Response:
    states.check("evacuate", row.uuid, row.vm_state, row.task_state)
    service = svc(request)
    host = row.host and await run_blocking(service.hosts.service, row.host)
    if host and service.hosts.is_up(host) and not host.forced_down:
        raise errors.BadRequest(f"Compute service of {row.host} is still in use.")
    raise errors.BadRequest("No valid host was found. There are no other hosts to evacuate to.")


@action("changePassword", "os-admin-password")
async def change_password(request: Request, ctx: RequestContext, row: Any, args: Any) -> Response:
    states.check("set_admin_password", row.uuid, row.vm_state, row.task_state)
    raise errors.Conflict("Unable to set password on instance: the QEMU driver has no guest agent channel.")


@action("trigger_crash_dump", "servers:trigger_crash_dump")
async def trigger_crash_dump(request: Request, ctx: RequestContext, row: Any, args: Any) -> Response:
    """(2.17) An NMI to the guest, on its host: a guest set up for it panics and dumps."""
    if not at_least(request, "2.17"):
        raise errors.NotFound("There is no such action: trigger_crash_dump")
    if args is not None:
        raise errors.BadRequest("Invalid input for field/attribute trigger_crash_dump. Value: "
                                f"{args}. {args!r} is not one of [None]")
    await _act(request, ctx, row, "trigger_crash_dump", "trigger_crash_dump")
    return _accepted()


@action("forceDelete", "os-deferred-delete:force")
async def force_delete(request: Request, ctx: RequestContext, row: Any, args: Any) -> Response:
    await svc(request).conductor.delete(ctx, row)
    return _accepted()


@action("restore", "os-deferred-delete:restore")
async def restore(request: Request, ctx: RequestContext, row: Any, args: Any) -> Response:
    states.check("restore", row.uuid, row.vm_state, row.task_state)
    return _accepted()
