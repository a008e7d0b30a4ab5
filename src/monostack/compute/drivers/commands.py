"""Running a host command from the event loop (asyncio subprocess, never blocking)."""

from __future__ import annotations

import asyncio

from monostack.compute.drivers.base import DriverError


async def run(*argv: str, timeout: float | None = 3600) -> str:
    """Run a command; its stdout, or DriverError with its stderr."""
    try:
        proc = await asyncio.create_subprocess_exec(*argv, stdin=asyncio.subprocess.DEVNULL,
                                                    stdout=asyncio.subprocess.PIPE,
                                                    stderr=asyncio.subprocess.PIPE)
    except OSError as err:
        raise DriverError(f"cannot run {argv[0]}: {err}") from None
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()
        raise DriverError(f"{argv[0]} {argv[1] if len(argv) > 1 else ''} took longer than {timeout}s") from None
    if proc.returncode != 0:
        raise DriverError(f"{' '.join(argv[:2])} failed: {err.decode(errors='replace').strip()[-2000:]}")
    return out.decode(errors="replace")
