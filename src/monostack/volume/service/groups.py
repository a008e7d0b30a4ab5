"""Generic volume groups (3.13+): group types with group specs, groups of volumes of
given volume types, group snapshots (a snapshot of every volume of the group), and
groups made from a group snapshot or another group.

The backend's part (volumes and snapshots of the members) is cast to the group's
manager; a group is on one backend, as its volumes."""

from __future__ import annotations

from typing import Any

from monostack.common import errors
from monostack.common.context import RequestContext
from monostack.volume import models, states
from monostack.volume.service.common import get_owned, utcnow


class GroupTypes:
    def __init__(self, svc: Any):
        self.svc = svc

    def _get(self, session: Any, ctx: RequestContext, type_id: str) -> models.GroupType:
        row = session.get(models.GroupType, type_id)
        if row is None:
            row = session.query(models.GroupType).filter_by(name=type_id).one_or_none()
        if row is None or not (row.is_public or ctx.is_admin):
            raise errors.NotFound(f"Group type {type_id} could not be found.")
        return row

    def get(self, ctx: RequestContext, type_id: str) -> models.GroupType:
        with self.svc.db.reader() as session:
            return self._get(session, ctx, type_id)

    def list(self, ctx: RequestContext, is_public: str | None = None) -> list[models.GroupType]:
        from monostack.volume.service.common import bool_param
        with self.svc.db.reader() as session:
            rows = session.query(models.GroupType).order_by(models.GroupType.created_at, models.GroupType.id).all()
        if not ctx.is_admin:
            return [r for r in rows if r.is_public]
        if is_public is None:
            return [r for r in rows if r.is_public]
        if is_public.lower() == "none":
            return rows
        wanted = bool_param(is_public, "is_public")
        return [r for r in rows if r.is_public == wanted]

    def create(self, name: str, description: str | None, is_public: bool, specs: dict[str, str]) -> Any:
        from monostack.volume.service import new_id
        with self.svc.db.writer() as session:
            if session.query(models.GroupType).filter_by(name=name).one_or_none() is not None:
                raise errors.Conflict(f"Group Type {name} already exists.")
            row = models.GroupType(id=new_id(), name=name, description=description, is_public=is_public,
                                   group_specs=dict(specs), created_at=utcnow())
            session.add(row)
            return row

    def update(self, ctx: RequestContext, type_id: str, changes: dict[str, Any]) -> models.GroupType:
        with self.svc.db.writer() as session:
            row = self._get(session, ctx, type_id)
            if "name" in changes and changes["name"] != row.name:
                if session.query(models.GroupType).filter_by(name=changes["name"]).one_or_none() is not None:
                    raise errors.Conflict(f"Group Type {changes['name']} already exists.")
                row.name = changes["name"]
            for key in ("description", "is_public"):
                if key in changes:
                    setattr(row, key, changes[key])
            return row

    def delete(self, ctx: RequestContext, type_id: str) -> None:
        with self.svc.db.writer() as session:
            row = self._get(session, ctx, type_id)
            if session.query(models.Group.id).filter_by(group_type_id=row.id).first() is not None:
                raise errors.BadRequest(f"Invalid group type: Target group type {type_id} is still in use.")
            session.delete(row)

    def set_specs(self, ctx: RequestContext, type_id: str, specs: dict[str, str]) -> dict[str, str]:
        with self.svc.db.writer() as session:
            row = self._get(session, ctx, type_id)
            row.group_specs = {**row.group_specs, **specs}
            return dict(row.group_specs)

    def delete_spec(self, ctx: RequestContext, type_id: str, key: str) -> None:
        with self.svc.db.writer() as session:
            row = self._get(session, ctx, type_id)
            if key not in row.group_specs:
                raise errors.NotFound(f"Group Type {type_id} has no specs with key {key}.")
            row.group_specs = {k: v for k, v in row.group_specs.items() if k != key}


