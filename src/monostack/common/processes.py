"""Running a host command without blocking the event loop, and without forking on it.

asyncio's subprocesses fork on the event loop's thread; under uvloop that
copies the whole (large) process there, about 13 ms per command for a cloud
process of 250 MB, stalling every request meanwhile.  `subprocess.run` in a
worker thread starts the child with vfork, in well under a millisecond, off
the loop.  A timeout kills the child.
"""

from __future__ import annotations

import asyncio
import subprocess
from typing import Any


async def run(argv: list[str] | tuple[str, ...], *, timeout: float | None = None, **kwargs: Any
              ) -> subprocess.CompletedProcess:
    """`subprocess.run(argv, stdin=DEVNULL, capture_output=True unless stdout/stderr are given, ...)`
    in a worker thread.  Raises subprocess.TimeoutExpired (the child killed) and OSError like it."""
    kwargs.setdefault("stdin", subprocess.DEVNULL)
    if "stdout" not in kwargs and "stderr" not in kwargs:
        kwargs["capture_output"] = True
    return await asyncio.to_thread(subprocess.run, list(argv), timeout=timeout, check=False, **kwargs)
