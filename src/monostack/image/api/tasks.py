"""/v2/tasks: Glance's legacy tasks API (type `import`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from monostack.common.auth import authenticated
from monostack.common.context import RequestContext
from monostack.common.http import JSONResponse, run_blocking
from monostack.image.api import schemas
from monostack.image.tasks import TaskService

router = APIRouter(prefix="/v2/tasks")


def svc(request: Request) -> TaskService:
    service = getattr(request.app.state, "legacy_tasks", None)
    if service is None:
        service = request.app.state.legacy_tasks = TaskService(request.app.state.image)
    return service


@router.post("", status_code=201)
async def create_task(request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    body = schemas.parse_json(await request.body())
    task = await run_blocking(svc(request).create, ctx, body)
    return JSONResponse(task, status_code=201, headers={"Location": task["self"]})


@router.get("")
def list_tasks(request: Request, ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    return {"tasks": svc(request).list(ctx, dict(request.query_params)), "first": "/v2/tasks",
            "schema": "/v2/schemas/tasks"}


@router.get("/{task_id}")
def show_task(request: Request, task_id: str, ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    return svc(request).get(ctx, task_id)
