"""Glance's legacy tasks API (`/v2/tasks`): a task of type `import` creates an image from
`input.image_properties` and imports its data from `input.import_from` (the web-download
import, so the URL must pass `[image] web_download_allowed_urls`: a refused URL is a 400 at
creation, as newer Glance does).  The task goes pending -> processing -> success (result
`{"image_id": ...}`) or failure (with a message).  Admin only by default (`tasks_api_access`);
a caller sees its own project's tasks, admin sees all.
"""

from __future__ import annotations

import datetime
import json
import logging
import threading
import uuid
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from monostack.common import context as context_mod
from monostack.common import errors
from monostack.common.context import RequestContext
from monostack.image.models import LegacyTask
from monostack.image.service import isotime, now

if TYPE_CHECKING:
    from monostack.image.service import ImageService

LOG = logging.getLogger(__name__)
TASK_TYPES = ("import",)
TIME_TO_LIVE = datetime.timedelta(hours=48)  # Glance's task_time_to_live default


class TaskService:
    def __init__(self, images: "ImageService"):
        self.images = images
        self.db = images.db
        self.running: set[str] = set()
        self._lock = threading.Lock()

    def _authorize(self, ctx: RequestContext, rule: str) -> None:
        target = {"project_id": ctx.project_id}
        self.images.policy.authorize(ctx, "tasks_api_access", target)
        self.images.policy.authorize(ctx, rule, target)

    @staticmethod
    def view(row: LegacyTask, *, full: bool = True) -> dict[str, Any]:
        task: dict[str, Any] = {"id": row.id, "type": row.type, "status": row.status, "owner": row.owner,
                                "created_at": isotime(row.created_at), "updated_at": isotime(row.updated_at),
                                "self": f"/v2/tasks/{row.id}", "schema": "/v2/schemas/task"}
        if row.expires_at is not None:
            task["expires_at"] = isotime(row.expires_at)
        if full:
            task["input"] = json.loads(row.input)
            task["result"] = json.loads(row.result) if row.result else None
            task["message"] = row.message
        return task

    # -- API -------------------------------------------------------------------------------
    def create(self, ctx: RequestContext, body: Any) -> dict[str, Any]:
        self._authorize(ctx, "add_task")
        if not isinstance(body, dict):
            raise errors.BadRequest("Request body must be a JSON object.")
        task_type, task_input = body.get("type"), body.get("input")
        if task_type not in TASK_TYPES:
            raise errors.BadRequest(f"Invalid type value: {task_type!r}: it must be one of {list(TASK_TYPES)}.")
        if not isinstance(task_input, dict):
            raise errors.BadRequest("Invalid input: 'input' must be an object.")
        for key in ("import_from", "import_from_format", "image_properties"):
            if key not in task_input:
                raise errors.BadRequest(f"Input does not contain '{key}' field")
        uri, properties = task_input["import_from"], task_input["image_properties"]
        if not isinstance(properties, dict):
            raise errors.BadRequest("Invalid input: 'image_properties' must be an object.")
        if not isinstance(uri, str) or not self.images.url_allowed(uri):
            raise errors.BadRequest(f"URI for import does not pass filtering: {uri}")
        if "web-download" not in self.images.import_methods():
            raise errors.BadRequest("Import from a URL (web-download) is not enabled on this cloud.")
        stamp, task_id = now(), str(uuid.uuid4())
        with self._lock:  # running before it exists: a reader never takes it for an interrupted one
            self.running.add(task_id)
        try:
            with self.db.writer() as session:
                row = LegacyTask(id=task_id, type=task_type, status="pending", owner=ctx.project_id,
                                 input=json.dumps(task_input), result=None, message="", created_at=stamp,
                                 updated_at=stamp)
                session.add(row)
                session.flush()
                task = self.view(row)
        except BaseException:
            with self._lock:
                self.running.discard(task_id)
            raise
        ctx_copy = context_mod.RequestContext.from_dict(ctx.to_dict())
        threading.Thread(target=self._run, args=(ctx_copy, task["id"], uri, properties), daemon=True,
                         name=f"image-task-{task['id'][:8]}").start()
        return task

    def list(self, ctx: RequestContext, params: dict[str, str]) -> list[dict[str, Any]]:
        self._authorize(ctx, "get_tasks")
        with self.db.reader() as session:
            query = sa.select(LegacyTask).order_by(LegacyTask.created_at.desc(), LegacyTask.id)
            if not ctx.is_admin:
                query = query.where(LegacyTask.owner == ctx.project_id)
            for key in ("status", "type"):
                if params.get(key):
                    query = query.where(getattr(LegacyTask, key) == params[key])
            rows = list(session.scalars(query))
        return [self.view(self._check_interrupted(r), full=False) for r in rows]

    def get(self, ctx: RequestContext, task_id: str) -> dict[str, Any]:
        self._authorize(ctx, "get_task")
        with self.db.reader() as session:
            row = session.get(LegacyTask, task_id)
            if row is None or not (ctx.is_admin or row.owner == ctx.project_id):
                raise errors.NotFound(f"Task with the given ID {task_id} not found")
        return self.view(self._check_interrupted(row))

    # -- the work --------------------------------------------------------------------------
    def _check_interrupted(self, row: LegacyTask) -> LegacyTask:
        """A task left pending or processing by a process that stopped is a failure."""
        with self._lock:
            running = row.id in self.running
        if row.status in ("pending", "processing") and not running:
            self._finish(row.id, "failure", "The task was interrupted by a restart of the Image service.")
            with self.db.reader() as session:
                return session.get(LegacyTask, row.id) or row
        return row

    def _update(self, task_id: str, **values: Any) -> None:
        with self.db.writer() as session:
            row = session.get(LegacyTask, task_id)
            if row is not None:
                for key, value in values.items():
                    setattr(row, key, value)
                row.updated_at = now()

    def _finish(self, task_id: str, status: str, message: str, image_id: str | None = None) -> None:
        stamp = now()
        self._update(task_id, status=status, message=message, expires_at=stamp + TIME_TO_LIVE,
                     **({"result": json.dumps({"image_id": image_id})} if image_id else {}))

    def _run(self, ctx: RequestContext, task_id: str, uri: str, properties: dict[str, Any]) -> None:
        image_id = None
        try:
            with context_mod.use_context(ctx):
                self._update(task_id, status="processing")
                image = self.images.create(ctx, dict(properties))
                image_id = image["id"]
                self._update(task_id, image_id=image_id)
                future = self.images.import_image(ctx, image_id, {"method": {"name": "web-download", "uri": uri}})
                future.result()
                done = self.images.get(ctx, image_id)
                if done["status"] == "active":
                    self._finish(task_id, "success", "", image_id)
                else:
                    imports = self.images.tasks(ctx, image_id)
                    message = imports[-1]["message"] if imports else ""
                    self._finish(task_id, "failure", message or f"The import ended with the image {done['status']}.",
                                 image_id)
        except Exception as exc:  # the task records every failure
            LOG.warning("task %s failed: %s", task_id, exc)
            self._finish(task_id, "failure", str(exc), image_id)
        finally:
            with self._lock:
                self.running.discard(task_id)
