"""The RabbitMQ broker of the tests: MONOSTACK_TEST_RABBIT_URL (default
amqp://guest:guest@127.0.0.1:5672/), with exchanges unique to each test.
Without a broker the tests that need one are skipped, or fail when CI=true."""

from __future__ import annotations

import asyncio
import os
import uuid

import aio_pika
import pytest
from yarl import URL

RABBIT_URL = os.environ.get("MONOSTACK_TEST_RABBIT_URL", "amqp://guest:guest@127.0.0.1:5672/")


async def require_rabbit() -> None:
    url = URL(RABBIT_URL)
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(url.host, url.port or 5672), timeout=2)
        writer.close()
    except (OSError, TimeoutError) as exc:
        message = f"RabbitMQ not reachable at {url.host}:{url.port}: {exc}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


class Rabbit:
    """Per-test exchanges (`[bus] control_exchange` = `control_exchange` names the same pair in
    another process), deleted at the end."""

    def __init__(self) -> None:
        self.control_exchange = f"test_{uuid.uuid4().hex[:12]}"
        self.options = {
            "rpc_exchange": f"{self.control_exchange}_rpc",
            "notification_exchange": f"{self.control_exchange}_notifications",
            "queue_ttl": 5.0,
            "heartbeat": 10,
        }

    async def cleanup(self) -> None:
        connection = await aio_pika.connect(RABBIT_URL)
        async with connection:
            channel = await connection.channel()
            await channel.exchange_delete(self.options["rpc_exchange"])
            await channel.exchange_delete(self.options["notification_exchange"])
