"""Swift's timestamps: seconds with 5 decimals ("normal", "%016.05f"), optionally followed by an
offset ("internal", "<normal>_<16 hex digits>") that orders writes made at the same instant."""

from __future__ import annotations

import datetime
import functools
import math
import time

PRECISION = 100000  # units per second


@functools.total_ordering
class Timestamp:
    __slots__ = ("raw", "offset")

    def __init__(self, value: "str | bytes | float | int | Timestamp", offset: int = 0, delta: int = 0):
        if isinstance(value, Timestamp):
            raw, offset = value.raw, value.offset + offset
        elif isinstance(value, (int, float)):
            raw = int(round(value * PRECISION))
        else:
            text = value.decode("ascii") if isinstance(value, bytes) else str(value)
            text = text.strip()
            head, sep, tail = text.partition("_")
            if sep:
                if not tail or len(tail) > 16:
                    raise ValueError(f"invalid timestamp {text!r}")
                offset += int(tail, 16)
            try:
                number = float(head)
            except ValueError:
                raise ValueError(f"invalid timestamp {text!r}") from None
            if not math.isfinite(number):
                raise ValueError(f"invalid timestamp {text!r}")
            raw = int(round(number * PRECISION))
        raw += delta
        if raw < 0:
            raise ValueError("timestamp cannot be negative")
        if raw >= 10000000000 * PRECISION:
            raise ValueError("timestamp too large")
        if offset < 0 or offset >= 16 ** 16:
            raise ValueError("timestamp offset out of range")
        self.raw = raw
        self.offset = offset

    @classmethod
    def now(cls, offset: int = 0) -> "Timestamp":
        return cls(time.time(), offset)

    @classmethod
    def zero(cls) -> "Timestamp":
        return cls(0)

    @property
    def normal(self) -> str:
        return "%010d.%05d" % divmod(self.raw, PRECISION)

    @property
    def internal(self) -> str:
        if self.offset:
            return "%s_%016x" % (self.normal, self.offset)
        return self.normal

    def __float__(self) -> float:
        return self.raw / PRECISION

    def __int__(self) -> int:
        return self.raw // PRECISION

    def __bool__(self) -> bool:
        return bool(self.raw or self.offset)

    def ceil(self) -> int:
        """Whole seconds, rounded up (Last-Modified)."""
        return -(-self.raw // PRECISION)

    @property
    def isoformat(self) -> str:
        """"1970-01-01T00:00:00.000000" (container and account listings)."""
        seconds, units = divmod(self.raw, PRECISION)
        moment = datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc)
        return moment.strftime("%Y-%m-%dT%H:%M:%S") + ".%06d" % (units * 10)

    def _key(self) -> tuple[int, int]:
        return self.raw, self.offset

    def __eq__(self, other: object) -> bool:
        if other is None:
            return False
        try:
            return self._key() == _coerce(other)._key()
        except (ValueError, TypeError):
            return NotImplemented

    def __lt__(self, other: object) -> bool:
        return self._key() < _coerce(other)._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return self.internal

    __str__ = __repr__


def _coerce(value: object) -> Timestamp:
    return value if isinstance(value, Timestamp) else Timestamp(value)  # type: ignore[arg-type]


def parse(value: str | None) -> Timestamp | None:
    """A header's timestamp, None when absent or invalid."""
    if value is None:
        return None
    try:
        return Timestamp(value)
    except (ValueError, TypeError):
        return None
