"""The JSON views of volumes, snapshots, backups, attachments, types and QoS specs, as Cinder renders them."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm.base import NO_VALUE

from monostack.common.context import RequestContext
from monostack.volume import states
from monostack.volume.api.common import allowed, at_least, isotime, links


def volume_summary(request: Request, ctx: RequestContext, row: Any) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "links": links(request, ctx, "volumes", row.id)}


def attachment_in_volume(row: Any, attachment: Any) -> dict[str, Any]:
    return {"server_id": attachment.instance_uuid, "attachment_id": attachment.id,
            "attached_at": isotime(attachment.attach_time), "host_name": attachment.attached_host,
            "volume_id": row.id, "device": attachment.mountpoint, "id": row.id}


def loaded_attachments(row: Any) -> list[Any]:
    """The volume's attachments as loaded with it (a row just created in a session has none loaded)."""
    value = sa_inspect(row).attrs.attachments.loaded_value
    return [] if value is NO_VALUE else list(value)


# Cinder adds these in show and list (its extension controllers), not in create and update answers.
SHOW_ONLY = ("os-vol-tenant-attr:tenant_id", "os-vol-host-attr:host", "os-vol-mig-status-attr:migstat",
             "os-vol-mig-status-attr:name_id", "volume_image_metadata")


def volume(request: Request, ctx: RequestContext, row: Any, type_names: dict[str, str], *,
           full: bool = True) -> dict[str, Any]:
    admin = ctx.is_admin
    view: dict[str, Any] = {
        "id": row.id, "name": row.name, "description": row.description, "status": row.status, "size": row.size,
        "availability_zone": row.availability_zone, "created_at": isotime(row.created_at),
        "updated_at": isotime(row.updated_at),
        "attachments": [attachment_in_volume(row, a) for a in loaded_attachments(row) if a.attach_status == states.ATTACHED],
        "bootable": "true" if row.bootable else "false", "encrypted": False,
        "links": links(request, ctx, "volumes", row.id), "metadata": visible_metadata(row),
        "multiattach": bool(row.multiattach), "replication_status": None, "snapshot_id": row.snapshot_id,
        "source_volid": row.source_volid, "user_id": row.user_id,
        "volume_type": type_names.get(row.volume_type_id or "", None),
        "os-vol-tenant-attr:tenant_id": row.project_id, "consistencygroup_id": None,
    }
    if row.image_metadata:
        view["volume_image_metadata"] = dict(row.image_metadata)
    if admin:
        view["os-vol-host-attr:host"] = row.host
        view["os-vol-mig-status-attr:migstat"] = row.migration_status
        view["os-vol-mig-status-attr:name_id"] = None
        view["migration_status"] = row.migration_status
    if at_least(request, "3.13"):
        view["group_id"] = row.group_id
    if at_least(request, "3.21") and admin:
        view["provider_id"] = None
    if at_least(request, "3.48"):
        view["service_uuid"] = row.host
        view["shared_targets"] = False
    if at_least(request, "3.61") and admin:
        view["cluster_name"] = None
    if at_least(request, "3.63"):
        view["volume_type_id"] = row.volume_type_id
    if at_least(request, "3.64"):
        view["encryption_key_id"] = None
    if at_least(request, "3.65"):
        view["consumes_quota"] = True
    if not full:
        for key in SHOW_ONLY:
            view.pop(key, None)
    return view


def snapshot(request: Request, ctx: RequestContext, row: Any, *, full: bool = True) -> dict[str, Any]:
    view = {"id": row.id, "name": row.name, "description": row.description, "status": row.status,
            "size": row.volume_size, "volume_id": row.volume_id, "created_at": isotime(row.created_at),
            "updated_at": isotime(row.updated_at), "metadata": visible_metadata(row)}
    if full:
        view["os-extended-snapshot-attributes:progress"] = row.progress
        view["os-extended-snapshot-attributes:project_id"] = row.project_id
    if at_least(request, "3.14"):
        view["group_snapshot_id"] = row.group_snapshot_id
    if at_least(request, "3.41"):
        view["user_id"] = row.user_id
    if at_least(request, "3.65"):
        view["consumes_quota"] = True
    return view


def backup(request: Request, ctx: RequestContext, row: Any, has_dependents: bool = False) -> dict[str, Any]:
    view = {"id": row.id, "name": row.name, "description": row.description, "status": row.status,
            "availability_zone": row.availability_zone, "container": row.container,
            "created_at": isotime(row.created_at), "updated_at": isotime(row.updated_at),
            "fail_reason": row.fail_reason, "size": row.size, "object_count": row.object_count,
            "volume_id": row.volume_id, "snapshot_id": row.snapshot_id, "is_incremental": row.is_incremental,
            "has_dependent_backups": has_dependents, "data_timestamp": isotime(row.data_timestamp),
            "links": links(request, ctx, "backups", row.id)}
    if at_least(request, "3.18"):
        view["os-backup-project-attr:project_id"] = row.project_id
    if at_least(request, "3.43"):
        view["metadata"] = visible_metadata(row)
    if at_least(request, "3.51"):
        view["encryption_key_id"] = None
    if at_least(request, "3.56"):
        view["user_id"] = row.user_id
    return view


def volume_type(request: Request, ctx: RequestContext, row: Any, kind: str = "show") -> dict[str, Any]:
    """kind: show (and list), create (no qos_specs_id) or update (no access flag either), as Cinder answers."""
    view = {"id": row.id, "name": row.name, "description": row.description, "is_public": row.is_public}
    if kind != "update":
        view["os-volume-type-access:is_public"] = row.is_public
    if kind == "show" and ctx.is_admin:
        view["qos_specs_id"] = row.qos_specs_id
    if ctx.is_admin or allowed(request, ctx, "volume_extension:access_types_extra_specs"):
        view["extra_specs"] = dict(row.extra_specs or {})
    else:
        # Users see the specs that matter to them (Cinder's user-visible extra specs).
        view["extra_specs"] = {k: v for k, v in (row.extra_specs or {}).items()
                               if k in ("multiattach", "RESKEY:availability_zones", "replication_enabled")}
    return view


def encryption(row: Any) -> dict[str, Any]:
    """A type's encryption specs, with the columns Cinder shows (it never soft-deletes them here)."""
    return {"volume_type_id": row.volume_type_id, "encryption_id": row.encryption_id, "provider": row.provider,
            "cipher": row.cipher, "key_size": row.key_size, "control_location": row.control_location,
            "created_at": isotime(row.created_at), "updated_at": isotime(row.updated_at), "deleted": False,
            "deleted_at": None}


def qos(request: Request, ctx: RequestContext, row: Any) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "consumer": row.consumer, "specs": dict(row.specs or {})}


def attachment(row: Any, volume_row: Any, *, detail: bool = True) -> dict[str, Any]:
    view = {"id": row.id, "status": row.attach_status, "instance": row.instance_uuid, "volume_id": row.volume_id}
    if detail:
        view.update(attached_at=isotime(row.attach_time), detached_at=isotime(row.detach_time),
                    attach_mode=row.attach_mode, connection_info=row.connection_info or {})
    return view


VISIBLE_ADMIN_METADATA = ("readonly", "attached_mode")


def visible_metadata(row: Any) -> dict[str, str]:
    """The volume's metadata as Cinder shows it: with the admin metadata every user may see
    (Cinder's add_visible_admin_metadata: the readonly flag and the attach mode)."""
    shown = dict(row.metadata_ or {})
    admin = getattr(row, "admin_metadata", None) or {}
    shown.update({k: v for k, v in admin.items() if k in VISIBLE_ADMIN_METADATA})
    return shown
