"""Volume types: extra specs, public/private with project access, and the default type."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from monostack.common import errors
from monostack.common.context import RequestContext
from monostack.volume import models
from monostack.volume.service.common import utcnow

DEFAULT_NAME = "__DEFAULT__"


def is_multiattach(extra_specs: dict[str, str]) -> bool:
    """Volumes of the type may be attached to several servers at once.  Cinder reads exactly
    multiattach="<is> True" (anything else, "True" included, means no)."""
    return (extra_specs or {}).get("multiattach", "False") == "<is> True"


class Types:
    def __init__(self, svc: Any):
        self.svc = svc

    def ensure_default(self) -> None:
        with self.svc.db.writer() as session:
            if session.query(models.VolumeType).filter_by(name=DEFAULT_NAME).one_or_none() is None:
                from monostack.volume.service import new_id
                session.add(models.VolumeType(id=new_id(), name=DEFAULT_NAME, description="Default Volume Type",
                                              is_public=True, extra_specs={}))

    # -- lookups ----------------------------------------------------------------------------
    def _accessible(self, session: Any, ctx: RequestContext, row: models.VolumeType) -> bool:
        if row.is_public or ctx.is_admin:
            return True
        return session.get(models.VolumeTypeAccess, (row.id, ctx.project_id)) is not None

    def find(self, session: Any, ctx: RequestContext, name_or_id: str) -> models.VolumeType:
        row = session.get(models.VolumeType, name_or_id)
        if row is None:
            row = session.query(models.VolumeType).filter_by(name=name_or_id).one_or_none()
        if row is None or not self._accessible(session, ctx, row):
            raise errors.NotFound(f"Volume type {name_or_id} could not be found.")
        return row

    def default(self, session: Any) -> models.VolumeType:
        name = self.svc.conf.volume.default_volume_type or DEFAULT_NAME
        row = session.query(models.VolumeType).filter_by(name=name).one_or_none()
        if row is None:
            row = session.query(models.VolumeType).filter_by(name=DEFAULT_NAME).one_or_none()
        if row is None:
            raise errors.NotFound(f"Volume type {name} could not be found.")
        return row

    def get(self, ctx: RequestContext, type_id: str) -> models.VolumeType:
        with self.svc.db.reader() as session:
            if type_id == "default":
                return self.default(session)
            return self.find(session, ctx, type_id)

    def list(self, ctx: RequestContext, is_public: str | None = None) -> list[models.VolumeType]:
        with self.svc.db.reader() as session:
            rows = session.query(models.VolumeType).order_by(models.VolumeType.created_at,
                                                             models.VolumeType.id).all()
            if ctx.is_admin:
                if is_public is None or is_public.lower() == "none":
                    return rows if is_public else [r for r in rows if r.is_public]
                from monostack.volume.service.common import bool_param
                wanted = bool_param(is_public, "is_public")
                return [r for r in rows if r.is_public == wanted]
            return [r for r in rows if self._accessible(session, ctx, r)]

    def names(self, session: Any) -> dict[str, str]:
        return dict(session.query(models.VolumeType.id, models.VolumeType.name))

    # -- management ------------------------------------------------------------------------------
    def create(self, name: str, description: str | None, is_public: bool, extra_specs: dict[str, str]) -> Any:
        from monostack.volume.service import new_id
        with self.svc.db.writer() as session:
            if session.query(models.VolumeType).filter_by(name=name).one_or_none() is not None:
                raise errors.Conflict(f"Volume Type {name} already exists.")
            row = models.VolumeType(id=new_id(), name=name, description=description, is_public=is_public,
                                    extra_specs=dict(extra_specs), created_at=utcnow())
            session.add(row)
            return row

    def update(self, ctx: RequestContext, type_id: str, changes: dict[str, Any]) -> Any:
        with self.svc.db.writer() as session:
            row = self.find(session, ctx, type_id)
            if "name" in changes and changes["name"] != row.name:
                if row.name == DEFAULT_NAME:
                    raise errors.BadRequest("Invalid volume type: The default volume type cannot be renamed.")
                if session.query(models.VolumeType).filter_by(name=changes["name"]).one_or_none() is not None:
                    raise errors.Conflict(f"Volume Type {changes['name']} already exists.")
                row.name = changes["name"]
            if "description" in changes:
                row.description = changes["description"]
            if "is_public" in changes:
                row.is_public = changes["is_public"]
            row.updated_at = utcnow()
            return row

    def delete(self, ctx: RequestContext, type_id: str) -> None:
        with self.svc.db.writer() as session:
            row = self.find(session, ctx, type_id)
            if row.name == (self.svc.conf.volume.default_volume_type or DEFAULT_NAME) or row.name == DEFAULT_NAME:
                raise errors.BadRequest("Invalid volume type: Default volume type can not be deleted.")
            in_use = session.query(sa.func.count()).select_from(models.Volume).filter_by(
                volume_type_id=row.id).scalar()
            if in_use:
                raise errors.BadRequest("Target volume type is still in use.")
            session.delete(row)

    def set_extra_specs(self, ctx: RequestContext, type_id: str, specs: dict[str, str]) -> dict[str, str]:
        with self.svc.db.writer() as session:
            row = self.find(session, ctx, type_id)
            self._refuse_if_in_use(session, row, specs)
            row.extra_specs = {**row.extra_specs, **specs}
            return dict(row.extra_specs)

    def _refuse_if_in_use(self, session: Any, row: models.VolumeType, keys: Any) -> None:
        """Cinder refuses to change 'multiattach'/'volume_backend_name' of a type in use."""
        if not set(keys) & {"multiattach", "volume_backend_name"}:
            return
        if session.query(models.Volume.id).filter_by(volume_type_id=row.id).first() is not None:
            raise errors.BadRequest("Invalid volume type: Cannot change the volume_backend_name or multiattach "
                                    "extra spec of a volume type in use.")

    def delete_extra_spec(self, ctx: RequestContext, type_id: str, key: str) -> None:
        with self.svc.db.writer() as session:
            row = self.find(session, ctx, type_id)
            if key not in row.extra_specs:
                raise errors.NotFound(f"Volume Type {type_id} has no extra specs with key {key}.")
            specs = dict(row.extra_specs)
            specs.pop(key)
            row.extra_specs = specs

    # -- encryption specs --------------------------------------------------------------------------
    # Cinder refuses to change a type's encryption while volumes of the type exist: their keys
    # and formats were chosen by it.
    def _refuse_encryption_change_if_in_use(self, session: Any, row: models.VolumeType, verb: str) -> None:
        if session.query(models.Volume.id).filter_by(volume_type_id=row.id).first() is not None:
            raise errors.BadRequest(f"Cannot {verb} encryption specs. Volume type in use.")

    def encryption(self, ctx: RequestContext, type_id: str) -> models.VolumeTypeEncryption | None:
        with self.svc.db.reader() as session:
            row = self.find(session, ctx, type_id)
            return session.get(models.VolumeTypeEncryption, row.id)

    def create_encryption(self, ctx: RequestContext, type_id: str, spec: dict[str, Any]) -> Any:
        from monostack.volume.service import new_id
        with self.svc.db.writer() as session:
            row = self.find(session, ctx, type_id)
            self._refuse_encryption_change_if_in_use(session, row, "create")
            if session.get(models.VolumeTypeEncryption, row.id) is not None:
                raise errors.BadRequest(f"Volume type encryption for type {row.id} already exists.")
            encryption = models.VolumeTypeEncryption(
                volume_type_id=row.id, encryption_id=new_id(), provider=spec["provider"],
                cipher=spec.get("cipher"), key_size=spec.get("key_size"),
                control_location=spec["control_location"], created_at=utcnow())
            session.add(encryption)
            return encryption

    def _encryption_to_change(self, session: Any, ctx: RequestContext, type_id: str,
                              verb: str) -> models.VolumeTypeEncryption:
        row = self.find(session, ctx, type_id)
        self._refuse_encryption_change_if_in_use(session, row, verb)
        encryption = session.get(models.VolumeTypeEncryption, row.id)
        if encryption is None:
            raise errors.NotFound(f"Volume type encryption for type {row.id} does not exist.")
        return encryption

    def update_encryption(self, ctx: RequestContext, type_id: str, changes: dict[str, Any]) -> None:
        with self.svc.db.writer() as session:
            encryption = self._encryption_to_change(session, ctx, type_id, "update")
            for name, value in changes.items():
                setattr(encryption, name, value)
            encryption.updated_at = utcnow()

    def delete_encryption(self, ctx: RequestContext, type_id: str) -> None:
        with self.svc.db.writer() as session:
            session.delete(self._encryption_to_change(session, ctx, type_id, "delete"))

    def refuse_encrypted(self, session: Any, row: models.VolumeType) -> None:
        """Volumes of an encrypted type need a key manager to keep their keys (Barbican, in
        OpenStack); this cloud has none, so it makes no such volume rather than a plain one that
        claims to be encrypted."""
        if session.get(models.VolumeTypeEncryption, row.id) is not None:
            raise errors.BadRequest(f"Invalid input received: Volume type {row.name} is encrypted, and this "
                                    f"cloud has no key manager to keep the volumes' encryption keys.")

    # -- access ----------------------------------------------------------------------------------
    def access(self, ctx: RequestContext, type_id: str) -> list[dict[str, str]]:
        with self.svc.db.reader() as session:
            row = self.find(session, ctx, type_id)
            if row.is_public:
                raise errors.NotFound("Access list not available for public volume types.")
            return [{"volume_type_id": a.volume_type_id, "project_id": a.project_id}
                    for a in session.query(models.VolumeTypeAccess).filter_by(volume_type_id=row.id)]

    def add_access(self, ctx: RequestContext, type_id: str, project_id: str) -> None:
        with self.svc.db.writer() as session:
            row = self.find(session, ctx, type_id)
            if row.is_public:
                raise errors.BadRequest("Invalid volume type: Type access modification is not applicable to "
                                        "public volume type.")
            if session.get(models.VolumeTypeAccess, (row.id, project_id)) is not None:
                raise errors.Conflict(f"Volume type access for {type_id} / {project_id} combination already "
                                      f"exists.")
            session.add(models.VolumeTypeAccess(volume_type_id=row.id, project_id=project_id))

    def remove_access(self, ctx: RequestContext, type_id: str, project_id: str) -> None:
        with self.svc.db.writer() as session:
            row = self.find(session, ctx, type_id)
            if row.is_public:
                raise errors.BadRequest("Invalid volume type: Type access modification is not applicable to "
                                        "public volume type.")
            access = session.get(models.VolumeTypeAccess, (row.id, project_id))
            if access is None:
                raise errors.NotFound(f"Volume type access not found for {type_id} / {project_id} combination.")
            session.delete(access)
