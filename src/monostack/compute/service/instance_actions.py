"""Instance actions: one row per user-visible operation on a server (create,
reboot, resize, ...) keyed by the request id that asked for it, and the
events (compute_reboot_instance, ...) the conductor and agents record as the
work runs.  `os-instance-actions` shows them."""

from __future__ import annotations

import traceback as tb
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from monostack.common.context import RequestContext
from monostack.compute import models
from monostack.compute.service import utcnow

if TYPE_CHECKING:
    from monostack.compute.service import ComputeService


class InstanceActionManager:
    def __init__(self, svc: "ComputeService"):
        self.svc = svc

    def start(self, session: Any, ctx: RequestContext, instance_uuid: str, action: str) -> None:
        """Record that `ctx` asked for `action` (in the caller's write transaction)."""
        now = utcnow()
        session.add(models.InstanceAction(instance_uuid=instance_uuid, request_id=ctx.request_id, action=action,
                                          project_id=ctx.project_id, user_id=ctx.user_id, start_time=now,
                                          updated_at=now))

    def record(self, ctx: RequestContext, instance_uuid: str, action: str) -> None:
        """Record an action that changes no server state of its own (attach_interface, attach_volume, ...)."""
        with self.svc.db.writer() as session:
            self.start(session, ctx, instance_uuid, action)

    def event(self, instance_uuid: str, request_id: str, event: str, *, host: str | None = None,
              error: BaseException | None = None, start: bool = False) -> None:
        """Start (start=True) or finish an event of the action `request_id` asked for."""
        now = utcnow()
        with self.svc.db.writer() as session:
            action = session.scalar(sa.select(models.InstanceAction).where(
                models.InstanceAction.instance_uuid == instance_uuid,
                models.InstanceAction.request_id == request_id).order_by(models.InstanceAction.id.desc()))
            if action is None:
                return
            action.updated_at = now
            if start:
                session.add(models.InstanceActionEvent(action_id=action.id, event=event, start_time=now, host=host))
                return
            row = session.scalar(sa.select(models.InstanceActionEvent).where(
                models.InstanceActionEvent.action_id == action.id, models.InstanceActionEvent.event == event,
                models.InstanceActionEvent.finish_time.is_(None)).order_by(models.InstanceActionEvent.id.desc()))
            if row is None:
                row = models.InstanceActionEvent(action_id=action.id, event=event, start_time=now, host=host)
                session.add(row)
            row.finish_time = now
            row.result = "Error" if error is not None else "Success"
            if error is not None:
                row.traceback = "".join(tb.format_exception(error))[-65000:]
                row.details = str(error)[:65000]
                action.message = "Error"
            action.finish_time = now
