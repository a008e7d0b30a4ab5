"""POST /v3/{project_id}/volumes/{id}/action: extend, bootable and readonly flags,
status reset, force delete, upload to an image, reimage, retype, volume image metadata, and
the attach path Nova used before the attachments API (reserve, attach,
initialize_connection, begin_detaching, detach, terminate_connection, ...)."""

from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable

from fastapi import APIRouter, Depends, Request, Response

from monostack.common import errors
from monostack.common.auth import authenticated
from monostack.common.context import RequestContext
from monostack.common.http import JSONResponse, run_blocking
from monostack.volume import models, states
from monostack.volume.api.common import at_least, authorize, isotime, json_body, size_of, svc
from monostack.volume.service.common import bool_param

LOG = logging.getLogger(__name__)
router = APIRouter()
Handler = Callable[[Request, RequestContext, str, Any], Awaitable[Response]]
ACTIONS: dict[str, Handler] = {}

DISK_FORMATS = ("raw", "vmdk", "vdi", "qcow2", "vhd", "vhdx", "ploop")
CONTAINER_FORMATS = ("bare", "ovf", "ova", "docker", "compressed")


def action(name: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        ACTIONS[name] = fn
        return fn
    return register


@router.post("/v3/volumes/{volume_id}/action")
async def volume_action(volume_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> Response:
    body = await json_body(request)
    if len(body) != 1:
        raise errors.BadRequest("There is either no action or more than one action in the request body.")
    (name, arg), = body.items()
    handler = ACTIONS.get(name)
    if handler is None:
        raise errors.BadRequest(f"There is no such action: {name}")
    return await handler(request, ctx, volume_id, arg)


def _dict(arg: Any, name: str) -> dict[str, Any]:
    if arg is None:
        return {}
    if not isinstance(arg, dict):
        raise errors.BadRequest(f"Invalid input for field/attribute {name}. Value: {arg}. {arg!r} is not of type "
                                f"'object'")
    return arg


def _accepted() -> Response:
    return Response(status_code=202)


@action("os-extend")
async def extend(request: Request, ctx: RequestContext, volume_id: str, arg: Any) -> Response:
    arg = _dict(arg, "os-extend")
    if "new_size" not in arg:
        raise errors.BadRequest("Invalid input for field/attribute os-extend. Value: {}. 'new_size' is a required "
                                "property")
    new_size = size_of(arg["new_size"], "new_size")
    service = svc(request)
    current = await run_blocking(service.volumes.get, ctx, volume_id)
    online = at_least(request, "3.42")
    authorize(request, ctx, "volume:extend_attached_volume" if current.status == states.IN_USE else "volume:extend",
              {"project_id": current.project_id})
    row = await run_blocking(service.volumes.extend, ctx, volume_id, new_size, online_allowed=online)
    service.cast(row.host, "extend_volume", row.id, new_size)
    return _accepted()


@action("os-reimage")
async def reimage(request: Request, ctx: RequestContext, volume_id: str, arg: Any) -> Response:
    """3.68: the image's data over the volume's (Nova rebuilding a volume-backed server, 2.93)."""
    if not at_least(request, "3.68"):
        raise errors.BadRequest("There is no such action: os-reimage")
    arg = _dict(arg, "os-reimage")
    unknown = sorted(set(arg) - {"image_id", "reimage_reserved"})
    if unknown:
        raise errors.BadRequest(f"Invalid input for field/attribute os-reimage. Additional properties are not "
                                f"allowed ({', '.join(repr(k) for k in unknown)} were unexpected)")
    image_id = arg.get("image_id")
    if not isinstance(image_id, str) or not image_id:
        raise errors.BadRequest("Invalid input for field/attribute os-reimage. 'image_id' is a required property")
    reserved = bool_param(arg.get("reimage_reserved", False), "reimage_reserved")
    service = svc(request)
    current = await run_blocking(service.volumes.get, ctx, volume_id)
    authorize(request, ctx, "volume:reimage", {"project_id": current.project_id})
    if reserved:
        authorize(request, ctx, "volume:reimage_reserved", {"project_id": current.project_id})
    if service.images is None:
        raise errors.BadRequest("Invalid input received: no Image service to reimage the volume from.")
    image = await service.images.get(image_id, ctx.auth_token)
    if image is None:
        raise errors.NotFound(f"Image {image_id} could not be found.")
    row = await run_blocking(service.volumes.reimage, ctx, volume_id, image, reserved=reserved)
    service.cast(row.host, "reimage_volume", row.id, image)
    return _accepted()


@action("os-set_bootable")
async def set_bootable(request: Request, ctx: RequestContext, volume_id: str, arg: Any) -> Response:
    arg = _dict(arg, "os-set_bootable")
    if "bootable" not in arg:
        raise errors.BadRequest("Invalid input for field/attribute os-set_bootable. Value: {}. 'bootable' is a "
                                "required property")
    authorize(request, ctx, "volume_extension:volume_actions:set_bootable")
    await run_blocking(svc(request).volumes.set_bootable, ctx, volume_id, bool_param(arg["bootable"], "bootable"))
    return Response(status_code=200)


@action("os-update_readonly_flag")
async def readonly(request: Request, ctx: RequestContext, volume_id: str, arg: Any) -> Response:
    arg = _dict(arg, "os-update_readonly_flag")
    if "readonly" not in arg:
        raise errors.BadRequest("Invalid input for field/attribute os-update_readonly_flag. Value: {}. 'readonly' "
                                "is a required property")
    authorize(request, ctx, "volume:update_readonly_flag")
    await run_blocking(svc(request).volumes.set_readonly, ctx, volume_id, bool_param(arg["readonly"], "readonly"))
    return _accepted()


@action("os-reset_status")
async def reset_status(request: Request, ctx: RequestContext, volume_id: str, arg: Any) -> Response:
    arg = _dict(arg, "os-reset_status")
    authorize(request, ctx, "volume_extension:volume_admin_actions:reset_status")
    await run_blocking(svc(request).volumes.reset_status, ctx, volume_id, arg.get("status"),
                       arg.get("attach_status"), arg.get("migration_status"))
    return _accepted()


@action("os-force_delete")
async def force_delete(request: Request, ctx: RequestContext, volume_id: str, arg: Any) -> Response:
    authorize(request, ctx, "volume:force_delete")
    service = svc(request)
    row, snapshot_ids = await run_blocking(service.volumes.delete, ctx, volume_id, cascade=False, force=True)
    if row is not None:
        service.cast(row.host, "delete_volume", row.id, snapshot_ids)
    return _accepted()


@action("os-retype")
async def retype(request: Request, ctx: RequestContext, volume_id: str, arg: Any) -> Response:
    arg = _dict(arg, "os-retype")
    if not arg.get("new_type"):
        raise errors.BadRequest("Invalid input for field/attribute os-retype. 'new_type' is a required property")
    policy = arg.get("migration_policy") or "never"
    if policy not in ("never", "on-demand"):
        raise errors.BadRequest(f"Invalid input received: migration_policy must be 'on-demand' or 'never', "
                                f"passed: {policy}")
    authorize(request, ctx, "volume:retype")
    service = svc(request)
    row, destination = await run_blocking(service.volumes.retype, ctx, volume_id, arg["new_type"], policy)
    if destination is not None:  # the new type lives on another backend: the data moves there
        service.cast(row.host, "migrate_volume", row.id, destination, row.volume_type_id)
    return _accepted()


@action("os-volume_upload_image")
async def upload_image(request: Request, ctx: RequestContext, volume_id: str, arg: Any) -> Response:
    arg = _dict(arg, "os-volume_upload_image")
    authorize(request, ctx, "volume_extension:volume_actions:upload_image")
    name = arg.get("image_name")
    if not name or not isinstance(name, str):
        raise errors.BadRequest("Invalid input for field/attribute os-volume_upload_image. 'image_name' is a "
                                "required property")
    disk_format = arg.get("disk_format") or "raw"
    container_format = arg.get("container_format") or "bare"
    if disk_format not in DISK_FORMATS:
        raise errors.BadRequest(f"Invalid input received: Invalid disk-format '{disk_format}' is specified. "
                                f"Allowed disk-formats are {', '.join(DISK_FORMATS)}.")
    if container_format not in CONTAINER_FORMATS:
        raise errors.BadRequest(f"Invalid input received: Invalid container-format '{container_format}'.")
    force = bool_param(arg.get("force", False), "force")
    service = svc(request)
    if service.images is None:
        raise errors.BadRequest("Invalid input received: no Image service to upload to.")
    current = await run_blocking(service.volumes.get, ctx, volume_id)
    if current.status == states.IN_USE and not force:
        raise states.InvalidVolume(f"Volume {volume_id} status must be available, but current status is: in-use.")
    reason = "Volume status must be available or in-use to upload an image (it is {status})."
    row = await run_blocking(service.volumes.begin, ctx, volume_id, "upload", reason_if_refused=reason)
    image_body: dict[str, Any] = {"name": name, "disk_format": disk_format, "container_format": container_format}
    if at_least(request, "3.1"):
        if arg.get("visibility"):
            image_body["visibility"] = arg["visibility"]
        if "protected" in arg:
            image_body["protected"] = bool_param(arg["protected"], "protected")
    for key, value in (row.image_metadata or {}).items():
        if key not in ("image_id", "image_name", "checksum", "container_format", "disk_format", "size",
                       "min_disk", "min_ram") and isinstance(value, str):
            image_body[key] = value
    try:
        image = await service.images.create(ctx.auth_token, image_body)
    except Exception:
        await run_blocking(_back_to_previous, service, volume_id)
        raise
    service.cast(row.host, "upload_to_image", volume_id, image["id"], disk_format)
    type_view = None
    if row.volume_type_id:
        vtype = await run_blocking(_type, service, row.volume_type_id)
        if vtype is not None:
            type_view = {"id": vtype.id, "name": vtype.name, "description": vtype.description,
                         "is_public": vtype.is_public, "extra_specs": dict(vtype.extra_specs),
                         "qos_specs_id": vtype.qos_specs_id, "deleted": False, "created_at": isotime(vtype.created_at),
                         "updated_at": isotime(vtype.updated_at), "deleted_at": None}
    return JSONResponse({"os-volume_upload_image": {
        "id": row.id, "updated_at": isotime(row.updated_at), "status": row.status,
        "display_description": row.description, "size": row.size, "volume_type": type_view,
        "image_id": image["id"], "container_format": container_format, "disk_format": disk_format,
        "image_name": name, "protected": image.get("protected", False),
        "visibility": image.get("visibility", "private")}}, status_code=202)


def _type(service: Any, type_id: str) -> Any:
    with service.db.reader() as session:
        return session.get(models.VolumeType, type_id)


def _back_to_previous(service: Any, volume_id: str) -> None:
    from monostack.volume.service.volumes import Volumes
    with service.db.writer() as session:
        row = session.get(models.Volume, volume_id)
        if row is not None:
            Volumes.settle(row)


# -- volume image metadata ---------------------------------------------------------------------------
@action("os-set_image_metadata")
async def set_image_metadata(request: Request, ctx: RequestContext, volume_id: str, arg: Any) -> Response:
    arg = _dict(arg, "os-set_image_metadata")
    authorize(request, ctx, "volume:update_volume_metadata")
    meta = await run_blocking(svc(request).volumes.update_image_metadata, ctx, volume_id, arg.get("metadata") or {})
    return JSONResponse({"metadata": meta})


@action("os-unset_image_metadata")
async def unset_image_metadata(request: Request, ctx: RequestContext, volume_id: str, arg: Any) -> Response:
    arg = _dict(arg, "os-unset_image_metadata")
    authorize(request, ctx, "volume:delete_volume_metadata")
    await run_blocking(svc(request).volumes.update_image_metadata, ctx, volume_id, None,
                       delete_key=str(arg.get("key")))
    return Response(status_code=200)


@action("os-show_image_metadata")
async def show_image_metadata(request: Request, ctx: RequestContext, volume_id: str, arg: Any) -> Response:
    authorize(request, ctx, "volume:get_volume_metadata")
    row = await run_blocking(svc(request).volumes.get, ctx, volume_id)
    return JSONResponse({"metadata": dict(row.image_metadata or {})})


# -- the pre-attachments-API attach path -------------------------------------------------------------
@action("os-reserve")
async def reserve(request: Request, ctx: RequestContext, volume_id: str, arg: Any) -> Response:
    authorize(request, ctx, "volume_extension:volume_actions:reserve")
    await run_blocking(svc(request).volumes.reserve, ctx, volume_id)
    return _accepted()


@action("os-unreserve")
async def unreserve(request: Request, ctx: RequestContext, volume_id: str, arg: Any) -> Response:
    authorize(request, ctx, "volume_extension:volume_actions:unreserve")
    await run_blocking(svc(request).volumes.unreserve, ctx, volume_id)
    return _accepted()


@action("os-begin_detaching")
async def begin_detaching(request: Request, ctx: RequestContext, volume_id: str, arg: Any) -> Response:
    authorize(request, ctx, "volume_extension:volume_actions:begin_detaching")
    await run_blocking(svc(request).volumes.begin_detaching, ctx, volume_id)
    return _accepted()


@action("os-roll_detaching")
async def roll_detaching(request: Request, ctx: RequestContext, volume_id: str, arg: Any) -> Response:
    authorize(request, ctx, "volume_extension:volume_actions:roll_detaching")
    await run_blocking(svc(request).volumes.roll_detaching, ctx, volume_id)
    return _accepted()


@action("os-attach")
async def attach(request: Request, ctx: RequestContext, volume_id: str, arg: Any) -> Response:
    arg = _dict(arg, "os-attach")
    authorize(request, ctx, "volume_extension:volume_actions:attach")
    if "mountpoint" not in arg:
        raise errors.BadRequest("Invalid input for field/attribute os-attach. 'mountpoint' is a required property")
    await run_blocking(svc(request).volumes.attach, ctx, volume_id, arg.get("instance_uuid"), arg.get("host_name"),
                       str(arg["mountpoint"]), arg.get("mode") or "rw")
    return _accepted()


@action("os-detach")
async def detach(request: Request, ctx: RequestContext, volume_id: str, arg: Any) -> Response:
    arg = _dict(arg, "os-detach")
    authorize(request, ctx, "volume_extension:volume_actions:detach")
    await run_blocking(svc(request).volumes.detach, ctx, volume_id, arg.get("attachment_id"))
    return _accepted()


@action("os-force_detach")
async def force_detach(request: Request, ctx: RequestContext, volume_id: str, arg: Any) -> Response:
    arg = _dict(arg, "os-force_detach")
    authorize(request, ctx, "volume_extension:volume_admin_actions:force_detach")
    service = svc(request)
    row = await run_blocking(service.volumes.get, ctx, volume_id)
    try:
        await service.call(row.host, "terminate_connection", volume_id, arg.get("connector"))
    except errors.APIError:
        LOG.warning("backend of volume %s is not running: detaching without terminate_connection", volume_id)
    await run_blocking(service.volumes.detach, ctx, volume_id, arg.get("attachment_id"))
    return _accepted()


@action("os-initialize_connection")
async def initialize_connection(request: Request, ctx: RequestContext, volume_id: str, arg: Any) -> Response:
    arg = _dict(arg, "os-initialize_connection")
    connector = arg.get("connector")
    if not isinstance(connector, dict):
        raise errors.BadRequest("Invalid input for field/attribute os-initialize_connection. 'connector' is a "
                                "required property")
    authorize(request, ctx, "volume_extension:volume_actions:initialize_connection")
    service = svc(request)
    row = await run_blocking(service.volumes.get, ctx, volume_id)
    if row.status not in (states.ATTACHING, states.IN_USE, states.AVAILABLE, states.RESERVED):
        raise states.InvalidVolume(f"Volume status must be available, reserved, attaching or in-use to initialize "
                                   f"a connection (it is {row.status}).")
    info = await connection_info(service, row, connector, row.admin_metadata.get("readonly") == "True")
    return JSONResponse({"connection_info": info})


async def connection_info(service: Any, row: Any, connector: dict[str, Any], readonly: bool,
                          attachment_id: str | None = None) -> dict[str, Any]:
    try:
        info = await service.call(row.host, "initialize_connection", row.id, connector,
                                  shareable=bool(row.multiattach))
    except errors.APIError:
        raise
    except Exception as err:
        LOG.exception("initialize_connection of volume %s failed", row.id)
        raise errors.APIError(f"Unable to create connection to the volume: {err}") from None
    info = dict(info)
    data = dict(info.get("data") or {})
    data.setdefault("volume_id", row.id)
    data["access_mode"] = "ro" if readonly else "rw"
    data.setdefault("encrypted", False)
    data.setdefault("discard", True)
    if attachment_id:
        data["attachment_id"] = attachment_id
    info["data"] = data
    info.setdefault("serial", row.id)
    return info


@action("os-terminate_connection")
async def terminate_connection(request: Request, ctx: RequestContext, volume_id: str, arg: Any) -> Response:
    arg = _dict(arg, "os-terminate_connection")
    authorize(request, ctx, "volume_extension:volume_actions:terminate_connection")
    service = svc(request)
    row = await run_blocking(service.volumes.get, ctx, volume_id)
    await service.call(row.host, "terminate_connection", volume_id, arg.get("connector"))
    return _accepted()
