"""JSON encoding of everything the bus puts on the wire.

JSON rather than pickle/msgpack: messages stay readable in the RabbitMQ
management UI, nothing on the bus can execute code when decoded, and it is
what oslo.messaging speaks.  Datetimes, dates and times become ISO 8601
strings, UUIDs strings and sets lists; they arrive as such on the other side.
"""

from __future__ import annotations

import datetime
import json
import uuid
from typing import Any


def _default(obj: Any) -> Any:
    if isinstance(obj, (datetime.datetime, datetime.date, datetime.time)):
        return obj.isoformat()
    if isinstance(obj, uuid.UUID):
        return str(obj)
    if isinstance(obj, (set, frozenset)):
        return list(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serializable")


def encode(obj: Any) -> bytes:
    return json.dumps(obj, default=_default, separators=(",", ":")).encode()


def decode(data: bytes) -> Any:
    return json.loads(data)
