"""Glance's legacy tasks API (`/v2/tasks`, type import): the service layer against a local HTTP
server, then the routes over HTTP."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest

from monostack.common import errors
from monostack.common.context import RequestContext
from tests.image.test_service import http_server  # noqa: F401  (fixture)


def admin() -> RequestContext:
    return RequestContext(user_id=uuid.uuid4().hex, project_id=uuid.uuid4().hex, roles=["admin", "member", "reader"])


def wait(tasks: Any, ctx: RequestContext, task_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        task = tasks.get(ctx, task_id)
        if task["status"] in ("success", "failure"):
            return task
        time.sleep(0.1)
    raise AssertionError(f"task {task_id} did not finish")


def body(uri: str) -> dict[str, Any]:
    return {"type": "import", "input": {"import_from": uri, "import_from_format": "raw", "image_properties": {
        "name": "task-image", "disk_format": "raw", "container_format": "bare"}}}


def test_import_task(make_image_service, http_server):  # noqa: F811
    from monostack.image.tasks import TaskService

    images = make_image_service(web_download_allowed_urls=http_server)
    tasks = TaskService(images)
    ctx = admin()
    task = tasks.create(ctx, body(http_server + "disk.raw"))
    assert task["status"] == "pending" and task["type"] == "import" and task["self"] == f"/v2/tasks/{task['id']}"
    done = wait(tasks, ctx, task["id"])
    assert done["status"] == "success" and done["expires_at"]
    image = images.get(ctx, done["result"]["image_id"])
    assert image["status"] == "active" and image["size"] == 8000 and image["disk_format"] == "raw"
    assert task["id"] in [t["id"] for t in tasks.list(ctx, {})]
    assert "input" not in tasks.list(ctx, {})[0]

    failed = wait(tasks, ctx, tasks.create(ctx, body(http_server + "missing"))["id"])
    assert failed["status"] == "failure" and failed["message"]
    # another project's task is not found (admin of another project sees it); members may not use the API
    member = RequestContext(user_id=uuid.uuid4().hex, project_id=uuid.uuid4().hex, roles=["member", "reader"])
    with pytest.raises(errors.Forbidden):
        tasks.get(member, task["id"])
    with pytest.raises(errors.Forbidden):
        tasks.create(member, body(http_server + "disk.raw"))


def test_import_task_refuses_urls_and_bad_input(make_image_service, http_server):  # noqa: F811
    from monostack.image.tasks import TaskService

    tasks = TaskService(make_image_service(web_download_allowed_urls=http_server))
    ctx = admin()
    for uri in ("http://tempest-dummy-img-file.qcow2", "file:///etc/passwd", "http://169.254.169.254/"):
        with pytest.raises(errors.BadRequest):
            tasks.create(ctx, body(uri))
    with pytest.raises(errors.BadRequest):
        tasks.create(ctx, {"type": "export", "input": body(http_server)["input"]})
    with pytest.raises(errors.BadRequest):
        tasks.create(ctx, {"type": "import", "input": {"import_from": http_server + "disk.raw"}})
    with pytest.raises(errors.NotFound):
        tasks.get(ctx, str(uuid.uuid4()))


def test_interrupted_task_is_a_failure(image_service):
    """A task a stopped process left processing reads as a failure."""
    from monostack.image.models import LegacyTask
    from monostack.image.service import now
    from monostack.image.tasks import TaskService

    ctx = admin()
    task_id = str(uuid.uuid4())
    with image_service.db.writer() as session:
        session.add(LegacyTask(id=task_id, type="import", status="processing", owner=ctx.project_id, input="{}",
                               message="", created_at=now(), updated_at=now()))
    task = TaskService(image_service).get(ctx, task_id)
    assert task["status"] == "failure" and "interrupted" in task["message"]


def test_http_tasks(image_cloud_session):
    with httpx.Client(base_url=f"{image_cloud_session.url}/image/v2",
                      headers={"X-Auth-Token": image_cloud_session.token()}, timeout=60) as c:
        r = c.post("/tasks", json=body("http://tempest-dummy-img-file.qcow2"))
        assert r.status_code == 400 and r.json()["code"] == "400 Bad Request"
        r = c.get("/tasks")
        assert r.status_code == 200 and r.json()["schema"] == "/v2/schemas/tasks"
        assert c.get(f"/tasks/{uuid.uuid4()}").status_code == 404
    with httpx.Client(base_url=f"{image_cloud_session.url}/image/v2",
                      headers={"X-Auth-Token": image_cloud_session.token("monostack")}, timeout=60) as c:
        assert c.get("/tasks").status_code == 403
