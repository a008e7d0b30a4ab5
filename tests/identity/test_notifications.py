"""Identity notifications (identity.<resource>.<operation>) reach bus subscribers,
with the request id of the request that caused them."""

import asyncio
import uuid

import pytest

from monostack.common import context
from monostack.common.bus import create_bus


@pytest.mark.parametrize("url", ["memory://identity-notify", "rabbit://guest:guest@127.0.0.1:5672/"])
async def test_writes_emit_notifications(identity, url, request):
    if url.startswith("rabbit"):
        import os
        import socket
        try:
            socket.create_connection(("127.0.0.1", 5672), timeout=1).close()
        except OSError:
            if os.environ.get("CI") == "true":
                raise
            pytest.skip("no RabbitMQ on 127.0.0.1:5672")
    bus = create_bus(url)
    await bus.start()
    received: list[dict] = []
    got = asyncio.Event()

    async def on_notification(notification):
        received.append(notification)
        got.set()

    pool = f"test-{uuid.uuid4().hex[:8]}"
    await bus.subscribe(on_notification, event_types="identity.user.*", pool=pool)
    identity.bus, identity.loop = bus, asyncio.get_running_loop()
    try:
        ctx = context.RequestContext(user_id="tester")
        with context.use_context(ctx):
            user = await asyncio.to_thread(identity.users.create_user, {"name": f"n-{uuid.uuid4().hex[:6]}"})
        await asyncio.wait_for(got.wait(), 10)
        mine = [n for n in received if n["payload"]["resource_info"] == user["id"]]
        assert mine and mine[0]["event_type"] == "identity.user.created"
        assert mine[0]["publisher_id"] == "identity"
        assert mine[0]["context"]["request_id"] == ctx.request_id
    finally:
        identity.bus = identity.loop = None
        await bus.stop()