class Groups:
    def __init__(self, svc: Any):
        self.svc = svc

    def get(self, ctx: RequestContext, group_id: str) -> models.Group:
        with self.svc.db.reader() as session:
            return get_group(session, ctx, group_id)

    def volume_ids(self, group_id: str) -> list[str]:
        with self.svc.db.reader() as session:
            return [v for (v,) in session.query(models.Volume.id).filter_by(group_id=group_id)]

    def list(self, ctx: RequestContext, all_tenants: bool = False) -> list[models.Group]:
        with self.svc.db.reader() as session:
            query = session.query(models.Group).order_by(models.Group.created_at.desc(), models.Group.id.desc())
            if not (ctx.is_admin and all_tenants):
                query = query.filter_by(project_id=ctx.project_id)
            return query.all()

    def create(self, ctx: RequestContext, spec: dict[str, Any]) -> models.Group:
        from monostack.volume.service import new_id
        with self.svc.db.writer() as session:
            gtype = self.svc.group_types._get(session, ctx, spec["group_type"])
            vtypes = [self.svc.types.find(session, ctx, t) for t in spec["volume_types"]]
            self._check_quota(session, ctx.project_id)
            specs: dict[str, str] = {}
            for vtype in vtypes:
                specs.update(vtype.extra_specs)
            zone = spec.get("availability_zone")
            try:
                chosen = self.svc.hosts.schedule(session, 0, zone, specs)
                host, zone, status = chosen.host, chosen.zone, states.GROUP_CREATING
            except errors.BadRequest:
                host, status = None, states.GROUP_ERROR
                zone = zone or self.svc.conf.volume.storage_availability_zone
            row = models.Group(id=new_id(), project_id=ctx.project_id, user_id=ctx.user_id, name=spec.get("name"),
                               description=spec.get("description"), status=status, availability_zone=zone,
                               host=host, group_type_id=gtype.id, volume_type_ids=[v.id for v in vtypes],
                               created_at=utcnow(), updated_at=utcnow())
            session.add(row)
            return row

    def _check_quota(self, session: Any, project_id: str) -> None:
        self.svc.quotas.lock(session, project_id)
        limit = self.svc.quotas.limits(session, project_id).get("groups", -1)
        used = session.query(models.Group.id).filter_by(project_id=project_id).count()
        if limit >= 0 and used + 1 > limit:
            from monostack.volume.service.quotas import OverQuota
            raise OverQuota(f"GroupLimitExceeded: Maximum number of groups allowed ({limit}) exceeded")

    def create_from_source(self, ctx: RequestContext, spec: dict[str, Any]) -> tuple[models.Group, list[dict]]:
        """A new group with a new volume per member of the group snapshot or source group:
        returns the group and what each new volume is made from."""
        from monostack.volume.service import new_id
        with self.svc.db.writer() as session:
            if spec.get("group_snapshot_id"):
                gsnap = get_owned(session, models.GroupSnapshot, ctx, spec["group_snapshot_id"])
                if gsnap.status != states.SNAP_AVAILABLE:
                    raise errors.BadRequest("Invalid group snapshot: it must be available.")
                source = session.get(models.Group, gsnap.group_id)
                snaps = session.query(models.Snapshot).filter_by(group_snapshot_id=gsnap.id).all()
                members = [(session.get(models.Volume, s.volume_id), {"snapshot_id": s.id}, s.volume_size)
                           for s in snaps]
            else:
                source = get_group(session, ctx, spec["source_group_id"])
                if source.status != states.GROUP_AVAILABLE:
                    raise errors.BadRequest("Invalid group: Source group status must be available.")
                vols = session.query(models.Volume).filter_by(group_id=source.id).all()
                members = [(v, {"source_volid": v.id}, v.size) for v in vols]
            if source is None:
                raise errors.NotFound("The source group is gone.")
            self._check_quota(session, ctx.project_id)
            group = models.Group(id=new_id(), project_id=ctx.project_id, user_id=ctx.user_id,
                                 name=spec.get("name"), description=spec.get("description"),
                                 status=states.GROUP_CREATING, availability_zone=source.availability_zone,
                                 host=source.host, group_type_id=source.group_type_id,
                                 volume_type_ids=list(source.volume_type_ids),
                                 group_snapshot_id=spec.get("group_snapshot_id"),
                                 source_group_id=spec.get("source_group_id"), created_at=utcnow(),
                                 updated_at=utcnow())
            session.add(group)
            made = []
            for origin, source_field, size in members:
                vtype = session.get(models.VolumeType, origin.volume_type_id) if origin else None
                self.svc.quotas.check_volume(session, ctx.project_id, size, vtype.name if vtype else None)
                volume = models.Volume(
                    id=new_id(), project_id=ctx.project_id, user_id=ctx.user_id, name=None, size=size,
                    status=states.CREATING, attach_status=states.DETACHED, availability_zone=group.availability_zone,
                    host=origin.host if origin else group.host, volume_type_id=origin.volume_type_id if origin else None,
                    group_id=group.id, bootable=bool(origin and origin.bootable), metadata_={}, admin_metadata={},
                    image_metadata=dict(origin.image_metadata) if origin else {}, created_at=utcnow(),
                    updated_at=utcnow(), **source_field)
                session.add(volume)
                made.append({"volume_id": volume.id, **source_field})
            return group, made

    def update(self, ctx: RequestContext, group_id: str, changes: dict[str, Any]) -> models.Group:
        with self.svc.db.writer() as session:
            group = get_group(session, ctx, group_id)
            if group.status != states.GROUP_AVAILABLE and (changes.get("add_volumes") or
                                                           changes.get("remove_volumes")):
                raise errors.BadRequest(f"Invalid group: Group status must be available to update its volumes "
                                        f"(it is {group.status}).")
            for key in ("name", "description"):
                if key in changes:
                    setattr(group, key, changes[key])
            for volume_id in _ids(changes.get("add_volumes")):
                volume = get_owned(session, models.Volume, ctx, volume_id)
                if volume.group_id not in (None, group.id):
                    raise states.InvalidVolume(f"Volume {volume_id} is in another group.")
                if volume.volume_type_id not in group.volume_type_ids:
                    raise states.InvalidVolume(f"Volume {volume_id}'s type is not one of the group's volume types.")
                if volume.status not in (states.AVAILABLE, states.IN_USE):
                    raise states.InvalidVolume(f"Volume {volume_id} must be available or in-use to join a group.")
                if (volume.host or "").partition("#")[0] != (group.host or "").partition("#")[0]:
                    raise states.InvalidVolume(f"Volume {volume_id} is on another backend than the group.")
                volume.group_id = group.id
            for volume_id in _ids(changes.get("remove_volumes")):
                volume = get_owned(session, models.Volume, ctx, volume_id)
                if volume.group_id != group.id:
                    raise states.InvalidVolume(f"Volume {volume_id} is not in group {group_id}.")
                volume.group_id = None
            group.updated_at = utcnow()
            return group

    def delete(self, ctx: RequestContext, group_id: str, delete_volumes: bool) -> tuple[models.Group, list[str]]:
        with self.svc.db.writer() as session:
            group = get_group(session, ctx, group_id)
            if not states.GROUP.allows(group.status, "delete"):
                raise errors.BadRequest(f"Invalid group: Group status must be available or error to delete "
                                        f"(it is {group.status}).")
            volumes = session.query(models.Volume).filter_by(group_id=group.id).all()
            if volumes and not delete_volumes:
                raise errors.BadRequest("Invalid group: Group still has volumes: delete them with "
                                        "delete-volumes.")
            if session.query(models.GroupSnapshot.id).filter_by(group_id=group.id).first() is not None:
                raise errors.BadRequest("Invalid group: Group has existing snapshots.")
            for volume in volumes:
                if volume.attach_status == states.ATTACHED or volume.status not in states.DELETABLE:
                    raise states.InvalidVolume(f"Volume {volume.id} of the group is {volume.status}: it must be "
                                               f"available or error to be deleted.")
                if session.query(models.Snapshot.id).filter_by(volume_id=volume.id).first() is not None:
                    raise states.InvalidVolume(f"Volume {volume.id} of the group has snapshots.")
                volume.previous_status, volume.status = volume.status, states.DELETING
            group.status = states.GROUP_DELETING
            group.updated_at = utcnow()
            return group, [v.id for v in volumes]

    def finish(self, group_id: str, status: str) -> None:
        with self.svc.db.writer() as session:
            row = session.get(models.Group, group_id)
            if row is not None:
                row.status = status
                row.updated_at = utcnow()

    def purge(self, group_id: str) -> None:
        with self.svc.db.writer() as session:
            row = session.get(models.Group, group_id)
            if row is not None:
                session.delete(row)

    def reset_status(self, ctx: RequestContext, group_id: str, status: str) -> None:
        if status not in states.GROUP_STATUSES:
            raise errors.BadRequest("Invalid input received: Must specify a valid status")
        with self.svc.db.writer() as session:
            get_group(session, ctx, group_id).status = status

    # -- group snapshots ---------------------------------------------------------------------
    def create_snapshot(self, ctx: RequestContext, spec: dict[str, Any]) -> tuple[models.GroupSnapshot, Any, list]:
        from monostack.volume.service import new_id
        with self.svc.db.writer() as session:
            group = get_group(session, ctx, spec["group_id"])
            if group.status != states.GROUP_AVAILABLE:
                raise errors.BadRequest(f"Invalid group: Group status must be available to snapshot it "
                                        f"(it is {group.status}).")
            volumes = session.query(models.Volume).filter_by(group_id=group.id).all()
            for volume in volumes:
                if volume.status not in (states.AVAILABLE, states.IN_USE):
                    raise states.InvalidVolume(f"Volume {volume.id} of the group is {volume.status}.")
            gsnap = models.GroupSnapshot(id=new_id(), group_id=group.id, project_id=group.project_id,
                                         user_id=ctx.user_id, name=spec.get("name"),
                                         description=spec.get("description"), status=states.SNAP_CREATING,
                                         group_type_id=group.group_type_id, created_at=utcnow(), updated_at=utcnow())
            session.add(gsnap)
            members = []
            for volume in volumes:
                vtype = session.get(models.VolumeType, volume.volume_type_id) if volume.volume_type_id else None
                self.svc.quotas.check_snapshot(session, volume.project_id, volume.size, vtype.name if vtype else None)
                snap = models.Snapshot(id=new_id(), volume_id=volume.id, project_id=volume.project_id,
                                       user_id=ctx.user_id, name=f"snapshot-{gsnap.id}", status=states.SNAP_CREATING,
                                       volume_size=volume.size, group_snapshot_id=gsnap.id, metadata_={},
                                       created_at=utcnow(), updated_at=utcnow())
                session.add(snap)
                members.append((snap.id, volume.id))
            return gsnap, group, members

    def get_snapshot(self, ctx: RequestContext, gsnap_id: str) -> models.GroupSnapshot:
        with self.svc.db.reader() as session:
            return get_owned(session, models.GroupSnapshot, ctx, gsnap_id)

    def list_snapshots(self, ctx: RequestContext, all_tenants: bool = False) -> list[models.GroupSnapshot]:
        with self.svc.db.reader() as session:
            query = session.query(models.GroupSnapshot).order_by(models.GroupSnapshot.created_at.desc(),
                                                                 models.GroupSnapshot.id.desc())
            if not (ctx.is_admin and all_tenants):
                query = query.filter_by(project_id=ctx.project_id)
            return query.all()

    def delete_snapshot(self, ctx: RequestContext, gsnap_id: str) -> tuple[Any, Any, list]:
        with self.svc.db.writer() as session:
            gsnap = get_owned(session, models.GroupSnapshot, ctx, gsnap_id)
            if not states.GROUP_SNAPSHOT.allows(gsnap.status, "delete"):
                raise errors.BadRequest(f"Invalid group snapshot: status must be available or error "
                                        f"(it is {gsnap.status}).")
            snaps = session.query(models.Snapshot).filter_by(group_snapshot_id=gsnap.id).all()
            for snap in snaps:
                snap.status = states.SNAP_DELETING
            gsnap.status = states.SNAP_DELETING
            group = session.get(models.Group, gsnap.group_id)
            return gsnap, group, [(s.id, s.volume_id) for s in snaps]

    def finish_snapshot(self, gsnap_id: str, status: str | None) -> None:
        """status None: the group snapshot is gone (deleted)."""
        with self.svc.db.writer() as session:
            row = session.get(models.GroupSnapshot, gsnap_id)
            if row is None:
                return
            if status is None:
                session.delete(row)
            else:
                row.status = status
                row.updated_at = utcnow()

    def reset_snapshot_status(self, ctx: RequestContext, gsnap_id: str, status: str) -> None:
        if status not in states.SNAPSHOT_STATUSES:
            raise errors.BadRequest("Invalid input received: Must specify a valid status")
        with self.svc.db.writer() as session:
            get_owned(session, models.GroupSnapshot, ctx, gsnap_id).status = status


def get_group(session: Any, ctx: RequestContext, group_id: str) -> models.Group:
    row = session.get(models.Group, group_id)
    if row is None or not (ctx.is_admin or row.project_id == ctx.project_id):
        raise errors.NotFound(f"Group {group_id} could not be found.")
    return row


def _ids(value: Any) -> list[str]:
    if not value:
        return []
    if isinstance(value, list):
        return [str(v) for v in value]
    return [v.strip() for v in str(value).split(",") if v.strip()]
