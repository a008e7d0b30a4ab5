"""User messages (GET /v3/{project}/messages, 3.3+): why a user's resource went to error."""

from __future__ import annotations

import datetime
from typing import Any

from monostack.common import context as request_context

from monostack.common.context import RequestContext
from monostack.volume import models
from monostack.volume.service.common import utcnow

# Cinder's event ids (message_field.Action/Detail), the ones this service can emit.
EVENTS = {
    "schedule": "VOLUME_VOLUME_001_002",
    "create": "VOLUME_VOLUME_001_003",
    "attach": "VOLUME_VOLUME_002_003",
    "extend": "VOLUME_VOLUME_003_003",
    "upload": "VOLUME_VOLUME_004_003",
    "backup": "VOLUME_BACKUP_001_003",
    "snapshot": "VOLUME_SNAPSHOT_001_003",
    "recover": "VOLUME_VOLUME_001_001",
}


class Messages:
    def __init__(self, svc: Any):
        self.svc = svc

    def add(self, session: Any, project_id: str, resource_type: str, resource_id: str, action: str,
            text: str) -> None:
        from monostack.volume.service import new_id
        ctx = request_context.current()
        session.add(models.Message(id=new_id(), project_id=project_id, resource_type=resource_type,
                                   resource_uuid=resource_id, event_id=EVENTS.get(action, "VOLUME_VOLUME_001_001"),
                                   message_level="ERROR", user_message=text,
                                   request_id=ctx.request_id if ctx else None, created_at=utcnow(),
                                   expires_at=utcnow() + datetime.timedelta(days=30)))

    def list(self, ctx: RequestContext) -> list[models.Message]:
        with self.svc.db.reader() as session:
            query = session.query(models.Message).order_by(models.Message.created_at, models.Message.id)
            if not ctx.is_admin:
                query = query.filter_by(project_id=ctx.project_id)
            return query.all()

    def get(self, ctx: RequestContext, message_id: str) -> models.Message:
        from monostack.volume.service.common import get_owned
        with self.svc.db.reader() as session:
            return get_owned(session, models.Message, ctx, message_id)

    def delete(self, ctx: RequestContext, message_id: str) -> None:
        from monostack.volume.service.common import get_owned
        with self.svc.db.writer() as session:
            session.delete(get_owned(session, models.Message, ctx, message_id))

