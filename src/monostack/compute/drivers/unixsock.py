"""Unix sockets whose path may be longer than sun_path allows (108 bytes).

A guest's sockets live in its instance directory, and a deep state
directory makes those paths too long to bind or connect to. QEMU is started
with the instance directory as its working directory and gets the short
relative name (`qemu_path`); this process connects through
/proc/self/fd/<directory fd>/<name>, which is short whatever the directory.
"""

from __future__ import annotations

import asyncio
import os
import pathlib
import socket

SUN_PATH_MAX = 107  # bytes of sun_path, less the terminating NUL


def qemu_path(path: pathlib.Path) -> str:
    """The path QEMU binds: absolute when it fits, else relative to the instance directory (QEMU's cwd)."""
    return str(path) if len(os.fsencode(str(path))) <= SUN_PATH_MAX else path.name


async def connect(path: pathlib.Path) -> socket.socket:
    """A connected non-blocking stream socket to path (raises OSError as connect does)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    try:
        if len(os.fsencode(str(path))) <= SUN_PATH_MAX:
            await loop.sock_connect(sock, str(path))
        else:
            dirfd = os.open(path.parent, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                await loop.sock_connect(sock, f"/proc/self/fd/{dirfd}/{path.name}")
            finally:
                os.close(dirfd)
    except BaseException:
        sock.close()
        raise
    return sock
