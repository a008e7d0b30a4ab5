"""Snapshot use cases: create (force for in-use volumes before 3.66), list, show,
update, delete, metadata, status reset."""

from __future__ import annotations

from typing import Any

from monostack.common import errors
from monostack.common.context import RequestContext
from monostack.volume import models, states
from monostack.volume.service.common import bool_param, check_metadata, get_owned, utcnow

SORT = {"id": models.Snapshot.id, "name": models.Snapshot.name, "display_name": models.Snapshot.name, "status": models.Snapshot.status,
        "created_at": models.Snapshot.created_at, "updated_at": models.Snapshot.updated_at,
        "volume_id": models.Snapshot.volume_id, "size": models.Snapshot.volume_size}


class Snapshots:
    def __init__(self, svc: Any):
        self.svc = svc

    def create(self, ctx: RequestContext, spec: dict[str, Any], *, in_use_allowed: bool) -> tuple[Any, Any]:
        from monostack.volume.service import new_id
        with self.svc.db.writer() as session:
            volume = get_owned(session, models.Volume, ctx, str(spec["volume_id"]), for_update=True)
            force = bool_param(spec.get("force", False), "force")
            if volume.status == states.IN_USE and not (force or in_use_allowed):
                raise states.InvalidVolume(f"Volume {volume.id} status must be available, but current status is: "
                                           f"in-use.")
            if volume.status not in (states.AVAILABLE, states.IN_USE):
                raise states.InvalidVolume(f"Volume {volume.id} status must be available or in-use, but current "
                                           f"status is: {volume.status}.")
            vtype = session.get(models.VolumeType, volume.volume_type_id) if volume.volume_type_id else None
            self.svc.quotas.check_snapshot(session, volume.project_id, volume.size, vtype.name if vtype else None)
            row = models.Snapshot(id=new_id(), volume_id=volume.id, project_id=volume.project_id,
                                  user_id=ctx.user_id, name=spec.get("name"), description=spec.get("description"),
                                  status=states.SNAP_CREATING, progress="0%", volume_size=volume.size,
                                  metadata_=check_metadata(spec.get("metadata") or {}), created_at=utcnow(),
                                  updated_at=utcnow())
            session.add(row)
            session.flush()
            return row, volume

    def get(self, ctx: RequestContext, snapshot_id: str) -> models.Snapshot:
        with self.svc.db.reader() as session:
            return get_owned(session, models.Snapshot, ctx, snapshot_id)

    def list(self, ctx: RequestContext, params: dict[str, str]) -> list[models.Snapshot]:
        from monostack.volume.service.volumes import parse_metadata_filter, parse_sort
        with self.svc.db.reader() as session:
            query = session.query(models.Snapshot)
            all_tenants = "all_tenants" in params and ctx.is_admin and bool_param(
                params["all_tenants"] or "1", "all_tenants")
            if params.get("project_id") and ctx.is_admin:
                query = query.filter(models.Snapshot.project_id == params["project_id"])
            elif not all_tenants:
                query = query.filter(models.Snapshot.project_id == ctx.project_id)
            for key in ("status", "volume_id", "name"):
                if params.get(key):
                    query = query.filter(getattr(models.Snapshot, key) == params[key])
            order = []
            for key, direction in parse_sort(params) or [("created_at", "desc"), ("id", "desc")]:
                if key not in SORT:
                    raise errors.BadRequest(f"Invalid input received: Invalid sort key {key}")
                order.append(SORT[key].desc() if direction == "desc" else SORT[key].asc())
            order.append(models.Snapshot.id.desc())
            rows = query.order_by(*order).all()
        if params.get("metadata"):
            wanted = parse_metadata_filter(params["metadata"])
            rows = [r for r in rows if all(r.metadata_.get(k) == v for k, v in wanted.items())]
        return rows

    def update(self, ctx: RequestContext, snapshot_id: str, changes: dict[str, Any]) -> models.Snapshot:
        with self.svc.db.writer() as session:
            row = get_owned(session, models.Snapshot, ctx, snapshot_id)
            for key in ("name", "description"):
                if key in changes:
                    setattr(row, key, changes[key])
            row.updated_at = utcnow()
            return row

    def metadata(self, ctx: RequestContext, snapshot_id: str) -> dict[str, str]:
        return dict(self.get(ctx, snapshot_id).metadata_)

    def set_metadata(self, ctx: RequestContext, snapshot_id: str, metadata: Any, *, replace: bool) -> dict[str, str]:
        metadata = check_metadata(metadata)
        with self.svc.db.writer() as session:
            row = get_owned(session, models.Snapshot, ctx, snapshot_id)
            row.metadata_ = metadata if replace else {**row.metadata_, **metadata}
            return dict(row.metadata_)

    def delete_metadata(self, ctx: RequestContext, snapshot_id: str, key: str) -> None:
        with self.svc.db.writer() as session:
            row = get_owned(session, models.Snapshot, ctx, snapshot_id)
            if key not in row.metadata_:
                raise errors.NotFound(f"Snapshot {snapshot_id} has no metadata with key {key}.")
            row.metadata_ = {k: v for k, v in row.metadata_.items() if k != key}

    def delete(self, ctx: RequestContext, snapshot_id: str, *, force: bool = False) -> tuple[Any, Any]:
        with self.svc.db.writer() as session:
            row = get_owned(session, models.Snapshot, ctx, snapshot_id, for_update=True)
            if row.group_snapshot_id is not None:
                raise errors.BadRequest("Invalid snapshot: Snapshot is part of a group snapshot: delete the group "
                                        "snapshot instead.")
            if not force and not states.SNAPSHOT.allows(row.status, "delete"):
                raise errors.BadRequest(f"Invalid snapshot: Volume Snapshot status must be available or error "
                                        f"(it is {row.status}).")
            dependent = session.query(models.Volume.id).filter_by(snapshot_id=row.id).filter(
                models.Volume.status.in_((states.CREATING, states.DOWNLOADING))).first()
            if dependent is not None:
                raise errors.BadRequest("Invalid snapshot: a volume is being created from this snapshot.")
            row.status = states.SNAP_DELETING
            row.updated_at = utcnow()
            volume = session.get(models.Volume, row.volume_id)
            return row, volume

    def finish(self, snapshot_id: str, event: str, reason: str | None = None, **fields: Any) -> None:
        with self.svc.db.writer() as session:
            row = session.get(models.Snapshot, snapshot_id)
            if row is None:
                return
            row.status = states.SNAPSHOT.next(row.status, event)
            if reason is not None:
                row.status_reason = reason
            for key, value in fields.items():
                setattr(row, key, value)
            row.updated_at = utcnow()

    def purge(self, snapshot_id: str) -> None:
        with self.svc.db.writer() as session:
            row = session.get(models.Snapshot, snapshot_id)
            if row is not None:
                session.delete(row)

    def update_status(self, ctx: RequestContext, snapshot_id: str, status: str, progress: str | None) -> None:
        with self.svc.db.writer() as session:
            row = get_owned(session, models.Snapshot, ctx, snapshot_id)
            allowed = {states.SNAP_CREATING: ("creating", "available", "error"), states.SNAP_ERROR_DELETING:
                       ("error",), states.SNAP_DELETING: ("error",)}.get(row.status, ())
            if status not in allowed:
                raise errors.BadRequest(f"Invalid snapshot: Unable to update the snapshot from {row.status} to "
                                        f"{status}.")
            row.status = status
            if progress is not None:
                row.progress = str(progress)
            row.updated_at = utcnow()

    def reset_status(self, ctx: RequestContext, snapshot_id: str, status: str) -> None:
        if status not in states.SNAPSHOT_STATUSES:
            raise errors.BadRequest("Invalid input received: Must specify a valid status")
        with self.svc.db.writer() as session:
            row = get_owned(session, models.Snapshot, ctx, snapshot_id)
            row.status = status
            row.status_reason = f"status reset to {status} by an administrator"
            row.updated_at = utcnow()
