"""The metadata proxy: guests' http://169.254.169.254 -> Compute's metadata API.

Listeners, as Neutron places its haproxies: one per network inside its qdhcp
namespace on 169.254.169.254:80 (see dhcp.py for why there), and one per
router inside its qrouter namespace on port 9697, where the router's nft
table redirects what guests send through it to 169.254.169.254:80 (a subnet
without DHCP reaches metadata through its gateway). The socket is made inside
the namespace by a worker thread (setns there, socket + bind + listen, setns
back: a socket keeps the namespace it was made in) and served by asyncio in
the agent process: no haproxy, no process per network or router.

A listener has a key (a network id, or "router:<router id>"); a request is
matched to its instance by source address within what that key reaches (the
port with that fixed IP: its device_id and project), then forwarded to
`upstream` (e.g. http://127.0.0.1:5000/compute/metadata) with the headers
Neutron's metadata agent adds and compute/metadata/api.py checks:
X-Forwarded-For, X-Instance-ID, X-Tenant-ID and X-Instance-ID-Signature
(hex HMAC-SHA256 of the instance id keyed with the shared secret).
"""

from __future__ import annotations

import asyncio
import ctypes
import hashlib
import hmac
import logging
import os
import socket
from typing import Callable

import httpx

LOG = logging.getLogger(__name__)

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)
MAX_HEAD = 65536
MAX_BODY = 65536
# Headers a guest must not choose, and hop-by-hop ones.
_DROP = {"x-instance-id", "x-tenant-id", "x-instance-id-signature", "x-forwarded-for",
         "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "host",
         "content-length", "content-encoding"}

# (listener key, source ip) -> (instance id, project id), or None
Lookup = Callable[[str, str], "tuple[str, str] | None"]


def sign(instance_id: str, secret: str) -> str:
    return hmac.new(secret.encode(), instance_id.encode(), hashlib.sha256).hexdigest()


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def _listen_in_netns(netns: str, address: str, port: int) -> socket.socket:
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(f"/run/netns/{netns}", os.O_RDONLY)
    try:
        _setns(target)
        try:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((address, port))
            sock.listen(128)
            sock.setblocking(False)
        finally:
            _setns(own)  # this worker thread goes back to the pool as it came
    finally:
        os.close(own)
        os.close(target)
    return sock


class MetadataProxy:
    def __init__(self, upstream: str, secret: str, lookup: Lookup, timeout: float = 30.0) -> None:
        self.upstream = upstream.rstrip("/")
        self.secret = secret
        self.lookup = lookup
        self.servers: dict[str, asyncio.AbstractServer] = {}  # key -> server
        self.inodes: dict[str, int] = {}  # key -> its namespace's inode
        self._client: httpx.AsyncClient | None = None
        self.timeout = timeout

    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.timeout, follow_redirects=False)
        return self._client

    async def ensure(self, key: str, netns: str, address: str, port: int = 80) -> list[str]:
        # A namespace deleted and made again is another namespace: the old
        # socket would listen in the dead one. Its inode tells them apart.
        inode = os.stat(f"/run/netns/{netns}").st_ino
        if key in self.servers:
            if self.inodes.get(key) == inode:
                return []
            await self.stop(key)
        sock = await asyncio.to_thread(_listen_in_netns, netns, address, port)
        server = await asyncio.start_server(
            lambda r, w: self._serve(key, r, w), sock=sock)
        self.servers[key] = server
        self.inodes[key] = inode
        return [f"metadata proxy {key} listening"]

    async def stop(self, key: str) -> list[str]:
        server = self.servers.pop(key, None)
        self.inodes.pop(key, None)
        if server is None:
            return []
        server.close()
        return [f"metadata proxy {key} stopped"]

    def keys(self) -> set[str]:
        return set(self.servers)

    async def close(self) -> None:
        for key in list(self.servers):
            await self.stop(key)
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _serve(self, key: str, reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter) -> None:
        try:
            status, headers, body = await self._handle(key, reader, writer)
        except Exception:
            LOG.exception("metadata proxy request failed")
            status, headers, body = 500, {"content-type": "text/plain"}, b"Internal Server Error\n"
        try:
            head = [f"HTTP/1.1 {status} {_reason(status)}"]
            headers = {k: v for k, v in headers.items() if k.lower() not in _DROP}
            headers["Content-Length"] = str(len(body))
            headers["Connection"] = "close"
            head += [f"{k}: {v}" for k, v in headers.items()]
            writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
            await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def _handle(self, key: str, reader: asyncio.StreamReader,
                      writer: asyncio.StreamWriter) -> tuple[int, dict[str, str], bytes]:
        try:
            raw = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, asyncio.TimeoutError):
            return 400, {"content-type": "text/plain"}, b"Bad Request\n"
        lines = raw.decode("latin-1").split("\r\n")
        try:
            method, target, _version = lines[0].split(" ", 2)
        except ValueError:
            return 400, {"content-type": "text/plain"}, b"Bad Request\n"
        headers: list[tuple[str, str]] = []
        for line in lines[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                headers.append((k.strip(), v.strip()))
        length = int(next((v for k, v in headers if k.lower() == "content-length"), "0") or 0)
        if length > MAX_BODY:
            return 413, {"content-type": "text/plain"}, b"Request Entity Too Large\n"
        body = await reader.readexactly(length) if length else b""
        source = writer.get_extra_info("peername")[0]
        found = self.lookup(key, source)
        if found is None:
            LOG.info("metadata request from unknown address %s at %s", source, key)
            return 404, {"content-type": "text/plain"}, b"404 Not Found\n"
        instance_id, project_id = found
        out = {k: v for k, v in headers if k.lower() not in _DROP}
        out.update({"X-Forwarded-For": source, "X-Instance-ID": instance_id,
                    "X-Tenant-ID": project_id,
                    "X-Instance-ID-Signature": sign(instance_id, self.secret)})
        if not target.startswith("/"):
            target = "/" + target.split("/", 3)[-1] if "://" in target else "/" + target
        try:
            response = await self.client().request(method, self.upstream + target, headers=out,
                                                   content=body)
        except httpx.HTTPError as exc:
            LOG.warning("metadata upstream %s failed: %s", self.upstream, exc)
            return 502, {"content-type": "text/plain"}, b"Bad Gateway\n"
        return response.status_code, dict(response.headers), response.content


def _reason(status: int) -> str:
    from http import HTTPStatus
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"
