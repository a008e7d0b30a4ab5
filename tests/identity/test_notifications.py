"""Identity notifications (identity.<resource>.<operation>) reach bus subscribers,
with the request id of the request that caused them."""

import asyncio
import uuid

import pytest

from monostack.common import context
from monostack.common import errors
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


async def test_a_second_identity_process_follows_revocations(identity, identity_store):
    """Split deployment: two Identity processes on one database and one bus."""
    from monostack.common.config import Config
    from monostack.common.db import Database
    from monostack.identity.service import IdentityService

    url, data_dir = identity_store
    bus = create_bus(f"memory://split-{uuid.uuid4().hex[:6]}")
    await bus.start()
    other_db = Database(url)
    other = IdentityService(Config(data_dir, overrides={"database": {"connection": url}}), other_db,
                            bus=bus, loop=asyncio.get_running_loop())
    identity.bus, identity.loop = bus, asyncio.get_running_loop()
    try:
        await other.follow_other_processes()
        auth = {"identity": {"methods": ["password"], "password": {"user": {
            "name": "demo", "domain": {"id": "default"}, "password": identity.passwords["demo"]}}}}
        token = await asyncio.to_thread(identity.tokens.issue, auth)
        assert (await asyncio.to_thread(other.tokens.validate, token.token_id)).user["name"] == "demo"
        assert other.tokens.cached(token.token_id) is not None
        await asyncio.to_thread(identity.tokens.revoke, token.token_id)
        for _ in range(100):  # the notification crosses the bus
            if other.tokens.cached(token.token_id) is None:
                break
            await asyncio.sleep(0.02)
        with pytest.raises(errors.NotFound):
            await asyncio.to_thread(other.tokens.validate, token.token_id)
    finally:
        identity.bus = identity.loop = None
        await bus.stop()
        other_db.dispose()
