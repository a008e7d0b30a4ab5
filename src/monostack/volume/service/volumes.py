"""Volume use cases: create (empty, from an image, a snapshot or a volume), list,
show, update, delete, metadata, and the status changes of the volume actions.

Every status change goes through states.VOLUME; the backend's work is cast by the
API layer to the volume's manager once the row is committed."""

from __future__ import annotations

import ast
import json
import logging
import math
from typing import Any

import sqlalchemy as sa
from sqlalchemy import orm

from monostack.common import errors
from monostack.common.context import RequestContext
from monostack.volume import models, states
from monostack.volume.service.common import bool_param, check_metadata, get_owned, utcnow
from monostack.volume.service.types import is_multiattach

LOG = logging.getLogger(__name__)
GiB = 1024 ** 3

DELETE_REFUSED = ("Volume status must be available or error or error_restoring or error_extending or "
                  "error_managing and must not be migrating, attached, belong to a group, have snapshots, "
                  "awaiting a transfer, or be disassociated from snapshots after volume transfer.")
SORT_KEYS = {"id": models.Volume.id, "name": models.Volume.name, "display_name": models.Volume.name,
             "status": models.Volume.status, "size": models.Volume.size, "created_at": models.Volume.created_at,
             "updated_at": models.Volume.updated_at, "availability_zone": models.Volume.availability_zone,
             "bootable": models.Volume.bootable, "project_id": models.Volume.project_id,
             "volume_type_id": models.Volume.volume_type_id}
# Glance properties that are not copied into volume_image_metadata.
_IMAGE_SKIP = {"id", "name", "status", "visibility", "protected", "owner", "tags", "created_at", "updated_at",
               "file", "schema", "self", "locations", "direct_url", "os_hash_algo", "os_hash_value", "os_hidden",
               "virtual_size", "stores", "os_glance_failed_import", "os_glance_importing_to_stores"}


def parse_metadata_filter(value: str) -> dict[str, str]:
    """The `metadata` list filter: a dict literal, as the CLI sends it ("{'k': 'v'}") or JSON."""
    for parse in (json.loads, ast.literal_eval):
        try:
            parsed = parse(value)
        except (ValueError, SyntaxError):
            continue
        if isinstance(parsed, dict):
            return {str(k): str(v) for k, v in parsed.items()}
    raise errors.BadRequest(f"Invalid input received: Invalid filter metadata={value}.")


def parse_sort(params: dict[str, str]) -> list[tuple[str, str]]:
    """`sort=k1:dir,k2` (3.0) or sort_key/sort_dir; Cinder's default is created_at desc, id desc."""
    keys: list[tuple[str, str]] = []
    if params.get("sort"):
        if params.get("sort_key") or params.get("sort_dir"):
            raise errors.BadRequest("The 'sort_key' and 'sort_dir' parameters are deprecated and cannot be used "
                                    "with the 'sort' parameter.")
        for part in params["sort"].split(","):
            key, _, direction = part.strip().partition(":")
            keys.append((key.strip(), (direction or "desc").strip().lower()))
    elif params.get("sort_key") or params.get("sort_dir"):
        keys.append((params.get("sort_key") or "created_at", (params.get("sort_dir") or "desc").lower()))
    for key, direction in keys:
        if direction not in ("asc", "desc"):
            raise errors.BadRequest("Invalid input received: Unknown sort direction, must be 'desc' or 'asc'")
    return keys


