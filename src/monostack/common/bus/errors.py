"""Bus exceptions, and how a handler's exception travels back to the caller.

A failed RPC is answered with a description of the exception (module, class,
args, message, traceback).  The caller re-raises the same class only when it
lives in an allowed module (builtins, monostack.*) so that a message can never
make us import or instantiate arbitrary code; anything else becomes
`RemoteError`.
"""

from __future__ import annotations

import importlib
import traceback
from typing import Any

from monostack.common.bus import codec

ALLOWED_MODULES = ("builtins", "monostack")


class MessagingError(Exception):
    """Base class of the bus's own errors."""


class MessagingTimeout(MessagingError):
    """No reply arrived in time."""


class MessageUndeliverable(MessagingTimeout):
    """Nobody listens on the target at all, so no reply can ever come."""


class NoSuchMethod(MessagingError, AttributeError):
    """The endpoint has no public method of that name."""


class RemoteError(MessagingError):
    """A remote exception whose class may not be re-created locally."""

    def __init__(self, exc_type: str, message: str = "", traceback: str | None = None):
        super().__init__(exc_type, message)
        self.exc_type = exc_type
        self.message = message
        self.traceback = traceback

    def __str__(self) -> str:
        return f"{self.exc_type}: {self.message}"


def to_failure(exc: BaseException) -> dict[str, Any]:
    cls = type(exc)
    try:
        codec.encode(exc.args)
        args: list[Any] | None = list(exc.args)
    except (TypeError, ValueError):
        args = None
    return {
        "module": cls.__module__,
        "class": cls.__qualname__,
        "args": args,
        "message": str(exc),
        "traceback": "".join(traceback.format_exception(exc)),
    }


def _allowed_class(module: str, name: str) -> type[Exception] | None:
    if not any(module == m or module.startswith(m + ".") for m in ALLOWED_MODULES):
        return None
    try:
        obj: Any = importlib.import_module(module)
    except ImportError:
        return None
    for part in name.split("."):
        obj = getattr(obj, part, None)
    if isinstance(obj, type) and issubclass(obj, Exception):
        return obj
    return None


def from_failure(failure: dict[str, Any]) -> Exception:
    module, name = failure.get("module", "?"), failure.get("class", "?")
    message, tb = failure.get("message", ""), failure.get("traceback")
    cls = _allowed_class(module, name)
    if cls is not None:
        for args in (failure.get("args"), [message]):
            if args is None:
                continue
            try:
                exc = cls(*args)
            except Exception:
                continue
            exc.remote_traceback = tb  # type: ignore[attr-defined]
            return exc
    return RemoteError(f"{module}.{name}", message, tb)
