"""A declared lifecycle (Ironic's states.py idea): every transition is `(source, event) -> target`,
written once per resource in its service's states.py; code asks the machine whether an event is
allowed instead of comparing status strings here and there."""

from __future__ import annotations

from typing import Callable

from monostack.common import errors


class InvalidTransition(errors.Conflict):
    pass


class Machine:
    def __init__(self, kind: str, error: Callable[["Machine", str, str], Exception] | None = None):
        """`error(machine, status, event)`: the exception a refused event raises (default: a 409
        InvalidTransition "<kind> status transition from <status> by <event> is not allowed")."""
        self.kind = kind
        self._error = error
        self._transitions: dict[tuple[str, str], str] = {}

    def add(self, sources: tuple[str, ...] | str, target: str, event: str) -> None:
        for source in (sources,) if isinstance(sources, str) else sources:
            self._transitions[(source, event)] = target

    add_transition = add

    def allows(self, status: str, event: str) -> bool:
        return (status, event) in self._transitions

    def next(self, status: str, event: str) -> str:
        try:
            return self._transitions[(status, event)]
        except KeyError:
            if self._error is not None:
                raise self._error(self, status, event) from None
            raise InvalidTransition(f"{self.kind} status transition from {status} by {event} is not "
                                    f"allowed") from None

    def targets(self, status: str) -> set[str]:
        return {target for (source, _), target in self._transitions.items() if source == status}

    def sources(self, event: str) -> set[str]:
        return {source for (source, ev) in self._transitions if ev == event}
