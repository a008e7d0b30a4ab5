"""/v3/OS-OAUTH1/consumers (the token flows are not served)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Request, Response

from monostack.common.auth import authenticated
from monostack.common.context import RequestContext
from monostack.identity.api.common import many, member, one, svc
from monostack.identity.api.extras_util import GET_HEAD, no_content, or_head

router = APIRouter(tags=["OS-OAUTH1"])
JSONBody = Body(...)
CONSUMERS = "OS-OAUTH1/consumers"


@router.post("/OS-OAUTH1/consumers", status_code=201)
def create_consumer(request: Request, body: dict[str, Any] = JSONBody,
                    ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:create_consumer")
    return one(request, "consumer", CONSUMERS, identity.extras.oauth1.create_consumer(member(body, "consumer")))


@router.get("/OS-OAUTH1/consumers")
def list_consumers(request: Request, ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:list_consumers")
    return many(request, "consumers", CONSUMERS, identity.extras.oauth1.list_consumers())


@router.api_route("/OS-OAUTH1/consumers/{consumer_id}", methods=GET_HEAD)
def get_consumer(consumer_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> Any:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:get_consumer")
    return or_head(request, one(request, "consumer", CONSUMERS, identity.extras.oauth1.get_consumer(consumer_id)))


@router.patch("/OS-OAUTH1/consumers/{consumer_id}")
def update_consumer(consumer_id: str, request: Request, body: dict[str, Any] = JSONBody,
                    ctx: RequestContext = Depends(authenticated)) -> dict[str, Any]:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:update_consumer")
    return one(request, "consumer", CONSUMERS,
               identity.extras.oauth1.update_consumer(consumer_id, member(body, "consumer")))


@router.delete("/OS-OAUTH1/consumers/{consumer_id}", status_code=204)
def delete_consumer(consumer_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> Response:
    identity = svc(request)
    identity.policy.authorize(ctx, "identity:delete_consumer")
    identity.extras.oauth1.delete_consumer(consumer_id)
    return no_content()