class Volumes:
    def __init__(self, svc: Any):
        self.svc = svc

    # -- create ----------------------------------------------------------------------------------
    def create(self, ctx: RequestContext, spec: dict[str, Any], image: dict[str, Any] | None = None) -> models.Volume:
        """Records the volume in `creating` on the backend the scheduler chose (or in `error`
        when none fits), after Cinder's checks of the sources, the size and the quota."""
        from monostack.volume.service import new_id
        size = spec.get("size")
        with self.svc.db.writer() as session:
            snapshot = source = None
            if spec.get("snapshot_id"):
                snapshot = get_owned(session, models.Snapshot, ctx, spec["snapshot_id"])
                if snapshot.status != states.SNAP_AVAILABLE:
                    raise errors.BadRequest("Invalid snapshot: Originating snapshot status must be one of "
                                            "'available' values")
                size = size if size is not None else snapshot.volume_size
                if size < snapshot.volume_size:
                    raise errors.BadRequest(f"Invalid input received: Volume size '{size}'GB cannot be smaller than "
                                            f"the snapshot size {snapshot.volume_size}GB. They must be >= original "
                                            f"snapshot size.")
            if spec.get("source_volid"):
                source = get_owned(session, models.Volume, ctx, spec["source_volid"])
                if source.status not in (states.AVAILABLE, states.IN_USE):
                    raise errors.BadRequest(f"Invalid volume: Source volume status must be available or in-use "
                                            f"(it is {source.status}).")
                size = size if size is not None else source.size
                if size < source.size:
                    raise errors.BadRequest(f"Invalid input received: Volume size '{size}'GB cannot be smaller than "
                                            f"original volume size  {source.size}GB. They must be >= original "
                                            f"volume size.")
            if size is None:
                raise errors.BadRequest("Invalid input received: Volume size must be specified when not creating "
                                        "from a snapshot, another volume or a backup.")
            image_metadata: dict[str, str] = {}
            if image is not None:
                image_metadata = self._check_image(image, size)
            vtype = self._volume_type(session, ctx, spec, snapshot, source)
            self.svc.types.refuse_encrypted(session, vtype)
            group = None
            if spec.get("group_id"):
                from monostack.volume.service.groups import get_group
                group = get_group(session, ctx, spec["group_id"])
                if group.status != states.GROUP_AVAILABLE:
                    raise errors.BadRequest(f"Invalid group: Group status must be available (it is "
                                            f"{group.status}).")
                if vtype.id not in group.volume_type_ids:
                    raise errors.BadRequest(f"Invalid input received: Invalid volume_type provided: {vtype.name} "
                                            f"is not one of the group's volume types.")
            zone = spec.get("availability_zone") or self.svc.conf.volume.default_availability_zone or None
            if zone and zone not in {z for z, _ in self.svc.hosts.zones()}:
                raise errors.BadRequest(f"Invalid input received: Availability zone '{zone}' is invalid.")
            self.svc.quotas.check_volume(session, ctx.project_id, size, vtype.name)
            # Only the type makes a volume multiattach (the create body's flag is refused by the API).
            multiattach = is_multiattach(vtype.extra_specs)
            if multiattach:
                self.svc.policy.authorize(ctx, "volume:multiattach", {"project_id": ctx.project_id,
                                                                      "user_id": ctx.user_id})
            row = models.Volume(
                id=new_id(), project_id=ctx.project_id, user_id=ctx.user_id, name=spec.get("name"),
                description=spec.get("description"), size=size, status=states.CREATING,
                attach_status=states.DETACHED, availability_zone=zone or "", volume_type_id=vtype.id,
                snapshot_id=snapshot.id if snapshot else None, source_volid=source.id if source else None,
                image_id=image["id"] if image else None, bootable=bool(image) or bool(source and source.bootable),
                multiattach=multiattach, metadata_=check_metadata(spec.get("metadata") or {}),
                admin_metadata={}, image_metadata=image_metadata or (dict(source.image_metadata) if source else {}),
                created_at=utcnow(), updated_at=utcnow())
            if group is not None:
                row.group_id, row.host, row.availability_zone = group.id, group.host, group.availability_zone
            if snapshot is not None:
                origin = session.get(models.Volume, snapshot.volume_id)
                if origin is not None:
                    row.bootable, row.image_metadata = origin.bootable, dict(origin.image_metadata)
                    row.host, row.availability_zone = origin.host, origin.availability_zone
            elif source is not None:
                row.host, row.availability_zone = source.host, source.availability_zone
            if row.host is None:
                try:
                    chosen = self.svc.hosts.schedule(session, size, zone, vtype.extra_specs)
                    row.host, row.availability_zone = chosen.host, chosen.zone
                except errors.BadRequest as err:
                    row.status = states.ERROR
                    row.status_reason = err.message
                    row.availability_zone = row.availability_zone or self.svc.conf.volume.storage_availability_zone
                    self.svc.messages.add(session, ctx.project_id, "VOLUME", row.id, "schedule",
                                          "schedule allocate volume:Could not find any available weighted backend.")
            session.add(row)
            session.flush()
            return row

    def _check_image(self, image: dict[str, Any], size: int) -> dict[str, str]:
        if image.get("status") != "active":
            raise errors.BadRequest("Invalid image identifier or unable to access requested image.")
        image_gb = math.ceil(max(image.get("size") or 0, image.get("virtual_size") or 0) / GiB)
        if image_gb > size:
            raise errors.BadRequest(f"Invalid input received: Size of specified image {image_gb} GB is larger than "
                                    f"volume size {size} GB.")
        if (image.get("min_disk") or 0) > size:
            raise errors.BadRequest(f"Invalid input received: Volume size {size}GB cannot be smaller than the image "
                                    f"minDisk size {image['min_disk']}GB.")
        return self.image_metadata(image)

    @staticmethod
    def image_metadata(image: dict[str, Any]) -> dict[str, str]:
        """volume_image_metadata of a volume holding the image."""
        meta = {"image_id": image["id"], "image_name": image.get("name") or "",
                "checksum": image.get("checksum") or "", "container_format": image.get("container_format") or "",
                "disk_format": image.get("disk_format") or "", "min_disk": str(image.get("min_disk") or 0),
                "min_ram": str(image.get("min_ram") or 0), "size": str(image.get("size") or 0)}
        for key, value in image.items():
            if key not in _IMAGE_SKIP and key not in meta and isinstance(value, (str, int, float, bool)):
                meta[key] = str(value)
        return meta

    def _volume_type(self, session: Any, ctx: RequestContext, spec: dict[str, Any], snapshot: Any,
                     source: Any) -> models.VolumeType:
        if spec.get("volume_type"):
            return self.svc.types.find(session, ctx, spec["volume_type"])
        origin = source
        if snapshot is not None:
            origin = session.get(models.Volume, snapshot.volume_id)
        if origin is not None and origin.volume_type_id:
            vtype = session.get(models.VolumeType, origin.volume_type_id)
            if vtype is not None:
                return vtype
        return self.svc.types.default(session)

    # -- read --------------------------------------------------------------------------------------
    def get(self, ctx: RequestContext, volume_id: str) -> models.Volume:
        with self.svc.db.reader() as session:
            return get_owned(session, models.Volume, ctx, volume_id)

    def list(self, ctx: RequestContext, params: dict[str, str]) -> list[models.Volume]:
        """Filtered and sorted (pagination is the API's); all_tenants for admins."""
        with self.svc.db.reader() as session:
            query = session.query(models.Volume)
            all_tenants = ctx.is_admin and bool_param(params.get("all_tenants", "0") or "1", "all_tenants") \
                if "all_tenants" in params else False
            if params.get("project_id") and ctx.is_admin:
                query = query.filter(models.Volume.project_id == params["project_id"])
            elif not all_tenants:
                query = query.filter(models.Volume.project_id == ctx.project_id)
            for key in ("status", "availability_zone", "id"):
                if params.get(key):
                    query = query.filter(getattr(models.Volume, key) == params[key])
            name = params.get("name", params.get("display_name"))
            if name is not None:
                if name.endswith("~") or params.get("name~"):
                    query = query.filter(models.Volume.name.like(f"%{(params.get('name~') or name)[:-1]}%"))
                else:
                    query = query.filter(models.Volume.name == name)
            if params.get("name~"):
                query = query.filter(models.Volume.name.like(f"%{params['name~']}%"))
            if "bootable" in params:
                query = query.filter(models.Volume.bootable == bool_param(params["bootable"], "bootable"))
            if params.get("volume_type"):
                types = self.svc.types.names(session)
                ids = [i for i, n in types.items() if n == params["volume_type"] or i == params["volume_type"]]
                query = query.filter(models.Volume.volume_type_id.in_(ids))
            order = []
            for key, direction in parse_sort(params) or [("created_at", "desc"), ("id", "desc")]:
                if key not in SORT_KEYS:
                    raise errors.BadRequest(f"Invalid input received: Invalid sort key {key}")
                column = SORT_KEYS[key]
                order.append(column.desc() if direction == "desc" else column.asc())
            if not any(str(o).startswith("volumes.id") for o in order):
                order.append(models.Volume.id.desc())
            rows = query.order_by(*order).all()
        if params.get("metadata"):
            wanted = parse_metadata_filter(params["metadata"])
            rows = [r for r in rows if all(r.metadata_.get(k) == v for k, v in wanted.items())]
        if params.get("glance_metadata"):
            wanted = parse_metadata_filter(params["glance_metadata"])
            rows = [r for r in rows if all(r.image_metadata.get(k) == v for k, v in wanted.items())]
        return rows

    # -- update, metadata -----------------------------------------------------------------------
    def update(self, ctx: RequestContext, volume_id: str, changes: dict[str, Any]) -> models.Volume:
        with self.svc.db.writer() as session:
            row = get_owned(session, models.Volume, ctx, volume_id)
            for key in ("name", "description"):
                if key in changes:
                    setattr(row, key, changes[key])
            if "metadata" in changes:
                row.metadata_ = check_metadata(changes["metadata"])
            row.updated_at = utcnow()
            return row

    def metadata(self, ctx: RequestContext, volume_id: str) -> dict[str, str]:
        return dict(self.get(ctx, volume_id).metadata_)

    def set_metadata(self, ctx: RequestContext, volume_id: str, metadata: Any, *, replace: bool) -> dict[str, str]:
        metadata = check_metadata(metadata)
        with self.svc.db.writer() as session:
            row = get_owned(session, models.Volume, ctx, volume_id)
            if row.status == states.MAINTENANCE:
                raise states.InvalidVolume("Volume status is maintenance.")
            row.metadata_ = metadata if replace else {**row.metadata_, **metadata}
            row.updated_at = utcnow()
            return dict(row.metadata_)

    def delete_metadata(self, ctx: RequestContext, volume_id: str, key: str) -> None:
        with self.svc.db.writer() as session:
            row = get_owned(session, models.Volume, ctx, volume_id)
            if key not in row.metadata_:
                raise errors.NotFound(f"Volume {volume_id} has no metadata with key {key}.")
            row.metadata_ = {k: v for k, v in row.metadata_.items() if k != key}
            row.updated_at = utcnow()

    # -- delete ------------------------------------------------------------------------------------
    def delete(self, ctx: RequestContext, volume_id: str, *, cascade: bool = False,
               force: bool = False) -> tuple[models.Volume | None, list[str]]:
        """Marks the volume (and with cascade its snapshots) deleting; returns the volume for the
        backend to delete and its snapshot ids, or None when it never reached a backend."""
        with self.svc.db.writer() as session:
            row = get_owned(session, models.Volume, ctx, volume_id, for_update=True)
            if not force and row.status not in states.DELETABLE:
                raise states.InvalidVolume(DELETE_REFUSED)
            if force and row.status in (states.DELETING,):
                raise states.InvalidVolume(DELETE_REFUSED)
            if row.attach_status == states.ATTACHED or any(a.attach_status == states.ATTACHED
                                                          for a in row.attachments):
                raise states.InvalidVolume(DELETE_REFUSED)
            if row.status == states.AWAITING_TRANSFER and not force:
                raise states.InvalidVolume(DELETE_REFUSED)
            if row.group_id is not None:
                raise states.InvalidVolume(DELETE_REFUSED)
            snapshots = session.query(models.Snapshot).filter_by(volume_id=volume_id).all()
            if snapshots and not cascade:
                raise states.InvalidVolume(DELETE_REFUSED)
            for snap in snapshots:
                if snap.status not in (states.SNAP_AVAILABLE, states.SNAP_ERROR, states.SNAP_ERROR_DELETING):
                    raise states.InvalidVolume("Snapshot status must be available or error to delete the volume "
                                               "with cascade.")
                snap.status = states.SNAP_DELETING
            session.query(models.Transfer).filter_by(volume_id=volume_id).delete()
            if row.host is None:  # never scheduled: nothing on any backend
                session.delete(row)
                return None, []
            row.previous_status = row.status
            row.status = states.DELETING
            row.updated_at = utcnow()
            # Attachments that never completed (reserved) go with the volume.
            for attachment in list(row.attachments):
                session.delete(attachment)
            session.flush()
            return row, [s.id for s in snapshots]

    # -- transitions recorded by the backend's work ---------------------------------------------
    def finish(self, volume_id: str, event: str, reason: str | None = None, **fields: Any) -> models.Volume | None:
        """Moves the volume by `event` (states.VOLUME) and records fields; None when the row is gone."""
        with self.svc.db.writer() as session:
            row = session.get(models.Volume, volume_id)
            if row is None:
                return None
            row.status = states.VOLUME.next(row.status, event)
            if reason is not None:
                row.status_reason = reason
            for key, value in fields.items():
                setattr(row, key, value)
            row.updated_at = utcnow()
            if reason is not None and row.status in (states.ERROR, states.ERROR_DELETING, states.ERROR_EXTENDING,
                                                     states.ERROR_RESTORING):
                self.svc.messages.add(session, row.project_id, "VOLUME", row.id,
                                      {"create_failed": "create", "extend_failed": "extend",
                                       "reimage_failed": "reimage"}.get(event, "create"),
                                      reason)
            return row

    def purge(self, volume_id: str) -> None:
        """The backend deleted the volume: its row (and attachments, metadata) go."""
        with self.svc.db.writer() as session:
            row = session.get(models.Volume, volume_id)
            if row is not None:
                session.delete(row)

    # -- actions ----------------------------------------------------------------------------------
    def begin(self, ctx: RequestContext, volume_id: str, event: str, *, reason_if_refused: str | None = None,
              **fields: Any) -> models.Volume:
        """A caller-requested transition (extend, upload, reserve, ...), with Cinder's 400 when refused."""
        with self.svc.db.writer() as session:
            row = get_owned(session, models.Volume, ctx, volume_id, for_update=True)
            if not states.VOLUME.allows(row.status, event):
                if reason_if_refused:
                    raise states.InvalidVolume(reason_if_refused.format(status=row.status))
                states.VOLUME.next(row.status, event)
            row.previous_status = row.status
            row.status = states.VOLUME.next(row.status, event)
            for key, value in fields.items():
                setattr(row, key, value)
            row.updated_at = utcnow()
            return row

    def extend(self, ctx: RequestContext, volume_id: str, new_size: int, *, online_allowed: bool) -> models.Volume:
        with self.svc.db.writer() as session:
            row = get_owned(session, models.Volume, ctx, volume_id, for_update=True)
            allowed = (states.AVAILABLE, states.IN_USE) if online_allowed else (states.AVAILABLE,)
            if row.status not in allowed:
                raise states.InvalidVolume(f"Volume status must be {' or '.join(allowed)} to extend, but current "
                                           f"status is: {row.status}.")
            if new_size <= row.size:
                raise errors.BadRequest(f"Invalid input received: New size for extend must be greater than current "
                                        f"size. (current: {row.size}, extended: {new_size}).")
            vtype = session.get(models.VolumeType, row.volume_type_id) if row.volume_type_id else None
            self.svc.quotas.check_extend(session, row.project_id, new_size - row.size, vtype.name if vtype else None,
                                         new_size)
            row.previous_status = row.status
            row.status = states.EXTENDING
            row.updated_at = utcnow()
            return row

    def reimage(self, ctx: RequestContext, volume_id: str, image: dict[str, Any], *,
                reserved: bool) -> models.Volume:
        """os-reimage (3.68): an available or error volume goes downloading while the backend writes
        the image over its data; a reserved one only with `reserved` (Nova rebuilding the server the
        volume boots, which reserved it).  The image must fit, as for a volume made from it."""
        with self.svc.db.writer() as session:
            row = get_owned(session, models.Volume, ctx, volume_id, for_update=True)
            allowed = (states.AVAILABLE, states.ERROR) + ((states.RESERVED,) if reserved else ())
            if row.status not in allowed:
                raise states.InvalidVolume(f"Volume status must be {' or '.join(allowed)} to reimage (reserved only "
                                           f"with reimage_reserved), but current status is: {row.status}.")
            self._check_image(image, row.size)
            row.previous_status = row.status
            row.status = states.VOLUME.next(row.status, "reimage")
            row.updated_at = utcnow()
            return row

    def retype(self, ctx: RequestContext, volume_id: str, new_type: str,
               migration_policy: str) -> tuple[models.Volume, str | None]:
        """The new type, at once when the volume's backend suits it; else (migration_policy
        on-demand, an available volume without snapshots) the volume goes retyping and the
        returned destination host gets the data; the type changes when the copy is done."""
        with self.svc.db.writer() as session:
            row = get_owned(session, models.Volume, ctx, volume_id, for_update=True)
            if row.status not in (states.AVAILABLE, states.IN_USE):
                raise states.InvalidVolume(f"Volume status must be available or in-use to retype (it is "
                                           f"{row.status}).")
            vtype = self.svc.types.find(session, ctx, new_type)
            self.svc.types.refuse_encrypted(session, vtype)
            if vtype.id == row.volume_type_id:
                raise errors.BadRequest("Invalid input received: New volume type must be different from the "
                                        "current volume type.")
            multiattach = is_multiattach(vtype.extra_specs)
            if multiattach != bool(row.multiattach):
                # As Cinder: a guest opened the volume shared or not, which cannot change under it.
                if row.status != states.AVAILABLE:
                    raise errors.BadRequest(f"Invalid input received: Invalid volume_type passed, retypes "
                                            f"affecting multiattach are only allowed on available volumes, the "
                                            f"specified volume however currently has a status of: {row.status}.")
                if multiattach:
                    self.svc.policy.authorize(ctx, "volume:multiattach", {"project_id": row.project_id,
                                                                          "user_id": ctx.user_id})
            limits = self.svc.quotas.limits(session, row.project_id)
            self.svc.quotas.lock(session, row.project_id)
            used = self.svc.quotas.usage(session, row.project_id)
            for name, delta in ((f"volumes_{vtype.name}", 1), (f"gigabytes_{vtype.name}", row.size)):
                limit = limits.get(name, -1)
                if limit >= 0 and used.get(name, 0) + delta > limit:
                    from monostack.volume.service.quotas import OverQuota
                    raise OverQuota(f"VolumeLimitExceeded: Maximum number of volumes allowed ({limit}) exceeded "
                                    f"for quota '{name}'.")
            from monostack.volume.service.hosts import satisfies
            with_caps = session.query(models.Service).filter_by(host=(row.host or "").partition("#")[0],
                                                                 binary="cinder-volume").one_or_none()
            caps = (with_caps.capacity or {}) if with_caps is not None else {}
            wanted = vtype.extra_specs.get("volume_backend_name")
            fits = (not wanted or wanted == caps.get("volume_backend_name")) and satisfies(caps, vtype.extra_specs)
            if fits:
                # A volume that becomes multiattach on the same backend keeps its file: the driver
                # makes it shareable at its next connection (the file driver converts it to raw).
                row.volume_type_id, row.multiattach = vtype.id, multiattach
                row.updated_at = utcnow()
                return row, None
            if migration_policy != "on-demand":
                raise errors.BadRequest("Invalid input received: Retype needs a migration to another backend: "
                                        "give migration_policy on-demand.")
            if row.status != states.AVAILABLE or row.attachments:
                raise states.InvalidVolume("Volume must be available (not attached) to be migrated.")
            if session.query(models.Snapshot.id).filter_by(volume_id=row.id).first() is not None:
                raise states.InvalidVolume("Volume must not have snapshots to be migrated.")
            destination = self.svc.hosts.schedule(session, row.size, row.availability_zone or None,
                                                  vtype.extra_specs)
            row.previous_status, row.status = row.status, states.RETYPING
            row.migration_status = "migrating"
            row.updated_at = utcnow()
            session.flush()
            return row, destination.host + "|" + vtype.id

    def set_bootable(self, ctx: RequestContext, volume_id: str, bootable: bool) -> None:
        with self.svc.db.writer() as session:
            row = get_owned(session, models.Volume, ctx, volume_id)
            if row.status in (states.MAINTENANCE,):
                raise states.InvalidVolume("Volume status is maintenance.")
            row.bootable = bootable
            row.updated_at = utcnow()

    def set_readonly(self, ctx: RequestContext, volume_id: str, readonly: bool) -> None:
        with self.svc.db.writer() as session:
            row = get_owned(session, models.Volume, ctx, volume_id)
            if row.status != states.AVAILABLE:
                raise states.InvalidVolume(f"Volume status must be available to update readonly flag, but "
                                           f"current status is: {row.status}.")
            row.admin_metadata = {**row.admin_metadata, "readonly": "True" if readonly else "False"}
            row.updated_at = utcnow()

    def reset_status(self, ctx: RequestContext, volume_id: str, status: str | None, attach_status: str | None,
                     migration_status: str | None = None) -> None:
        if status is not None and status not in states.VOLUME_STATUSES:
            raise errors.BadRequest("Invalid input received: Must specify a valid status")
        if attach_status is not None and attach_status not in (states.ATTACHED, states.DETACHED):
            raise errors.BadRequest("Invalid input received: Must specify a valid attach status")
        if status is None and attach_status is None and migration_status is None:
            raise errors.BadRequest("Invalid input received: Must specify 'status', 'attach_status' or "
                                    "'migration_status' for update.")
        with self.svc.db.writer() as session:
            row = get_owned(session, models.Volume, ctx, volume_id)
            if status is not None:
                row.previous_status, row.status = row.status, status
                row.status_reason = f"status reset to {status} by an administrator"
            if attach_status is not None:
                row.attach_status = attach_status
                if attach_status == states.DETACHED:
                    for attachment in list(row.attachments):
                        session.delete(attachment)
            row.updated_at = utcnow()

    def update_image_metadata(self, ctx: RequestContext, volume_id: str, metadata: Any,
                              delete_key: str | None = None) -> dict[str, str]:
        with self.svc.db.writer() as session:
            row = get_owned(session, models.Volume, ctx, volume_id)
            meta = dict(row.image_metadata)
            if delete_key is not None:
                if delete_key not in meta:
                    raise errors.NotFound(f"Glance metadata for volume {volume_id} with key {delete_key} not found.")
                meta.pop(delete_key)
            else:
                meta.update(check_metadata(metadata))
            row.image_metadata = meta
            return meta

    # -- the old Nova-Cinder attach path ---------------------------------------------------------------
    def reserve(self, ctx: RequestContext, volume_id: str) -> None:
        with self.svc.db.writer() as session:
            row = get_owned(session, models.Volume, ctx, volume_id, for_update=True)
            ok = row.status == states.AVAILABLE or (row.multiattach and row.status == states.IN_USE)
            if not ok:
                raise states.InvalidVolume(f"Volume status must be available to reserve, but the status is "
                                           f"{row.status}.")
            row.previous_status, row.status = row.status, states.ATTACHING
            row.updated_at = utcnow()

    def unreserve(self, ctx: RequestContext, volume_id: str) -> None:
        with self.svc.db.writer() as session:
            row = get_owned(session, models.Volume, ctx, volume_id, for_update=True)
            if row.status == states.ATTACHING:
                attached = [a for a in row.attachments if a.attach_status == states.ATTACHED]
                row.status = states.IN_USE if attached else states.AVAILABLE
                row.updated_at = utcnow()

    def begin_detaching(self, ctx: RequestContext, volume_id: str) -> None:
        with self.svc.db.writer() as session:
            row = get_owned(session, models.Volume, ctx, volume_id, for_update=True)
            if row.status != states.IN_USE or row.attach_status != states.ATTACHED:
                raise states.InvalidVolume("Unable to detach volume. Volume status must be 'in-use' and "
                                           "attach_status must be 'attached' to detach.")
            row.previous_status, row.status = row.status, states.DETACHING
            row.updated_at = utcnow()

    def roll_detaching(self, ctx: RequestContext, volume_id: str) -> None:
        with self.svc.db.writer() as session:
            row = get_owned(session, models.Volume, ctx, volume_id, for_update=True)
            if row.status == states.DETACHING:
                row.status = states.IN_USE
                row.updated_at = utcnow()

    def attach(self, ctx: RequestContext, volume_id: str, instance_uuid: str | None, host_name: str | None,
               mountpoint: str, mode: str) -> models.Attachment:
        from monostack.volume.service import new_id
        if mode not in ("rw", "ro"):
            raise errors.BadRequest(f"Invalid input received: Invalid attaching mode '{mode}' for volume "
                                    f"{volume_id}.")
        if instance_uuid is None and host_name is None:
            raise errors.BadRequest("Invalid request to attach volume to an invalid target")
        with self.svc.db.writer() as session:
            row = get_owned(session, models.Volume, ctx, volume_id, for_update=True)
            if row.status not in (states.ATTACHING, states.AVAILABLE, states.RESERVED) and not (
                    row.multiattach and row.status == states.IN_USE):
                raise states.InvalidVolume(f"Volume status must be available or attaching to attach, but the "
                                           f"status is {row.status}.")
            if row.admin_metadata.get("readonly") == "True" and mode != "ro":
                raise states.InvalidVolume(f"Volume {volume_id} is read-only: it can only be attached in 'ro' "
                                           f"mode.")
            for existing in row.attachments:
                if existing.attach_status == states.ATTACHED and existing.instance_uuid == instance_uuid \
                        and instance_uuid is not None:
                    raise states.InvalidVolume(f"Volume {volume_id} is already attached to {instance_uuid}.")
            attachment = models.Attachment(id=new_id(), volume_id=row.id, instance_uuid=instance_uuid,
                                           attached_host=host_name, mountpoint=mountpoint,
                                           attach_status=states.ATTACHED, attach_mode=mode, attach_time=utcnow(),
                                           created_at=utcnow())
            session.add(attachment)
            row.status, row.attach_status = states.IN_USE, states.ATTACHED
            row.admin_metadata = {**row.admin_metadata, "attached_mode": mode}
            row.updated_at = utcnow()
            return attachment

    def detach(self, ctx: RequestContext, volume_id: str, attachment_id: str | None) -> None:
        with self.svc.db.writer() as session:
            row = get_owned(session, models.Volume, ctx, volume_id, for_update=True)
            attachments = [a for a in row.attachments if attachment_id in (None, a.id)]
            if attachment_id is not None and not attachments:
                raise errors.NotFound(f"Volume attachment could not be found with filter: attachment_id = "
                                      f"{attachment_id}.")
            if attachment_id is None and len(row.attachments) > 1:
                raise states.InvalidVolume("Volume has multiple attachments: the attachment_id must be given.")
            # As Cinder, a detach of a volume without attachments just leaves it available ("detach
            # called, but volume not attached"), unless work on it is under way.
            if not attachments and row.status in (states.CREATING, states.DELETING, states.EXTENDING,
                                                  states.DOWNLOADING, states.UPLOADING, states.RETYPING,
                                                  states.BACKING_UP, states.RESTORING_BACKUP,
                                                  states.MAINTENANCE, states.AWAITING_TRANSFER):
                raise states.InvalidVolume(f"Unable to detach volume: it is {row.status}.")
            for attachment in attachments:
                session.delete(attachment)
            session.flush()
            session.refresh(row)
            self.settle(row)

    @staticmethod
    def settle(row: models.Volume) -> None:
        """The volume's status and attach_status from its attachments (after an attach change)."""
        live = [a for a in row.attachments]
        if any(a.attach_status == states.ATTACHED for a in live):
            row.status, row.attach_status = states.IN_USE, states.ATTACHED
        elif any(a.attach_status == states.ATTACH_ATTACHING for a in live):
            row.status, row.attach_status = states.ATTACHING, states.ATTACH_ATTACHING
        elif any(a.attach_status == states.ATTACH_RESERVED for a in live):
            row.status, row.attach_status = states.RESERVED, states.ATTACH_RESERVED
        else:
            row.status, row.attach_status = states.AVAILABLE, states.DETACHED
            admin = dict(row.admin_metadata)
            admin.pop("attached_mode", None)
            row.admin_metadata = admin
        row.updated_at = utcnow()

    def type_name(self, session: orm.Session, row: models.Volume) -> str | None:
        if row.volume_type_id is None:
            return None
        vtype = session.get(models.VolumeType, row.volume_type_id)
        return vtype.name if vtype else None

    def count(self, ctx: RequestContext) -> int:
        with self.svc.db.reader() as session:
            return session.query(sa.func.count()).select_from(models.Volume).filter_by(
                project_id=ctx.project_id).scalar()
