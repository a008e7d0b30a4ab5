"""Running a host command from the event loop (off it: see monostack.common.processes)."""

from __future__ import annotations

import subprocess

from monostack.common import processes
from monostack.compute.drivers.base import DriverError


async def run(*argv: str, timeout: float | None = 3600) -> str:
    """Run a command; its stdout, or DriverError with its stderr."""
    try:
        done = await processes.run(argv, timeout=timeout)
    except OSError as err:
        raise DriverError(f"cannot run {argv[0]}: {err}") from None
    except subprocess.TimeoutExpired:
        raise DriverError(f"{argv[0]} {argv[1] if len(argv) > 1 else ''} took longer than {timeout}s") from None
    if done.returncode != 0:
        raise DriverError(f"{' '.join(argv[:2])} failed: {done.stderr.decode(errors='replace').strip()[-2000:]}")
    return done.stdout.decode(errors="replace")
