"""The attachments API (3.27+): reserve a volume for a server, hand out the
connection info for a host's connector, complete, delete.

    create (no connector)  -> attachment reserved,  volume reserved
    create/update (connector) -> attachment attaching, volume attaching (connection_info from the driver)
    complete               -> attachment attached,  volume in-use, attach_status attached
                              (also without a connector: a shelved-offloaded server's volume)
    delete                 -> attachment gone; volume available (or in-use while others remain)

A volume that is not multiattach takes one attachment at a time (Cinder's 400
"Invalid volume: Volume ... status must be available or downloading to reserve, but
the current status is in-use.")."""

from __future__ import annotations

from typing import Any

from monostack.common import errors
from monostack.common.context import RequestContext
from monostack.volume import models, states
from monostack.volume.service.common import get_owned, utcnow


class Attachments:
    def __init__(self, svc: Any):
        self.svc = svc

    def _get(self, session: Any, ctx: RequestContext, attachment_id: str) -> tuple[models.Attachment, models.Volume]:
        attachment = session.get(models.Attachment, attachment_id)
        if attachment is None:
            raise errors.NotFound(f"Volume attachment could not be found with filter: attachment_id = "
                                  f"{attachment_id}.")
        volume = session.get(models.Volume, attachment.volume_id)
        if volume is None or not (ctx.is_admin or volume.project_id == ctx.project_id):
            raise errors.NotFound(f"Volume attachment could not be found with filter: attachment_id = "
                                  f"{attachment_id}.")
        return attachment, volume

    def get(self, ctx: RequestContext, attachment_id: str) -> tuple[models.Attachment, models.Volume]:
        with self.svc.db.reader() as session:
            return self._get(session, ctx, attachment_id)

    def list(self, ctx: RequestContext, params: dict[str, str]) -> list[tuple[models.Attachment, models.Volume]]:
        with self.svc.db.reader() as session:
            query = session.query(models.Attachment, models.Volume).join(
                models.Volume, models.Volume.id == models.Attachment.volume_id)
            if not (ctx.is_admin and params.get("all_tenants")):
                query = query.filter(models.Volume.project_id == ctx.project_id)
            if params.get("volume_id"):
                query = query.filter(models.Attachment.volume_id == params["volume_id"])
            if params.get("instance_id"):
                query = query.filter(models.Attachment.instance_uuid == params["instance_id"])
            if params.get("status"):
                query = query.filter(models.Attachment.attach_status == params["status"])
            return [tuple(r) for r in query.order_by(models.Attachment.created_at.desc(),
                                                     models.Attachment.id.desc()).all()]

    def create(self, ctx: RequestContext, volume_id: str, instance_uuid: str | None,
               mode: str = "rw") -> tuple[models.Attachment, models.Volume]:
        from monostack.volume.service import new_id
        if mode not in ("rw", "ro"):
            raise errors.BadRequest(f"Invalid input received: Invalid attaching mode '{mode}'.")
        with self.svc.db.writer() as session:
            volume = get_owned(session, models.Volume, ctx, volume_id, for_update=True)
            live = [a for a in volume.attachments]
            if volume.multiattach:
                ok = volume.status in (states.AVAILABLE, states.RESERVED, states.IN_USE, states.ATTACHING,
                                       states.DOWNLOADING)
            else:
                ok = volume.status in (states.AVAILABLE, states.DOWNLOADING) and not live
                # As Cinder: the server the volume is attached to may reserve it again (Nova moving the
                # attachment: a migration, a rebuild reimaging its boot volume); the status stays.
                ok = ok or (bool(instance_uuid) and volume.status in (states.IN_USE, states.RESERVED)
                            and any(a.instance_uuid == instance_uuid for a in live))
            if not ok:
                raise states.InvalidVolume(f"Volume {volume_id} status must be available or downloading to reserve, "
                                           f"but the current status is {volume.status}.")
            if volume.admin_metadata.get("readonly") == "True":
                mode = "ro"
            attachment = models.Attachment(id=new_id(), volume_id=volume.id, instance_uuid=instance_uuid,
                                           attach_status=states.ATTACH_RESERVED, attach_mode=mode,
                                           created_at=utcnow())
            session.add(attachment)
            if volume.status in (states.AVAILABLE, states.DOWNLOADING):
                volume.previous_status, volume.status = volume.status, states.RESERVED
                volume.attach_status = states.ATTACH_RESERVED
            volume.updated_at = utcnow()
            session.flush()
            return attachment, volume

    def connect(self, attachment_id: str, connector: dict[str, Any], connection_info: dict[str, Any]) -> None:
        """Records the connector and the driver's connection info: attachment and volume attaching."""
        with self.svc.db.writer() as session:
            attachment = session.get(models.Attachment, attachment_id)
            if attachment is None:
                return
            volume = session.get(models.Volume, attachment.volume_id)
            attachment.connector = connector
            attachment.connection_info = connection_info
            attachment.attached_host = connector.get("host")
            attachment.mountpoint = connector.get("mountpoint") or attachment.mountpoint
            if attachment.attach_status != states.ATTACHED:
                attachment.attach_status = states.ATTACH_ATTACHING
            attachment.updated_at = utcnow()
            if volume is not None and volume.status in (states.RESERVED, states.AVAILABLE):
                volume.status = states.ATTACHING
                volume.attach_status = states.ATTACH_ATTACHING
                volume.updated_at = utcnow()

    def check_update(self, ctx: RequestContext, attachment_id: str) -> tuple[models.Attachment, models.Volume]:
        with self.svc.db.reader() as session:
            attachment, volume = self._get(session, ctx, attachment_id)
            if attachment.attach_status not in (states.ATTACH_RESERVED, states.ATTACH_ATTACHING, states.ATTACHED):
                raise errors.BadRequest(f"Invalid volume attachment: attachment {attachment_id} is "
                                        f"{attachment.attach_status}.")
            return attachment, volume

    def complete(self, ctx: RequestContext, attachment_id: str) -> None:
        with self.svc.db.writer() as session:
            # As Cinder, also without a connector: Nova completes the attachment of a volume to a
            # shelved-offloaded server, which the host it is unshelved on connects later.
            attachment, volume = self._get(session, ctx, attachment_id)
            attachment.attach_status = states.ATTACHED
            attachment.attach_time = utcnow()
            volume.status, volume.attach_status = states.IN_USE, states.ATTACHED
            volume.admin_metadata = {**volume.admin_metadata, "attached_mode": attachment.attach_mode}
            volume.updated_at = utcnow()

    def delete(self, ctx: RequestContext, attachment_id: str) -> tuple[models.Attachment, models.Volume]:
        from monostack.volume.service.volumes import Volumes
        with self.svc.db.writer() as session:
            attachment, volume = self._get(session, ctx, attachment_id)
            session.delete(attachment)
            session.flush()
            session.refresh(volume)
            if volume.status not in (states.DELETING, states.ERROR_DELETING, states.MAINTENANCE):
                Volumes.settle(volume)
            return attachment, volume
