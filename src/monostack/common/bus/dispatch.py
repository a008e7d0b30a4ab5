"""What happens to a message once it has arrived: decode, restore the caller's
request context, run the endpoint method or notification callback, encode the
answer.

Kept apart from the transports so that the in-memory and RabbitMQ buses run
handlers in exactly the same way; a transport only moves bytes and hands them
to an `RpcDispatcher` or `NotificationDispatcher`.
"""

from __future__ import annotations

import fnmatch
import inspect
import logging
from typing import Any, Callable

from monostack.common.bus import codec, errors
from monostack.common.context import RequestContext, use_context

LOG = logging.getLogger(__name__)


def _wants_context(fn: Callable[..., Any]) -> bool:
    try:
        param = inspect.signature(fn).parameters.get("context")
    except (TypeError, ValueError):
        return False
    return param is not None and param.kind in (
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
        inspect.Parameter.KEYWORD_ONLY,
    )


async def invoke(
    fn: Callable[..., Any], ctx: dict[str, Any] | None, args: tuple, kwargs: dict[str, Any], what: str
) -> Any:
    """Run `fn` (sync or async) inside the sender's request context.

    The context is passed as `context=` only to handlers that declare such a
    parameter.  Sync handlers run on the event loop, so they must be quick.
    """
    context = RequestContext.from_dict(ctx) if ctx is not None else None
    if _wants_context(fn):
        kwargs = {**kwargs, "context": context}
    with use_context(context):
        try:
            result = fn(*args, **kwargs)
            if inspect.isawaitable(result):
                result = await result
            return result
        except Exception:
            LOG.exception("%s failed", what)
            raise


class RpcDispatcher:
    """Turns an RPC request into a call of a public method of `endpoint`."""

    def __init__(self, topic: str, endpoint: object):
        self.topic = topic
        self.endpoint = endpoint

    def _lookup(self, method: Any) -> Callable[..., Any]:
        fn = None
        if isinstance(method, str) and not method.startswith("_"):
            fn = getattr(self.endpoint, method, None)
        if not callable(fn):
            raise errors.NoSuchMethod(f"{self.topic} has no method {method!r}")
        return fn

    @staticmethod
    def _failure(exc: Exception) -> bytes:
        return codec.encode({"failure": errors.to_failure(exc)})

    async def __call__(self, body: bytes) -> bytes:
        """Handle one request; always returns an encoded reply, never raises."""
        what = f"RPC {self.topic}"
        try:
            request = codec.decode(body)
            what = f"RPC {self.topic}.{request.get('method')}"
            fn = self._lookup(request.get("method"))
        except Exception as exc:
            LOG.warning("%s rejected: %s", what, exc)
            return self._failure(exc)
        try:
            result = await invoke(fn, request.get("context"), (), request.get("kwargs") or {}, what)
        except Exception as exc:  # invoke() has logged it
            return self._failure(exc)
        try:
            return codec.encode({"result": result})
        except (TypeError, ValueError) as exc:
            LOG.exception("%s returned a result that is not JSON serializable", what)
            return self._failure(exc)


class NotificationDispatcher:
    """Hands notifications whose event type matches a glob to a callback."""

    def __init__(self, callback: Callable[..., Any], event_types: str):
        self.callback = callback
        self.event_types = event_types

    def matches(self, event_type: str) -> bool:
        return fnmatch.fnmatchcase(event_type, self.event_types)

    async def __call__(self, body: bytes) -> None:
        """Handle one notification; never raises (failures are logged)."""
        try:
            notification = codec.decode(body)
            event_type = notification["event_type"]
        except Exception:
            LOG.exception("dropping malformed notification %r", body[:200])
            return
        if not self.matches(event_type):
            return
        try:
            await invoke(
                self.callback, notification.get("context"), (notification,), {},
                f"notification {event_type} callback {self.callback!r}",
            )
        except Exception:  # invoke() has logged it
            pass
